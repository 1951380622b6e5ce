// `ftune predict`: a fine-tuned classifier over a table file, one JSON line per row; a token
// classifier over CoNLL/JSONL sentences, one JSON line per sentence.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "lib/data/text_dataset.h"
#include "lib/tensors/device.h"

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

// Returns the number of rows written.
size_t run_predict(const PredictOptions& options);

// A token classifier (NER) over a CoNLL or JSONL file of words (tags, when present, are not
// read): one line per sentence {"tokens": [...], "tags": [one per word], "scores": [the tag's
// probability]}, which `ftune score --task ner` reads. Returns the number of sentences.
size_t run_ner_predict(const PredictOptions& options);

}  // namespace ftune
