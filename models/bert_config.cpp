// Reading, validating and writing BERT's config.json. The defaults are transformers.BertConfig's;
// the checks reject what the modules in bert.cpp cannot build, naming the key and the fix.
#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "models/bert.h"
#include "models/config_json.h"
#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace {

using namespace config_json;  // NOLINT(google-build-using-namespace): the readers read as plain
                              // verbs here

// id2label is {"0": "neg", "1": "pos"}: ids must be exactly 0..n-1.
std::vector<std::string> read_id2label(const nlohmann::json& json, const std::string& source) {
  std::vector<std::string> labels;
  auto it = json.find("id2label");
  if (it == json.end() || it->is_null()) {
    auto num = json.find("num_labels");
    if (num != json.end() && num->is_number_integer()) {
      for (int64_t i = 0; i < num->get<int64_t>(); ++i)
        labels.push_back(fmt::format("LABEL_{}", i));
    }
    return labels;
  }
  if (!it->is_object()) {
    throw ConfigError(fmt::format("reading config '{}': key 'id2label': expected an object, got {}",
                                  source,
                                  it->type_name()));
  }
  labels.resize(it->size());
  std::vector<bool> seen(it->size(), false);
  for (const auto& [id_text, name] : it->items()) {
    size_t consumed = 0;
    int64_t id = -1;
    try {
      id = std::stoll(id_text, &consumed);
    } catch (const std::exception&) {
      consumed = 0;
    }
    if (consumed != id_text.size() || id < 0 || id >= static_cast<int64_t>(labels.size()) ||
        seen[id]) {
      throw ConfigError(
          fmt::format("reading config '{}': id2label key '{}': expected ids 0..{} each once",
                      source,
                      id_text,
                      labels.size() - 1));
    }
    if (!name.is_string()) {
      throw ConfigError(
          fmt::format("reading config '{}': id2label['{}']: expected a string, got {}",
                      source,
                      id_text,
                      name.type_name()));
    }
    seen[id] = true;
    labels[id] = name.get<std::string>();
  }
  std::set<std::string> unique(labels.begin(), labels.end());
  if (unique.size() != labels.size()) {
    throw ConfigError(fmt::format("reading config '{}': id2label names a label twice", source));
  }
  // label2id is id2label's inverse in every config Hugging Face writes; one that disagrees (an
  // edited file) leaves it unclear which the head was trained with, so neither is guessed.
  auto label2id = json.find("label2id");
  if (label2id != json.end() && label2id->is_object()) {
    for (const auto& [name, id] : label2id->items()) {
      const auto at = std::find(labels.begin(), labels.end(), name);
      const bool agrees =
          at != labels.end() && id.is_number_integer() && id.get<int64_t>() == at - labels.begin();
      if (!agrees) {
        throw ConfigError(fmt::format(
            "reading config '{}': label2id['{}'] is {}, but id2label {}; hint: make label2id "
            "the inverse of id2label (or delete label2id)",
            source,
            name.substr(0, 80),
            id.dump().substr(0, 80),
            at == labels.end() ? "has no such label"
                               : fmt::format("gives it id {}", at - labels.begin())));
      }
    }
    if (label2id->size() != labels.size()) {
      throw ConfigError(fmt::format(
          "reading config '{}': label2id has {} labels, id2label {}; hint: make label2id the "
          "inverse of id2label (or delete label2id)",
          source,
          label2id->size(),
          labels.size()));
    }
  }
  return labels;
}

}  // namespace

