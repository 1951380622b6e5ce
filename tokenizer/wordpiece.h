// WordPiece (BERT) tokenizer, token-for-token identical to Hugging Face's slow `BertTokenizer`
// (transformers 4.19): special-token splitting, BasicTokenizer, greedy WordPiece, [CLS]/[SEP]
// pairs. Not the Rust "fast" tokenizer (no offsets, no padding); no LibTorch here.
//
//   auto tok = ftune::WordPieceTokenizer::load_from_folder("checkpoints/bert-base-uncased");
//   tok.tokenize("I have a new GPU!");       // {"i", "have", "a", "new", "gp", "##u", "!"}
//   auto enc = tok.encode("Is it?", std::string("Yes."), /*max_length=*/128);
//   // enc.input_ids = [CLS] is it ? [SEP] yes . [SEP], enc.token_type_ids = 0 0 0 0 0 1 1 1
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace ftune {

// Field names and defaults are BertTokenizer's constructor arguments (tokenizer_config.json keys).
struct WordPieceOptions {
  bool do_lower_case = true;
  std::optional<bool> strip_accents;  // nullopt = follow do_lower_case (HF semantics)
  bool tokenize_chinese_chars = true;
  bool do_basic_tokenize = true;
  std::vector<std::string> never_split;  // plus the special tokens, which are never split
  int max_input_chars_per_word = 100;
  std::string unk_token = "[UNK]";
  std::string sep_token = "[SEP]";
  std::string pad_token = "[PAD]";
  std::string cls_token = "[CLS]";
  std::string mask_token = "[MASK]";
  // special_tokens_map.json's list; each must already be in the vocabulary.
  std::vector<std::string> additional_special_tokens;
};

// tokenizer_config.json / special_tokens_map.json, given as text (`path` names it in errors),
// applied to `options` as load_from_folder does; TokenizerError for anything else than a JSON
// object whose known keys have the types BertTokenizer takes.
void apply_tokenizer_config(std::string_view json_text, const std::string& path,
                            WordPieceOptions& options);
void apply_special_tokens_map(std::string_view json_text, const std::string& path,
                              WordPieceOptions& options);

// A `tokenizers` tokenizer.json (what current save_pretrained writes, sometimes without vocab.txt)
// of a WordPiece model: returns its vocabulary by id and applies its BertNormalizer settings and
// model options to `options`. TokenizerError naming `path` for another model type (BPE, Unigram),
// a vocabulary whose ids are not 0..n-1, or a subword prefix other than "##".
std::vector<std::string> read_tokenizer_json_vocab(std::string_view json_text,
                                                   const std::string& path,
                                                   WordPieceOptions& options);

class WordPieceTokenizer {
 public:
  // `vocab[i]` is the token with id i. Throws TokenizerError if a special token is not in it.
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options);

  // Reads DIR/vocab.txt (or, without it, DIR/tokenizer.json's WordPiece vocabulary) and, when
  // present, DIR/tokenizer_config.json and DIR/special_tokens_map.json (the latter wins, as in
  // from_pretrained).
  static WordPieceTokenizer load_from_folder(const std::string& dir);

  // = BertTokenizer.tokenize(text). Invalid UTF-8 bytes read as U+FFFD (then dropped).
  std::vector<std::string> tokenize(std::string_view text) const;
  // Unknown tokens map to unk_id(), as in HF.
  std::vector<int64_t> convert_tokens_to_ids(const std::vector<std::string>& tokens) const;
  // Ids outside the vocabulary map to the unk token, as in HF.
  const std::string& convert_id_to_token(int64_t id) const;

  // = tokenizer(text[, text_pair], truncation="longest_first", max_length=max_length): adds
  // [CLS]/[SEP], no padding. max_length 0 = no truncation.
  Encoding encode(std::string_view text, const std::optional<std::string>& text_pair,
                  size_t max_length) const;

  int64_t pad_id() const { return pad_id_; }
  int64_t cls_id() const { return cls_id_; }
  int64_t sep_id() const { return sep_id_; }
  int64_t unk_id() const { return unk_id_; }
  int64_t mask_id() const { return mask_id_; }
  // Number of distinct tokens (HF's len(vocab)); equals the line count of a well-formed vocab.txt.
  size_t vocab_size() const { return token_to_id_.size(); }
  // The largest id (vocab.txt's last line number - 1; a repeated line makes it exceed
  // vocab_size() - 1). A model needs max_id() < its vocab_size.
  int64_t max_id() const { return static_cast<int64_t>(id_to_token_.size()) - 1; }
  const WordPieceOptions& options() const { return options_; }

  // Writes vocab.txt, tokenizer_config.json and special_tokens_map.json byte-for-byte as
  // save_pretrained does; each file goes to a temp name first and is renamed into place.
  void save_to_folder(const std::string& dir) const;

 private:
  std::vector<std::string> split_words(std::u32string_view text) const;
  void append_wordpieces(std::u32string_view word, std::vector<std::string>& out) const;

  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int64_t> token_to_id_;
  WordPieceOptions options_;
  std::vector<std::string> special_tokens_;    // never split by the basic tokenizer
  std::vector<std::u32string> special_chars_;  // the non-empty ones, kept whole anywhere in text
  size_t max_token_chars_ = 0;                 // longest vocab entry, bounds the greedy search
  int64_t pad_id_ = 0, cls_id_ = 0, sep_id_ = 0, unk_id_ = 0, mask_id_ = 0;
};

}  // namespace ftune
