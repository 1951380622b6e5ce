// Token classification (NER) as a TrainTask: BertForTokenClassification over sub-word windows,
// cross-entropy on each word's first sub-word (or every sub-word with --label-all-tokens), as
// Hugging Face's run_ner trains it; evaluations report seqeval's entity metrics per word.
#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "lib/data/ner_data.h"
#include "lib/eval/token_classification_eval.h"
#include "lib/io/bert_token_folder.h"
#include "lib/io/weights.h"
#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "lib/train/train_task.h"
#include "util/error.h"

namespace ftune {
namespace {

class TokenClassificationTask : public TrainTask {
 public:
  TokenClassificationTask(const TaskInputs& o, const NerTaskOptions& task,
                          const TaskContext& context)
      : tokenizer_(WordPieceTokenizer::load_from_folder(o.model_dir.string())),
        device_(context.device),
        eval_batch_size_(context.eval_batch_size),
        mode_(task.mode) {
    const auto config = BertConfig::read((o.model_dir / "config.json").string());
    require_vocabulary_fits(tokenizer_, config, o.model_dir);
    max_length_ = clamp_max_length(config, o.max_length);
    stride_ = task.stride.value_or(default_stride(max_length_));
    train_ = read_tagged_sentences(o.train_file, /*read_tags=*/true);
    if (o.valid_file) valid_ = read_tagged_sentences(*o.valid_file, /*read_tags=*/true);
    // run_ner's label list, the sorted tags of the training set, plus the validation set's
    // (run_ner stops with a KeyError on those; here they are outputs the training never
    // rewards, and the entities they mark count as missed).
    std::set<std::string> tags;
    for (const auto& sentence : train_.tags) tags.insert(sentence.begin(), sentence.end());
    std::set<std::string> valid_only;
    if (valid_) {
      for (const auto& sentence : valid_->tags) {
        for (const auto& tag : sentence) {
          if (tags.count(tag) == 0) valid_only.insert(tag);
        }
      }
      if (!valid_only.empty()) {
        fmt::print(stderr,
                   "tags in '{}' but not in the training data: {} (the head has outputs for "
                   "them, which training never rewards)\n",
                   o.valid_file->string(),
                   fmt::join(valid_only, ", "));
        tags.insert(valid_only.begin(), valid_only.end());
      }
    }
    ClassifierLoadOptions load_options;
    load_options.weights = o.weights;
    load_options.labels = {tags.begin(), tags.end()};
    load_options.seed = context.seed;
    classifier_ = load_token_classifier(o.model_dir, load_options);
    fmt::print(stderr, "{}\n", classifier_.head_note);
    if (!classifier_.report.initialized_fresh.empty() || !classifier_.report.dropped.empty()) {
      fmt::print(stderr, "{}\n", classifier_.report.format());
    }
    const auto& id2label = classifier_.config.id2label;
    const auto b_to_i = task.label_all_tokens ? map_b_to_i(id2label) : std::vector<int64_t>{};
    const auto train_ids = map_tag_ids(train_, id2label);
    // A window without a labelled sub-word (a sentence whose words all tokenize to nothing, such
    // as lone zero-width spaces) adds no loss, and a batch of only such windows would average
    // over nothing (NaN): left out.
    size_t empty = 0;
    for (auto& w : encode_word_windows(train_, tokenizer_, max_length_, stride_)) {
      auto labels = align_window_labels(w, train_ids[w.sentence], b_to_i);
      if (std::all_of(labels.begin(), labels.end(), [](int64_t l) { return l == kIgnoreIndex; })) {
        ++empty;
        continue;
      }
      lengths_.push_back(w.word_ids.size());
      train_windows_.push_back(std::move(w));
      train_labels_.push_back(std::move(labels));
    }
    if (empty > 0) {
      fmt::print(stderr, "{} training windows have no labelled sub-word (left out)\n", empty);
    }
    if (train_windows_.empty()) {
      throw DataError(fmt::format(
          "reading '{}': no word of any sentence has a sub-word in this model's vocabulary; "
          "hint: check the file's encoding",
          o.train_file.string()));
    }
    if (valid_) {
      valid_ids_ = map_tag_ids(*valid_, id2label);
      valid_windows_ = encode_word_windows(*valid_, tokenizer_, max_length_, stride_);
    }
  }

  torch::nn::Module& model() override { return *classifier_.model; }
  const std::vector<size_t>& example_lengths() const override { return lengths_; }

