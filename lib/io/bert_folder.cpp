// Loading and saving BERT classifier folders.
#include "lib/io/bert_folder.h"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "lib/io/weights.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace ftune {

void require_model_folder(const std::filesystem::path& dir) {
  if (!std::filesystem::is_directory(dir)) {
    throw CheckpointError(fmt::format(
        "loading model '{}': not a folder; hint: --model takes a Hugging Face model folder "
        "(config.json, weights, vocab.txt)",
        dir.string()));
  }
  if (!std::filesystem::exists(dir / "config.json")) {
    throw CheckpointError(fmt::format(
        "loading model '{}': config.json not found; hint: save the model with save_pretrained, "
        "which writes config.json beside the weights",
        dir.string()));
  }
}

std::filesystem::path resolve_weights_file(const std::filesystem::path& model_dir,
                                           const std::optional<std::filesystem::path>& weights) {
  if (weights) {
    if (!std::filesystem::exists(*weights)) {
      throw CheckpointError(fmt::format("loading weights '{}': file not found", weights->string()));
    }
    return *weights;
  }
  return find_weights_file(model_dir);
}

size_t clamp_max_length(const BertConfig& config, size_t requested) {
  return std::min<size_t>(requested, static_cast<size_t>(config.max_position_embeddings));
}

void require_vocabulary_fits(const WordPieceTokenizer& tokenizer, const BertConfig& config,
                             const std::filesystem::path& model_dir) {
  const int64_t lines = tokenizer.max_id() + 1;
  if (lines > config.vocab_size) {
    throw ConfigError(fmt::format(
        "loading '{}': {} lines (token ids 0 to {}), but config.json's vocab_size is {}: ids {} "
        "and up would index past the embedding table; hint: vocab.txt and config.json come from "
        "different models",
        (model_dir / "vocab.txt").string(),
        lines,
        lines - 1,
        config.vocab_size,
        config.vocab_size));
  }
}

Classifier load_classifier(const std::filesystem::path& model_dir,
                           const ClassifierLoadOptions& options) {
  require_model_folder(model_dir);
  Classifier result;
  result.config = BertConfig::read((model_dir / "config.json").string());
  result.weights_file = resolve_weights_file(model_dir, options.weights);
  auto tensors = read_weights(result.weights_file);

  LoadPolicy policy;
  const std::vector<std::string> checkpoint_labels =
      result.config.id2label;  // a copy: replaced below
  const bool file_has_head = tensors.count("classifier.weight") > 0;
  if (options.labels.empty()) {
    if (checkpoint_labels.empty() || !file_has_head) {
      throw CheckpointError(fmt::format(
          "loading model '{}': it has no classification head (no id2label in config.json or no "
          "'classifier.weight' in {}); hint: fine-tune it first with `ftune train`",
          model_dir.string(),
          result.weights_file.filename().string()));
    }
    result.head_note = fmt::format("classification head kept: {} labels ({})",
                                   checkpoint_labels.size(),
                                   fmt::join(checkpoint_labels, ", "));
  } else {
    std::set<std::string> wanted(options.labels.begin(), options.labels.end());
    std::set<std::string> have(checkpoint_labels.begin(), checkpoint_labels.end());
    if (file_has_head && wanted == have) {
      result.head_note = fmt::format(
          "classification head kept: the checkpoint's label2id names exactly the {} training "
          "labels",
          wanted.size());
    } else {
      result.config.id2label = options.labels;
      policy.fresh_prefixes = {"classifier."};
      policy.allow_missing_prefixes = {"bert.pooler."};  // an MLM checkpoint has none (as HF)
      result.head_note =
          file_has_head
              ? fmt::format(
                    "new classification head for {} labels ({}): the checkpoint's labels "
                    "({}) differ",
                    options.labels.size(),
                    fmt::join(options.labels, ", "),
                    fmt::join(checkpoint_labels, ", "))
              : fmt::format("new classification head for {} labels ({}): the checkpoint has none",
                            options.labels.size(),
                            fmt::join(options.labels, ", "));
    }
  }

  torch::manual_seed(options.seed);
  result.model = BertForSequenceClassification(result.config);
  init_bert_weights(*result.model, result.config);
  result.report = load_state_dict(*result.model, tensors, policy, result.weights_file.string());
  return result;
}

void save_classifier(const std::filesystem::path& out_dir, const Classifier& classifier,
                     const WordPieceTokenizer& tokenizer, c10::ScalarType dtype) {
  write_model_files(
      out_dir, collect_state_dict(*classifier.model), classifier.config.to_json(), dtype);
  tokenizer.save_to_folder(out_dir.string());
}

}  // namespace ftune
