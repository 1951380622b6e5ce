// Sequence classification as a TrainTask: BERT + classification head; single-label
// (cross-entropy, optionally class-weighted; scikit-learn's metrics), multi-label (BCE with
// logits, optionally pos_weight; scikit-learn's multi-label report) or regression (one output,
// MSE; scipy's correlations), as Hugging Face's problem_type chooses the loss.
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/data/class_weights.h"
#include "lib/eval/classification_eval.h"
#include "lib/io/bert_folder.h"
#include "lib/io/weights.h"
#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "lib/train/train_task.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace ftune {
namespace {

std::vector<std::string> sorted_unique(const std::vector<std::string>& values) {
  std::set<std::string> unique(values.begin(), values.end());
  return {unique.begin(), unique.end()};
}

// Hugging Face's problem_type: what the labels are and which loss the head trains with.
enum class Problem { kSingleLabel, kMultiLabel, kRegression };

Problem resolve_problem(const std::string& option, const BertConfig& config) {
  const std::string name = option.empty() ? config.problem_type.value_or("") : option;
  if (name == "regression") return Problem::kRegression;
  if (name == "multi_label_classification") return Problem::kMultiLabel;
  return Problem::kSingleLabel;
}

const char* problem_name(Problem problem) {
  switch (problem) {
    case Problem::kRegression:
      return "regression";
    case Problem::kMultiLabel:
      return "multi_label_classification";
    case Problem::kSingleLabel:
      break;
  }
  return "single_label_classification";
}

class ClassificationTask : public TrainTask {
 public:
  ClassificationTask(const TaskInputs& o, const ClassifyTaskOptions& task,
                     const TaskContext& context)
      : tokenizer_(WordPieceTokenizer::load_from_folder(o.model_dir.string())),
        device_(context.device),
        eval_batch_size_(context.eval_batch_size) {
    const auto config = BertConfig::read((o.model_dir / "config.json").string());
    require_vocabulary_fits(tokenizer_, config, o.model_dir);
    problem_ = resolve_problem(task.problem_type, config);
    if (task.tune_thresholds && problem_ != Problem::kMultiLabel) {
      throw ConfigError(
          "--tune-thresholds: applies to --problem-type multi_label_classification (one "
          "threshold per label); hint: leave it out, or train a multi-label model");
    }
    if (task.tune_thresholds && !o.valid_file) {
      throw ConfigError(
          "--tune-thresholds: tunes on the validation set, and there is none; hint: pass "
          "--valid FILE");
    }
    tune_thresholds_ = task.tune_thresholds;
    if (problem_ == Problem::kRegression && !task.class_weights.empty()) {
      throw ConfigError(
          "--class-weights: applies to classification, not to --problem-type regression (its "
          "labels are numbers); hint: leave out --class-weights");
    }
    const size_t max_length = clamp_max_length(config, o.max_length);
    train_ = read_text_examples(o.train_file,
                                task.columns,
                                tokenizer_,
                                max_length,
                                /*read_labels=*/true,
                                o.table);
    ClassifierLoadOptions load_options;
    load_options.weights = o.weights;
    // Regression has one output, named as Hugging Face names it for num_labels=1; multi-label
    // one per label of any training row.
    if (problem_ == Problem::kRegression) {
      load_options.labels = {"LABEL_0"};
    } else if (problem_ == Problem::kMultiLabel) {
      std::vector<std::string> all;
      for (const auto& set : label_sets(train_)) all.insert(all.end(), set.begin(), set.end());
      load_options.labels = sorted_unique(all);
      if (load_options.labels.empty()) {
        throw DataError(fmt::format(
            "reading '{}': no row has a label; hint: multi-label cells list the labels of "
            "their row",
            o.train_file.string()));
      }
    } else {
      load_options.labels = sorted_unique(train_.labels);
    }
    load_options.seed = context.seed;
    classifier_ = load_classifier(o.model_dir, load_options);
    // Thresholds belong to the weights they were tuned for: none until this run tunes its own.
    classifier_.config.label_thresholds.clear();
    // Saved so that eval, predict and from_pretrained pick the same loss and outputs.
    if (problem_ != Problem::kSingleLabel || classifier_.config.problem_type) {
      classifier_.config.problem_type = problem_name(problem_);
    }
    fmt::print(stderr, "{}\n", classifier_.head_note);
    if (!classifier_.report.initialized_fresh.empty() || !classifier_.report.dropped.empty()) {
      fmt::print(stderr, "{}\n", classifier_.report.format());
    }
    for (const auto& e : train_.encodings) lengths_.push_back(e.input_ids.size());
    if (o.valid_file) {
      valid_ =
          read_text_examples(*o.valid_file, task.columns, tokenizer_, max_length, true, o.table);
    }
    const auto& labels = classifier_.config.id2label;
    switch (problem_) {
      case Problem::kRegression:
        train_targets_ = numeric_labels(train_);
        if (valid_) valid_targets_ = numeric_labels(*valid_);
        break;
      case Problem::kMultiLabel:
        train_sets_ = map_label_sets(train_, labels);
        if (valid_) valid_sets_ = map_label_sets(*valid_, labels);
        break;
      case Problem::kSingleLabel:
        train_labels_ = map_label_ids(train_, labels);
        if (valid_) valid_labels_ = map_label_ids(*valid_, labels);
        break;
    }
    if (!task.class_weights.empty()) set_class_weights(task.class_weights, o.train_file);
  }

