// Masked-language-model pretraining as a TrainTask: BertForMaskedLM from a checkpoint (any BERT
// encoder; a missing cls.* head is initialized fresh) or from a config (random init), masks
// drawn per batch, cross-entropy over the masked positions, evaluation with loss and perplexity.
#include <cmath>
#include <limits>

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/atomic_file.h"
#include "lib/device.h"
#include "lib/error.h"
#include "lib/mlm_data.h"
#include "lib/model_folder.h"
#include "lib/progress.h"
#include "lib/train_task.h"
#include "lib/trainer.h"
#include "lib/weights.h"
#include "models/bert_mlm.h"

namespace ftune {
namespace {

struct MlmBatch {
  at::Tensor input_ids, attention_mask, token_type_ids, labels;  // (B, T) int64 each
};

// Pads to the longest row: pad id in the inputs, -100 in the labels.
MlmBatch collate_masked(const std::vector<MaskedSequence>& rows, int64_t pad_id) {
  size_t longest = 0;
  for (const auto& row : rows) longest = std::max(longest, row.input_ids.size());
  const auto B = static_cast<int64_t>(rows.size());
  const auto T = static_cast<int64_t>(longest);
  MlmBatch batch;
  batch.input_ids = torch::full({B, T}, pad_id, torch::kLong);     // (B, T)
  batch.labels = torch::full({B, T}, kIgnoreLabel, torch::kLong);  // (B, T)
  batch.attention_mask = torch::zeros({B, T}, torch::kLong);       // (B, T)
  batch.token_type_ids = torch::zeros({B, T}, torch::kLong);       // (B, T)
  auto ids = batch.input_ids.accessor<int64_t, 2>();
  auto labels = batch.labels.accessor<int64_t, 2>();
  auto mask = batch.attention_mask.accessor<int64_t, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const auto& row = rows[b];
    for (size_t t = 0; t < row.input_ids.size(); ++t) {
      ids[b][t] = row.input_ids[t];
      labels[b][t] = row.labels[t];
      mask[b][t] = 1;
    }
  }
  return batch;
}

MaskedSequence as_pre_masked(const MlmSequences& data, size_t i) {
  return {{data.sequences[i].begin(), data.sequences[i].end()},
          {data.labels[i].begin(), data.labels[i].end()}};
}

// A checkpoint's weights into the MLM model. With `allow_fresh_head`, what an encoder or a
// classifier checkpoint lacks (cls.*) keeps its fresh values and what it has for other heads
// (pooler, classifier) is dropped, both reported; otherwise loading is strict.
LoadReport load_mlm_weights(BertForMaskedLM& model, const BertConfig& config,
                            const std::filesystem::path& file, bool allow_fresh_head) {
  auto tensors = drop_bert_mlm_tied_aliases(read_weights(file), config);
  LoadPolicy policy;
  if (allow_fresh_head) {
    policy.fresh_prefixes = {"bert.pooler.", "pooler.", "classifier."};
    policy.allow_missing_prefixes = {"cls."};
  }
  return load_state_dict(*model, tensors, policy, file.string());
}

class MlmTask : public TrainTask {
 public:
  explicit MlmTask(const TrainOptions& o)
      : tokenizer_(WordPieceTokenizer::load_from_folder(
            (o.tokenizer_dir ? *o.tokenizer_dir : o.model_dir).string())),
        vocab_(make_masking_vocab(tokenizer_)),
        masking_{o.mlm_probability, o.whole_word_masking},
        pre_masked_(o.pre_masked),
        eval_batch_size_(o.eval_batch_size ? o.eval_batch_size : o.batch_size) {
    if (!(o.mlm_probability > 0.0 && o.mlm_probability < 1.0)) {
      throw Error(
          fmt::format("checking pretrain options: --mlm-probability {}: expected a value "
                      "in (0, 1); hint: BERT used 0.15",
                      o.mlm_probability));
    }
    load_model(o);
    require_vocabulary_fits(tokenizer_, config_, o.tokenizer_dir ? *o.tokenizer_dir : o.model_dir);
    const size_t max_length = clamp_max_length(config_, o.max_length);
    train_ = read_sequences(o.train_file, max_length, o.pack);
    for (const auto& ids : train_.sequences) lengths_.push_back(ids.size());
    if (o.valid_file) {
      // Masked once with a fixed seed, so every evaluation scores the same positions.
      MlmSequences valid = read_sequences(*o.valid_file, max_length, o.pack);
      MaskRng rng(o.seed ^ 0x5EED5EED5EED5EEDULL);
      valid_.emplace();
      for (size_t i = 0; i < valid.sequences.size(); ++i) {
        valid_->push_back(pre_masked_ ? as_pre_masked(valid, i)
                                      : mask_tokens(valid.sequences[i], vocab_, masking_, rng));
      }
    }
  }

