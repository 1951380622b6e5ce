// MarianMTModel (encoder-decoder translation) as Hugging Face defines it (transformers 4.19,
// modeling_marian.py), with a key/value cache for incremental decoding. Registered names are the
// checkpoint keys. Not here: generation (greedy / beam search), tokenization, reading weights.
// Shapes use the legend of models/attention.h, plus: P decoder positions already cached,
// L the length attended over (T, S or P + S), F the feed-forward width (encoder/decoder_ffn_dim).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "models/linear.h"

namespace ftune {

// config.json of a Marian model. Field names are the config.json keys; defaults are
// transformers.MarianConfig's (generation defaults: PretrainedConfig's).
struct MarianConfig {
  int64_t vocab_size = 58101;
  int64_t decoder_vocab_size = 58101;  // absent or null in config.json: vocab_size
  int64_t d_model = 1024;
  int64_t encoder_layers = 12;
  int64_t decoder_layers = 12;
  int64_t encoder_attention_heads = 16;
  int64_t decoder_attention_heads = 16;
  int64_t encoder_ffn_dim = 4096;
  int64_t decoder_ffn_dim = 4096;
  int64_t max_position_embeddings = 1024;
  int64_t pad_token_id = 58100;
  int64_t eos_token_id = 0;
  int64_t decoder_start_token_id = 58100;
  std::optional<int64_t> forced_eos_token_id = 0;
  std::vector<std::vector<int64_t>> bad_words_ids;
  int64_t num_beams = 1;
  int64_t max_length = 20;
  double dropout = 0.1;
  double attention_dropout = 0.0;
  double activation_dropout = 0.0;
  double init_std = 0.02;
  std::string activation_function = "gelu";
  bool scale_embedding = false;
  bool share_encoder_decoder_embeddings = true;
  bool tie_word_embeddings = true;
  nlohmann::json raw;  // every key as read, so saving keeps what we do not model

  // Parses and validates config.json content; `source` names the file in error messages.
  static MarianConfig from_json(const nlohmann::json& json, const std::string& source);
  static MarianConfig read(const std::string& path);
  // config.json content for save_pretrained: raw keys overlaid with the fields above.
  nlohmann::json to_json() const;
};

// Key/value cache for incremental decoding: per decoder layer, self-attention K/V grown one step at
// a time and cross-attention K/V computed once from the encoder output (B, H, T, D).
struct MarianLayerCache {
  // Self-attention keys and values of the positions decoded so far: the first self_length
  // positions of buffers (B, H, capacity, D) with room for more, so that a step writes its own
  // position instead of copying the whole cache into a new tensor (torch::cat) every step.
  at::Tensor self_k_buffer, self_v_buffer;
  int64_t self_length = 0;
  at::Tensor cross_k, cross_v;

  // (B, H, self_length, D) views of the buffers (undefined before the first step).
  at::Tensor self_k() const;
  at::Tensor self_v() const;
  // Appends k, v (B, H, S, D) at positions self_length..; a full buffer grows by
  // kCapacityStep positions (more when S needs it), copied once.
  void append_self(const at::Tensor& k, const at::Tensor& v);
  static constexpr int64_t kCapacityStep = 16;
};
struct MarianCache {
  std::vector<MarianLayerCache> layers;  // empty until the first decode() fills it
  int64_t length = 0;                    // decoder positions already cached
  // index_select on dim 0 of every tensor (examples leave, greedy rows finish).
  void reorder(const at::Tensor& batch_index);
  // The same for a reorder that keeps the batch size and the cross-attention rows (beam search
  // while no example leaves): row i takes row batch_index[i] of the self-attention buffers, in
  // place, and only the rows that take another row are copied. Beams often continue their own
  // hypothesis; copying every row of every layer's buffers (new tensors each step) was 5.8 ms of
  // a 45 ms OPUS-MT step at beam 4 x 16 (bench/README.md).
  void reorder_self_attention(const std::vector<int64_t>& batch_index);
};

// Static sinusoidal positions (HF MarianSinusoidalPositionalEmbedding._init_weight): sin in the
// first half of each vector, cos in the second. `weight` is deliberately NOT registered: it is
// computed, never saved by Hugging Face (_keys_to_ignore_on_save) and never trained, so it must
// not be an expected checkpoint key nor an optimizer parameter. It follows the input's device.
class MarianSinusoidalPositionalEmbeddingImpl : public torch::nn::Module {
 public:
  MarianSinusoidalPositionalEmbeddingImpl(int64_t num_positions, int64_t embedding_dim);
  // Positions past_length .. past_length + length - 1 -> (length, C) on `like`'s device and dtype.
  at::Tensor forward(int64_t length, int64_t past_length, const at::Tensor& like);

