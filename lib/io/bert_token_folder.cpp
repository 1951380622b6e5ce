// Loading and saving BERT token-classifier (NER) folders.
#include "lib/io/bert_token_folder.h"

#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "lib/io/weights.h"
#include "util/error.h"

namespace ftune {

bool is_token_classifier(const BertConfig& config) {
  const auto it = config.raw.find("architectures");
  return it != config.raw.end() && it->is_array() && !it->empty() && (*it)[0].is_string() &&
         (*it)[0].get<std::string>() == "BertForTokenClassification";
}

TokenClassifier load_token_classifier(const std::filesystem::path& model_dir,
                                      const ClassifierLoadOptions& options) {
  require_model_folder(model_dir);
  TokenClassifier result;
  result.config = BertConfig::read((model_dir / "config.json").string());
  result.weights_file = resolve_weights_file(model_dir, options.weights);
  auto tensors = read_weights(result.weights_file);

  LoadPolicy policy;
  // BertForTokenClassification has no pooler: an encoder's or a sequence classifier's is
  // dropped ("pooler." in a bare encoder file, "bert.pooler." under a head).
  policy.fresh_prefixes = {"bert.pooler.", "pooler."};
  const std::vector<std::string> checkpoint_labels = result.config.id2label;
  // A sequence classifier's head has the same key, "classifier.", but is another head.
  const bool file_has_head =
      tensors.count("classifier.weight") > 0 && is_token_classifier(result.config);
  if (options.labels.empty()) {
    if (checkpoint_labels.empty() || !file_has_head) {
      throw CheckpointError(fmt::format(
          "loading model '{}': it is not a token classifier (config.json's architectures do "
          "not name BertForTokenClassification, or no id2label, or no 'classifier.weight' in "
          "{}); hint: fine-tune it first with `ftune train --task ner`",
          model_dir.string(),
          result.weights_file.filename().string()));
    }
    result.head_note = fmt::format("token classification head kept: {} tags ({})",
                                   checkpoint_labels.size(),
                                   fmt::join(checkpoint_labels, ", "));
  } else {
    std::set<std::string> wanted(options.labels.begin(), options.labels.end());
    std::set<std::string> have(checkpoint_labels.begin(), checkpoint_labels.end());
    if (file_has_head && wanted == have) {
      result.head_note = fmt::format(
          "token classification head kept: the checkpoint's label2id names exactly the {} "
          "training tags",
          wanted.size());
    } else {
      result.config.id2label = options.labels;
      policy.fresh_prefixes.push_back("classifier.");
      result.head_note =
          file_has_head
              ? fmt::format(
                    "new token classification head for {} tags ({}): the checkpoint's "
                    "tags ({}) differ",
                    options.labels.size(),
                    fmt::join(options.labels, ", "),
                    fmt::join(checkpoint_labels, ", "))
              : fmt::format(
                    "new token classification head for {} tags ({}): the checkpoint has none",
                    options.labels.size(),
                    fmt::join(options.labels, ", "));
    }
  }
  // Sequence-classification settings mean nothing here.
  result.config.problem_type.reset();
  result.config.label_thresholds.clear();

  torch::manual_seed(options.seed);
  result.model = BertForTokenClassification(result.config);
  init_bert_weights(*result.model, result.config);
  result.report = load_state_dict(*result.model, tensors, policy, result.weights_file.string());
  return result;
}

void save_token_classifier(const std::filesystem::path& out_dir, const TokenClassifier& classifier,
                           const WordPieceTokenizer& tokenizer, c10::ScalarType dtype) {
  nlohmann::json config = classifier.config.to_json();
  config["architectures"] = {"BertForTokenClassification"};
  config.erase("problem_type");
  write_model_files(out_dir, collect_state_dict(*classifier.model), config, dtype);
  tokenizer.save_to_folder(out_dir.string());
}

}  // namespace ftune
