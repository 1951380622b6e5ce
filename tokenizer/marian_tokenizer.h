// MarianTokenizer: Hugging Face's slow MarianTokenizer (transformers 4.19) for OPUS-MT folders:
// source.spm / target.spm pieces mapped through the shared vocab.json. Encoding and decoding only:
// no padding, no batching, no Moses punctuation normalization (HF does not apply it either).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/marian_json.h"
#include "tokenizer/sentencepiece.h"

namespace ftune {

// Example (tests/fixtures/marian-mt):
//   auto tok = MarianTokenizer::load_from_folder("tests/fixtures/marian-mt");
//   tok.tokenize_source("A man sleeping");           // {"▁A", "▁man", "▁sleeping"}
//   auto ids = tok.encode_source("A man sleeping");  // {5, 10, 497, 0}: pieces, then </s> (id 0)
//   auto labels = tok.encode_target("Ein Mann", 24); // the same with target.spm, as under
//                                                    // HF's `with tok.as_target_tokenizer():`
//   tok.decode(generated_ids);                       // HF batch_decode(...,
//   skip_special_tokens=True)
//
// Throws TokenizerError (tokenizer/tokenizer.h) naming the file or the token at fault.
class MarianTokenizer {
 public:
  using SpecialToken = MarianSpecialToken;  // tokenizer/marian_json.h

  // Reads source.spm, target.spm, vocab.json and, when present, tokenizer_config.json and
  // special_tokens_map.json (eos/unk/pad and additional_special_tokens; defaults </s>, <unk>,
  // <pad>). Rejects separate_vocabs=true (no OPUS-MT checkpoint we target uses it).
  static MarianTokenizer load_from_folder(const std::string& dir);

  // HF tokenize(): the text is first split on special tokens written literally in it ("</s>"
  // stays one token; whitespace around it is dropped, see SpecialToken); in each remaining chunk a
  // leading language code ">>xx<<" becomes a token of its own, any other ">>...<<" is deleted, and
  // the rest goes through the source (or target) SentencePiece model.
  std::vector<std::string> tokenize_source(std::string_view text) const;
  std::vector<std::string> tokenize_target(std::string_view text) const;

  // Ids of the tokens above (unknown token -> unk_id()), then eos_id(). With max_length, the
  // tokens are cut from the right so that the result including </s> fits ("longest_first"
  // truncation); max_length too small for </s> plus one token throws.
  std::vector<int64_t> encode_source(std::string_view text,
                                     std::optional<size_t> max_length = std::nullopt) const;
  std::vector<int64_t> encode_target(std::string_view text,
                                     std::optional<size_t> max_length = std::nullopt) const;

  // HF decode(ids, skip_special_tokens, clean_up_tokenization_spaces): ids -> vocab.json tokens
  // (unknown id -> "<unk>"), special ids dropped when asked (note: <unk> is one of them), the
  // tokens detokenized by target.spm, then HF's English clean-up (" ." -> "." and so on).
  std::string decode(const std::vector<int64_t>& ids, bool skip_special_tokens = true,
                     bool clean_up_tokenization_spaces = true) const;

  int64_t token_to_id(std::string_view token) const;  // unk_id() when not in vocab.json
  std::string id_to_token(int64_t id) const;          // the unk token when not in vocab.json

  int64_t pad_id() const { return pad_id_; }
  int64_t eos_id() const { return eos_id_; }
  int64_t unk_id() const { return unk_id_; }
  int64_t vocab_size() const { return static_cast<int64_t>(token_to_id_.size()); }
  // The smallest and largest id in vocab.json (a model needs max_id() < its vocab_size).
  int64_t min_id() const;
  int64_t max_id() const;
  // ">>xx<<" entries of vocab.json, in file order (HF's supported_language_codes).
  const std::vector<std::string>& language_codes() const { return language_codes_; }

 private:
  MarianTokenizer(SentencePieceModel source_spm, SentencePieceModel target_spm);
  std::vector<std::string> tokenize(const SentencePieceModel& spm, std::string_view text) const;
  std::vector<int64_t> encode(const SentencePieceModel& spm, std::string_view text,
                              std::optional<size_t> max_length) const;

  SentencePieceModel source_spm_;
  SentencePieceModel target_spm_;
  std::unordered_map<std::string, int64_t> token_to_id_;
  std::unordered_map<int64_t, std::string> id_to_token_;
  std::vector<std::string> language_codes_;
  std::string unk_token_;
  std::vector<SpecialToken> special_tokens_;  // longest first, for splitting text on them
  std::unordered_set<int64_t> special_ids_;
  int64_t pad_id_ = -1;
  int64_t eos_id_ = -1;
  int64_t unk_id_ = -1;
};

}  // namespace ftune
