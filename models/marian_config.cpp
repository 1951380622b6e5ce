// Reading, validating and writing Marian's config.json. The defaults are
// transformers.MarianConfig's; the checks reject what the modules in marian.cpp cannot build,
// naming the key and the fix.
#include <set>

#include <fmt/format.h>

#include "models/config_json.h"
#include "models/marian.h"
#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace {

using namespace config_json;  // NOLINT(google-build-using-namespace): the readers read as plain
                              // verbs here

ConfigError make_type_error(const std::string& source, const char* key, const char* expected,
                            const nlohmann::json& value) {
  return ConfigError(fmt::format("reading config '{}': key '{}': expected {}, got {} {}",
                                 source,
                                 key,
                                 expected,
                                 value.type_name(),
                                 quote_json_value(value)));
}

// bad_words_ids: [[id, ...], ...] or null.
std::vector<std::vector<int64_t>> read_bad_words_ids(const nlohmann::json& json,
                                                     const std::string& source) {
  std::vector<std::vector<int64_t>> result;
  auto it = json.find("bad_words_ids");
  if (it == json.end() || it->is_null()) return result;
  const char* expected = "a list of lists of token ids";
  if (!it->is_array()) throw make_type_error(source, "bad_words_ids", expected, *it);
  for (const auto& words : *it) {
    if (!words.is_array() || words.empty()) {
      throw make_type_error(source, "bad_words_ids", expected, *it);
    }
    std::vector<int64_t> ids;
    for (const auto& id : words) {
      if (!id.is_number_integer()) throw make_type_error(source, "bad_words_ids", expected, *it);
      ids.push_back(id.get<int64_t>());
    }
    result.push_back(std::move(ids));
  }
  return result;
}

void require_token_id(int64_t value, const char* key, int64_t vocab_size,
                      const std::string& source) {
  if (value < 0 || value >= vocab_size) {
    throw ConfigError(fmt::format(
        "reading config '{}': key '{}': token id {} is outside the vocabulary (0..{}); hint: "
        "config.json does not match vocab_size",
        source,
        key,
        value,
        vocab_size - 1));
  }
}

void require_divisible(int64_t d_model, int64_t heads, const char* key, const std::string& source) {
  if (d_model % heads != 0) {
    throw ConfigError(
        fmt::format("reading config '{}': key '{}': d_model {} is not divisible by {} heads; hint: "
                    "config.json is inconsistent (d_model must be a multiple of {})",
                    source,
                    key,
                    d_model,
                    heads,
                    key));
  }
}

}  // namespace

