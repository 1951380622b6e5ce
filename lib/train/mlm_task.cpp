// Masked-language-model pretraining as a TrainTask: BertForMaskedLM from a checkpoint (any BERT
// encoder; a missing cls.* head is initialized fresh) or from a config (random init), masks
// drawn per batch, cross-entropy over the masked positions, evaluation with loss and perplexity.
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/data/mlm_data.h"
#include "lib/io/bert_folder.h"
#include "lib/io/bert_mlm_folder.h"
#include "lib/io/weights.h"
#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "lib/train/train_task.h"
#include "util/error.h"
#include "util/progress.h"

namespace ftune {
namespace {

MaskedSequence as_pre_masked(const MlmSequences& data, size_t i) {
  return {{data.sequences[i].begin(), data.sequences[i].end()},
          {data.labels[i].begin(), data.labels[i].end()}};
}

class MlmTask : public TrainTask {
 public:
  MlmTask(const TaskInputs& o, const PretrainTaskOptions& task, const TaskContext& context)
      : tokenizer_(WordPieceTokenizer::load_from_folder(
            (task.tokenizer_dir ? *task.tokenizer_dir : o.model_dir).string())),
        vocab_(make_masking_vocab(tokenizer_)),
        masking_{task.mlm_probability, task.whole_word_masking},
        pre_masked_(task.pre_masked),
        device_(context.device),
        eval_batch_size_(context.eval_batch_size) {
    if (!(task.mlm_probability > 0.0 && task.mlm_probability < 1.0)) {
      throw Error(
          fmt::format("checking pretrain options: --mlm-probability {}: expected a value "
                      "in (0, 1); hint: BERT used 0.15",
                      task.mlm_probability));
    }
    MaskedLmLoadOptions load_options;
    load_options.config_file = task.model_config;
    load_options.weights = o.weights;
    load_options.seed = context.seed;
    mlm_ = load_masked_lm(o.model_dir, load_options);
    if (!mlm_.note.empty()) fmt::print(stderr, "{}\n", mlm_.note);
    if (!mlm_.report.initialized_fresh.empty() || !mlm_.report.dropped.empty()) {
      fmt::print(stderr, "{}\n", mlm_.report.format());
    }
    require_vocabulary_fits(
        tokenizer_, mlm_.config, task.tokenizer_dir ? *task.tokenizer_dir : o.model_dir);
    const size_t max_length = clamp_max_length(mlm_.config, o.max_length);
    train_ = read_sequences(o.train_file, max_length, task.pack);
    for (const auto& ids : train_.sequences) lengths_.push_back(ids.size());
    if (o.valid_file) {
      // Masked once with a fixed seed, so every evaluation scores the same positions.
      MlmSequences valid = read_sequences(*o.valid_file, max_length, task.pack);
      MaskRng rng(context.seed ^ 0x5EED5EED5EED5EEDULL);
      valid_.emplace();
      for (size_t i = 0; i < valid.sequences.size(); ++i) {
        valid_->push_back(pre_masked_ ? as_pre_masked(valid, i)
                                      : mask_tokens(valid.sequences[i], vocab_, masking_, rng));
      }
    }
  }

  torch::nn::Module& model() override { return *mlm_.model; }
  const std::vector<size_t>& example_lengths() const override { return lengths_; }

  at::Tensor compute_loss(const std::vector<size_t>& indices) override {
    std::vector<MaskedSequence> rows;
    rows.reserve(indices.size());
    if (pre_masked_) {
      for (size_t i : indices) rows.push_back(as_pre_masked(train_, i));
    } else {
      // Each batch's masks come from a seed drawn from LibTorch's generator, which the trainer
      // seeds with --seed and saves in every checkpoint: masks differ per epoch, and a resumed
      // run draws exactly the masks the uninterrupted run would have.
      const auto seed =
          torch::randint(std::numeric_limits<int64_t>::max(), {1}, torch::kLong).item<int64_t>();
      MaskRng rng(static_cast<uint64_t>(seed));
      for (size_t i : indices)
        rows.push_back(mask_tokens(train_.sequences[i], vocab_, masking_, rng));
    }
    Batch batch = collate_masked(rows, tokenizer_.pad_id());
    move_to(device_, batch.input_ids, batch.attention_mask, batch.token_type_ids, batch.labels);
    return mlm_.model->compute_loss(batch.input_ids,
                                    batch.attention_mask,
                                    batch.token_type_ids,
                                    batch.labels);  // mean over the batch's masked positions, as HF
  }

