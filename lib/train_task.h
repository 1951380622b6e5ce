// What the training loop needs from a task (sequence classification, translation): the model,
// a loss for a micro-batch, an evaluation, and saving. Two real callers, so an interface;
// lib/trainer.cpp drives it, lib/*_task.cpp implement it.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace ftune {

struct TrainOptions;

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

class TrainTask {
 public:
  virtual ~TrainTask() = default;

  virtual torch::nn::Module& model() = 0;
  // Token count of each training example (for --group-by-length); also the example count.
  virtual const std::vector<size_t>& example_lengths() const = 0;
  // Mean loss over the training examples `indices`, in train mode, with the graph attached.
  virtual at::Tensor compute_loss(const std::vector<size_t>& indices) = 0;
  virtual bool has_validation() const = 0;
  // Runs this rank's shard of the validation set and returns the metrics of the whole set;
  // leaves the model in train mode.
  virtual EvalMetrics evaluate(const EvalShard& shard) = 0;
  // Metric names --metric-for-best-model may take (besides "loss").
  virtual std::vector<std::string> metric_names() const = 0;
  // A complete model folder (config, weights, tokenizer files).
  virtual void save_model_folder(const std::filesystem::path& dir) const = 0;
  // Loads the weights of a saved model folder (resume).
  virtual void load_model_folder_weights(const std::filesystem::path& dir) = 0;
  // One line for the log: "1462 examples, 3 labels".
  virtual std::string describe() const = 0;
};

std::unique_ptr<TrainTask> make_classification_task(const TrainOptions& options);
std::unique_ptr<TrainTask> make_translation_task(const TrainOptions& options);
std::unique_ptr<TrainTask> make_mlm_task(const TrainOptions& options);

}  // namespace ftune
