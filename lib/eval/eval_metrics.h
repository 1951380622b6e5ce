// What an evaluation returns to the trainer (loss and named metrics), and how one evaluation is
// split over the ranks of a distributed run and put back together (EvalShard).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace ftune {

struct EvalMetrics {
  double loss = 0.0;
  std::vector<std::pair<std::string, double>> values;  // logged as eval_<name>, in this order
  // The value of `name` ("loss" or one of values); nullopt when absent.
  std::optional<double> find(const std::string& name) const;
};

// The part of the validation set this process evaluates in a distributed run, and how the parts
// come together: every rank ends with the metrics of the whole set. A world of one is the whole
// set, and the combining functions return their input.
struct EvalShard {
  int rank = 0;
  int world_size = 1;
  bool show_progress = true;  // rank 0 alone draws progress bars
  // Element-wise sums over the ranks.
  std::function<std::vector<double>(const std::vector<double>&)> sum =
      [](const std::vector<double>& values) { return values; };
  // Every rank's rows (B_r, F), concatenated in rank order.
  std::function<at::Tensor(const at::Tensor&)> gather_rows = [](const at::Tensor& rows) {
    return rows;
  };
  // The examples of `count` this rank evaluates: rank, rank + world_size, ...
  std::vector<size_t> indices(size_t count) const {
    std::vector<size_t> mine;
    for (size_t i = static_cast<size_t>(rank); i < count; i += static_cast<size_t>(world_size)) {
      mine.push_back(i);
    }
    return mine;
  }
  // Rows gathered in rank order (gather_rows of indices(count)) back into example order.
  at::Tensor to_example_order(const at::Tensor& gathered) const;
};

}  // namespace ftune
