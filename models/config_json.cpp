// config.json readers and checks.
#include "models/config_json.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "util/error.h"
#include "util/json.h"

namespace ftune::config_json {
namespace {

ConfigError make_type_error(const std::string& source, const char* key, const char* expected,
                            const nlohmann::json& value) {
  return ConfigError(fmt::format("reading config '{}': key '{}': expected {}, got {} {}",
                                 source,
                                 key,
                                 expected,
                                 value.type_name(),
                                 quote_json_value(value)));
}

// The value of `key`, or nullptr when it is absent or null.
const nlohmann::json* find_value(const nlohmann::json& json, const char* key) {
  auto it = json.find(key);
  return it == json.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace

nlohmann::json read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw ConfigError(fmt::format(
        "reading config '{}': cannot open the file; hint: a model folder needs config.json", path));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  try {
    return parse_json_capped(buffer.str(), path);
  } catch (const JsonError& e) {
    throw ConfigError(
        fmt::format("reading config: {}; hint: is this a model's config.json?", e.what()));
  }
}

void read_int(const nlohmann::json& json, const char* key, int64_t& out,
              const std::string& source) {
  if (const auto* value = find_value(json, key)) {
    if (!value->is_number_integer()) throw make_type_error(source, key, "an integer", *value);
    out = value->get<int64_t>();
  }
}

void read_double(const nlohmann::json& json, const char* key, double& out,
                 const std::string& source) {
  if (const auto* value = find_value(json, key)) {
    if (!value->is_number()) throw make_type_error(source, key, "a number", *value);
    out = value->get<double>();
  }
}

void read_bool(const nlohmann::json& json, const char* key, bool& out, const std::string& source) {
  if (const auto* value = find_value(json, key)) {
    if (!value->is_boolean()) throw make_type_error(source, key, "true or false", *value);
    out = value->get<bool>();
  }
}

void read_string(const nlohmann::json& json, const char* key, std::string& out,
                 const std::string& source) {
  if (const auto* value = find_value(json, key)) {
    if (!value->is_string()) throw make_type_error(source, key, "a string", *value);
    out = value->get<std::string>();
  }
}

void require_key(const nlohmann::json& json, const char* key, const std::string& source,
                 const char* family) {
  if (!json.contains(key)) {
    throw ConfigError(fmt::format(
        "reading config '{}': required key '{}' is missing; hint: is this a {} config.json?",
        source,
        key,
        family));
  }
}

void require_positive(int64_t value, const char* key, const std::string& source) {
  if (value <= 0) {
    throw ConfigError(fmt::format(
        "reading config '{}': key '{}': expected a positive value, got {}", source, key, value));
  }
  // Every size in a config.json becomes a tensor dimension; the largest real ones are ~256k
  // (vocabularies). Past 2^24 a matrix with it would not fit in memory, and LibTorch's allocator
  // would fail later with a raw byte count instead of naming the key.
  constexpr int64_t kMaxSize = int64_t{1} << 24;
  if (value > kMaxSize) {
    throw ConfigError(fmt::format(
        "reading config '{}': key '{}': expected at most {}, got {}; hint: a tensor of that size "
        "would not fit in memory, so config.json is damaged or not this model's",
        source,
        key,
        kMaxSize,
        value));
  }
}

void require_probability(double value, const char* key, const std::string& source) {
  if (!(value >= 0.0 && value < 1.0)) {
    throw ConfigError(
        fmt::format("reading config '{}': key '{}': expected a probability in [0, 1), got {}",
                    source,
                    key,
                    value));
  }
}

}  // namespace ftune::config_json
