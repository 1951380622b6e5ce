// A Hugging Face model folder for the BERT family: config.json + weights + tokenizer files.
// Loads a sequence classifier (deciding whether the head is kept or made fresh) and saves one
// back in a layout `from_pretrained` reads. Not here: the file formats (lib/io/weights.h).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/ScalarType.h>

#include "lib/io/state_dict.h"
#include "models/bert.h"
#include "tokenizer/wordpiece.h"

namespace ftune {

struct ClassifierLoadOptions {
  std::optional<std::filesystem::path> weights;  // --weights: overrides the folder's choice
  // Training labels (sorted, unique). The checkpoint's head is kept when its label2id names
  // exactly these; otherwise a fresh head is built for them. Empty: the checkpoint must have a
  // head.
  std::vector<std::string> labels;
  uint64_t seed = 42;  // initializes a fresh head
};

struct Classifier {
  BertConfig config;
  BertForSequenceClassification model{nullptr};
  LoadReport report;
  std::filesystem::path weights_file;
  std::string head_note;  // one line: the head kept, or made fresh and why
};

Classifier load_classifier(const std::filesystem::path& model_dir,
                           const ClassifierLoadOptions& options);

// Writes config.json, model.safetensors (floating-point weights as `dtype`) and the tokenizer
// files, each atomically.
void save_classifier(const std::filesystem::path& out_dir, const Classifier& classifier,
                     const WordPieceTokenizer& tokenizer, c10::ScalarType dtype = c10::kFloat);

// The weights file used for `model_dir`: `weights` when given, else the first one found.
std::filesystem::path resolve_weights_file(const std::filesystem::path& model_dir,
                                           const std::optional<std::filesystem::path>& weights);

// Checks that `dir` exists and has config.json; throws CheckpointError with a hint otherwise.
void require_model_folder(const std::filesystem::path& dir);

// The longest input the model accepts: min(requested, max_position_embeddings).
size_t clamp_max_length(const BertConfig& config, size_t requested);

// ConfigError naming vocab.txt when the tokenizer has more tokens than config.json's vocab_size:
// its last ids would index past the embedding table ("index out of range in self" mid-run).
void require_vocabulary_fits(const WordPieceTokenizer& tokenizer, const BertConfig& config,
                             const std::filesystem::path& model_dir);

}  // namespace ftune
