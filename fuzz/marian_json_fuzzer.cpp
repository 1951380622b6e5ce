// libFuzzer target: a Marian folder's vocab.json reader and its tokenizer_config.json /
// special_tokens_map.json reader (tokenizer/marian_json.h), without SentencePiece. Input: one
// control byte (bit 0: vocab.json, else a special-tokens file), then the file. A TokenizerError is
// the expected answer to bad input; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "tokenizer/marian_json.h"
#include "tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool vocab_json = (data[0] & 1) != 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    if (vocab_json) {
      const auto vocab = ftune::parse_marian_vocab(text, "vocab.json");
      FUZZ_CHECK(!vocab.token_to_id.empty());
      FUZZ_CHECK(vocab.id_to_token.size() <= vocab.token_to_id.size());
      for (const auto& code : vocab.language_codes) {
        FUZZ_CHECK(code.size() > 4 && code.compare(0, 2, ">>") == 0);
        FUZZ_CHECK(vocab.token_to_id.count(code) == 1);
      }
    } else {
      ftune::MarianSpecialTokens tokens;
      ftune::apply_marian_special_tokens(text, "tokenizer_config.json", tokens);
    }
  } catch (const ftune::TokenizerError&) {
  }
  return 0;
}
