// Marian modules, following modeling_marian.py (transformers 4.19; its attention and layers are
// BART's) operation by operation, so float32 results agree with Hugging Face to ~1e-6.
#include "models/marian.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include <torch/torch.h>

#include "models/attention.h"
#include "models/bert.h"  // apply_activation: the same ACT2FN names as BERT's
#include "models/dropout.h"

namespace ftune {
namespace {

// Decoder self-attention over P cached + S new positions: new position i (absolute P + i) sees
// absolute positions 0..P+i (HF _make_causal_mask with past_key_values_length = P).
at::Tensor make_causal_mask(int64_t S, int64_t P, const at::TensorOptions& options) {
  auto long_options = options.dtype(at::kLong);
  auto rows = torch::arange(P, P + S, long_options).unsqueeze(1);  // (S, 1)
  auto cols = torch::arange(P + S, long_options).unsqueeze(0);     // (1, P + S)
  auto mask = torch::zeros({S, P + S}, options);                   // (S, P + S)
  mask.masked_fill_(cols > rows, lowest_value(options.dtype().toScalarType()));
  return mask.view({1, 1, S, P + S});  // (1, 1, S, P + S)
}

torch::nn::LayerNorm make_layer_norm(int64_t d_model) {
  // Hugging Face builds nn.LayerNorm(d_model): eps 1e-5, LibTorch's default too.
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model}));
}

// Residual feed-forward block shared by both layer kinds: LN(x + fc2(act(fc1(x)))).
at::Tensor apply_feed_forward(const at::Tensor& x, Linear& fc1, Linear& fc2,
                              torch::nn::LayerNorm& norm, const std::string& activation,
                              double dropout_p, double activation_dropout_p, bool training) {
  auto h = apply_activation(fc1(x), activation);  // (B, L, F)
  h = ftune::dropout(h, activation_dropout_p, training);
  h = ftune::dropout(fc2(h), dropout_p, training);  // (B, L, C)
  return norm(x + h);
}

}  // namespace

at::Tensor MarianLayerCache::self_k() const {
  return self_k_buffer.defined() ? self_k_buffer.narrow(2, 0, self_length) : at::Tensor();
}

at::Tensor MarianLayerCache::self_v() const {
  return self_v_buffer.defined() ? self_v_buffer.narrow(2, 0, self_length) : at::Tensor();
}

void MarianLayerCache::append_self(const at::Tensor& k, const at::Tensor& v) {
  const int64_t S = k.size(2);
  const int64_t needed = self_length + S;
  if (!self_k_buffer.defined() || self_k_buffer.size(2) < needed) {
    const int64_t old_capacity = self_k_buffer.defined() ? self_k_buffer.size(2) : 0;
    const int64_t capacity = std::max(needed, old_capacity + kCapacityStep);
    for (auto [buffer, fresh] : {std::pair{&self_k_buffer, &k}, std::pair{&self_v_buffer, &v}}) {
      auto sizes = fresh->sizes().vec();
      sizes[2] = capacity;
      auto grown = at::empty(sizes, fresh->options());  // (B, H, capacity, D)
      if (self_length > 0) grown.narrow(2, 0, self_length).copy_(buffer->narrow(2, 0, self_length));
      *buffer = grown;
    }
  }
  self_k_buffer.narrow(2, self_length, S).copy_(k);
  self_v_buffer.narrow(2, self_length, S).copy_(v);
  self_length = needed;
}

void MarianCache::reorder(const at::Tensor& batch_index) {
  for (auto& layer : layers) {
    // The whole buffers, spare positions too (at most kCapacityStep - 1 of them): one copy.
    for (auto* tensor : {&layer.self_k_buffer, &layer.self_v_buffer}) {
      if (tensor->defined()) *tensor = tensor->index_select(0, batch_index);  // (B', H, *, D)
    }
    for (auto* tensor : {&layer.cross_k, &layer.cross_v}) {
      if (tensor->defined()) *tensor = tensor->index_select(0, batch_index);  // (B', H, T, D)
    }
  }
}

