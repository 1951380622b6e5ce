// What the training loop needs from a task (sequence classification, token classification,
// translation, masked-LM pretraining): the model, a loss for a micro-batch, an evaluation, and
// saving. Three callers, so an interface; lib/train/trainer.cpp drives it, lib/train/*_task.cpp
// implement it. Each task has its own options; what they all read (model folder, data files) is
// TaskInputs, and what the trainer resolves once for them (device, seed, eval batch size) is
// TaskContext.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <torch/nn/module.h>

#include "lib/data/seq2seq_data.h"
#include "lib/data/table.h"
#include "lib/data/text_dataset.h"
#include "lib/eval/eval_metrics.h"
#include "lib/metrics/sequence_labeling.h"

namespace ftune {

// The model to start from and the data, for every task.
struct TaskInputs {
  std::filesystem::path model_dir;  // pretrain: empty with PretrainTaskOptions::model_config
  std::optional<std::filesystem::path> weights;
  std::filesystem::path train_file;
  std::optional<std::filesystem::path> valid_file;
  TableReadOptions table;
  size_t max_length = 128;  // classify: the input; translate: the source; pretrain: a sequence
};

struct ClassifyTaskOptions {
  TextColumns columns;
  // single_label_classification (cross-entropy over named labels) or regression (one output,
  // MSE, numeric labels), Hugging Face's problem_type values. Empty: the model's config.json
  // problem_type, else single-label.
  std::string problem_type;
  // Single-label only: "balanced" (scikit-learn's formula over the training labels) or a JSON
  // file of label -> weight; the cross-entropy's per-class weights. Empty: none.
  std::string class_weights;
  // Multi-label only: at each evaluation, tune each label's threshold on the validation set
  // (tune_label_thresholds) and save them in config.json's label_thresholds.
  bool tune_thresholds = false;
};

struct NerTaskOptions {
  // Every sub-word of a word carries its label (B- becoming I- after the first, run_ner's
  // label_all_tokens); default: the first sub-word alone, -100 on the rest.
  bool label_all_tokens = false;
  // Sub-words shared by consecutive windows of a sentence longer than --max-length; default:
  // default_stride(max_length).
  std::optional<size_t> stride;
  SeqevalMode mode = SeqevalMode::kDefault;  // how evaluations count entities
};

struct TranslateTaskOptions {
  PairColumns columns;
  size_t max_target_length = 128;      // labels
  double label_smoothing = 0.0;        // PyTorch cross_entropy label_smoothing
  bool predict_with_generate = false;  // BLEU/chrF at each evaluation
  int64_t generation_num_beams = 1;
  int64_t generation_max_length = 128;
};

struct PretrainTaskOptions {
  double mlm_probability = 0.15;
  bool whole_word_masking = false;
  bool pack = false;        // concatenate lines into blocks of max_length
  bool pre_masked = false;  // train/valid are .jsonl with input_ids and labels: no masking
  std::optional<std::filesystem::path> model_config;   // random init from this config.json
  std::optional<std::filesystem::path> tokenizer_dir;  // vocab.txt etc.; default: model_dir
};

// Resolved by the trainer before it makes the task.
struct TaskContext {
  c10::Device device = c10::Device(c10::DeviceType::CPU);  // where batches go
  uint64_t seed = 42;                                      // new heads, evaluation masks
  size_t eval_batch_size = 8;
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
  // Validation examples (rows, sentences, pairs or sequences); 0 without validation data.
  virtual size_t validation_size() const = 0;
  // Runs this rank's shard of the validation set and returns the metrics of the whole set;
  // leaves the model in train mode.
  virtual EvalMetrics evaluate(const EvalShard& shard) = 0;
  // Metric names --metric-for-best-model may take (besides "loss").
  virtual std::vector<std::string> metric_names() const = 0;
  // Writes a complete model folder (config, weights as `dtype`, tokenizer files) into `dir`.
  virtual void save(const std::filesystem::path& dir, c10::ScalarType dtype) const = 0;
  // Loads the weights of a saved model folder (resume).
  virtual void load_weights(const std::filesystem::path& dir) = 0;
  // One line for the log: "1462 examples, 3 labels".
  virtual std::string describe() const = 0;
};

std::unique_ptr<TrainTask> make_classification_task(const TaskInputs& inputs,
                                                    const ClassifyTaskOptions& options,
                                                    const TaskContext& context);
std::unique_ptr<TrainTask> make_token_classification_task(const TaskInputs& inputs,
                                                          const NerTaskOptions& options,
                                                          const TaskContext& context);
std::unique_ptr<TrainTask> make_translation_task(const TaskInputs& inputs,
                                                 const TranslateTaskOptions& options,
                                                 const TaskContext& context);
std::unique_ptr<TrainTask> make_mlm_task(const TaskInputs& inputs,
                                         const PretrainTaskOptions& options,
                                         const TaskContext& context);

}  // namespace ftune
