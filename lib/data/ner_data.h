// Named-entity data: sentences of words with one tag per word, read from CoNLL column files or
// JSONL, and their sub-word windows for BERT with Hugging Face run_ner's label alignment (the
// first sub-word of each word carries its label, the others -100). No tensors here.
//
//   auto train = read_tagged_sentences("train.conll", /*read_tags=*/true);
//   auto windows = encode_word_windows(train, tokenizer, /*max_length=*/128, /*stride=*/32);
//   auto labels = align_window_labels(windows[0], tag_ids[windows[0].sentence], {});
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"
#include "tokenizer/wordpiece.h"

namespace ftune {

struct TaggedSentences {
  std::filesystem::path file;
  std::vector<std::vector<std::string>> words;
  std::vector<std::vector<std::string>> tags;  // one per word; empty when not read
  std::vector<int64_t> line_numbers;           // 1-based line of each sentence's first word
  bool one_word_per_line = false;              // CoNLL: word k is on line_numbers[s] + k

  // The line of word `k` of sentence `s` (a JSONL sentence is one line).
  int64_t line_of(size_t s, size_t k) const {
    return line_numbers[s] + (one_word_per_line ? static_cast<int64_t>(k) : 0);
  }
};

// Reads `file`: .jsonl/.json as one object per line {"tokens": [...], "tags": [...]} ("ner_tags"
// is read when there is no "tags"; tags are strings); anything else as CoNLL columns (a word per
// line, its first whitespace-separated column the word and its last the tag, a blank or
// whitespace-only line between sentences, -DOCSTART- lines skipped). With `read_tags` false the
// tags are not read (a CoNLL file of words alone is fine). DataError naming file:line for a word
// without a tag, as many tokens as tags in JSONL, a tag that is not text, or an empty sentence.
TaggedSentences read_tagged_sentences(const std::filesystem::path& file, bool read_tags);

// One model input: [CLS] + a stretch of one sentence's sub-words + [SEP].
struct WordWindow {
  size_t sentence = 0;
  Encoding encoding;
  std::vector<int64_t> word_ids;     // per position: the word of the sub-word; -1 for [CLS]/[SEP]
  std::vector<uint8_t> starts_word;  // per position: 1 on the first sub-word of its word
};

// --stride when not given: 32 sub-words, at most half a window (max_length - 2) / 2.
size_t default_stride(size_t max_length);

// Each sentence's words tokenized one by one (= Hugging Face's is_split_into_words), then cut into
// windows of at most max_length - 2 sub-words; consecutive windows of one sentence overlap by
// `stride` sub-words (a sentence that fits is one window). A word that tokenizes to nothing has
// no sub-word (and no prediction of its own). Windows are in sentence order. ConfigError when
// max_length < 3 or stride >= max_length - 2.
std::vector<WordWindow> encode_word_windows(const TaggedSentences& sentences,
                                            const WordPieceTokenizer& tokenizer, size_t max_length,
                                            size_t stride);

// Training labels of one window, per position: the word's tag id on its first sub-word; on the
// other sub-words -100, or with `b_to_i` non-empty (--label-all-tokens) b_to_i[tag id] (run_ner's
// B- to I- mapping); -100 on [CLS]/[SEP].
std::vector<int64_t> align_window_labels(const WordWindow& window,
                                         const std::vector<int64_t>& word_tag_ids,
                                         const std::vector<int64_t>& b_to_i);

// run_ner's b_to_i_label: for each label, the id of "I-X" when it is "B-X" and "I-X" is a label,
// else its own id.
std::vector<int64_t> map_b_to_i(const std::vector<std::string>& id2label);

// Each sentence's tags as label ids. DataError naming file:line (the word's), the tag and the
// model's labels for a tag the model does not know.
std::vector<std::vector<int64_t>> map_tag_ids(const TaggedSentences& sentences,
                                              const std::vector<std::string>& id2label);

// For each sentence and word: the window and position whose prediction the word takes, the one
// where its first sub-word has the most context on its poorer side (the earlier window on a tie);
// {-1, -1} for a word without a sub-word.
struct WordSource {
  int64_t window = -1;
  int64_t position = -1;
};
std::vector<std::vector<WordSource>> locate_word_predictions(
    const TaggedSentences& sentences, const std::vector<WordWindow>& windows);

}  // namespace ftune
