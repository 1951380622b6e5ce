// Evaluating a token classifier (NER), shared by the trainer's periodic evaluation and the eval,
// predict and score commands: batched window logits, one predicted tag per word (windows merged
// back), the seqeval report, and its text and JSON renderings. The entity rules are
// lib/metrics/sequence_labeling.h; the windows lib/data/ner_data.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lib/data/ner_data.h"
#include "lib/metrics/sequence_labeling.h"
#include "models/bert_token_classification.h"

namespace ftune {

// Runs the model in inference mode over `windows` in batches of `batch_size` (similar lengths
// together) on its device. Returns float32 logits (N, P, L) on the CPU in window order, each
// window's positions first and zeros after; P = `pad_to` (at least the longest window; 0: the
// longest), so that ranks of a distributed evaluation return rows of one width.
at::Tensor compute_window_logits(BertForTokenClassification& model,
                                 const std::vector<WordWindow>& windows, int64_t pad_id,
                                 size_t batch_size, int64_t pad_to,
                                 const std::string& progress_label, bool show_progress = true);

struct WordPredictions {
  std::vector<std::vector<std::string>> tags;  // per sentence and word
  std::vector<std::vector<float>> scores;      // the softmax probability of that tag
};

// Each word's tag: argmax of the logits at its first sub-word, in the window chosen by
// locate_word_predictions. A word without a sub-word gets "O" with score 0.
WordPredictions predict_word_tags(const at::Tensor& window_logits, const TaggedSentences& sentences,
                                  const std::vector<WordWindow>& windows,
                                  const std::vector<std::string>& id2label);

struct NerEvalResult {
  EntityReport report;
  SeqevalMode mode = SeqevalMode::kDefault;
  std::optional<double> loss;  // mean cross-entropy over the first sub-words; absent in `score`
  std::vector<std::vector<std::string>> predictions;  // tags per word
  std::vector<std::filesystem::path> written;         // `ftune eval`'s eval_results.json
};

// The report of the predicted tags against `sentences`' own, and the loss: the mean
// cross-entropy over each window's first sub-words (what training minimizes without
// --label-all-tokens), every window counted.
NerEvalResult compute_ner_result(const at::Tensor& window_logits, const TaggedSentences& sentences,
                                 const std::vector<WordWindow>& windows,
                                 const std::vector<std::vector<int64_t>>& tag_ids,
                                 const std::vector<std::string>& id2label, SeqevalMode mode);

// The text `ftune eval` and `ftune score --task ner` print: seqeval's classification_report
// (digits), a blank line, then `accuracy`, `precision`, `recall`, `f1` (micro, entity level)
// and `loss` (when set) lines with max(4, digits) decimals.
std::string format_ner_result(const NerEvalResult& result, int digits);

// {"classification_report": seqeval's output_dict, "metrics": {"precision", "recall", "f1",
// "accuracy", "macro_f1", "weighted_f1", "support", and "loss" when set}, "mode": "default" or
// "strict"}.
nlohmann::json ner_result_to_json(const NerEvalResult& result);

}  // namespace ftune