  torch::nn::Module& model() override { return *classifier_.model; }
  const std::vector<size_t>& example_lengths() const override { return lengths_; }

  at::Tensor compute_loss(const std::vector<size_t>& indices) override {
    const bool single = problem_ == Problem::kSingleLabel;
    Batch batch = collate_batch(train_.encodings,
                                single ? train_labels_ : std::vector<int64_t>{},
                                indices,
                                tokenizer_.pad_id());
    at::Tensor targets = single ? batch.labels : float_targets(indices);
    move_to(device_, batch.input_ids, batch.attention_mask, batch.token_type_ids, targets);
    auto logits = classifier_.model(batch.input_ids, batch.attention_mask, batch.token_type_ids);
    switch (problem_) {
      case Problem::kRegression:
        // HF: MSELoss()(logits.squeeze(), labels.squeeze()), in the logits' dtype.
        return torch::mse_loss(logits.squeeze(-1), targets.to(logits.scalar_type()));
      case Problem::kMultiLabel: {
        // HF: BCEWithLogitsLoss()(logits, labels): the mean over every (example, label) cell.
        auto options = torch::nn::functional::BinaryCrossEntropyWithLogitsFuncOptions();
        if (class_weights_.defined()) options.pos_weight(class_weights_.to(logits.scalar_type()));
        return torch::nn::functional::binary_cross_entropy_with_logits(
            logits, targets.to(logits.scalar_type()), options);
      }
      case Problem::kSingleLabel:
        break;
    }
    if (class_weights_.defined()) {
      // The weighted mean: sum_i w[y_i] * loss_i / sum_i w[y_i] (PyTorch's cross_entropy).
      return torch::nn::functional::cross_entropy(
          logits,
          targets,
          torch::nn::functional::CrossEntropyFuncOptions().weight(
              class_weights_.to(logits.scalar_type())));
    }
    return torch::cross_entropy_loss(logits, targets);  // mean over the batch, as HF
  }

  bool has_validation() const override { return valid_.has_value(); }
  size_t validation_size() const override { return valid_ ? valid_->encodings.size() : 0; }

