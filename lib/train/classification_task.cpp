// Sequence classification as a TrainTask: BERT + classification head, cross-entropy loss,
// evaluation with scikit-learn's metrics.
#include <set>

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/eval/classification_eval.h"
#include "lib/io/bert_folder.h"
#include "lib/io/weights.h"
#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "lib/train/train_task.h"

namespace ftune {
namespace {

std::vector<std::string> sorted_unique(const std::vector<std::string>& values) {
  std::set<std::string> unique(values.begin(), values.end());
  return {unique.begin(), unique.end()};
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
    const size_t max_length = clamp_max_length(config, o.max_length);
    train_ = read_text_examples(o.train_file,
                                task.columns,
                                tokenizer_,
                                max_length,
                                /*read_labels=*/true,
                                o.table);
    ClassifierLoadOptions load_options;
    load_options.weights = o.weights;
    load_options.labels = sorted_unique(train_.labels);
    load_options.seed = context.seed;
    classifier_ = load_classifier(o.model_dir, load_options);
    fmt::print(stderr, "{}\n", classifier_.head_note);
    if (!classifier_.report.initialized_fresh.empty() || !classifier_.report.dropped.empty()) {
      fmt::print(stderr, "{}\n", classifier_.report.format());
    }
    train_labels_ = map_label_ids(train_, classifier_.config.id2label);
    for (const auto& e : train_.encodings) lengths_.push_back(e.input_ids.size());
    if (o.valid_file) {
      valid_ =
          read_text_examples(*o.valid_file, task.columns, tokenizer_, max_length, true, o.table);
      valid_labels_ = map_label_ids(*valid_, classifier_.config.id2label);
    }
  }

  torch::nn::Module& model() override { return *classifier_.model; }
  const std::vector<size_t>& example_lengths() const override { return lengths_; }

  at::Tensor compute_loss(const std::vector<size_t>& indices) override {
    Batch batch = collate_batch(train_.encodings, train_labels_, indices, tokenizer_.pad_id());
    move_to(device_, batch.input_ids, batch.attention_mask, batch.token_type_ids, batch.labels);
    auto logits = classifier_.model(batch.input_ids, batch.attention_mask, batch.token_type_ids);
    return torch::cross_entropy_loss(logits, batch.labels);  // mean over the batch, as HF
  }

  bool has_validation() const override { return valid_.has_value(); }

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
    EvalResult eval = compute_eval_result(logits, valid_labels_, classifier_.config.id2label);
    const auto& r = eval.report;
    EvalMetrics metrics;
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
};

}  // namespace

std::unique_ptr<TrainTask> make_classification_task(const TaskInputs& inputs,
                                                    const ClassifyTaskOptions& options,
                                                    const TaskContext& context) {
  return std::make_unique<ClassificationTask>(inputs, options, context);
}

}  // namespace ftune
