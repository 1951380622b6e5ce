// Translation as a TrainTask: a Marian model, teacher forcing with decoder inputs shifted right
// from the labels, PyTorch cross_entropy (ignore -100, optional label smoothing), and evaluation
// with loss and, with --predict-with-generate, BLEU and chrF.
#include <algorithm>

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/data/seq2seq_data.h"
#include "lib/eval/translation_eval.h"
#include "lib/io/marian_folder.h"
#include "lib/io/weights.h"
#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "lib/train/train_task.h"

namespace ftune {
namespace {

class TranslationTask : public TrainTask {
 public:
  TranslationTask(const TaskInputs& o, const TranslateTaskOptions& task, const TaskContext& context)
      : bundle_(load_marian_folder(o.model_dir, o.weights)), device_(context.device) {
    const auto& tokenizer = *bundle_.tokenizer;
    const auto limit = static_cast<size_t>(bundle_.config.max_position_embeddings);
    const size_t max_source = std::min(o.max_length, limit);
    const size_t max_target = std::min(task.max_target_length, limit);
    train_ = read_translation_examples(
        o.train_file, task.columns, tokenizer, max_source, max_target, o.table);
    for (const auto& ids : train_.source_ids) lengths_.push_back(ids.size());
    if (o.valid_file) {
      valid_ = read_translation_examples(
          *o.valid_file, task.columns, tokenizer, max_source, max_target, o.table);
    }
    eval_options_.batch_size = context.eval_batch_size;
    eval_options_.label_smoothing = task.label_smoothing;
    if (task.predict_with_generate) {
      GenerationOptions generation;
      generation.num_beams = task.generation_num_beams;
      generation.max_length = task.generation_max_length;
      eval_options_.generation = generation;
    }
  }

  torch::nn::Module& model() override { return *bundle_.model; }
  const std::vector<size_t>& example_lengths() const override { return lengths_; }

  at::Tensor compute_loss(const std::vector<size_t>& indices) override {
    Seq2SeqBatch batch = collate_seq2seq(
        train_, indices, bundle_.config.pad_token_id, bundle_.config.decoder_start_token_id);
    move_to(device_, batch.input_ids, batch.attention_mask, batch.decoder_input_ids, batch.labels);
    auto logits = bundle_.model->forward(batch.input_ids,
                                         batch.attention_mask,
                                         batch.decoder_input_ids);  // (B, S, V)
    return compute_seq2seq_loss(logits, batch.labels, eval_options_.label_smoothing);
  }

  bool has_validation() const override { return valid_.has_value(); }
  size_t validation_size() const override { return valid_ ? valid_->sources.size() : 0; }

  // Not sharded: generation yields strings, so every rank evaluates the whole set (same
  // metrics everywhere, no communication).
  EvalMetrics evaluate(const EvalShard& shard) override {
    TranslationEvalOptions options = eval_options_;
    options.show_progress = shard.show_progress;
    return evaluate_translation(bundle_, *valid_, options).metrics;
  }

  std::vector<std::string> metric_names() const override {
    if (eval_options_.generation) return {"bleu", "chrf"};
    return {};
  }

  void save(const std::filesystem::path& dir, c10::ScalarType dtype) const override {
    save_marian_folder(dir, bundle_, dtype);
  }

  void load_weights(const std::filesystem::path& dir) override {
    load_marian_weights(bundle_.model, bundle_.config, find_weights_file(dir));
  }

  std::string describe() const override {
    return fmt::format("{} sentence pairs", train_.sources.size());
  }

 private:
  MarianBundle bundle_;
  c10::Device device_;
  TranslationEvalOptions eval_options_;  // batch size, label smoothing, generation
  TranslationExamples train_;
  std::optional<TranslationExamples> valid_;
  std::vector<size_t> lengths_;
};

}  // namespace

std::unique_ptr<TrainTask> make_translation_task(const TaskInputs& inputs,
                                                 const TranslateTaskOptions& options,
                                                 const TaskContext& context) {
  return std::make_unique<TranslationTask>(inputs, options, context);
}

}  // namespace ftune