  bool has_validation() const override { return valid_.has_value(); }
  size_t validation_size() const override { return valid_ ? valid_->size() : 0; }

  EvalMetrics evaluate(const EvalShard& shard) override {
    InferenceScope inference(*mlm_.model);
    double loss_sum = 0.0;
    int64_t count = 0;
    const auto mine = shard.indices(valid_->size());
    const size_t n = mine.size();
    ProgressBar progress("eval",
                         static_cast<int64_t>((n + eval_batch_size_ - 1) / eval_batch_size_),
                         shard.show_progress);
    for (size_t start = 0; start < n; start += eval_batch_size_) {
      const size_t end = std::min(n, start + eval_batch_size_);
      std::vector<MaskedSequence> rows;
      for (size_t k = start; k < end; ++k) rows.push_back((*valid_)[mine[k]]);
      Batch batch = collate_masked(rows, tokenizer_.pad_id());
      move_to(device_, batch.input_ids, batch.attention_mask, batch.token_type_ids, batch.labels);
      auto [sum, masked] = mlm_.model->compute_loss_sum(
          batch.input_ids, batch.attention_mask, batch.token_type_ids, batch.labels);
      loss_sum += sum;
      count += masked;
      progress.update(static_cast<int64_t>(start / eval_batch_size_ + 1), "");
    }
    progress.finish();
    const auto totals = shard.sum({loss_sum, static_cast<double>(count)});  // whole set
    loss_sum = totals[0];
    count = static_cast<int64_t>(totals[1]);
    EvalMetrics metrics;
    // The mean over every masked position of the validation set (HF's Trainer averages batch
    // means instead; the two agree when batches hold equally many masked tokens).
    metrics.loss = count > 0 ? loss_sum / static_cast<double>(count) : 0.0;
    metrics.values = {{"perplexity", std::exp(metrics.loss)}};
    return metrics;
  }

  std::vector<std::string> metric_names() const override { return {"perplexity"}; }

  void save(const std::filesystem::path& dir, c10::ScalarType dtype) const override {
    save_masked_lm(dir, mlm_, tokenizer_, dtype);
  }

  void load_weights(const std::filesystem::path& dir) override {
    load_masked_lm_weights(
        mlm_.model, mlm_.config, find_weights_file(dir), /*allow_fresh_head=*/false);
  }

  std::string describe() const override {
    return fmt::format("{} sequences from {} lines, {}",
                       train_.sequences.size(),
                       train_.lines_read,
                       pre_masked_ ? std::string("pre-masked")
                                   : fmt::format("{} masking p={}",
                                                 masking_.whole_word ? "whole-word" : "token",
                                                 masking_.mlm_probability));
  }

 private:
  MlmSequences read_sequences(const std::filesystem::path& file, size_t max_length,
                              bool pack) const {
    if (pre_masked_) return read_pre_masked(file, mlm_.config.vocab_size, max_length);
    return read_mlm_text(file, tokenizer_, MlmTextOptions{max_length, pack});
  }

  WordPieceTokenizer tokenizer_;
  MaskingVocab vocab_;
  MaskingOptions masking_;
  bool pre_masked_;
  c10::Device device_;
  size_t eval_batch_size_;
  MaskedLm mlm_;
  MlmSequences train_;
  std::optional<std::vector<MaskedSequence>> valid_;
  std::vector<size_t> lengths_;
};

}  // namespace

std::unique_ptr<TrainTask> make_mlm_task(const TaskInputs& inputs,
                                         const PretrainTaskOptions& options,
                                         const TaskContext& context) {
  return std::make_unique<MlmTask>(inputs, options, context);
}

}  // namespace ftune