void MarianCache::reorder_self_attention(const std::vector<int64_t>& batch_index) {
  std::vector<int64_t> targets, sources;
  for (size_t i = 0; i < batch_index.size(); ++i) {
    if (batch_index[i] != static_cast<int64_t>(i)) {
      targets.push_back(static_cast<int64_t>(i));
      sources.push_back(batch_index[i]);
    }
  }
  if (targets.empty() || layers.empty()) return;
  const auto device = layers.front().self_k_buffer.device();
  const auto target_index = torch::tensor(targets, torch::kLong).to(device);
  const auto source_index = torch::tensor(sources, torch::kLong).to(device);
  for (auto& layer : layers) {
    for (auto* tensor : {&layer.self_k_buffer, &layer.self_v_buffer}) {
      if (!tensor->defined()) continue;
      TORCH_CHECK(tensor->size(0) == static_cast<int64_t>(batch_index.size()),
                  "reorder_self_attention: expected ",
                  tensor->size(0),
                  " rows, got an index of ",
                  batch_index.size());
      // Every moved row is read before any is written: a row may be both source and target.
      tensor->index_copy_(0, target_index, tensor->index_select(0, source_index));
    }
  }
}

MarianSinusoidalPositionalEmbeddingImpl::MarianSinusoidalPositionalEmbeddingImpl(
    int64_t num_positions, int64_t embedding_dim) {
  // Angles in float64 as numpy computes them, rounded to float32 once (HF _init_weight).
  const int64_t dim = embedding_dim;
  const int64_t sentinel = dim % 2 == 0 ? dim / 2 : dim / 2 + 1;
  std::vector<double> values(static_cast<size_t>(num_positions * dim));
  for (int64_t pos = 0; pos < num_positions; ++pos) {
    double* row = values.data() + pos * dim;
    for (int64_t k = 0; k < sentinel; ++k) {
      row[k] = std::sin(static_cast<double>(pos) /
                        std::pow(10000.0, static_cast<double>(2 * k) / static_cast<double>(dim)));
    }
    for (int64_t k = 0; k < dim / 2; ++k) {
      row[sentinel + k] =
          std::cos(static_cast<double>(pos) /
                   std::pow(10000.0, static_cast<double>(2 * k) / static_cast<double>(dim)));
    }
  }
  weight = torch::tensor(values, torch::kDouble).view({num_positions, dim}).to(torch::kFloat);
}

at::Tensor MarianSinusoidalPositionalEmbeddingImpl::forward(int64_t length, int64_t past_length,
                                                            const at::Tensor& like) {
  TORCH_CHECK(past_length + length <= weight.size(0),
              "decoding position ",
              past_length + length,
              " exceeds max_position_embeddings ",
              weight.size(0),
              "; hint: lower max_length or the input length");
  if (weight.device() != like.device() || weight.scalar_type() != like.scalar_type()) {
    // A normal tensor even when the first call runs under InferenceMode (generation), so that a
    // later training pass may use it.
    c10::InferenceMode normal_tensors(/*enabled=*/false);
    weight = weight.to(like.device(), like.scalar_type());  // once per device/dtype change
  }
  return weight.narrow(0, past_length, length);  // (length, C)
}

MarianAttentionImpl::MarianAttentionImpl(int64_t embed_dim, int64_t num_heads, double dropout)
    : num_heads(num_heads), dropout_p(dropout) {
  TORCH_CHECK(embed_dim % num_heads == 0,
              "d_model ",
              embed_dim,
              " is not divisible by the number of heads ",
              num_heads);
  k_proj = register_module("k_proj", Linear(embed_dim, embed_dim));
  v_proj = register_module("v_proj", Linear(embed_dim, embed_dim));
  q_proj = register_module("q_proj", Linear(embed_dim, embed_dim));
  out_proj = register_module("out_proj", Linear(embed_dim, embed_dim));
}

at::Tensor MarianAttentionImpl::project_keys(const at::Tensor& x) {
  const auto B = x.size(0);
  const auto L = x.size(1);
  const auto H = num_heads;
  const auto D = x.size(2) / H;
  return k_proj(x).view({B, L, H, D}).transpose(1, 2).contiguous();  // (B, H, L, D)
}

at::Tensor MarianAttentionImpl::project_values(const at::Tensor& x) {
  const auto B = x.size(0);
  const auto L = x.size(1);
  const auto H = num_heads;
  const auto D = x.size(2) / H;
  return v_proj(x).view({B, L, H, D}).transpose(1, 2).contiguous();  // (B, H, L, D)
}

