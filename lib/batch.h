// Turning tokenized examples into padded (B, T) tensors: dynamic padding to the longest
// example of each batch, never to --max-length.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "tokenizer/tokenizer.h"

namespace ftune {

struct Batch {
  at::Tensor input_ids;       // (B, T) int64
  at::Tensor attention_mask;  // (B, T) int64
  at::Tensor token_type_ids;  // (B, T) int64
  at::Tensor labels;          // (B) int64, undefined when unlabelled
  int64_t real_tokens = 0;    // non-pad tokens in the batch
};

// Pads the encodings at `indices` to the batch's longest with `pad_id`. `labels` may be empty.
Batch collate_batch(const std::vector<Encoding>& encodings,
                    const std::vector<int64_t>& labels,
                    const std::vector<size_t>& indices,
                    int64_t pad_id);

// Rows computed in another order back in example order: row k of `rows` (N, F) belongs to example
// `example_of_row[k]` (a permutation of 0..N-1). Returns (N, F) with row i = example i.
at::Tensor put_rows_in_example_order(const at::Tensor& rows,
                                     const std::vector<size_t>& example_of_row);

}  // namespace ftune