  EvalMetrics evaluate(const EvalShard& shard) override {
    at::Tensor logits;  // (N, L) in file order
    if (shard.world_size == 1) {
      logits = compute_logits(classifier_.model,
                              valid_->encodings,
                              tokenizer_.pad_id(),
                              eval_batch_size_,
                              "eval",
                              shard.show_progress);
    } else {
      std::vector<Encoding> mine;
      for (size_t i : shard.indices(valid_->encodings.size())) mine.push_back(valid_->encodings[i]);
      auto local = compute_logits(classifier_.model,
                                  mine,
                                  tokenizer_.pad_id(),
                                  eval_batch_size_,
                                  "eval",
                                  shard.show_progress);  // (N_rank, L)
      logits = shard.to_example_order(shard.gather_rows(local));
    }
    EvalMetrics metrics;
    if (problem_ == Problem::kRegression) {
      EvalResult eval = compute_regression_result(logits, valid_targets_);
      const auto& r = *eval.regression;
      metrics.loss = eval.loss.value_or(0.0);
      metrics.values = {
          {"pearson", r.pearson}, {"spearman", r.spearman}, {"mse", r.mse}, {"mae", r.mae}};
      return metrics;
    }
    if (problem_ == Problem::kMultiLabel) {
      // The metrics at 0.5 for every label: what --metric-for-best-model compares.
      EvalResult eval = compute_multilabel_result(
          logits, valid_sets_, classifier_.config.id2label, /*thresholds=*/{});
      const auto& r = *eval.multilabel;
      if (tune_thresholds_) {
        // Saved with the next model folder, which holds the weights just evaluated.
        at::Tensor probs = torch::sigmoid(logits.to(torch::kCPU, torch::kDouble));
        std::vector<std::vector<double>> rows(static_cast<size_t>(probs.size(0)));
        auto cells = probs.accessor<double, 2>();
        for (size_t i = 0; i < rows.size(); ++i) {
          for (int64_t k = 0; k < probs.size(1); ++k) {
            rows[i].push_back(cells[static_cast<int64_t>(i)][k]);
          }
        }
        classifier_.config.label_thresholds = tune_label_thresholds(rows, valid_sets_);
      }
      metrics.loss = eval.loss.value_or(0.0);
      metrics.values = {{"macro_f1", r.macro_avg.f1},
                        {"micro_f1", r.micro_avg.f1},
                        {"weighted_f1", r.weighted_avg.f1},
                        {"samples_f1", r.samples_avg.f1},
                        {"subset_accuracy", r.subset_accuracy},
                        {"hamming_loss", r.hamming_loss}};
      return metrics;
    }
    EvalResult eval = compute_eval_result(logits, valid_labels_, classifier_.config.id2label);
    const auto& r = eval.report;
    metrics.loss = eval.loss.value_or(0.0);
    metrics.values = {{"accuracy", r.accuracy},
                      {"macro_f1", r.macro_avg.f1},
                      {"micro_f1", r.f1_micro},
                      {"weighted_f1", r.weighted_avg.f1},
                      {"mcc", r.matthews_corrcoef},
                      {"macro_precision", r.macro_avg.precision},
                      {"macro_recall", r.macro_avg.recall}};
    return metrics;
  }

  std::vector<std::string> metric_names() const override {
    // The first of each list is the default --metric-for-best-model.
    if (problem_ == Problem::kRegression) return {"pearson", "spearman", "mse", "mae"};
    if (problem_ == Problem::kMultiLabel) {
      return {
          "macro_f1", "micro_f1", "weighted_f1", "samples_f1", "subset_accuracy", "hamming_loss"};
    }
    return {"macro_f1",
            "accuracy",
            "micro_f1",
            "weighted_f1",
            "mcc",
            "macro_precision",
            "macro_recall"};  // the first is the default --metric-for-best-model
  }

  void save(const std::filesystem::path& dir, c10::ScalarType dtype) const override {
    save_classifier(dir, classifier_, tokenizer_, dtype);
    // The weights the loss used, in the file format --class-weights reads.
    if (class_weights_.defined()) {
      nlohmann::ordered_json weights;
      const auto& labels = classifier_.config.id2label;
      for (size_t k = 0; k < labels.size(); ++k) weights[labels[k]] = class_weight_values_[k];
      write_file_atomically(dir / "class_weights.json", weights.dump(2) + "\n");
    }
  }

