// BERT encoder and BertForSequenceClassification as Hugging Face defines them (transformers
// 4.19, modeling_bert.py). Registered names are the checkpoint keys, so a state dict loads by
// name. Not here: tokenization (tokenizer/), reading weight files (lib/).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "models/dropout.h"
#include "models/linear.h"

namespace ftune {

// config.json of a BERT model. Field names are the config.json keys; defaults are
// transformers.BertConfig's.
struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  std::string position_embedding_type = "absolute";
  std::optional<double> classifier_dropout;
  std::optional<std::string> problem_type;
  std::vector<std::string> id2label;  // index = label id; empty = no classification head yet
  // Multi-label decision thresholds by label id (--tune-thresholds), from config.json's
  // "label_thresholds" {"label": t}; empty = 0.5 for every label.
  std::vector<double> label_thresholds;
  nlohmann::json raw;  // every key as read, so saving keeps what we do not model

  // Parses and validates config.json content; `source` names the file in error messages.
  static BertConfig from_json(const nlohmann::json& json, const std::string& source);
  static BertConfig read(const std::string& path);
  // config.json content for save_pretrained: raw keys overlaid with the fields above.
  nlohmann::json to_json() const;
  int64_t num_labels() const { return static_cast<int64_t>(id2label.size()); }
  // problem_type "regression": one output, MSE loss, labels are numbers (as Hugging Face).
  bool is_regression() const { return problem_type == "regression"; }
  // problem_type "multi_label_classification": one sigmoid per label, BCE-with-logits loss.
  bool is_multi_label() const { return problem_type == "multi_label_classification"; }
  std::map<std::string, int64_t> label2id() const;
};

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& config);
  // input_ids, token_type_ids (B, T) -> (B, T, C)
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids);

  torch::nn::Embedding word_embeddings{nullptr};
  torch::nn::Embedding position_embeddings{nullptr};
  torch::nn::Embedding token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // Hugging Face's spelling, kept: it is the key
  Dropout dropout{nullptr};
};
TORCH_MODULE(BertEmbeddings);

// Where the rows of a token-major activation (N, C) sit in the (B, T) batch. The encoder layers
// run on rows: with `index` set, only the N real tokens (padding costs nothing in the dense
// layers; attention alone sees the padded grid); with `index` undefined, every position is a
// row (N = B * T), as Hugging Face computes. Real tokens get the same values either way.
struct TokenRows {
  int64_t B = 0;
  int64_t T = 0;
  torch::Tensor index;  // (N) int64 flat positions b * T + t; undefined: all B * T positions

  // The real tokens of a (B, T) 1/0 attention mask; `index` stays undefined without padding.
  static TokenRows real_tokens(const torch::Tensor& attention_mask);
  static TokenRows all_positions(int64_t B, int64_t T);
  torch::Tensor to_grid(const torch::Tensor& rows) const;  // (N, F) -> (B, T, F), padding zero
  torch::Tensor to_rows(const torch::Tensor& grid) const;  // (B, T, F) -> (N, F)
};

class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& config);
  // x (N, C) rows laid out by `rows`, additive_mask (B, 1, 1, T) -> (N, C)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask,
                        const TokenRows& rows);

  Linear query{nullptr};
  Linear key{nullptr};
  Linear value{nullptr};
  int64_t num_heads;
  double dropout_p;
};
TORCH_MODULE(BertSelfAttention);

// Dense + dropout + residual LayerNorm: Hugging Face's BertSelfOutput and BertOutput.
class BertResidualOutputImpl : public torch::nn::Module {
 public:
  BertResidualOutputImpl(const BertConfig& config, int64_t in_features);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);

  Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  Dropout dropout{nullptr};
};
TORCH_MODULE(BertResidualOutput);

class BertAttentionImpl : public torch::nn::Module {
 public:
  explicit BertAttentionImpl(const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask,
                        const TokenRows& rows);

  BertSelfAttention self{nullptr};  // "self" is the checkpoint key (attention.self.query)
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertAttention);

class BertIntermediateImpl : public torch::nn::Module {
 public:
  explicit BertIntermediateImpl(const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& x);

  Linear dense{nullptr};
  std::string hidden_act;
};
TORCH_MODULE(BertIntermediate);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask,
                        const TokenRows& rows);

  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertLayer);

class BertEncoderImpl : public torch::nn::Module {
 public:
  explicit BertEncoderImpl(const BertConfig& config);
  // x (N, C) rows -> (N, C)
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& additive_mask, const TokenRows& rows);

  torch::nn::ModuleList layer{nullptr};  // encoder.layer.N
};
TORCH_MODULE(BertEncoder);

class BertPoolerImpl : public torch::nn::Module {
 public:
  explicit BertPoolerImpl(const BertConfig& config);
  // (B, T, C) -> (B, C): tanh(dense(first token))
  torch::Tensor forward(const torch::Tensor& hidden);

  Linear dense{nullptr};
};
TORCH_MODULE(BertPooler);

struct BertOutputs {
  torch::Tensor last_hidden_state;  // (B, T, C)
  torch::Tensor pooled_output;      // (B, C)
};

class BertModelImpl : public torch::nn::Module {
 public:
  // add_pooling_layer=false is Hugging Face's BertModel(config, add_pooling_layer=False), the
  // encoder of BertForMaskedLM: no "pooler" module, and pooled_output is left undefined.
  explicit BertModelImpl(const BertConfig& config, bool add_pooling_layer = true);
  // input_ids, attention_mask, token_type_ids: (B, T) int64. skip_padding: the encoder runs on
  // the real tokens only and last_hidden_state is zero at padding (for callers that never read
  // it there: classification, masked-LM loss); otherwise every position, as Hugging Face.
  BertOutputs forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                      const torch::Tensor& token_type_ids, bool skip_padding = false);

  BertEmbeddings embeddings{nullptr};
  BertEncoder encoder{nullptr};
  BertPooler pooler{nullptr};  // null without a pooling layer
};
TORCH_MODULE(BertModel);

class BertForSequenceClassificationImpl : public torch::nn::Module {
 public:
  explicit BertForSequenceClassificationImpl(const BertConfig& config);
  // (B, T) int64 inputs -> logits (B, num_labels)
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& token_type_ids);

  BertModel bert{nullptr};
  Dropout dropout{nullptr};
  Linear classifier{nullptr};
};
TORCH_MODULE(BertForSequenceClassification);

// Hugging Face's _init_weights for BERT modules: Linear/Embedding weights ~ N(0, range), biases
// 0, LayerNorm weight 1 and bias 0, the padding row of embeddings 0.
void init_bert_weights(torch::nn::Module& module, const BertConfig& config);

// Applies config.hidden_act: gelu (erf), gelu_new (tanh approximation), relu, silu / swish.
torch::Tensor apply_activation(const torch::Tensor& x, const std::string& name);

}  // namespace ftune
