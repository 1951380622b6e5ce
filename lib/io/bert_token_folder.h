// A Hugging Face model folder for BERT token classification (NER): loads a
// BertForTokenClassification (keeping the checkpoint's head when it is a token classifier of the
// same tags, else a fresh one) and saves one that AutoModelForTokenClassification reads. The same
// shape as lib/io/bert_folder.h, whose ClassifierLoadOptions it takes.
#pragma once

#include <filesystem>
#include <string>

#include <c10/core/ScalarType.h>

#include "lib/io/bert_folder.h"
#include "lib/io/state_dict.h"
#include "models/bert_token_classification.h"
#include "tokenizer/wordpiece.h"

namespace ftune {

struct TokenClassifier {
  BertConfig config;
  BertForTokenClassification model{nullptr};
  LoadReport report;
  std::filesystem::path weights_file;
  std::string head_note;  // one line: the head kept, or made fresh and why
};

// config.json's "architectures" names BertForTokenClassification: what `ftune eval` and
// `ftune predict` read to treat a folder as an NER model.
bool is_token_classifier(const BertConfig& config);

// options.labels empty: the folder must hold a token classifier (CheckpointError otherwise).
// A pooler in the file (an encoder or sequence-classifier checkpoint) is dropped, as Hugging Face
// drops it, and reported.
TokenClassifier load_token_classifier(const std::filesystem::path& model_dir,
                                      const ClassifierLoadOptions& options);

// Writes config.json (architectures BertForTokenClassification), model.safetensors
// (floating-point weights as `dtype`) and the tokenizer files, each atomically.
void save_token_classifier(const std::filesystem::path& out_dir, const TokenClassifier& classifier,
                           const WordPieceTokenizer& tokenizer,
                           c10::ScalarType dtype = c10::kFloat);

}  // namespace ftune
