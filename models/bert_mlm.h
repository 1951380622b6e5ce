// BertForMaskedLM as Hugging Face defines it (transformers 4.19, modeling_bert.py): a BertModel
// without pooler and the "cls.predictions" head whose decoder is tied to the word embeddings.
// Not here: masking (lib/data/mlm_data.h) or reading weight files (lib/).
//
//   BertForMaskedLM model(config);
//   auto logits = model(input_ids, attention_mask, token_type_ids);          // (B, T, V)
//   auto loss = model->compute_loss(input_ids, attention_mask, token_type_ids, labels);
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/nn/pimpl.h>

#include "models/bert.h"
#include "models/linear.h"

namespace ftune {

// Positions whose label is this take no part in the loss (PyTorch's ignore_index, HF's labels).
constexpr int64_t kIgnoreLabel = -100;

// config.json's tie_word_embeddings (Hugging Face's default: true).
bool bert_ties_word_embeddings(const BertConfig& config);

// HF BertPredictionHeadTransform: LayerNorm(act(dense(x))).
class BertPredictionHeadTransformImpl : public torch::nn::Module {
 public:
  explicit BertPredictionHeadTransformImpl(const BertConfig& config);
  torch::Tensor forward(const torch::Tensor& x);  // (..., C) -> (..., C)

  Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // Hugging Face's spelling, kept: it is the key
  std::string hidden_act;
};
TORCH_MODULE(BertPredictionHeadTransform);

// HF BertLMPredictionHead: logits = transform(x) @ E^T + bias. With tied embeddings E is
// bert.embeddings.word_embeddings.weight, passed in and not registered here (HF's state dict
// repeats it as cls.predictions.decoder.weight; named_parameters() lists it once).
class BertLMPredictionHeadImpl : public torch::nn::Module {
 public:
  BertLMPredictionHeadImpl(const BertConfig& config, bool tie_word_embeddings);
  // x (..., C), word_embeddings (V, C) -> logits (..., V)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& word_embeddings);

  BertPredictionHeadTransform transform{nullptr};
  Linear decoder{nullptr};  // registered only when the embeddings are not tied
  torch::Tensor bias;       // (V): "cls.predictions.bias" (= HF's decoder.bias)
};
TORCH_MODULE(BertLMPredictionHead);

// HF BertOnlyMLMHead: the "cls" module.
class BertOnlyMLMHeadImpl : public torch::nn::Module {
 public:
  BertOnlyMLMHeadImpl(const BertConfig& config, bool tie_word_embeddings);

  BertLMPredictionHead predictions{nullptr};
};
TORCH_MODULE(BertOnlyMLMHead);

class BertForMaskedLMImpl : public torch::nn::Module {
 public:
  explicit BertForMaskedLMImpl(const BertConfig& config);
  // (B, T) int64 inputs -> logits (B, T, V)
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& token_type_ids);
  // = HF's outputs.loss: mean cross-entropy over the positions whose label is not -100. The head
  // runs only at those positions (the same values, without the (B, T, V) logits). A batch with no
  // labelled position gives 0, attached to the graph (HF gives NaN).
  torch::Tensor compute_loss(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                             const torch::Tensor& token_type_ids, const torch::Tensor& labels);
  // Sum of the per-position cross-entropies and the number of labelled positions, for
  // evaluation over many batches.
  std::pair<double, int64_t> compute_loss_sum(const torch::Tensor& input_ids,
                                              const torch::Tensor& attention_mask,
                                              const torch::Tensor& token_type_ids,
                                              const torch::Tensor& labels);
  // The decoder weight (V, C): the word embeddings when tied.
  torch::Tensor output_embeddings() const;

  BertModel bert{nullptr};
  BertOnlyMLMHead cls{nullptr};
  bool tie_word_embeddings = true;

 private:
  // Logits (N, V) and targets (N) of the labelled positions.
  std::pair<torch::Tensor, torch::Tensor> labelled_logits(const torch::Tensor& input_ids,
                                                          const torch::Tensor& attention_mask,
                                                          const torch::Tensor& token_type_ids,
                                                          const torch::Tensor& labels);
};
TORCH_MODULE(BertForMaskedLM);

// Hugging Face's initialization of a fresh BertForMaskedLM: init_bert_weights, the output bias 0.
void init_bert_mlm_weights(BertForMaskedLMImpl& model, const BertConfig& config);

// `tensors` without the aliases Hugging Face's state dict repeats for tied tensors:
// cls.predictions.decoder.weight (= bert.embeddings.word_embeddings.weight when tied) and
// cls.predictions.decoder.bias (= cls.predictions.bias, always). A file that holds only the
// alias has it renamed; an alias whose values differ is a TORCH_CHECK failure naming the key.
std::map<std::string, torch::Tensor> drop_bert_mlm_tied_aliases(
    std::map<std::string, torch::Tensor> tensors, const BertConfig& config);

// `state` plus those aliases, as Hugging Face's own state dict has them (for saving).
std::map<std::string, torch::Tensor> add_bert_mlm_tied_aliases(
    std::map<std::string, torch::Tensor> state, const BertConfig& config);

}  // namespace ftune
