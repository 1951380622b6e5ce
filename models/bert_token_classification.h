// BertForTokenClassification as Hugging Face defines it (modeling_bert.py): the encoder without
// a pooler, dropout, and a linear classifier on every token's hidden state (NER). Registered
// names are the checkpoint keys ("bert.", "classifier."). Not here: aligning tags to sub-words
// (lib/data/ner_data.h), the loss (lib/train/token_classification_task.cpp).
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include "models/bert.h"
#include "models/linear.h"

namespace ftune {

class BertForTokenClassificationImpl : public torch::nn::Module {
 public:
  explicit BertForTokenClassificationImpl(const BertConfig& config);
  // (B, T) int64 inputs -> logits (B, T, num_labels). The encoder skips the padding, so the
  // logits at padded positions are the classifier's bias alone (Hugging Face computes something
  // there too; neither is ever read).
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                        const torch::Tensor& token_type_ids);

  BertModel bert{nullptr};  // BertModel(config, add_pooling_layer=False), as Hugging Face
  Dropout dropout{nullptr};
  Linear classifier{nullptr};
};
TORCH_MODULE(BertForTokenClassification);

}  // namespace ftune