MarianConfig MarianConfig::from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) {
    throw ConfigError(fmt::format(
        "reading config '{}': expected a JSON object, got {}", source, json.type_name()));
  }
  MarianConfig config;
  config.raw = json;
  std::string model_type = "marian";
  read_string(json, "model_type", model_type, source);
  if (model_type != "marian") {
    throw ConfigError(fmt::format(
        "reading config '{}': model_type '{}' is not supported here (expected 'marian')",
        source,
        model_type));
  }
  // The architecture keys: HF's defaults (a 1024-wide, 12+12-layer model) are never what a
  // folder without them means.
  for (const char* key : {"vocab_size",
                          "d_model",
                          "encoder_layers",
                          "decoder_layers",
                          "encoder_attention_heads",
                          "decoder_attention_heads",
                          "encoder_ffn_dim",
                          "decoder_ffn_dim",
                          "pad_token_id"}) {
    require_key(json, key, source, "Marian");
  }
  read_int(json, "vocab_size", config.vocab_size, source);
  config.decoder_vocab_size = config.vocab_size;
  read_int(json, "decoder_vocab_size", config.decoder_vocab_size, source);
  read_int(json, "d_model", config.d_model, source);
  read_int(json, "encoder_layers", config.encoder_layers, source);
  read_int(json, "decoder_layers", config.decoder_layers, source);
  read_int(json, "encoder_attention_heads", config.encoder_attention_heads, source);
  read_int(json, "decoder_attention_heads", config.decoder_attention_heads, source);
  read_int(json, "encoder_ffn_dim", config.encoder_ffn_dim, source);
  read_int(json, "decoder_ffn_dim", config.decoder_ffn_dim, source);
  read_int(json, "max_position_embeddings", config.max_position_embeddings, source);
  read_int(json, "pad_token_id", config.pad_token_id, source);
  read_int(json, "eos_token_id", config.eos_token_id, source);
  read_int(json, "decoder_start_token_id", config.decoder_start_token_id, source);
  if (json.contains("forced_eos_token_id")) {  // present and null: no forced </s>
    config.forced_eos_token_id.reset();
    if (!json["forced_eos_token_id"].is_null()) {
      int64_t value = 0;
      read_int(json, "forced_eos_token_id", value, source);
      config.forced_eos_token_id = value;
    }
  }
  config.bad_words_ids = read_bad_words_ids(json, source);
  read_int(json, "num_beams", config.num_beams, source);
  read_int(json, "max_length", config.max_length, source);
  read_double(json, "dropout", config.dropout, source);
  read_double(json, "attention_dropout", config.attention_dropout, source);
  read_double(json, "activation_dropout", config.activation_dropout, source);
  read_double(json, "init_std", config.init_std, source);
  read_string(json, "activation_function", config.activation_function, source);
  read_bool(json, "scale_embedding", config.scale_embedding, source);
  read_bool(
      json, "share_encoder_decoder_embeddings", config.share_encoder_decoder_embeddings, source);
  read_bool(json, "tie_word_embeddings", config.tie_word_embeddings, source);

  for (const auto& [value, key] : {std::pair{config.vocab_size, "vocab_size"},
                                   {config.decoder_vocab_size, "decoder_vocab_size"},
                                   {config.d_model, "d_model"},
                                   {config.encoder_layers, "encoder_layers"},
                                   {config.decoder_layers, "decoder_layers"},
                                   {config.encoder_attention_heads, "encoder_attention_heads"},
                                   {config.decoder_attention_heads, "decoder_attention_heads"},
                                   {config.encoder_ffn_dim, "encoder_ffn_dim"},
                                   {config.decoder_ffn_dim, "decoder_ffn_dim"},
                                   {config.max_position_embeddings, "max_position_embeddings"},
                                   {config.num_beams, "num_beams"},
                                   {config.max_length, "max_length"}}) {
    require_positive(value, key, source);
  }
  require_divisible(
      config.d_model, config.encoder_attention_heads, "encoder_attention_heads", source);
  require_divisible(
      config.d_model, config.decoder_attention_heads, "decoder_attention_heads", source);
  for (const auto& [value, key] : {std::pair{config.dropout, "dropout"},
                                   {config.attention_dropout, "attention_dropout"},
                                   {config.activation_dropout, "activation_dropout"}}) {
    require_probability(value, key, source);
  }
  for (const char* key : {"encoder_layerdrop", "decoder_layerdrop"}) {
    double layerdrop = 0.0;
    read_double(json, key, layerdrop, source);
    if (layerdrop != 0.0) {
      throw ConfigError(fmt::format(
          "reading config '{}': key '{}': LayerDrop {} is not supported (only 0); hint: set it "
          "to 0.0",
          source,
          key,
          layerdrop));
    }
  }
  static const std::set<std::string> kActivations = {"gelu", "gelu_new", "relu", "silu", "swish"};
  if (kActivations.count(config.activation_function) == 0) {
    throw ConfigError(fmt::format(
        "reading config '{}': activation_function '{}' is not supported (expected gelu, "
        "gelu_new, relu, silu or swish)",
        source,
        config.activation_function));
  }
  if (!config.share_encoder_decoder_embeddings) {
    throw ConfigError(fmt::format(
        "reading config '{}': share_encoder_decoder_embeddings false (separate source and target "
        "vocabularies) is not supported; hint: only shared-vocabulary models such as the "
        "OPUS-MT conversions load",
        source));
  }
  if (config.decoder_vocab_size != config.vocab_size) {
    throw ConfigError(
        fmt::format("reading config '{}': key 'decoder_vocab_size': expected {} (= vocab_size, the "
                    "embeddings are shared), got {}",
                    source,
                    config.vocab_size,
                    config.decoder_vocab_size));
  }
  require_token_id(config.pad_token_id, "pad_token_id", config.vocab_size, source);
  require_token_id(config.eos_token_id, "eos_token_id", config.vocab_size, source);
  require_token_id(
      config.decoder_start_token_id, "decoder_start_token_id", config.vocab_size, source);
  if (config.forced_eos_token_id) {
    require_token_id(*config.forced_eos_token_id, "forced_eos_token_id", config.vocab_size, source);
  }
  for (const auto& words : config.bad_words_ids) {
    for (int64_t id : words) require_token_id(id, "bad_words_ids", config.vocab_size, source);
  }
  return config;
}

MarianConfig MarianConfig::read(const std::string& path) {
  return from_json(config_json::read_file(path), path);
}

nlohmann::json MarianConfig::to_json() const {
  nlohmann::json json = raw.is_object() ? raw : nlohmann::json::object();
  json["model_type"] = "marian";
  json["vocab_size"] = vocab_size;
  json["decoder_vocab_size"] = decoder_vocab_size;
  json["d_model"] = d_model;
  json["encoder_layers"] = encoder_layers;
  json["decoder_layers"] = decoder_layers;
  json["encoder_attention_heads"] = encoder_attention_heads;
  json["decoder_attention_heads"] = decoder_attention_heads;
  json["encoder_ffn_dim"] = encoder_ffn_dim;
  json["decoder_ffn_dim"] = decoder_ffn_dim;
  json["max_position_embeddings"] = max_position_embeddings;
  json["pad_token_id"] = pad_token_id;
  json["eos_token_id"] = eos_token_id;
  json["decoder_start_token_id"] = decoder_start_token_id;
  json["forced_eos_token_id"] =
      forced_eos_token_id ? nlohmann::json(*forced_eos_token_id) : nullptr;
  json["bad_words_ids"] =
      bad_words_ids.empty() ? nlohmann::json(nullptr) : nlohmann::json(bad_words_ids);
  json["num_beams"] = num_beams;
  json["max_length"] = max_length;
  json["dropout"] = dropout;
  json["attention_dropout"] = attention_dropout;
  json["activation_dropout"] = activation_dropout;
  json["init_std"] = init_std;
  json["activation_function"] = activation_function;
  json["scale_embedding"] = scale_embedding;
  json["share_encoder_decoder_embeddings"] = share_encoder_decoder_embeddings;
  json["tie_word_embeddings"] = tie_word_embeddings;
  if (!json.contains("architectures")) json["architectures"] = {"MarianMTModel"};
  json.erase("torchscript");  // a traced export flag; the saved folder is a plain eager model
  json["torch_dtype"] = "float32";
  return json;
}

}  // namespace ftune
