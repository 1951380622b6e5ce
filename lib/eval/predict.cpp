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

size_t run_predict(const PredictOptions& options) {
  check_predict_paths(options);
  auto tokenizer = WordPieceTokenizer::load_from_folder(options.model_dir.string());
  ClassifierLoadOptions load_options;
  load_options.weights = options.weights;
  const Runtime runtime = resolve_runtime(options.runtime);
  Classifier classifier = load_classifier(options.model_dir, load_options);
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
  InferenceScope inference(*classifier.model, runtime);
  at::Tensor logits = compute_logits(
      classifier.model, examples.encodings, tokenizer.pad_id(), options.batch_size, "predict");
  // (N, L): one sigmoid per label for multi-label (as the eval threshold), else a softmax.
  at::Tensor probs =
      classifier.config.is_multi_label() ? torch::sigmoid(logits) : torch::softmax(logits, -1);
  at::Tensor best = logits.argmax(-1);  // (N)

  AtomicFileWriter writer(options.output);
  auto logit_rows = logits.accessor<float, 2>();
  auto prob_rows = probs.accessor<float, 2>();
  const auto L = logits.size(1);
  for (int64_t i = 0; i < logits.size(0); ++i) {
    if (classifier.config.is_regression()) {
      // One output: the predicted value itself (HF's pipeline applies no function to it).
      nlohmann::ordered_json line;
      line["score"] = logit_rows[i][0];
      line["logits"] = std::vector<float>{logit_rows[i][0]};
      writer.stream() << line.dump() << '\n';
      continue;
    }
    if (classifier.config.is_multi_label()) {
      // One sigmoid per label; the labels at or above their threshold (config.json's
      // label_thresholds, else 0.5), in label-id order.
      const auto& thresholds = classifier.config.label_thresholds;
      nlohmann::ordered_json line;
      std::vector<std::string> chosen;
      std::vector<float> p(L), l(L);
      for (int64_t j = 0; j < L; ++j) {
        l[j] = logit_rows[i][j];
        p[j] = prob_rows[i][j];
        const auto index = static_cast<size_t>(j);
        const auto cut = static_cast<float>(index < thresholds.size() ? thresholds[index] : 0.5);
        if (p[j] >= cut) chosen.push_back(classifier.config.id2label[index]);
      }
      line["labels"] = chosen;
      line["probs"] = p;
      line["logits"] = l;
      writer.stream() << line.dump() << '\n';
      continue;
    }
    const int64_t label_id = best[i].item<int64_t>();
    nlohmann::ordered_json line;  // keys in the documented order
    line["label"] = classifier.config.id2label[label_id];
    line["label_id"] = label_id;
    std::vector<float> p(L), l(L);
    for (int64_t j = 0; j < L; ++j) {
      p[j] = prob_rows[i][j];
      l[j] = logit_rows[i][j];
    }
    line["probs"] = p;
    line["logits"] = l;
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
  require_vocabulary_fits(tokenizer, classifier.config, options.model_dir);
  const size_t max_length = clamp_max_length(classifier.config, options.max_length);
  const TaggedSentences sentences = read_tagged_sentences(options.data, /*read_tags=*/false);
  const auto windows = encode_word_windows(
      sentences, tokenizer, max_length, options.stride.value_or(default_stride(max_length)));
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
    nlohmann::ordered_json line;  // keys in the documented order
    line["tokens"] = sentences.words[s];
    line["tags"] = predicted.tags[s];
    line["scores"] = predicted.scores[s];
    // A word of invalid UTF-8 is written with U+FFFD rather than failing the whole file.
    writer.stream() << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                    << '\n';
  }
  writer.commit();
  return sentences.words.size();
}

}  // namespace ftune
