// BertForTokenClassification: per-token logits over the encoder's last hidden state.
#include "models/bert_token_classification.h"

#include <torch/torch.h>

namespace ftune {

BertForTokenClassificationImpl::BertForTokenClassificationImpl(const BertConfig& config) {
  TORCH_CHECK(config.num_labels() > 0, "a token classification head needs at least one label");
  bert = register_module("bert", BertModel(config, /*add_pooling_layer=*/false));
  dropout = register_module(
      "dropout", Dropout(config.classifier_dropout.value_or(config.hidden_dropout_prob)));
  classifier = register_module("classifier", Linear(config.hidden_size, config.num_labels()));
}

torch::Tensor BertForTokenClassificationImpl::forward(const torch::Tensor& input_ids,
                                                      const torch::Tensor& attention_mask,
                                                      const torch::Tensor& token_type_ids) {
  auto hidden = bert(input_ids, attention_mask, token_type_ids, /*skip_padding=*/true)
                    .last_hidden_state;  // (B, T, C)
  return classifier(dropout(hidden));    // (B, T, num_labels)
}

}  // namespace ftune