at::Tensor MarianAttentionImpl::attend(const at::Tensor& x, const at::Tensor& k,
                                       const at::Tensor& v, const at::Tensor& additive_mask) {
  const auto B = x.size(0);
  const auto S = x.size(1);
  const auto C = x.size(2);
  const auto H = num_heads;
  const auto D = C / H;
  // BartAttention scales q before the product (not the scores after it, as BERT does).
  const double scaling = std::pow(static_cast<double>(D), -0.5);
  auto q = (q_proj(x) * scaling).view({B, S, H, D}).transpose(1, 2);  // (B, H, S, D)
  auto scores = attention_matmul(q, k.transpose(-1, -2));             // (B, H, S, L)
  if (additive_mask.defined()) scores = scores + additive_mask;
  auto probs = torch::softmax(scores, -1);  // (B, H, S, L)
  probs = ftune::dropout(probs, dropout_p, is_training());
  auto y = attention_matmul(probs, v);                    // (B, H, S, D)
  return out_proj(y.transpose(1, 2).reshape({B, S, C}));  // (B, S, C)
}

MarianEncoderLayerImpl::MarianEncoderLayerImpl(const MarianConfig& config)
    : activation_function(config.activation_function),
      dropout_p(config.dropout),
      activation_dropout_p(config.activation_dropout) {
  self_attn = register_module(
      "self_attn",
      MarianAttention(config.d_model, config.encoder_attention_heads, config.attention_dropout));
  self_attn_layer_norm = register_module("self_attn_layer_norm", make_layer_norm(config.d_model));
  fc1 = register_module("fc1", Linear(config.d_model, config.encoder_ffn_dim));
  fc2 = register_module("fc2", Linear(config.encoder_ffn_dim, config.d_model));
  final_layer_norm = register_module("final_layer_norm", make_layer_norm(config.d_model));
}

at::Tensor MarianEncoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& additive_mask) {
  auto k = self_attn->project_keys(x);    // (B, H, T, D)
  auto v = self_attn->project_values(x);  // (B, H, T, D)
  auto h = ftune::dropout(self_attn->attend(x, k, v, additive_mask), dropout_p, is_training());
  h = self_attn_layer_norm(x + h);  // (B, T, C)
  return apply_feed_forward(h,
                            fc1,
                            fc2,
                            final_layer_norm,
                            activation_function,
                            dropout_p,
                            activation_dropout_p,
                            is_training());
}

MarianDecoderLayerImpl::MarianDecoderLayerImpl(const MarianConfig& config)
    : activation_function(config.activation_function),
      dropout_p(config.dropout),
      activation_dropout_p(config.activation_dropout) {
  self_attn = register_module(
      "self_attn",
      MarianAttention(config.d_model, config.decoder_attention_heads, config.attention_dropout));
  self_attn_layer_norm = register_module("self_attn_layer_norm", make_layer_norm(config.d_model));
  encoder_attn = register_module(
      "encoder_attn",
      MarianAttention(config.d_model, config.decoder_attention_heads, config.attention_dropout));
  encoder_attn_layer_norm =
      register_module("encoder_attn_layer_norm", make_layer_norm(config.d_model));
  fc1 = register_module("fc1", Linear(config.d_model, config.decoder_ffn_dim));
  fc2 = register_module("fc2", Linear(config.decoder_ffn_dim, config.d_model));
  final_layer_norm = register_module("final_layer_norm", make_layer_norm(config.d_model));
}

at::Tensor MarianDecoderLayerImpl::forward(const at::Tensor& x, const at::Tensor& self_mask,
                                           const at::Tensor& encoder_hidden,
                                           const at::Tensor& cross_mask, MarianLayerCache* cache) {
  auto k = self_attn->project_keys(x);    // (B, H, S, D)
  auto v = self_attn->project_values(x);  // (B, H, S, D)
  if (cache != nullptr) {
    cache->append_self(k, v);
    k = cache->self_k();  // (B, H, P + S, D)
    v = cache->self_v();  // (B, H, P + S, D)
  }
  auto h = ftune::dropout(self_attn->attend(x, k, v, self_mask), dropout_p, is_training());
  h = self_attn_layer_norm(x + h);  // (B, S, C)

  at::Tensor cross_k, cross_v;
  if (cache != nullptr && cache->cross_k.defined()) {
    cross_k = cache->cross_k;
    cross_v = cache->cross_v;
  } else {
    TORCH_CHECK(encoder_hidden.defined(), "decoding needs the encoder output (or a filled cache)");
    cross_k = encoder_attn->project_keys(encoder_hidden);    // (B, H, T, D)
    cross_v = encoder_attn->project_values(encoder_hidden);  // (B, H, T, D)
    if (cache != nullptr) {
      cache->cross_k = cross_k;
      cache->cross_v = cross_v;
    }
  }
  auto c = ftune::dropout(
      encoder_attn->attend(h, cross_k, cross_v, cross_mask), dropout_p, is_training());
  h = encoder_attn_layer_norm(h + c);  // (B, S, C)
  return apply_feed_forward(h,
                            fc1,
                            fc2,
                            final_layer_norm,
                            activation_function,
                            dropout_p,
                            activation_dropout_p,
                            is_training());
}