BertConfig BertConfig::from_json(const nlohmann::json& json, const std::string& source) {
  if (!json.is_object()) {
    throw ConfigError(fmt::format(
        "reading config '{}': expected a JSON object, got {}", source, json.type_name()));
  }
  BertConfig config;
  config.raw = json;
  std::string model_type = "bert";
  read_string(json, "model_type", model_type, source);
  if (model_type != "bert") {
    throw ConfigError(
        fmt::format("reading config '{}': model_type '{}' is not supported here (expected 'bert')",
                    source,
                    model_type));
  }
  for (const char* key : {"vocab_size",
                          "hidden_size",
                          "num_hidden_layers",
                          "num_attention_heads",
                          "intermediate_size"}) {
    require_key(json, key, source, "BERT");
  }
  read_int(json, "vocab_size", config.vocab_size, source);
  read_int(json, "hidden_size", config.hidden_size, source);
  read_int(json, "num_hidden_layers", config.num_hidden_layers, source);
  read_int(json, "num_attention_heads", config.num_attention_heads, source);
  read_int(json, "intermediate_size", config.intermediate_size, source);
  read_string(json, "hidden_act", config.hidden_act, source);
  read_double(json, "hidden_dropout_prob", config.hidden_dropout_prob, source);
  read_double(json, "attention_probs_dropout_prob", config.attention_probs_dropout_prob, source);
  read_int(json, "max_position_embeddings", config.max_position_embeddings, source);
  read_int(json, "type_vocab_size", config.type_vocab_size, source);
  read_double(json, "initializer_range", config.initializer_range, source);
  read_double(json, "layer_norm_eps", config.layer_norm_eps, source);
  read_int(json, "pad_token_id", config.pad_token_id, source);
  read_string(json, "position_embedding_type", config.position_embedding_type, source);
  if (json.contains("classifier_dropout") && !json["classifier_dropout"].is_null()) {
    double value = 0.0;
    read_double(json, "classifier_dropout", value, source);
    require_probability(value, "classifier_dropout", source);
    config.classifier_dropout = value;
  }
  if (json.contains("problem_type") && !json["problem_type"].is_null()) {
    std::string value;
    read_string(json, "problem_type", value, source);
    config.problem_type = value;
  }
  config.id2label = read_id2label(json, source);
  if (json.contains("label_thresholds") && !json["label_thresholds"].is_null()) {
    const auto& thresholds = json["label_thresholds"];
    if (!thresholds.is_object()) {
      throw ConfigError(
          fmt::format("reading config '{}': key 'label_thresholds': expected an object of label -> "
                      "threshold, got {}",
                      source,
                      quote_json_value(thresholds)));
    }
    config.label_thresholds.assign(config.id2label.size(), 0.5);
    for (const auto& [label, value] : thresholds.items()) {
      const auto at = std::find(config.id2label.begin(), config.id2label.end(), label);
      if (at == config.id2label.end()) {
        throw ConfigError(fmt::format(
            "reading config '{}': label_thresholds names '{}', which is not in id2label",
            source,
            label));
      }
      if (!value.is_number() || value.get<double>() < 0.0 || value.get<double>() > 1.0) {
        throw ConfigError(fmt::format(
            "reading config '{}': label_thresholds['{}']: expected a number from 0 to 1, got {}",
            source,
            label,
            quote_json_value(value)));
      }
      config.label_thresholds[static_cast<size_t>(at - config.id2label.begin())] =
          value.get<double>();
    }
  }

  for (const auto& [value, key] : {std::pair{config.vocab_size, "vocab_size"},
                                   {config.hidden_size, "hidden_size"},
                                   {config.num_hidden_layers, "num_hidden_layers"},
                                   {config.num_attention_heads, "num_attention_heads"},
                                   {config.intermediate_size, "intermediate_size"},
                                   {config.max_position_embeddings, "max_position_embeddings"},
                                   {config.type_vocab_size, "type_vocab_size"}}) {
    require_positive(value, key, source);
  }
  require_probability(config.hidden_dropout_prob, "hidden_dropout_prob", source);
  require_probability(config.attention_probs_dropout_prob, "attention_probs_dropout_prob", source);
  if (config.hidden_size % config.num_attention_heads != 0) {
    throw ConfigError(fmt::format(
        "reading config '{}': hidden_size {} is not divisible by num_attention_heads {}; hint: "
        "config.json is inconsistent",
        source,
        config.hidden_size,
        config.num_attention_heads));
  }
  if (config.position_embedding_type != "absolute") {
    throw ConfigError(fmt::format(
        "reading config '{}': position_embedding_type '{}' is not supported (only 'absolute')",
        source,
        config.position_embedding_type));
  }
  static const std::set<std::string> kActivations = {"gelu", "gelu_new", "relu", "silu", "swish"};
  if (kActivations.count(config.hidden_act) == 0) {
    throw ConfigError(fmt::format(
        "reading config '{}': hidden_act '{}' is not supported (expected gelu, gelu_new, relu or "
        "silu)",
        source,
        config.hidden_act));
  }
  if (config.problem_type && *config.problem_type != "single_label_classification" &&
      *config.problem_type != "regression" &&
      *config.problem_type != "multi_label_classification") {
    throw ConfigError(fmt::format(
        "reading config '{}': problem_type '{}' is not supported (expected "
        "'single_label_classification', 'multi_label_classification' or 'regression'); hint: "
        "remove problem_type for single-label tasks",
        source,
        *config.problem_type));
  }
  if (config.is_regression() && config.id2label.size() > 1) {
    throw ConfigError(fmt::format(
        "reading config '{}': problem_type 'regression' has one output, but id2label names {} "
        "labels; hint: a regression head has num_labels 1",
        source,
        config.id2label.size()));
  }
  if (config.pad_token_id < 0 || config.pad_token_id >= config.vocab_size) {
    throw ConfigError(
        fmt::format("reading config '{}': pad_token_id {} is outside the vocabulary (0..{})",
                    source,
                    config.pad_token_id,
                    config.vocab_size - 1));
  }
  return config;
}

