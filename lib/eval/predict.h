// `ftune predict`: a fine-tuned classifier over a table file, one JSON line per row; a token
// classifier over CoNLL/JSONL sentences, one JSON line per sentence.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lib/data/text_dataset.h"
#include "lib/tensors/device.h"
#include "models/bert.h"

namespace ftune {

struct PredictOptions {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> weights;
  std::filesystem::path data;
  std::filesystem::path output;
  size_t max_length = 128;
  size_t batch_size = 32;
  TextColumns columns;
  TableReadOptions table;
  RuntimeOptions runtime;        // --device, --precision
  std::optional<size_t> stride;  // NER: default_stride(max_length)
};

// One output line per row of `logits` (N, L), as `ftune predict` writes it (and `ftune serve`
// answers): {"label", "label_id", "probs", "logits"}; multi-label {"labels", "probs", "logits"};
// regression {"score", "logits"}.
std::vector<nlohmann::ordered_json> classification_lines(const at::Tensor& logits,
                                                         const BertConfig& config);

// A token classifier's line for one sentence: {"tokens", "tags", "scores"}.
nlohmann::ordered_json ner_line(const std::vector<std::string>& words,
                                const std::vector<std::string>& tags,
                                const std::vector<float>& scores);

// Returns the number of rows written.
size_t run_predict(const PredictOptions& options);

// A token classifier (NER) over a CoNLL or JSONL file of words (tags, when present, are not
// read): one line per sentence {"tokens": [...], "tags": [one per word], "scores": [the tag's
// probability]}, which `ftune score --task ner` reads. Returns the number of sentences.
size_t run_ner_predict(const PredictOptions& options);

}  // namespace ftune
