// `ftune tokenize`: a text file through a model folder's WordPiece tokenizer, one JSON line per
// input with tokens and the ids `tokenizer(text[, text_pair])` gives. Needs no weights.
#pragma once

#include <filesystem>
#include <string>

#include "lib/data/table.h"

namespace ftune {

struct TokenizeOptions {
  std::filesystem::path model_dir;  // vocab.txt (+ tokenizer_config.json) is enough
  std::filesystem::path input;      // .txt (one text per line) or .jsonl (text, optional text_pair)
  std::filesystem::path output;     // .jsonl
  size_t max_length = 0;            // 0 = no truncation
  std::string text_column = "text";
  TableReadOptions table;
};

// Returns the number of lines written.
size_t run_tokenize(const TokenizeOptions& options);

}  // namespace ftune
