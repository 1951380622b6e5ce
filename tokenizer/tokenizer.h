// The tokenizer interface shared by WordPiece (BERT) and SentencePiece (Marian): text in, ids out.
// No LibTorch here: the tokenizers are plain C++ and fast to build and fuzz.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"  // TokenizerError

namespace ftune {

// What `tokenizer(text[, text_pair])` returns in Hugging Face, for one example.
struct Encoding {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> token_type_ids;
  std::vector<int64_t> attention_mask;
};

}  // namespace ftune
