// libFuzzer target: a BERT folder's tokenizer_config.json and special_tokens_map.json readers
// (apply_tokenizer_config / apply_special_tokens_map) and a tokenizer.json's WordPiece vocabulary
// (read_tokenizer_json_vocab), then a tokenizer built from the options on a small vocabulary (or
// the tokenizer.json's). Input: one control byte (bit 0: special_tokens_map.json, bit 1:
// tokenizer.json), then the file.
// A TokenizerError is the expected answer to bad input; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "tokenizer/wordpiece.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool special_tokens_map = (data[0] & 1) != 0;
  const bool tokenizer_json = (data[0] & 2) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  ftune::WordPieceOptions options;
  try {
    std::vector<std::string> vocab = {
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<s>", "</s>", "hello", "##lo", "a", "中"};
    if (tokenizer_json) {
      vocab = ftune::read_tokenizer_json_vocab(text, "tokenizer.json", options);
      FUZZ_CHECK(!vocab.empty());
    } else if (special_tokens_map) {
      ftune::apply_special_tokens_map(text, "special_tokens_map.json", options);
    } else {
      ftune::apply_tokenizer_config(text, "tokenizer_config.json", options);
    }
    const ftune::WordPieceTokenizer tok(vocab, options);
    const auto tokens = tok.tokenize("Hello [MASK] wörld, 中文 helloooooooooooooo <s>!");
    for (auto id : tok.convert_tokens_to_ids(tokens)) {
      FUZZ_CHECK(id >= 0 && id < static_cast<int64_t>(vocab.size()));
    }
  } catch (const ftune::TokenizerError&) {
  }
  return 0;
}