  void load_weights(const std::filesystem::path& dir) override {
    load_state_dict(
        *classifier_.model, read_weights(find_weights_file(dir)), LoadPolicy{}, dir.string());
  }

  std::string describe() const override {
    std::string skipped;
    if (train_.skipped_rows > 0) {
      skipped = fmt::format(" ({} bad rows skipped)", train_.skipped_rows);
    }
    if (problem_ == Problem::kRegression) {
      return fmt::format("{} examples{}, regression", train_.encodings.size(), skipped);
    }
    if (problem_ == Problem::kMultiLabel) {
      return fmt::format("{} examples{}, {} labels (multi-label)",
                         train_.encodings.size(),
                         skipped,
                         classifier_.config.id2label.size());
    }
    return fmt::format("{} examples{}, {} labels",
                       train_.encodings.size(),
                       skipped,
                       classifier_.config.id2label.size());
  }

 private:
  WordPieceTokenizer tokenizer_;
  c10::Device device_;
  size_t eval_batch_size_;
  TextExamples train_;
  std::vector<int64_t> train_labels_;
  std::optional<TextExamples> valid_;
  std::vector<int64_t> valid_labels_;
  Classifier classifier_;
  std::vector<size_t> lengths_;
  Problem problem_ = Problem::kSingleLabel;
  bool tune_thresholds_ = false;
  std::vector<double> train_targets_, valid_targets_;          // regression labels
  std::vector<std::vector<uint8_t>> train_sets_, valid_sets_;  // multi-label 0/1 rows
  std::vector<double> class_weight_values_;                    // in label-id order
  at::Tensor class_weights_;  // (L) float32 on device_; undefined: none

  // (B) regression values or (B, L) multi-label 0/1 rows of the examples `indices`, float32.
  at::Tensor float_targets(const std::vector<size_t>& indices) const {
    if (problem_ == Problem::kRegression) {
      std::vector<float> values;
      values.reserve(indices.size());
      for (size_t i : indices) values.push_back(static_cast<float>(train_targets_[i]));
      return torch::tensor(values, torch::kFloat);
    }
    const auto L = static_cast<int64_t>(classifier_.config.id2label.size());
    at::Tensor rows = torch::zeros({static_cast<int64_t>(indices.size()), L}, torch::kFloat);
    auto cells = rows.accessor<float, 2>();
    for (size_t b = 0; b < indices.size(); ++b) {
      for (int64_t k = 0; k < L; ++k) cells[b][k] = train_sets_[indices[b]][k] ? 1.0F : 0.0F;
    }
    return rows;
  }

  // Single-label: cross_entropy's per-class weights. Multi-label: BCE's pos_weight, "balanced"
  // giving each label negatives / positives over the training rows (PyTorch's recipe for it).
  void set_class_weights(const std::string& choice, const std::filesystem::path& train_file) {
    const auto& labels = classifier_.config.id2label;
    if (choice != "balanced") {
      class_weight_values_ = read_class_weights(choice, labels);
    } else if (problem_ == Problem::kMultiLabel) {
      class_weight_values_ = balanced_positive_weights(train_sets_, labels, train_file);
    } else {
      class_weight_values_ = balanced_class_weights(train_labels_, labels, train_file);
    }
    std::vector<float> values(class_weight_values_.begin(), class_weight_values_.end());
    class_weights_ = torch::tensor(values, torch::kFloat).to(device_);
    fmt::print(stderr,
               "{} ({}): {}\n",
               problem_ == Problem::kMultiLabel ? "positive weights" : "class weights",
               choice,
               format_class_weights(class_weight_values_, labels));
  }
};

}  // namespace

std::unique_ptr<TrainTask> make_classification_task(const TaskInputs& inputs,
                                                    const ClassifyTaskOptions& options,
                                                    const TaskContext& context) {
  return std::make_unique<ClassificationTask>(inputs, options, context);
}

}  // namespace ftune