MarianEncoderImpl::MarianEncoderImpl(const MarianConfig& config, torch::nn::Embedding shared)
    : embed_tokens(std::move(shared)),
      embed_scale(config.scale_embedding ? std::sqrt(static_cast<double>(config.d_model)) : 1.0),
      dropout_p(config.dropout) {
  embed_positions = register_module(
      "embed_positions",
      MarianSinusoidalPositionalEmbedding(config.max_position_embeddings, config.d_model));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.encoder_layers; ++i) layers->push_back(MarianEncoderLayer(config));
}

at::Tensor MarianEncoderImpl::forward(const at::Tensor& input_ids,
                                      const at::Tensor& attention_mask) {
  const auto T = input_ids.size(1);
  auto x = embed_tokens(input_ids) * embed_scale;  // (B, T, C)
  x = x + embed_positions(T, /*past_length=*/0, x);
  x = ftune::dropout(x, dropout_p, is_training());
  at::Tensor additive_mask;
  if (attention_mask.defined()) {
    additive_mask = make_additive_padding_mask(attention_mask, x.scalar_type());  // (B, 1, 1, T)
  }
  for (const auto& module : *layers) {
    x = module->as<MarianEncoderLayerImpl>()->forward(x, additive_mask);  // (B, T, C)
  }
  return x;
}

MarianDecoderImpl::MarianDecoderImpl(const MarianConfig& config, torch::nn::Embedding shared)
    : embed_tokens(std::move(shared)),
      embed_scale(config.scale_embedding ? std::sqrt(static_cast<double>(config.d_model)) : 1.0),
      dropout_p(config.dropout) {
  embed_positions = register_module(
      "embed_positions",
      MarianSinusoidalPositionalEmbedding(config.max_position_embeddings, config.d_model));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < config.decoder_layers; ++i) layers->push_back(MarianDecoderLayer(config));
}

at::Tensor MarianDecoderImpl::forward(const at::Tensor& decoder_input_ids,
                                      const at::Tensor& encoder_hidden,
                                      const at::Tensor& encoder_attention_mask,
                                      MarianCache* cache) {
  const auto S = decoder_input_ids.size(1);
  const auto P = cache != nullptr ? cache->length : 0;
  auto x = embed_tokens(decoder_input_ids) * embed_scale;  // (B, S, C)
  x = x + embed_positions(S, P, x);
  x = ftune::dropout(x, dropout_p, is_training());
  at::Tensor self_mask;  // one new position sees everything cached: no mask needed
  if (S > 1) self_mask = make_causal_mask(S, P, x.options());  // (1, 1, S, P + S)
  at::Tensor cross_mask;
  if (encoder_attention_mask.defined()) {
    cross_mask = make_additive_padding_mask(encoder_attention_mask, x.scalar_type());  // (B,1,1,T)
  }
  if (cache != nullptr && cache->layers.empty()) cache->layers.resize(layers->size());
  TORCH_CHECK(cache == nullptr || cache->layers.size() == layers->size(),
              "the cache has ",
              cache == nullptr ? 0 : cache->layers.size(),
              " layers, the decoder ",
              layers->size());
  for (size_t i = 0; i < layers->size(); ++i) {
    x = layers[i]->as<MarianDecoderLayerImpl>()->forward(
        x,
        self_mask,
        encoder_hidden,
        cross_mask,
        cache != nullptr ? &cache->layers[i] : nullptr);  // (B, S, C)
  }
  if (cache != nullptr) cache->length += S;
  return x;
}

MarianModelImpl::MarianModelImpl(const MarianConfig& config) {
  TORCH_CHECK(config.share_encoder_decoder_embeddings,
              "share_encoder_decoder_embeddings = false is not supported");
  shared = register_module(
      "shared",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(config.vocab_size, config.d_model)
                               .padding_idx(config.pad_token_id)));
  encoder = register_module("encoder", MarianEncoder(config, shared));
  decoder = register_module("decoder", MarianDecoder(config, shared));
}

