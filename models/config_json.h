// Typed reading of config.json values, shared by every model family's config struct: each
// reader leaves the default alone when a key is absent or null, and names file, key, expected
// and found type when it is wrong. No LibTorch here.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace ftune::config_json {

// Reads and parses a config.json; ConfigError names the file and what is wrong.
nlohmann::json read_file(const std::string& path);

void read_int(const nlohmann::json& json, const char* key, int64_t& out, const std::string& source);
void read_double(const nlohmann::json& json, const char* key, double& out,
                 const std::string& source);
void read_bool(const nlohmann::json& json, const char* key, bool& out, const std::string& source);
void read_string(const nlohmann::json& json, const char* key, std::string& out,
                 const std::string& source);

// `family` appears in the hint: "is this a BERT config.json?".
void require_key(const nlohmann::json& json, const char* key, const std::string& source,
                 const char* family);
void require_positive(int64_t value, const char* key, const std::string& source);
void require_probability(double value, const char* key, const std::string& source);

}  // namespace ftune::config_json
