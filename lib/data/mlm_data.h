// Masked-language-model data: plain text read and tokenized into sequences (one line each, or
// packed), pre-masked `.jsonl` files, and Hugging Face's masking rules (transformers 4.19
// DataCollatorForLanguageModeling and DataCollatorForWholeWordMask). No LibTorch here.
//
//   auto data = read_mlm_text("corpus.txt.gz", tokenizer, {/*max_length=*/128, /*pack=*/true});
//   MaskingVocab vocab = make_masking_vocab(tokenizer);
//   MaskRng rng(seed);
//   MaskedSequence m = mask_tokens(data.sequences[0], vocab, {0.15, false}, rng);
//   // m.input_ids: ~15% of the non-special tokens chosen; of those 80% [MASK], 10% a random
//   // token, 10% kept; m.labels: the original id where chosen, -100 elsewhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "tokenizer/wordpiece.h"

namespace ftune {

struct MlmTextOptions {
  size_t max_length = 128;  // tokens per sequence, [CLS] and [SEP] included
  // false: one sequence per non-empty line, truncated. true: the lines' encodings ([CLS] ...
  // [SEP] each) concatenated and cut into blocks of max_length, as run_mlm.py's group_texts
  // (which drops the last partial block; here it is kept).
  bool pack = false;
};

struct MlmSequences {
  std::filesystem::path file;
  std::vector<std::vector<int32_t>> sequences;  // token ids
  std::vector<std::vector<int32_t>> labels;     // pre-masked files only: -100 = not masked
  int64_t lines_read = 0;                       // non-empty lines
};

// Reads `.txt`, `.txt.gz`, `.jsonl` or `.jsonl.gz` (a "text" string per line); one document or
// sentence per line, blank lines skipped. A `.jsonl` line that is not an object with a string
// "text" is a DataError naming file:line. An empty result is a DataError.
MlmSequences read_mlm_text(const std::filesystem::path& file, const WordPieceTokenizer& tokenizer,
                           const MlmTextOptions& options);

// Reads a pre-masked `.jsonl`: per line "input_ids" and "labels" (int lists of one length), and
// optionally "attention_mask" (1s then 0s: the 0 positions, padding, are dropped). Ids must be
// in [0, vocab_size); labels -100 or in [0, vocab_size). Longer than max_length is an error.
MlmSequences read_pre_masked(const std::filesystem::path& file, int64_t vocab_size,
                             size_t max_length);

// What masking needs to know about the vocabulary.
struct MaskingVocab {
  int32_t mask_id = 0;
  int32_t vocab_size = 0;             // random replacements are drawn from [0, vocab_size)
  std::vector<bool> is_special;       // by id: all special tokens ([CLS] [SEP] [PAD] [UNK] [MASK])
  std::vector<bool> is_continuation;  // by id: a "##" WordPiece (whole-word masking)
};

// HF's tokenizer.all_special_ids and len(tokenizer), from the tokenizer.
MaskingVocab make_masking_vocab(const WordPieceTokenizer& tokenizer);

struct MaskingOptions {
  double mlm_probability = 0.15;
  bool whole_word = false;
};

// A small deterministic generator (splitmix64), so masks are the same on every platform.
class MaskRng {
 public:
  explicit MaskRng(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform();            // [0, 1)
  uint64_t below(uint64_t n);  // [0, n), n > 0

 private:
  uint64_t state_;
};

struct MaskedSequence {
  std::vector<int64_t> input_ids;
  std::vector<int64_t> labels;  // -100 where not chosen
};

// Chooses and replaces positions with Hugging Face's rules. Special tokens are never chosen.
// Token-level: each other position with probability mlm_probability. Whole-word: words (a token
// and its following "##" pieces) in random order until round(len * mlm_probability) tokens (at
// least 1) are covered, skipping words that would overshoot. Then per chosen position: 80%
// [MASK], 10% a uniformly random id, 10% unchanged.
MaskedSequence mask_tokens(const std::vector<int32_t>& ids, const MaskingVocab& vocab,
                           const MaskingOptions& options, MaskRng& rng);

}  // namespace ftune
