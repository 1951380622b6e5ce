// `ftune predict`: label, probabilities and logits per row, written atomically.
#include "lib/eval/predict.h"

#include <algorithm>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "lib/eval/classification_eval.h"
#include "lib/eval/token_classification_eval.h"
#include "lib/io/bert_folder.h"
#include "lib/io/bert_token_folder.h"
#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "util/atomic_file.h"
#include "util/progress.h"

namespace ftune {
namespace {

// Before anything is read: --output can be written without landing on an input, and the model
// folder exists.
void check_predict_paths(const PredictOptions& options) {
  require_writable_parent(options.output);
  refuse_output_over_input(options.output,
                           "--output",
                           {{"--data", options.data}, {"--weights", options.weights.value_or("")}});
  require_model_folder(options.model_dir);
}

}  // namespace

std::vector<nlohmann::ordered_json> classification_lines(const at::Tensor& logits,
                                                         const BertConfig& config) {
  // (N, L): one sigmoid per label for multi-label (as the eval threshold), else a softmax.
  at::Tensor probs = config.is_multi_label() ? torch::sigmoid(logits) : torch::softmax(logits, -1);
  at::Tensor best = logits.argmax(-1);  // (N)
  auto logit_rows = logits.accessor<float, 2>();
  auto prob_rows = probs.accessor<float, 2>();
  auto best_ids = best.accessor<int64_t, 1>();
  const auto L = logits.size(1);
  std::vector<nlohmann::ordered_json> lines;
  for (int64_t i = 0; i < logits.size(0); ++i) {
    nlohmann::ordered_json line;  // keys in the documented order
    if (config.is_regression()) {
      // One output: the predicted value itself (HF's pipeline applies no function to it).
      line["score"] = logit_rows[i][0];
      line["logits"] = std::vector<float>{logit_rows[i][0]};
      lines.push_back(std::move(line));
      continue;
    }
    std::vector<float> p(L), l(L);
    for (int64_t j = 0; j < L; ++j) {
      p[j] = prob_rows[i][j];
      l[j] = logit_rows[i][j];
    }
    if (config.is_multi_label()) {
      // One sigmoid per label; the labels at or above their threshold (config.json's
      // label_thresholds, else 0.5), in label-id order.
      const auto& thresholds = config.label_thresholds;
      std::vector<std::string> chosen;
      for (int64_t j = 0; j < L; ++j) {
        const auto index = static_cast<size_t>(j);
        const auto cut = static_cast<float>(index < thresholds.size() ? thresholds[index] : 0.5);
        if (p[j] >= cut) chosen.push_back(config.id2label[index]);
      }
      line["labels"] = chosen;
    } else {
      line["label"] = config.id2label[best_ids[i]];
      line["label_id"] = best_ids[i];
    }
    line["probs"] = p;
    line["logits"] = l;
    lines.push_back(std::move(line));
  }
  return lines;
}

nlohmann::ordered_json ner_line(const std::vector<std::string>& words,
                                const std::vector<std::string>& tags,
                                const std::vector<float>& scores) {
  nlohmann::ordered_json line;  // keys in the documented order
  line["tokens"] = words;
  line["tags"] = tags;
  line["scores"] = scores;
  return line;
}

size_t run_predict(const PredictOptions& options) {
  check_predict_paths(options);
  auto tokenizer = WordPieceTokenizer::load_from_folder(options.model_dir.string());
  ClassifierLoadOptions load_options;
  load_options.weights = options.weights;
  const Runtime runtime = resolve_runtime(options.runtime);
  Classifier classifier = load_classifier(options.model_dir, load_options);
  quantize_if_asked(*classifier.model, runtime);
  require_vocabulary_fits(tokenizer, classifier.config, options.model_dir);
  const size_t max_length = clamp_max_length(classifier.config, options.max_length);
  TextExamples examples = read_text_examples(options.data,
                                             options.columns,
                                             tokenizer,
                                             max_length,
                                             /*read_labels=*/false,
                                             options.table);
  if (examples.skipped_rows > 0) {
    fmt::print(stderr,
               "skipped {} bad rows of {} (--skip-bad-rows)\n",
               examples.skipped_rows,
               options.data.string());
  }
  // Packed once the inputs are known to be good: its stderr line never comes before an error.
  pack_linear_layers_onednn_if_chosen(*classifier.model, runtime);
  InferenceScope inference(*classifier.model, runtime);
  at::Tensor logits = compute_logits(
      classifier.model, examples.encodings, tokenizer.pad_id(), options.batch_size, "predict");

  AtomicFileWriter writer(options.output);
  for (const auto& line : classification_lines(logits, classifier.config)) {
    writer.stream() << line.dump() << '\n';
  }
  writer.commit();
  return static_cast<size_t>(logits.size(0));
}

size_t run_ner_predict(const PredictOptions& options) {
  check_predict_paths(options);
  auto tokenizer = WordPieceTokenizer::load_from_folder(options.model_dir.string());
  ClassifierLoadOptions load_options;
  load_options.weights = options.weights;
  const Runtime runtime = resolve_runtime(options.runtime);
  TokenClassifier classifier = load_token_classifier(options.model_dir, load_options);
  quantize_if_asked(*classifier.model, runtime);
  require_vocabulary_fits(tokenizer, classifier.config, options.model_dir);
  const size_t max_length = clamp_max_length(classifier.config, options.max_length);
  const TaggedSentences sentences = read_tagged_sentences(options.data, /*read_tags=*/false);
  const auto windows = encode_word_windows(
      sentences, tokenizer, max_length, options.stride.value_or(default_stride(max_length)));
  // Packed once the inputs are known to be good: its stderr line never comes before an error.
  pack_linear_layers_onednn_if_chosen(*classifier.model, runtime);
  at::Tensor logits;
  {
    InferenceScope inference(*classifier.model, runtime);
    logits = compute_window_logits(
        classifier.model, windows, tokenizer.pad_id(), options.batch_size, 0, "predict");
  }
  const WordPredictions predicted =
      predict_word_tags(logits, sentences, windows, classifier.config.id2label);
  AtomicFileWriter writer(options.output);
  for (size_t s = 0; s < sentences.words.size(); ++s) {
    const auto line = ner_line(sentences.words[s], predicted.tags[s], predicted.scores[s]);
    // A word of invalid UTF-8 is written with U+FFFD rather than failing the whole file.
    writer.stream() << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                    << '\n';
  }
  writer.commit();
  return sentences.words.size();
}

}  // namespace ftune
