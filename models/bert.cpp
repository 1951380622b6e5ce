// BERT modules, following modeling_bert.py (transformers 4.19) operation by operation.
#include "models/bert.h"

#include <torch/torch.h>

#include "models/attention.h"

namespace ftune {

torch::Tensor apply_activation(const torch::Tensor& x, const std::string& name) {
  if (name == "gelu") return torch::gelu(x);  // erf form
  if (name == "gelu_new") return torch::gelu(x, "tanh");
  if (name == "relu") return torch::relu(x);
  if (name == "silu" || name == "swish") return torch::silu(x);
  TORCH_CHECK(false, "unsupported activation '", name, "'");
}

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& config) {
  word_embeddings = register_module(
      "word_embeddings",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(config.vocab_size, config.hidden_size)
                               .padding_idx(config.pad_token_id)));
  position_embeddings =
      register_module("position_embeddings",
                      torch::nn::Embedding(config.max_position_embeddings, config.hidden_size));
  token_type_embeddings = register_module(
      "token_type_embeddings", torch::nn::Embedding(config.type_vocab_size, config.hidden_size));
  LayerNorm = register_module(
      "LayerNorm",
      torch::nn::LayerNorm(
          torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps)));
  dropout = register_module("dropout", Dropout(config.hidden_dropout_prob));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& input_ids,
                                          const torch::Tensor& token_type_ids) {
  const auto T = input_ids.size(1);
  TORCH_CHECK(T <= position_embeddings->weight.size(0),
              "sequence length ",
              T,
              " exceeds max_position_embeddings ",
              position_embeddings->weight.size(0));
  auto positions = torch::arange(T, input_ids.options()).unsqueeze(0);          // (1, T)
  auto x = word_embeddings(input_ids) + token_type_embeddings(token_type_ids);  // (B, T, C)
  x = x + position_embeddings(positions);
  return dropout(LayerNorm(x));
}

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& config)
    : num_heads(config.num_attention_heads), dropout_p(config.attention_probs_dropout_prob) {
  query = register_module("query", Linear(config.hidden_size, config.hidden_size));
  key = register_module("key", Linear(config.hidden_size, config.hidden_size));
  value = register_module("value", Linear(config.hidden_size, config.hidden_size));
}

TokenRows TokenRows::real_tokens(const torch::Tensor& attention_mask) {
  TokenRows rows = all_positions(attention_mask.size(0), attention_mask.size(1));
  auto index = attention_mask.reshape({-1}).nonzero().squeeze(1);  // (N)
  if (index.size(0) < rows.B * rows.T) rows.index = index;
  return rows;
}

TokenRows TokenRows::all_positions(int64_t B, int64_t T) {
  TokenRows rows;
  rows.B = B;
  rows.T = T;
  return rows;
}

torch::Tensor TokenRows::to_grid(const torch::Tensor& rows) const {
  const auto F = rows.size(-1);
  if (!index.defined()) return rows.view({B, T, F});                             // (B, T, F)
  return rows.new_zeros({B * T, F}).index_copy(0, index, rows).view({B, T, F});  // (B, T, F)
}

torch::Tensor TokenRows::to_rows(const torch::Tensor& grid) const {
  auto flat = grid.reshape({B * T, grid.size(-1)});             // (B * T, F)
  return index.defined() ? flat.index_select(0, index) : flat;  // (N, F)
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& x,
                                             const torch::Tensor& additive_mask,
                                             const TokenRows& rows) {
  const auto B = rows.B;
  const auto T = rows.T;
  const auto C = x.size(1);
  const auto H = num_heads;
  const auto D = C / H;
  auto q = rows.to_grid(query(x)).view({B, T, H, D}).transpose(1, 2);            // (B, H, T, D)
  auto k = rows.to_grid(key(x)).view({B, T, H, D}).transpose(1, 2);              // (B, H, T, D)
  auto v = rows.to_grid(value(x)).view({B, T, H, D}).transpose(1, 2);            // (B, H, T, D)
  auto y = compute_attention(q, k, v, additive_mask, dropout_p, is_training());  // (B, H, T, D)
  return rows.to_rows(y.transpose(1, 2).reshape({B, T, C}));                     // (N, C)
}

BertResidualOutputImpl::BertResidualOutputImpl(const BertConfig& config, int64_t in_features) {
  dense = register_module("dense", Linear(in_features, config.hidden_size));
  LayerNorm = register_module(
      "LayerNorm",
      torch::nn::LayerNorm(
          torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps)));
  dropout = register_module("dropout", Dropout(config.hidden_dropout_prob));
}

torch::Tensor BertResidualOutputImpl::forward(const torch::Tensor& x,
                                              const torch::Tensor& residual) {
  return LayerNorm(dropout(dense(x)) + residual);
}