MarianMTModelImpl::MarianMTModelImpl(const MarianConfig& config) : config(config) {
  model = register_module("model", MarianModel(config));
  final_logits_bias = register_buffer("final_logits_bias", torch::zeros({1, config.vocab_size}));
  if (!config.tie_word_embeddings) {
    lm_head = register_module(
        "lm_head", Linear(torch::nn::LinearOptions(config.d_model, config.vocab_size).bias(false)));
  }
}

at::Tensor MarianMTModelImpl::encode(const at::Tensor& input_ids,
                                     const at::Tensor& attention_mask) {
  return model->encoder(input_ids, attention_mask);  // (B, T, C)
}

at::Tensor MarianMTModelImpl::decode(const at::Tensor& decoder_input_ids,
                                     const at::Tensor& encoder_hidden,
                                     const at::Tensor& encoder_attention_mask, MarianCache* cache,
                                     const MarianVocabSubset* subset) {
  auto hidden = model->decoder(decoder_input_ids,
                               encoder_hidden,
                               encoder_attention_mask,
                               cache);      // (B, S, C)
  return project_to_vocab(hidden, subset);  // (B, S, V) or (B, S, k)
}

at::Tensor MarianMTModelImpl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                      const at::Tensor& decoder_input_ids) {
  auto encoder_hidden = encode(input_ids, attention_mask);                    // (B, T, C)
  return decode(decoder_input_ids, encoder_hidden, attention_mask, nullptr);  // (B, S, V)
}

at::Tensor MarianMTModelImpl::project_to_vocab(const at::Tensor& decoder_hidden,
                                               const MarianVocabSubset* subset) {
  if (subset) {
    if (subset->int8) return subset->int8->linear(decoder_hidden) + subset->bias;  // (B, S, k)
    if (subset->onednn && decoder_hidden.scalar_type() == at::kFloat &&
        decoder_hidden.device().is_cpu()) {
      return subset->onednn->linear(decoder_hidden, {}) + subset->bias;  // (B, S, k)
    }
    return torch::linear(decoder_hidden, subset->weight) + subset->bias;  // (B, S, k)
  }
  if (lm_head_int8_) return lm_head_int8_->linear(decoder_hidden) + final_logits_bias;
  if (lm_head_onednn_ && decoder_hidden.scalar_type() == at::kFloat &&
      decoder_hidden.device().is_cpu()) {
    return lm_head_onednn_->linear(decoder_hidden, {}) + final_logits_bias;  // (B, S, V)
  }
  return torch::linear(decoder_hidden, output_embedding_weight()) + final_logits_bias;  // (B,S,V)
}

MarianVocabSubset MarianMTModelImpl::restrict_vocab(std::vector<int64_t> ids) const {
  const at::Tensor full = output_embedding_weight();  // (V, C)
  TORCH_CHECK(full.defined() && full.numel() > 0,
              "restrict_vocab: the output embedding's float32 weight was freed by packing; call "
              "decode_through_subsets_only() before pack_onednn / quantize_int8");
  MarianVocabSubset subset;
  auto index = torch::tensor(ids, torch::kLong).to(full.device());
  subset.weight = full.index_select(0, index).contiguous();  // (k, C)
  subset.bias = final_logits_bias.index_select(1, index);    // (1, k)
  subset.ids = std::move(ids);
  if (output_packing_ == OutputPacking::kInt8) {
    subset.int8 = pack_int8_weight(subset.weight, std::nullopt);
  } else if (output_packing_ != OutputPacking::kDense &&
             subset.weight.numel() >= subset_min_weight_elements_) {
    subset.onednn =
        pack_onednn_weight(subset.weight, output_packing_ == OutputPacking::kOnednnBf16);
  }
  return subset;
}

void MarianMTModelImpl::decode_through_subsets_only() {
  output_weight_kept_ = output_embedding_weight();
}

int64_t MarianMTModelImpl::quantize_int8() {
  output_packing_ = OutputPacking::kInt8;
  // project_to_vocab multiplies by the weight itself (tied or not), so it gets its own packed
  // copy, made first: the loop frees each Linear's float32 weight, an untied lm_head's too. An
  // untied lm_head is also a Linear, counted once.
  if (!output_weight_kept_.defined()) {
    lm_head_int8_ = pack_int8_weight(output_embedding_weight(), std::nullopt);
  }
  const int64_t count = quantize_linear_layers_int8(*this);
  return lm_head || output_weight_kept_.defined() ? count : count + 1;
}