  at::Tensor weight;  // (max_position_embeddings, C), float32
};
TORCH_MODULE(MarianSinusoidalPositionalEmbedding);

// BART-style multi-head attention: q scaled by D^-0.5 before q k^T, additive mask, softmax,
// dropout on the probabilities in training. Used for self- and cross-attention.
class MarianAttentionImpl : public torch::nn::Module {
 public:
  MarianAttentionImpl(int64_t embed_dim, int64_t num_heads, double dropout);
  // x (B, L, C) -> keys / values (B, H, L, D), ready to attend over or to cache.
  at::Tensor project_keys(const at::Tensor& x);
  at::Tensor project_values(const at::Tensor& x);
  // x (B, S, C) attends over k, v (B, H, L, D); additive_mask broadcastable to (B, H, S, L) or
  // undefined. Returns (B, S, C).
  at::Tensor attend(const at::Tensor& x, const at::Tensor& k, const at::Tensor& v,
                    const at::Tensor& additive_mask);

  // Registration order = Hugging Face's (k, v, q, out), so parameter order matches too.
  Linear k_proj{nullptr};
  Linear v_proj{nullptr};
  Linear q_proj{nullptr};
  Linear out_proj{nullptr};
  int64_t num_heads;
  double dropout_p;
};
TORCH_MODULE(MarianAttention);

// Post-LayerNorm encoder layer: x = LN(x + SelfAttn(x)); x = LN(x + fc2(act(fc1(x)))).
class MarianEncoderLayerImpl : public torch::nn::Module {
 public:
  explicit MarianEncoderLayerImpl(const MarianConfig& config);
  // x (B, T, C), additive_mask (B, 1, 1, T) -> (B, T, C)
  at::Tensor forward(const at::Tensor& x, const at::Tensor& additive_mask);

  MarianAttention self_attn{nullptr};
  torch::nn::LayerNorm self_attn_layer_norm{nullptr};
  Linear fc1{nullptr};
  Linear fc2{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};
  std::string activation_function;
  double dropout_p;
  double activation_dropout_p;
};
TORCH_MODULE(MarianEncoderLayer);

// Post-LayerNorm decoder layer: causal self-attention, cross-attention over the encoder output,
// feed-forward; each followed by residual + LayerNorm.
class MarianDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit MarianDecoderLayerImpl(const MarianConfig& config);
  // x (B, S, C); self_mask broadcastable to (B, 1, S, P + S) or undefined; encoder_hidden
  // (B, T, C); cross_mask (B, 1, 1, T) or undefined. With `cache`, the new self K/V are appended
  // to it and the cross K/V are computed once and reused. Returns (B, S, C).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& self_mask,
                     const at::Tensor& encoder_hidden, const at::Tensor& cross_mask,
                     MarianLayerCache* cache);

  MarianAttention self_attn{nullptr};
  torch::nn::LayerNorm self_attn_layer_norm{nullptr};
  MarianAttention encoder_attn{nullptr};
  torch::nn::LayerNorm encoder_attn_layer_norm{nullptr};
  Linear fc1{nullptr};
  Linear fc2{nullptr};
  torch::nn::LayerNorm final_layer_norm{nullptr};
  std::string activation_function;
  double dropout_p;
  double activation_dropout_p;
};
TORCH_MODULE(MarianDecoderLayer);

// Token embeddings * embed_scale + sinusoidal positions, then the layers (no embedding LayerNorm,
// no final LayerNorm: Marian has neither).
class MarianEncoderImpl : public torch::nn::Module {
 public:
  // `shared` is the model's one token embedding; it is used, not registered here.
  MarianEncoderImpl(const MarianConfig& config, torch::nn::Embedding shared);
  // input_ids, attention_mask (B, T) int64 -> (B, T, C)
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask);

  // Not registered: the same module as model.shared (one weight; HF's state dict repeats it as
  // model.encoder.embed_tokens.weight, named_parameters() lists it once as model.shared.weight).
  torch::nn::Embedding embed_tokens{nullptr};
  MarianSinusoidalPositionalEmbedding embed_positions{nullptr};
  torch::nn::ModuleList layers{nullptr};
  double embed_scale;
  double dropout_p;
};
TORCH_MODULE(MarianEncoder);