BertConfig BertConfig::read(const std::string& path) {
  return from_json(config_json::read_file(path), path);
}

nlohmann::json BertConfig::to_json() const {
  nlohmann::json json = raw.is_object() ? raw : nlohmann::json::object();
  json["model_type"] = "bert";
  json["vocab_size"] = vocab_size;
  json["hidden_size"] = hidden_size;
  json["num_hidden_layers"] = num_hidden_layers;
  json["num_attention_heads"] = num_attention_heads;
  json["intermediate_size"] = intermediate_size;
  json["hidden_act"] = hidden_act;
  json["hidden_dropout_prob"] = hidden_dropout_prob;
  json["attention_probs_dropout_prob"] = attention_probs_dropout_prob;
  json["max_position_embeddings"] = max_position_embeddings;
  json["type_vocab_size"] = type_vocab_size;
  json["initializer_range"] = initializer_range;
  json["layer_norm_eps"] = layer_norm_eps;
  json["pad_token_id"] = pad_token_id;
  json["position_embedding_type"] = position_embedding_type;
  json["classifier_dropout"] = classifier_dropout ? nlohmann::json(*classifier_dropout) : nullptr;
  if (!id2label.empty()) {
    nlohmann::json id2label_json = nlohmann::json::object();
    for (size_t i = 0; i < id2label.size(); ++i) id2label_json[std::to_string(i)] = id2label[i];
    json["id2label"] = id2label_json;
    json["label2id"] = label2id();
    json["architectures"] = {"BertForSequenceClassification"};
  }
  if (problem_type) json["problem_type"] = *problem_type;
  if (!label_thresholds.empty()) {
    nlohmann::json thresholds = nlohmann::json::object();
    for (size_t i = 0; i < label_thresholds.size() && i < id2label.size(); ++i) {
      thresholds[id2label[i]] = label_thresholds[i];
    }
    json["label_thresholds"] = thresholds;
  } else {
    json.erase("label_thresholds");  // the source's belong to its labels and its weights
  }
  json.erase("num_labels");
  json.erase("torchscript");  // a traced export flag; the saved folder is a plain eager model
  json["torch_dtype"] = "float32";
  return json;
}

std::map<std::string, int64_t> BertConfig::label2id() const {
  std::map<std::string, int64_t> result;
  for (size_t i = 0; i < id2label.size(); ++i) result[id2label[i]] = static_cast<int64_t>(i);
  return result;
}

}  // namespace ftune
