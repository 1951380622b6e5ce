// BertForMaskedLM, following modeling_bert.py (transformers 4.19): BertPredictionHeadTransform,
// BertLMPredictionHead (decoder tied to the word embeddings), BertOnlyMLMHead.
#include "models/bert_mlm.h"

#include <torch/torch.h>

namespace ftune {

bool bert_ties_word_embeddings(const BertConfig& config) {
  auto it = config.raw.find("tie_word_embeddings");
  if (it == config.raw.end() || !it->is_boolean()) return true;
  return it->get<bool>();
}

BertPredictionHeadTransformImpl::BertPredictionHeadTransformImpl(const BertConfig& config)
    : hidden_act(config.hidden_act) {
  dense = register_module("dense", Linear(config.hidden_size, config.hidden_size));
  LayerNorm = register_module(
      "LayerNorm",
      torch::nn::LayerNorm(
          torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps)));
}

torch::Tensor BertPredictionHeadTransformImpl::forward(const torch::Tensor& x) {
  auto h = apply_activation(dense(x), hidden_act);  // (..., C); bfloat16 under CPU autocast
  // LibTorch 1.13's CPU layer_norm rejects a bfloat16 input with float32 weights; autocast leaves
  // layer_norm alone, so the input joins the weights' dtype (a no-op in float32).
  return LayerNorm(h.to(LayerNorm->weight.scalar_type()));
}

BertLMPredictionHeadImpl::BertLMPredictionHeadImpl(const BertConfig& config,
                                                   bool tie_word_embeddings) {
  transform = register_module("transform", BertPredictionHeadTransform(config));
  if (!tie_word_embeddings) {
    decoder = register_module(
        "decoder",
        Linear(torch::nn::LinearOptions(config.hidden_size, config.vocab_size).bias(false)));
  }
  bias = register_parameter("bias", torch::zeros({config.vocab_size}));  // (V)
}

torch::Tensor BertLMPredictionHeadImpl::forward(const torch::Tensor& x,
                                                const torch::Tensor& word_embeddings) {
  const auto& weight = decoder ? decoder->weight : word_embeddings;  // (V, C)
  return torch::nn::functional::linear(transform(x), weight, bias);  // (..., V)
}

BertOnlyMLMHeadImpl::BertOnlyMLMHeadImpl(const BertConfig& config, bool tie_word_embeddings) {
  predictions = register_module("predictions", BertLMPredictionHead(config, tie_word_embeddings));
}

BertForMaskedLMImpl::BertForMaskedLMImpl(const BertConfig& config)
    : tie_word_embeddings(bert_ties_word_embeddings(config)) {
  bert = register_module("bert", BertModel(config, /*add_pooling_layer=*/false));
  cls = register_module("cls", BertOnlyMLMHead(config, tie_word_embeddings));
}

torch::Tensor BertForMaskedLMImpl::output_embeddings() const {
  return tie_word_embeddings ? bert->embeddings->word_embeddings->weight
                             : cls->predictions->decoder->weight;
}

torch::Tensor BertForMaskedLMImpl::forward(const torch::Tensor& input_ids,
                                           const torch::Tensor& attention_mask,
                                           const torch::Tensor& token_type_ids) {
  auto hidden = bert(input_ids, attention_mask, token_type_ids).last_hidden_state;  // (B, T, C)
  return cls->predictions(hidden, output_embeddings());                             // (B, T, V)
}

std::pair<torch::Tensor, torch::Tensor> BertForMaskedLMImpl::labelled_logits(
    const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
    const torch::Tensor& token_type_ids, const torch::Tensor& labels) {
  TORCH_CHECK(labels.sizes() == input_ids.sizes(),
              "labels ",
              labels.sizes(),
              " must have the shape of input_ids ",
              input_ids.sizes());
  // Labels sit on real tokens only: the encoder skips the padding.
  auto hidden = bert(input_ids, attention_mask, token_type_ids, /*skip_padding=*/true)
                    .last_hidden_state;                                        // (B, T, C)
  auto selected = labels.reshape({-1}).ne(kIgnoreLabel).nonzero().squeeze(1);  // (N)
  auto rows = hidden.reshape({-1, hidden.size(2)}).index_select(0, selected);  // (N, C)
  auto targets = labels.reshape({-1}).index_select(0, selected);               // (N)
  return {cls->predictions(rows, output_embeddings()), targets};               // (N, V), (N)
}

