// Translation as a TrainTask: a Marian model, teacher forcing with decoder inputs shifted right
// from the labels, PyTorch cross_entropy (ignore -100, optional label smoothing), and evaluation
// with loss and, with --predict-with-generate, BLEU and chrF.
#include <algorithm>

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/device.h"
#include "lib/marian_folder.h"
#include "lib/seq2seq_data.h"
#include "lib/train_task.h"
#include "lib/trainer.h"
#include "lib/translation_eval.h"
#include "lib/weights.h"

namespace ftune {
namespace {

class TranslationTask : public TrainTask {
 public:
  explicit TranslationTask(const TrainOptions& o)
      : bundle_(load_marian_folder(o.model_dir, o.weights)),
        eval_batch_size_(o.eval_batch_size ? o.eval_batch_size : o.batch_size),
        label_smoothing_(o.label_smoothing) {
    const auto& tokenizer = *bundle_.tokenizer;
    const auto limit = static_cast<size_t>(bundle_.config.max_position_embeddings);
    const size_t max_source = std::min(o.max_length, limit);
    const size_t max_target = std::min(o.max_target_length, limit);
    train_ = read_translation_examples(o.train_file, PairColumns{o.source_column, o.target_column}, tokenizer, max_source,
                                       max_target, o.table);
    for (const auto& ids : train_.source_ids) lengths_.push_back(ids.size());
    if (o.valid_file) {
      valid_ = read_translation_examples(*o.valid_file, PairColumns{o.source_column, o.target_column}, tokenizer, max_source,
                                         max_target, o.table);
    }
    if (o.predict_with_generate) {
      GenerationOptions generation;
      generation.num_beams = o.generation_num_beams;
      generation.max_length = o.generation_max_length;
      generation_ = generation;
    }
  }

  torch::nn::Module& model() override { return *bundle_.model; }
  const std::vector<size_t>& example_lengths() const override { return lengths_; }

  at::Tensor compute_loss(const std::vector<size_t>& indices) override {
    Seq2SeqBatch batch = collate_seq2seq(train_, indices, bundle_.config.pad_token_id,
                                         bundle_.config.decoder_start_token_id);
    move_to(device_of(*bundle_.model), batch.input_ids, batch.attention_mask,
            batch.decoder_input_ids, batch.labels);
    auto logits = bundle_.model->forward(batch.input_ids, batch.attention_mask,
                                         batch.decoder_input_ids);  // (B, S, V)
    return compute_seq2seq_loss(logits, batch.labels, label_smoothing_);
  }

  bool has_validation() const override { return valid_.has_value(); }

  // Not sharded: generation yields strings, so every rank evaluates the whole set (same
  // metrics everywhere, no communication).
  EvalMetrics evaluate(const EvalShard& shard) override {
    return evaluate_translation(bundle_.model, bundle_.config, *bundle_.tokenizer, *valid_,
                                eval_batch_size_, label_smoothing_, generation_, nullptr,
                                shard.show_progress);
  }

  std::vector<std::string> metric_names() const override {
    if (generation_) return {"bleu", "chrf"};
    return {};
  }

  void save_model_folder(const std::filesystem::path& dir) const override {
    save_marian_folder(dir, bundle_);
  }

  void load_model_folder_weights(const std::filesystem::path& dir) override {
    load_marian_weights(bundle_.model, bundle_.config, find_weights_file(dir));
  }

  std::string describe() const override {
    return fmt::format("{} sentence pairs", train_.sources.size());
  }

 private:
  MarianBundle bundle_;
  size_t eval_batch_size_;
  double label_smoothing_;
  TranslationExamples train_;
  std::optional<TranslationExamples> valid_;
  std::optional<GenerationOptions> generation_;
  std::vector<size_t> lengths_;
};

}  // namespace

std::unique_ptr<TrainTask> make_translation_task(const TrainOptions& options) {
  return std::make_unique<TranslationTask>(options);
}

}  // namespace ftune
