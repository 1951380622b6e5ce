// Evaluating a sequence classifier, shared by the trainer's periodic evaluation and the eval,
// score and predict commands: batched logits, label names to ids, the scikit-learn report, and
// its text and JSON renderings. The metric formulas are lib/metrics/classification_metrics.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lib/data/text_dataset.h"
#include "lib/metrics/classification_metrics.h"
#include "models/bert.h"

namespace ftune {

// Runs the classifier in inference mode over `encodings` in batches of `batch_size` (examples of
// similar length together, each batch padded to its own longest), on the model's device, under
// the caller's autocast if any. Returns float32 logits (N, num_labels) on the CPU, in the order
// of `encodings`.
at::Tensor compute_logits(BertForSequenceClassification& model,
                          const std::vector<Encoding>& encodings, int64_t pad_id, size_t batch_size,
                          const std::string& progress_label, bool show_progress = true);

// What one evaluation found. `loss` is absent when there were no logits (`ftune score`).
struct EvalResult {
  ClassificationReport report;
  std::optional<double> loss;            // mean cross-entropy over the examples
  std::vector<std::string> predictions;  // predicted label names, in data order
  int64_t skipped_rows = 0;              // rows left out by --skip-bad-rows
};

// The metric part of an evaluation, shared with the trainer's periodic eval: argmax of `logits`
// (N, L) → names via `id2label`, mean cross-entropy against `label_ids` (N), and the report.
//
//   EvalResult r = compute_eval_result(logits, {0, 2, 1}, config.id2label);
//   fmt::print("eval macro_f1 {:.4f} loss {:.4f}\n", r.report.macro_avg.f1, *r.loss);
EvalResult compute_eval_result(const at::Tensor& logits, const std::vector<int64_t>& label_ids,
                               const std::vector<std::string>& id2label);

// The id of each example's label in `id2label`. Throws DataError naming file:line, the unknown
// value and the labels the model knows (and how many rows share the problem).
std::vector<int64_t> map_label_ids(const TextExamples& examples,
                                   const std::vector<std::string>& id2label);

// The text `ftune eval` and `ftune score --task classify` print:
//   <format_classification_report(report, digits)>
//   <blank line>
//   <format_confusion_matrix(report)>
//   <blank line>
//   accuracy 0.5750
//   macro_f1 0.3755
//   mcc 0.4576
//   loss 1.1112          (only when result.loss is set)
// The four numbers have max(4, digits) decimals.
std::string format_eval_result(const EvalResult& result, int digits);

// The --report-json document: {"classification_report": sklearn's output_dict exactly,
// "confusion_matrix": {"labels": [...], "matrix": [[...]]}, "metrics": {"accuracy", "f1_macro",
// "f1_micro", "f1_weighted", "matthews_corrcoef", "support", and "loss" when set}}. The sklearn
// dict sits under its own key so that no label name can collide with ours.
nlohmann::json eval_result_to_json(const EvalResult& result);

}  // namespace ftune
