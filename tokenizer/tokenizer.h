// The tokenizer interface shared by WordPiece (BERT) and SentencePiece (Marian): text in, ids out.
// No LibTorch here: the tokenizers are plain C++ and fast to build and fuzz.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace ftune {

class TokenizerError : public std::runtime_error {
 public:
  explicit TokenizerError(const std::string& message) : std::runtime_error(message) {}
};

// What `tokenizer(text[, text_pair])` returns in Hugging Face, for one example.
struct Encoding {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> token_type_ids;
  std::vector<int64_t> attention_mask;
};

}  // namespace ftune