  at::Tensor compute_loss(const std::vector<size_t>& indices) override {
    Rows ids, types, labels;
    for (size_t i : indices) {
      ids.push_back(&train_windows_[i].encoding.input_ids);
      types.push_back(&train_windows_[i].encoding.token_type_ids);
      labels.push_back(&train_labels_[i]);
    }
    at::Tensor input_ids = pad_rows(ids, tokenizer_.pad_id());  // (B, T)
    at::Tensor attention_mask = mask_rows(ids);                 // (B, T)
    at::Tensor token_type_ids = pad_rows(types, 0);             // (B, T)
    at::Tensor targets = pad_rows(labels, kIgnoreIndex);        // (B, T), -100 at padding
    move_to(device_, input_ids, attention_mask, token_type_ids, targets);
    auto logits = classifier_.model(input_ids, attention_mask, token_type_ids);  // (B, T, L)
    // HF: CrossEntropyLoss()(logits.view(-1, L), labels.view(-1)): the mean over labelled tokens.
    return torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}),
                                                targets.reshape({-1}));
  }

  bool has_validation() const override { return valid_.has_value(); }
  size_t validation_size() const override { return valid_ ? valid_->words.size() : 0; }

  EvalMetrics evaluate(const EvalShard& shard) override {
    at::Tensor logits;  // (N, P, L) in window order
    const auto P = static_cast<int64_t>(max_length_);
    if (shard.world_size == 1) {
      logits = compute_window_logits(classifier_.model,
                                     valid_windows_,
                                     tokenizer_.pad_id(),
                                     eval_batch_size_,
                                     P,
                                     "eval",
                                     shard.show_progress);
    } else {
      // Each rank its share of the windows, as rows of one width (P * L) for the gather.
      std::vector<WordWindow> mine;
      for (size_t i : shard.indices(valid_windows_.size())) mine.push_back(valid_windows_[i]);
      auto local = compute_window_logits(classifier_.model,
                                         mine,
                                         tokenizer_.pad_id(),
                                         eval_batch_size_,
                                         P,
                                         "eval",
                                         shard.show_progress);  // (N_rank, P, L)
      const auto L = local.size(2);
      logits = shard.to_example_order(shard.gather_rows(local.reshape({local.size(0), P * L})))
                   .reshape({-1, P, L});
    }
    const NerEvalResult eval = compute_ner_result(
        logits, *valid_, valid_windows_, valid_ids_, classifier_.config.id2label, mode_);
    const auto& r = eval.report;
    EvalMetrics metrics;
    metrics.loss = eval.loss.value_or(0.0);
    metrics.values = {{"f1", r.micro_avg.f1},
                      {"precision", r.micro_avg.precision},
                      {"recall", r.micro_avg.recall},
                      {"accuracy", r.accuracy},
                      {"macro_f1", r.macro_avg.f1},
                      {"weighted_f1", r.weighted_avg.f1}};
    return metrics;
  }

  std::vector<std::string> metric_names() const override {
    // The first is the default --metric-for-best-model: entity-level micro F1, run_ner's
    // overall_f1.
    return {"f1", "precision", "recall", "accuracy", "macro_f1", "weighted_f1"};
  }

  void save(const std::filesystem::path& dir, c10::ScalarType dtype) const override {
    save_token_classifier(dir, classifier_, tokenizer_, dtype);
  }

  void load_weights(const std::filesystem::path& dir) override {
    load_state_dict(
        *classifier_.model, read_weights(find_weights_file(dir)), LoadPolicy{}, dir.string());
  }

  std::string describe() const override {
    return fmt::format("{} sentences ({} windows of at most {} tokens), {} tags",
                       train_.words.size(),
                       train_windows_.size(),
                       max_length_,
                       classifier_.config.id2label.size());
  }

 private:
  WordPieceTokenizer tokenizer_;
  c10::Device device_;
  size_t eval_batch_size_;
  SeqevalMode mode_;
  size_t max_length_ = 128;
  size_t stride_ = 32;
  TaggedSentences train_;
  std::vector<WordWindow> train_windows_;
  std::vector<std::vector<int64_t>> train_labels_;  // per window and position
  std::optional<TaggedSentences> valid_;
  std::vector<std::vector<int64_t>> valid_ids_;  // per sentence and word
  std::vector<WordWindow> valid_windows_;
  TokenClassifier classifier_;
  std::vector<size_t> lengths_;
};

}  // namespace

std::unique_ptr<TrainTask> make_token_classification_task(const TaskInputs& inputs,
                                                          const NerTaskOptions& options,
                                                          const TaskContext& context) {
  return std::make_unique<TokenClassificationTask>(inputs, options, context);
}

}  // namespace ftune