torch::Tensor BertForMaskedLMImpl::compute_loss(const torch::Tensor& input_ids,
                                                const torch::Tensor& attention_mask,
                                                const torch::Tensor& token_type_ids,
                                                const torch::Tensor& labels) {
  auto [logits, targets] = labelled_logits(input_ids, attention_mask, token_type_ids, labels);
  if (targets.numel() == 0) return logits.sum();  // 0, but keeps the graph for backward()
  return torch::nn::functional::cross_entropy(logits, targets);
}

std::pair<double, int64_t> BertForMaskedLMImpl::compute_loss_sum(
    const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
    const torch::Tensor& token_type_ids, const torch::Tensor& labels) {
  auto [logits, targets] = labelled_logits(input_ids, attention_mask, token_type_ids, labels);
  if (targets.numel() == 0) return {0.0, 0};
  auto sum = torch::nn::functional::cross_entropy(
      logits.to(torch::kDouble),
      targets,
      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  return {sum.item<double>(), targets.numel()};
}

void init_bert_mlm_weights(BertForMaskedLMImpl& model, const BertConfig& config) {
  init_bert_weights(model, config);
  torch::NoGradGuard no_grad;
  model.cls->predictions->bias.zero_();
}

namespace {

const char* const kWordEmbeddings = "bert.embeddings.word_embeddings.weight";
const char* const kDecoderWeight = "cls.predictions.decoder.weight";
const char* const kOutputBias = "cls.predictions.bias";
const char* const kDecoderBias = "cls.predictions.decoder.bias";

// Folds `alias` into `canonical`: renamed when canonical is absent, dropped when equal.
void fold_alias(std::map<std::string, torch::Tensor>& tensors, const std::string& alias,
                const std::string& canonical, const char* hint) {
  auto it = tensors.find(alias);
  if (it == tensors.end()) return;
  auto target = tensors.find(canonical);
  if (target == tensors.end()) {
    tensors[canonical] = it->second;
  } else {
    TORCH_CHECK(
        it->second.sizes() == target->second.sizes() && torch::equal(it->second, target->second),
        "loading weights: tensor '",
        alias,
        "' differs from '",
        canonical,
        "' but the model ties them; hint: ",
        hint);
  }
  tensors.erase(alias);
}

}  // namespace

std::map<std::string, torch::Tensor> drop_bert_mlm_tied_aliases(
    std::map<std::string, torch::Tensor> tensors, const BertConfig& config) {
  // HF's decoder.bias IS cls.predictions.bias (BertLMPredictionHead: decoder.bias = self.bias).
  fold_alias(tensors, kDecoderBias, kOutputBias, "the file is not a Hugging Face BERT MLM");
  if (bert_ties_word_embeddings(config)) {
    // A bare encoder file spells the embedding without "bert."; compare against that one then.
    const bool bare = tensors.count(kWordEmbeddings) == 0 &&
                      tensors.count("embeddings.word_embeddings.weight") > 0;
    fold_alias(tensors,
               kDecoderWeight,
               bare ? "embeddings.word_embeddings.weight" : kWordEmbeddings,
               "set tie_word_embeddings to false in config.json for a separate decoder");
  }
  return tensors;
}

std::map<std::string, torch::Tensor> add_bert_mlm_tied_aliases(
    std::map<std::string, torch::Tensor> state, const BertConfig& config) {
  if (bert_ties_word_embeddings(config) && state.count(kWordEmbeddings)) {
    state[kDecoderWeight] = state.at(kWordEmbeddings);
  }
  if (state.count(kOutputBias)) state[kDecoderBias] = state.at(kOutputBias);
  return state;
}

}  // namespace ftune
