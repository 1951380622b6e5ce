// A Hugging Face model folder for BERT masked-language modelling (`ftune pretrain`): starts from a
// checkpoint (any BERT encoder or classifier; a missing cls.* head is made fresh and other heads
// dropped, both reported) or from a config.json alone (random weights), and saves
// BertForMaskedLM folders that from_pretrained reads. The same shape as lib/io/bert_folder.h.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <c10/core/ScalarType.h>

#include "lib/io/state_dict.h"
#include "models/bert_mlm.h"
#include "tokenizer/wordpiece.h"

namespace ftune {

struct MaskedLmLoadOptions {
  // --model-config: random weights from this config.json instead of a model folder.
  std::optional<std::filesystem::path> config_file;
  std::optional<std::filesystem::path> weights;  // --weights: overrides the folder's choice
  uint64_t seed = 42;                            // initializes what the checkpoint lacks
};

struct MaskedLm {
  BertConfig config;  // without a classifier's labels: they mean nothing to the MLM
  BertForMaskedLM model{nullptr};
  LoadReport report;
  std::string note;  // one line for random weights: from which config; else empty
};

// Exactly one of `model_dir` (non-empty) and options.config_file; ConfigError otherwise.
MaskedLm load_masked_lm(const std::filesystem::path& model_dir, const MaskedLmLoadOptions& options);

// A weights file into `model`. With `allow_fresh_head`, what an encoder or a classifier checkpoint
// lacks (cls.*) keeps its fresh values and what it has for other heads (pooler, classifier) is
// dropped, both reported; otherwise loading is strict (resuming from a checkpoint).
LoadReport load_masked_lm_weights(BertForMaskedLM& model, const BertConfig& config,
                                  const std::filesystem::path& file, bool allow_fresh_head);

// Writes config.json (architectures BertForMaskedLM), model.safetensors (floating-point weights as
// `dtype`; tied tensors once, as Hugging Face's files hold them) and the tokenizer files.
void save_masked_lm(const std::filesystem::path& out_dir, const MaskedLm& mlm,
                    const WordPieceTokenizer& tokenizer, c10::ScalarType dtype = c10::kFloat);

}  // namespace ftune
