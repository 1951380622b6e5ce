// Collating: examples of one batch into padded (B, T) int64 tensors on the CPU, padded to the
// batch's longest row (dynamic padding), never to --max-length. One module for the three example
// kinds (classification encodings, translation pairs, masked sequences), all built on pad_rows.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "lib/data/mlm_data.h"
#include "lib/data/seq2seq_data.h"
#include "tokenizer/tokenizer.h"

namespace ftune {

// PyTorch cross_entropy's default ignore_index: label positions that carry no loss.
constexpr int64_t kIgnoreIndex = -100;

// One batch's rows, by pointer (not copied). A null row is an empty one.
using Rows = std::vector<const std::vector<int64_t>*>;

// (B, T) int64 with T = `length`, or the longest row when negative: row r is rows[r] followed by
// `fill`.
at::Tensor pad_rows(const Rows& rows, int64_t fill, int64_t length = -1);

// (B, T) int64 like pad_rows of the same rows: 1 over each row's tokens, 0 over the padding.
at::Tensor mask_rows(const Rows& rows);

struct Batch {
  at::Tensor input_ids;       // (B, T) int64
  at::Tensor attention_mask;  // (B, T) int64
  at::Tensor token_type_ids;  // (B, T) int64
  at::Tensor labels;          // (B) int64, undefined when unlabelled
};

// The encodings at `indices`, input ids padded with `pad_id`; `labels` (one per encoding) may be
// empty. An encoding without attention_mask / token_type_ids gets ones / zeros.
Batch collate_batch(const std::vector<Encoding>& encodings, const std::vector<int64_t>& labels,
                    const std::vector<size_t>& indices, int64_t pad_id);

struct Seq2SeqBatch {
  at::Tensor input_ids;          // (B, T) padded with pad_id
  at::Tensor attention_mask;     // (B, T)
  at::Tensor labels;             // (B, S) padded with -100
  at::Tensor decoder_input_ids;  // (B, S) labels shifted right, starting with the start token
};

// Teacher forcing: sources, labels, and decoder inputs shifted right from the labels.
Seq2SeqBatch collate_seq2seq(const TranslationExamples& examples,
                             const std::vector<size_t>& indices, int64_t pad_id,
                             int64_t decoder_start_token_id);

// Source ids of `indices` padded into (B, T) input_ids and attention_mask.
std::pair<at::Tensor, at::Tensor> collate_sources(const std::vector<std::vector<int64_t>>& ids,
                                                  const std::vector<size_t>& indices,
                                                  int64_t pad_id);

// Masked sequences: pad id in the inputs, -100 in the labels, token types all 0.
Batch collate_masked(const std::vector<MaskedSequence>& rows, int64_t pad_id);

// Rows computed in another order back in example order: row k of `rows` (N, F) belongs to example
// `example_of_row[k]` (a permutation of 0..N-1). Returns (N, F) with row i = example i.
at::Tensor put_rows_in_example_order(const at::Tensor& rows,
                                     const std::vector<size_t>& example_of_row);

}  // namespace ftune