BertAttentionImpl::BertAttentionImpl(const BertConfig& config) {
  self = register_module("self", BertSelfAttention(config));
  output = register_module("output", BertResidualOutput(config, config.hidden_size));
}

torch::Tensor BertAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& additive_mask,
                                         const TokenRows& rows) {
  return output(self(x, additive_mask, rows), x);  // (N, C)
}

BertIntermediateImpl::BertIntermediateImpl(const BertConfig& config)
    : hidden_act(config.hidden_act) {
  dense = register_module("dense", Linear(config.hidden_size, config.intermediate_size));
}

torch::Tensor BertIntermediateImpl::forward(const torch::Tensor& x) {
  return apply_activation(dense(x), hidden_act);
}

BertLayerImpl::BertLayerImpl(const BertConfig& config) {
  attention = register_module("attention", BertAttention(config));
  intermediate = register_module("intermediate", BertIntermediate(config));
  output = register_module("output", BertResidualOutput(config, config.intermediate_size));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& additive_mask,
                                     const TokenRows& rows) {
  auto attended = attention(x, additive_mask, rows);  // (N, C)
  return output(intermediate(attended), attended);    // (N, C)
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& config) {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) layer->push_back(BertLayer(config));
}

torch::Tensor BertEncoderImpl::forward(torch::Tensor x, const torch::Tensor& additive_mask,
                                       const TokenRows& rows) {
  for (const auto& module : *layer) {
    x = module->as<BertLayerImpl>()->forward(x, additive_mask, rows);  // (N, C)
  }
  return x;
}

BertPoolerImpl::BertPoolerImpl(const BertConfig& config) {
  dense = register_module("dense", Linear(config.hidden_size, config.hidden_size));
}

torch::Tensor BertPoolerImpl::forward(const torch::Tensor& hidden) {
  auto first = hidden.select(1, 0);  // (B, C)
  return torch::tanh(dense(first));
}

BertModelImpl::BertModelImpl(const BertConfig& config, bool add_pooling_layer) {
  embeddings = register_module("embeddings", BertEmbeddings(config));
  encoder = register_module("encoder", BertEncoder(config));
  if (add_pooling_layer) pooler = register_module("pooler", BertPooler(config));
}

BertOutputs BertModelImpl::forward(const torch::Tensor& input_ids,
                                   const torch::Tensor& attention_mask,
                                   const torch::Tensor& token_type_ids, bool skip_padding) {
  auto x = embeddings(input_ids, token_type_ids);                                    // (B, T, C)
  auto additive_mask = make_additive_padding_mask(attention_mask, x.scalar_type());  // (B,1,1,T)
  const TokenRows rows = skip_padding
                             ? TokenRows::real_tokens(attention_mask)
                             : TokenRows::all_positions(input_ids.size(0), input_ids.size(1));
  auto hidden = rows.to_grid(encoder(rows.to_rows(x), additive_mask, rows));  // (B, T, C)
  return {hidden, pooler ? pooler(hidden) : torch::Tensor()};
}

BertForSequenceClassificationImpl::BertForSequenceClassificationImpl(const BertConfig& config) {
  TORCH_CHECK(config.num_labels() > 0, "a classification head needs at least one label");
  bert = register_module("bert", BertModel(config));
  dropout = register_module(
      "dropout", Dropout(config.classifier_dropout.value_or(config.hidden_dropout_prob)));
  classifier = register_module("classifier", Linear(config.hidden_size, config.num_labels()));
}

torch::Tensor BertForSequenceClassificationImpl::forward(const torch::Tensor& input_ids,
                                                         const torch::Tensor& attention_mask,
                                                         const torch::Tensor& token_type_ids) {
  // Only the first token's hidden state is read: the encoder skips the padding.
  auto pooled = bert(input_ids, attention_mask, token_type_ids, /*skip_padding=*/true)
                    .pooled_output;    // (B, C)
  return classifier(dropout(pooled));  // (B, num_labels)
}

void init_bert_weights(torch::nn::Module& module, const BertConfig& config) {
  torch::NoGradGuard no_grad;
  for (auto& child : module.modules(/*include_self=*/true)) {
    if (auto* linear = child->as<torch::nn::LinearImpl>()) {
      linear->weight.normal_(0.0, config.initializer_range);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* embedding = child->as<torch::nn::EmbeddingImpl>()) {
      embedding->weight.normal_(0.0, config.initializer_range);
      if (embedding->options.padding_idx()) {
        embedding->weight[*embedding->options.padding_idx()].zero_();
      }
    } else if (auto* norm = child->as<torch::nn::LayerNormImpl>()) {
      norm->weight.fill_(1.0);
      norm->bias.zero_();
    }
  }
}

}  // namespace ftune