int64_t MarianMTModelImpl::pack_onednn(int64_t min_weight_elements, bool bf16) {
  bool output_packed = false;
  subset_min_weight_elements_ = min_weight_elements;
  if (output_embedding_weight().numel() >= min_weight_elements) {
    if (bf16 ? onednn_linear_bf16_available() : onednn_linear_available()) {
      output_packing_ = bf16 ? OutputPacking::kOnednnBf16 : OutputPacking::kOnednn;
    }
    if (!output_weight_kept_.defined()) {  // first, as for int8
      lm_head_onednn_ = pack_onednn_weight(output_embedding_weight(), bf16);
      output_packed = lm_head_onednn_ != nullptr;
    }
  }
  const int64_t count = pack_linear_layers_onednn(*this, min_weight_elements, bf16);
  return lm_head || !output_packed ? count : count + 1;
}

at::Tensor MarianMTModelImpl::output_embedding_weight() const {
  return lm_head ? lm_head->weight : model->shared->weight;  // (V, C)
}

at::Tensor shift_tokens_right(const at::Tensor& labels, int64_t pad_token_id,
                              int64_t decoder_start_token_id) {
  TORCH_CHECK(labels.dim() == 2, "labels must be (B, S), got ", labels.sizes());
  auto shifted = torch::zeros_like(labels);  // (B, S)
  const auto S = labels.size(1);
  if (S > 1) shifted.narrow(1, 1, S - 1).copy_(labels.narrow(1, 0, S - 1));
  if (S > 0) shifted.select(1, 0).fill_(decoder_start_token_id);
  shifted.masked_fill_(shifted == -100, pad_token_id);
  return shifted;
}

at::Tensor compute_seq2seq_loss(const at::Tensor& logits, const at::Tensor& labels,
                                double label_smoothing) {
  namespace F = torch::nn::functional;
  const auto V = logits.size(-1);
  return F::cross_entropy(
      logits.reshape({-1, V}),
      labels.reshape({-1}),
      F::CrossEntropyFuncOptions().ignore_index(-100).label_smoothing(label_smoothing));
}

std::vector<std::string> list_marian_redundant_keys(const MarianConfig& config) {
  std::vector<std::string> keys = {"model.encoder.embed_positions.weight",
                                   "model.decoder.embed_positions.weight",
                                   "model.encoder.embed_tokens.weight",
                                   "model.decoder.embed_tokens.weight"};
  if (config.tie_word_embeddings) keys.emplace_back("lm_head.weight");
  return keys;
}

std::map<std::string, at::Tensor> drop_marian_redundant_keys(
    std::map<std::string, at::Tensor> tensors, const MarianConfig& config) {
  const std::string shared_key = "model.shared.weight";
  std::vector<std::string> aliases = {"model.encoder.embed_tokens.weight",
                                      "model.decoder.embed_tokens.weight"};
  if (config.tie_word_embeddings) aliases.emplace_back("lm_head.weight");
  if (tensors.count(shared_key) == 0) {
    for (const auto& alias : aliases) {  // a file that kept only an alias of the shared weight
      auto it = tensors.find(alias);
      if (it != tensors.end()) {
        tensors[shared_key] = it->second;
        break;
      }
    }
  }
  auto shared = tensors.find(shared_key);
  for (const auto& alias : aliases) {
    auto it = tensors.find(alias);
    if (it == tensors.end() || shared == tensors.end()) continue;
    TORCH_CHECK(
        it->second.sizes() == shared->second.sizes() && torch::equal(it->second, shared->second),
        "loading weights: tensor '",
        alias,
        "' differs from '",
        shared_key,
        "' but the config ties them; hint: set tie_word_embeddings to false in "
        "config.json for a separate lm_head");
    tensors.erase(it);
  }
  tensors.erase("model.encoder.embed_positions.weight");
  tensors.erase("model.decoder.embed_positions.weight");
  return tensors;
}

void init_marian_weights(MarianMTModelImpl& model) {
  torch::NoGradGuard no_grad;
  const double std = model.config.init_std;
  for (auto& child : model.modules(/*include_self=*/true)) {
    if (auto* linear = child->as<torch::nn::LinearImpl>()) {
      linear->weight.normal_(0.0, std);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* embedding = child->as<torch::nn::EmbeddingImpl>()) {
      embedding->weight.normal_(0.0, std);
      if (embedding->options.padding_idx()) {
        embedding->weight[*embedding->options.padding_idx()].zero_();
      }
    }
  }
  model.final_logits_bias.zero_();
}

}  // namespace ftune