class MarianDecoderImpl : public torch::nn::Module {
 public:
  MarianDecoderImpl(const MarianConfig& config, torch::nn::Embedding shared);
  // decoder_input_ids (B, S) at positions cache->length.. (0.. without a cache), encoder_hidden
  // (B, T, C), encoder_attention_mask (B, T) or undefined -> (B, S, C). Fills and advances `cache`.
  at::Tensor forward(const at::Tensor& decoder_input_ids, const at::Tensor& encoder_hidden,
                     const at::Tensor& encoder_attention_mask, MarianCache* cache);

  torch::nn::Embedding embed_tokens{nullptr};  // not registered: see MarianEncoderImpl
  MarianSinusoidalPositionalEmbedding embed_positions{nullptr};
  torch::nn::ModuleList layers{nullptr};
  double embed_scale;
  double dropout_p;
};
TORCH_MODULE(MarianDecoder);

class MarianModelImpl : public torch::nn::Module {
 public:
  explicit MarianModelImpl(const MarianConfig& config);

  torch::nn::Embedding shared{nullptr};  // (V, C), padding_idx = pad_token_id
  MarianEncoder encoder{nullptr};
  MarianDecoder decoder{nullptr};
};
TORCH_MODULE(MarianModel);

// The output projection restricted to some target tokens (the vocabulary shortlist,
// lib/generate/shortlist.h): their rows of the output embedding and of final_logits_bias,
// multiplied as the full projection is (float32, oneDNN-packed in float32 or bfloat16, or int8).
struct MarianVocabSubset {
  std::vector<int64_t> ids;                    // sorted, distinct; logits column j is token ids[j]
  at::Tensor weight;                           // (k, C)
  at::Tensor bias;                             // (1, k)
  std::shared_ptr<const Int8Weight> int8;      // set when the model's projection is int8
  std::shared_ptr<const OnednnWeight> onednn;  // set when it is oneDNN-packed
};

