// Parallel text for translation: (source, target) rows read from a table file, tokenized with
// Marian's source/target SentencePiece models, and padded into teacher-forcing batches.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lib/table.h"
#include "tokenizer/marian_tokenizer.h"

namespace ftune {

struct PairColumns {
  std::string source = "source";
  std::string target = "target";
};

struct TranslationExamples {
  std::filesystem::path file;
  std::vector<std::string> sources;
  std::vector<std::string> targets;
  std::vector<std::vector<int64_t>> source_ids;  // pieces + </s>
  std::vector<std::vector<int64_t>> label_ids;   // target pieces + </s>
  std::vector<int64_t> line_numbers;
};

// Reads .jsonl/.tsv/.csv with the two columns; an empty source or target is a DataError naming
// file:line (skipped and counted with skip_bad_rows).
TranslationExamples read_translation_examples(const std::filesystem::path& file,
                                              const PairColumns& columns,
                                              const MarianTokenizer& tokenizer,
                                              size_t max_source_length,
                                              size_t max_target_length,
                                              const TableReadOptions& table_options);

struct Seq2SeqBatch {
  at::Tensor input_ids;          // (B, T) padded with pad_id
  at::Tensor attention_mask;     // (B, T)
  at::Tensor labels;             // (B, S) padded with -100
  at::Tensor decoder_input_ids;  // (B, S) labels shifted right, starting with the start token
};

Seq2SeqBatch collate_seq2seq(const TranslationExamples& examples,
                             const std::vector<size_t>& indices,
                             int64_t pad_id,
                             int64_t decoder_start_token_id);

// Source ids of `indices` padded into (B, T) input_ids and attention_mask.
std::pair<at::Tensor, at::Tensor> collate_sources(const std::vector<std::vector<int64_t>>& ids,
                                                  const std::vector<size_t>& indices,
                                                  int64_t pad_id);

}  // namespace ftune