  torch::nn::Module& model() override { return *model_; }
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
    MlmBatch batch = collate_masked(rows, tokenizer_.pad_id());
    move_to(device_of(*model_),
            batch.input_ids,
            batch.attention_mask,
            batch.token_type_ids,
            batch.labels);
    return model_->compute_loss(batch.input_ids,
                                batch.attention_mask,
                                batch.token_type_ids,
                                batch.labels);  // mean over the batch's masked positions, as HF
  }

  bool has_validation() const override { return valid_.has_value(); }

  EvalMetrics evaluate(const EvalShard& shard) override {
    torch::NoGradGuard no_grad;
    model_->eval();
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
      MlmBatch batch = collate_masked(rows, tokenizer_.pad_id());
      move_to(device_of(*model_),
              batch.input_ids,
              batch.attention_mask,
              batch.token_type_ids,
              batch.labels);
      auto [sum, masked] = model_->compute_loss_sum(
          batch.input_ids, batch.attention_mask, batch.token_type_ids, batch.labels);
      loss_sum += sum;
      count += masked;
      progress.update(static_cast<int64_t>(start / eval_batch_size_ + 1), "");
    }
    progress.finish();
    model_->train();
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

  void save_model_folder(const std::filesystem::path& dir) const override {
    std::filesystem::create_directories(dir);
    // Tied tensors once, as Hugging Face's safetensors files hold them (the decoder weight is the
    // word embedding matrix; its bias is cls.predictions.bias): half the size of a tiny model.
    write_weights_safetensors(dir / "model.safetensors", collect_state_dict(*model_));
    auto json = config_.to_json();
    json["architectures"] = {"BertForMaskedLM"};
    write_file_atomically(dir / "config.json", json.dump(2) + "\n");
    tokenizer_.save_to_folder(dir.string());
  }

  void load_model_folder_weights(const std::filesystem::path& dir) override {
    load_mlm_weights(model_, config_, find_weights_file(dir), /*allow_fresh_head=*/false);
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
  void load_model(const TrainOptions& o) {
    const bool from_config = o.model_config.has_value();
    if (from_config == !o.model_dir.empty()) {
      throw Error(
          "checking pretrain options: give exactly one of --model DIR (a checkpoint) and "
          "--model-config FILE (random init)");
    }
    if (from_config) {
      config_ = BertConfig::read(o.model_config->string());
    } else {
      require_model_folder(o.model_dir);
      config_ = BertConfig::read((o.model_dir / "config.json").string());
    }
    // A classifier's labels mean nothing to the MLM; saving must not write them back.
    config_.id2label.clear();
    for (const char* key : {"id2label", "label2id", "num_labels", "problem_type"}) {
      config_.raw.erase(key);
    }
    config_.problem_type.reset();
    torch::manual_seed(o.seed);
    model_ = BertForMaskedLM(config_);
    init_bert_mlm_weights(*model_, config_);
    if (from_config) {
      fmt::print(stderr, "masked LM initialized at random from {}\n", o.model_config->string());
      return;
    }
    const auto file = resolve_weights_file(o.model_dir, o.weights);
    LoadReport report = load_mlm_weights(model_, config_, file, /*allow_fresh_head=*/true);
    if (!report.initialized_fresh.empty() || !report.dropped.empty()) {
      fmt::print(stderr, "{}\n", report.format());
    }
  }

  MlmSequences read_sequences(const std::filesystem::path& file, size_t max_length,
                              bool pack) const {
    if (pre_masked_) return read_pre_masked(file, config_.vocab_size, max_length);
    return read_mlm_text(file, tokenizer_, MlmTextOptions{max_length, pack});
  }

  WordPieceTokenizer tokenizer_;
  MaskingVocab vocab_;
  MaskingOptions masking_;
  bool pre_masked_;
  size_t eval_batch_size_;
  BertConfig config_;
  BertForMaskedLM model_{nullptr};
  MlmSequences train_;
  std::optional<std::vector<MaskedSequence>> valid_;
  std::vector<size_t> lengths_;
};

}  // namespace

std::unique_ptr<TrainTask> make_mlm_task(const TrainOptions& options) {
  return std::make_unique<MlmTask>(options);
}

}  // namespace ftune