// Usage:
//   auto config = MarianConfig::read(dir + "/config.json");
//   MarianMTModel model(config);
//   load_state_dict(*model, drop_marian_redundant_keys(read_weights(file), config),
//                   LoadPolicy{}, file);
//   auto logits = model(input_ids, attention_mask, shift_tokens_right(labels, pad, start));
// or incrementally: hidden = model->encode(...); MarianCache cache; then decode() one step at a
// time.
class MarianMTModelImpl : public torch::nn::Module {
 public:
  explicit MarianMTModelImpl(const MarianConfig& config);
  // input_ids, attention_mask (B, T) int64 -> encoder hidden states (B, T, C)
  at::Tensor encode(const at::Tensor& input_ids, const at::Tensor& attention_mask);
  // decoder_input_ids (B, S): with a cache, only the new positions (usually S = 1), positions
  // continue at cache->length; without a cache (nullptr) a causal mask over all S positions.
  // Returns logits (B, S, V) = lm_head(decoder output) + final_logits_bias; with a `subset`,
  // (B, S, k): the columns of subset->ids only.
  at::Tensor decode(const at::Tensor& decoder_input_ids, const at::Tensor& encoder_hidden,
                    const at::Tensor& encoder_attention_mask, MarianCache* cache,
                    const MarianVocabSubset* subset = nullptr);
  // Teacher forcing: logits (B, S, V).
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                     const at::Tensor& decoder_input_ids);
  // Decoder output (B, S, C) -> logits (B, S, V): the (tied) lm_head plus final_logits_bias;
  // with a `subset`, (B, S, k).
  at::Tensor project_to_vocab(const at::Tensor& decoder_hidden,
                              const MarianVocabSubset* subset = nullptr);
  // The projection onto `ids` (target token ids, sorted and distinct), packed as
  // pack_onednn / quantize_int8 packed the model. One per batch of sources: packing k rows
  // costs about what one step's product over them does.
  MarianVocabSubset restrict_vocab(std::vector<int64_t> ids) const;
  // For decoding through restrict_vocab only: call before pack_onednn / quantize_int8, which then
  // keep the output embedding's float32 weight (restrict_vocab gathers its rows) and do not pack
  // the full projection (never used then, and 119 MB for OPUS-MT in float32).
  void decode_through_subsets_only();
  // The lm_head weight (V, C): model.shared.weight when tied, lm_head.weight otherwise.
  at::Tensor output_embedding_weight() const;
  // Every Linear and the (tied) lm_head to int8 for CPU inference, as quantize_dynamic does to
  // Hugging Face's model (its lm_head is an nn.Linear). Returns the number of layers.
  int64_t quantize_int8();
  // Every Linear and the (tied) lm_head with at least `min_weight_elements` weights to oneDNN's
  // packed GEMM for CPU inference, float32 or with `bf16` bfloat16 (models/linear.h:
  // pack_onednn_weight). Returns the number of layers; 0 where this build cannot (nothing changes
  // then).
  int64_t pack_onednn(int64_t min_weight_elements = 0, bool bf16 = false);

  MarianConfig config;
  MarianModel model{nullptr};
  // Registered only when tie_word_embeddings is false. When tied, Hugging Face's lm_head.weight
  // IS model.shared.weight; registering it again would list the tensor twice in
  // named_parameters() (LibTorch does not deduplicate), so AdamW and grad-norm would count it
  // twice.
  Linear lm_head{nullptr};
  at::Tensor final_logits_bias;  // buffer (1, V), loaded from the checkpoint, never trained

 private:
  enum class OutputPacking { kDense, kOnednn, kOnednnBf16, kInt8 };
  OutputPacking output_packing_ = OutputPacking::kDense;  // what restrict_vocab packs like
  // pack_onednn's size threshold, which restrict_vocab applies to each subset too (the torch2
  // build's `auto` keeps products under 512 x 512 on BLAS; a batch's subset is often smaller).
  int64_t subset_min_weight_elements_ = 0;
  at::Tensor output_weight_kept_;  // decode_through_subsets_only(): holds it against release
  std::shared_ptr<const Int8Weight> lm_head_int8_;      // set by quantize_int8()
  std::shared_ptr<const OnednnWeight> lm_head_onednn_;  // set by pack_onednn()
};
TORCH_MODULE(MarianMTModel);

// labels (B, S) with -100 ignored -> decoder inputs shifted right, starting with
// decoder_start_token_id, -100 replaced by pad (HF modeling_bart.shift_tokens_right).
at::Tensor shift_tokens_right(const at::Tensor& labels, int64_t pad_token_id,
                              int64_t decoder_start_token_id);

// Token-level cross-entropy of teacher-forced logits (B, S, V) against labels (B, S) with -100
// ignored: PyTorch cross_entropy semantics (mean over non-ignored tokens, label_smoothing), the
// loss MarianMTModel computes in Hugging Face for training and evaluation alike.
at::Tensor compute_seq2seq_loss(const at::Tensor& logits, const at::Tensor& labels,
                                double label_smoothing = 0.0);

// Checkpoint keys under which Hugging Face repeats model.shared.weight for a tied model
// (model.encoder.embed_tokens.weight, model.decoder.embed_tokens.weight, and lm_head.weight
// when tie_word_embeddings), plus the computed positions (embed_positions.weight) that older
// conversions save. None of them is a key of our module.
std::vector<std::string> list_marian_redundant_keys(const MarianConfig& config);

// `tensors` without list_marian_redundant_keys(config). Checks that each dropped tied alias holds
// the same values as model.shared.weight (TORCH_CHECK naming the key otherwise), so an untied file
// is never silently loaded as a tied model.
std::map<std::string, at::Tensor> drop_marian_redundant_keys(
    std::map<std::string, at::Tensor> tensors, const MarianConfig& config);

// Hugging Face's MarianPreTrainedModel._init_weights: Linear and Embedding weights ~ N(0,
// init_std), biases 0, the padding row 0; LayerNorms keep LibTorch's (1, 0). For models trained
// from scratch; fine-tuning loads every tensor.
void init_marian_weights(MarianMTModelImpl& model);

}  // namespace ftune
