// Marian folder JSON files (tokenizer/marian_json.h): HF transformers 4.19 tokenization_marian.py
// reads them with json.load and the slow-tokenizer base class; the checks here are ours.
#include "tokenizer/marian_json.h"

#include <array>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"
#include "util/json.h"

namespace ftune {
namespace {

using OrderedJson = nlohmann::ordered_json;

OrderedJson parse_file_text(std::string_view text, const std::string& path) {
  try {
    return parse_ordered_json_capped(text, path);
  } catch (const JsonError& e) {
    throw TokenizerError(fmt::format(
        "loading Marian tokenizer: {}; hint: re-save the folder with save_pretrained", e.what()));
  }
}

// A special token in tokenizer_config.json is a string, which HF strips whitespace around when
// it splits text on it, or an AddedToken object {"content", "lstrip", "rstrip", ...}, which
// strips only on the sides its flags name (both false by default).
MarianSpecialToken read_special_token(const OrderedJson& value, const std::string& key,
                                      const std::string& path) {
  if (value.is_string()) return {value.get<std::string>(), true, true};
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    const auto flag = [&](const char* name) {
      return value.contains(name) && value[name].is_boolean() && value[name].get<bool>();
    };
    return {value["content"].get<std::string>(), flag("lstrip"), flag("rstrip")};
  }
  throw TokenizerError(fmt::format(
      "loading Marian tokenizer: '{}' key '{}': expected a string or {{\"content\": ...}}, got {}",
      path,
      key,
      quote_json_value(value)));
}

// The keys of a JSON text's top-level object in file order, each once (where it first appears, as
// a Python dict keeps a repeated key). Lets vocab.json be read into nlohmann::json (a std::map):
// nlohmann's ordered_json finds every key by a linear search, so OPUS-MT's 58k-entry vocab.json
// took about 2 s to read that way.
class TopLevelKeys final : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<std::string> keys;

  bool key(string_t& name) override {
    if (depth_ == 1 && seen_.insert(name).second) keys.push_back(name);
    return true;
  }
  bool start_object(std::size_t /*elements*/) override {
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t /*elements*/) override {
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool null() override { return true; }
  bool boolean(bool /*value*/) override { return true; }
  bool number_integer(number_integer_t /*value*/) override { return true; }
  bool number_unsigned(number_unsigned_t /*value*/) override { return true; }
  bool number_float(number_float_t /*value*/, const string_t& /*text*/) override { return true; }
  bool string(string_t& /*value*/) override { return true; }
  bool binary(binary_t& /*value*/) override { return true; }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& /*error*/) override {
    return false;  // the text was parsed (and its errors reported) before
  }

 private:
  int depth_ = 0;
  std::unordered_set<std::string> seen_;
};

}  // namespace

// HF reads tokenizer_config.json into the constructor arguments, then lets
// special_tokens_map.json override the special tokens.
void apply_marian_special_tokens(std::string_view json_text, const std::string& path,
                                 MarianSpecialTokens& tokens) {
  const OrderedJson config = parse_file_text(json_text, path);
  if (!config.is_object()) {
    throw TokenizerError(
        fmt::format("loading Marian tokenizer: '{}': expected a JSON object, got {}",
                    path,
                    config.type_name()));
  }
  if (config.contains("separate_vocabs") && config["separate_vocabs"].is_boolean() &&
      config["separate_vocabs"].get<bool>()) {
    throw TokenizerError(fmt::format(
        "loading Marian tokenizer: '{}': separate_vocabs=true is not supported (only the shared "
        "vocab.json of OPUS-MT models)",
        path));
  }
  const std::array<std::pair<const char*, MarianSpecialToken*>, 3> singles{
      {{"eos_token", &tokens.eos}, {"unk_token", &tokens.unk}, {"pad_token", &tokens.pad}}};
  for (const auto& [key, target] : singles) {
    if (config.contains(key) && !config[key].is_null())
      *target = read_special_token(config[key], key, path);
  }
  if (config.contains("additional_special_tokens") &&
      config["additional_special_tokens"].is_array()) {
    tokens.additional.clear();
    for (const auto& value : config["additional_special_tokens"]) {
      tokens.additional.push_back(read_special_token(value, "additional_special_tokens", path));
    }
  }
}

MarianVocab parse_marian_vocab(std::string_view json_text, const std::string& path) {
  nlohmann::json vocab;
  try {
    vocab = parse_json_capped(json_text, path);
  } catch (const JsonError& e) {
    throw TokenizerError(fmt::format(
        "loading Marian tokenizer: {}; hint: re-save the folder with save_pretrained", e.what()));
  }
  if (!vocab.is_object() || vocab.empty()) {
    throw TokenizerError(fmt::format(
        "loading Marian tokenizer: '{}': expected a non-empty object of token -> id", path));
  }
  TopLevelKeys order;  // vocab.json's order gives language_codes' order
  nlohmann::json::sax_parse(json_text.begin(), json_text.end(), &order);
  MarianVocab out;
  for (const std::string& token : order.keys) {
    const nlohmann::json& id = vocab.at(token);
    if (!id.is_number_integer()) {
      throw TokenizerError(
          fmt::format("loading Marian tokenizer: '{}' token '{}': expected an integer id, got {}",
                      path,
                      token,
                      quote_json_value(id)));
    }
    const auto value = id.get<int64_t>();
    out.token_to_id[token] = value;
    out.id_to_token[value] = token;  // like HF's {v: k}: a later duplicate id wins
    if (token.size() > 4 && token.compare(0, 2, ">>") == 0 &&
        token.compare(token.size() - 2, 2, "<<") == 0) {
      out.language_codes.push_back(token);
    }
  }
  return out;
}

}  // namespace ftune
