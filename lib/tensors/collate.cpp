// Collating examples into padded tensors: every kind is pad_rows and mask_rows over other rows.
#include "lib/tensors/collate.h"

#include <algorithm>

#include <torch/torch.h>

#include "models/marian.h"

namespace ftune {
namespace {

size_t longest_row(const Rows& rows) {
  size_t longest = 0;
  for (const auto* row : rows) longest = std::max(longest, row ? row->size() : 0);
  return longest;
}

template <typename Get>
Rows rows_of(const std::vector<size_t>& indices, Get get) {
  Rows rows;
  rows.reserve(indices.size());
  for (size_t i : indices) rows.push_back(get(i));
  return rows;
}

// Writes each non-null row into the start of its row of `out` (B, T) int64.
void copy_rows(at::Tensor& out, const Rows& rows) {
  auto values = out.accessor<int64_t, 2>();
  for (size_t r = 0; r < rows.size(); ++r) {
    if (!rows[r]) continue;
    const auto& row = *rows[r];
    for (size_t t = 0; t < row.size(); ++t) values[static_cast<int64_t>(r)][t] = row[t];
  }
}

}  // namespace

at::Tensor pad_rows(const Rows& rows, int64_t fill, int64_t length) {
  const auto B = static_cast<int64_t>(rows.size());
  const auto T = length >= 0 ? length : static_cast<int64_t>(longest_row(rows));
  auto out = torch::full({B, T}, fill, torch::kLong);  // (B, T)
  copy_rows(out, rows);
  return out;
}

at::Tensor mask_rows(const Rows& rows) {
  const auto B = static_cast<int64_t>(rows.size());
  auto out = torch::zeros({B, static_cast<int64_t>(longest_row(rows))}, torch::kLong);  // (B, T)
  auto values = out.accessor<int64_t, 2>();
  for (int64_t r = 0; r < B; ++r) {
    const size_t n = rows[r] ? rows[r]->size() : 0;
    for (size_t t = 0; t < n; ++t) values[r][t] = 1;
  }
  return out;
}

Batch collate_batch(const std::vector<Encoding>& encodings, const std::vector<int64_t>& labels,
                    const std::vector<size_t>& indices, int64_t pad_id) {
  const Rows ids = rows_of(indices, [&](size_t i) { return &encodings[i].input_ids; });
  Batch batch;
  batch.input_ids = pad_rows(ids, pad_id);  // (B, T)
  batch.attention_mask = mask_rows(ids);    // (B, T)
  // Tokenizer-provided masks and token types where an encoding has them (as long as its ids).
  copy_rows(batch.attention_mask, rows_of(indices, [&](size_t i) -> const std::vector<int64_t>* {
              const auto& mask = encodings[i].attention_mask;
              return mask.empty() ? nullptr : &mask;
            }));
  batch.token_type_ids = pad_rows(rows_of(indices,
                                          [&](size_t i) -> const std::vector<int64_t>* {
                                            const auto& types = encodings[i].token_type_ids;
                                            return types.empty() ? nullptr : &types;
                                          }),
                                  0,
                                  batch.input_ids.size(1));  // (B, T)
  if (!labels.empty()) {
    std::vector<int64_t> values;
    values.reserve(indices.size());
    for (size_t i : indices) values.push_back(labels[i]);
    batch.labels = torch::tensor(values, torch::kLong);  // (B)
  }
  return batch;
}

std::pair<at::Tensor, at::Tensor> collate_sources(const std::vector<std::vector<int64_t>>& ids,
                                                  const std::vector<size_t>& indices,
                                                  int64_t pad_id) {
  const Rows rows = rows_of(indices, [&](size_t i) { return &ids[i]; });
  return {pad_rows(rows, pad_id), mask_rows(rows)};  // (B, T) each
}

Seq2SeqBatch collate_seq2seq(const TranslationExamples& examples,
                             const std::vector<size_t>& indices, int64_t pad_id,
                             int64_t decoder_start_token_id) {
  Seq2SeqBatch batch;
  std::tie(batch.input_ids, batch.attention_mask) =
      collate_sources(examples.source_ids, indices, pad_id);
  batch.labels = pad_rows(rows_of(indices, [&](size_t i) { return &examples.label_ids[i]; }),
                          kIgnoreIndex);  // (B, S)
  batch.decoder_input_ids = shift_tokens_right(batch.labels, pad_id, decoder_start_token_id);
  return batch;
}

Batch collate_masked(const std::vector<MaskedSequence>& rows, int64_t pad_id) {
  Rows ids, labels;
  for (const auto& row : rows) {
    ids.push_back(&row.input_ids);
    labels.push_back(&row.labels);
  }
  Batch batch;
  batch.input_ids = pad_rows(ids, pad_id);                    // (B, T)
  batch.labels = pad_rows(labels, kIgnoreIndex);              // (B, T)
  batch.attention_mask = mask_rows(ids);                      // (B, T)
  batch.token_type_ids = torch::zeros_like(batch.input_ids);  // (B, T)
  return batch;
}

at::Tensor put_rows_in_example_order(const at::Tensor& rows,
                                     const std::vector<size_t>& example_of_row) {
  std::vector<int64_t> position(example_of_row.begin(), example_of_row.end());
  auto index = torch::tensor(position, torch::kLong).to(rows.device());  // (N)
  return torch::empty_like(rows).index_copy_(0, index, rows);            // (N, F)
}

}  // namespace ftune
