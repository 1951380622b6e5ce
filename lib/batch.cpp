// Batch collation with dynamic padding.
#include "lib/batch.h"

#include <algorithm>

#include <torch/torch.h>

namespace ftune {

Batch collate_batch(const std::vector<Encoding>& encodings,
                    const std::vector<int64_t>& labels,
                    const std::vector<size_t>& indices,
                    int64_t pad_id) {
  const auto B = static_cast<int64_t>(indices.size());
  size_t longest = 0;
  for (size_t index : indices) longest = std::max(longest, encodings[index].input_ids.size());
  const auto T = static_cast<int64_t>(longest);

  auto input_ids = torch::full({B, T}, pad_id, torch::kLong);  // (B, T)
  auto attention_mask = torch::zeros({B, T}, torch::kLong);    // (B, T)
  auto token_type_ids = torch::zeros({B, T}, torch::kLong);    // (B, T)
  auto ids = input_ids.accessor<int64_t, 2>();
  auto mask = attention_mask.accessor<int64_t, 2>();
  auto types = token_type_ids.accessor<int64_t, 2>();
  Batch batch;
  for (int64_t row = 0; row < B; ++row) {
    const Encoding& e = encodings[indices[row]];
    for (size_t t = 0; t < e.input_ids.size(); ++t) {
      ids[row][t] = e.input_ids[t];
      mask[row][t] = e.attention_mask.empty() ? 1 : e.attention_mask[t];
      types[row][t] = e.token_type_ids.empty() ? 0 : e.token_type_ids[t];
      batch.real_tokens += mask[row][t];
    }
  }
  batch.input_ids = input_ids;
  batch.attention_mask = attention_mask;
  batch.token_type_ids = token_type_ids;
  if (!labels.empty()) {
    auto label_tensor = torch::empty({B}, torch::kLong);  // (B)
    auto values = label_tensor.accessor<int64_t, 1>();
    for (int64_t row = 0; row < B; ++row) values[row] = labels[indices[row]];
    batch.labels = label_tensor;
  }
  return batch;
}

at::Tensor put_rows_in_example_order(const at::Tensor& rows,
                                     const std::vector<size_t>& example_of_row) {
  std::vector<int64_t> position(example_of_row.begin(), example_of_row.end());
  auto index = torch::tensor(position, torch::kLong).to(rows.device());  // (N)
  return torch::empty_like(rows).index_copy_(0, index, rows);           // (N, F)
}

}  // namespace ftune
