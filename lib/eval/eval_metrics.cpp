// EvalMetrics lookups and putting sharded rows back in example order.
#include "lib/eval/eval_metrics.h"

#include "lib/tensors/collate.h"

namespace ftune {

std::optional<double> EvalMetrics::find(const std::string& name) const {
  if (name == "loss") return loss;
  for (const auto& [key, value] : values) {
    if (key == name) return value;
  }
  return std::nullopt;
}

at::Tensor EvalShard::to_example_order(const at::Tensor& gathered) const {
  if (world_size == 1) return gathered;
  const auto count = static_cast<size_t>(gathered.size(0));
  std::vector<size_t> example;  // gathered row k holds example[k]: rank 0's rows, rank 1's, ...
  for (size_t r = 0; r < static_cast<size_t>(world_size); ++r) {
    for (size_t i = r; i < count; i += static_cast<size_t>(world_size)) example.push_back(i);
  }
  return put_rows_in_example_order(gathered, example);  // (N, F)
}

}  // namespace ftune
