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
#include "lib/metrics/regression_metrics.h"
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
  ClassificationReport report;                 // single-label classification
  std::optional<RegressionReport> regression;  // problem_type regression: instead of report
  std::optional<MultiLabelReport> multilabel;  // multi_label_classification: instead of report
  std::optional<double> loss;            // mean cross-entropy (regression: MSE) over the examples
  std::vector<std::string> predictions;  // predicted label names, in data order (classification)
  int64_t skipped_rows = 0;              // rows left out by --skip-bad-rows
  std::vector<std::filesystem::path> written;  // `ftune eval`'s eval_results.json, pictures
};

// The metric part of an evaluation, shared with the trainer's periodic eval: argmax of `logits`
// (N, L) → names via `id2label`, mean cross-entropy against `label_ids` (N), and the report.
//
//   EvalResult r = compute_eval_result(logits, {0, 2, 1}, config.id2label);
//   fmt::print("eval macro_f1 {:.4f} loss {:.4f}\n", r.report.macro_avg.f1, *r.loss);
EvalResult compute_eval_result(const at::Tensor& logits, const std::vector<int64_t>& label_ids,
                               const std::vector<std::string>& id2label);

// The same for a regression head: `logits` (N, 1) against the numeric `targets` (N); the loss
// is the MSE in float32, as BertForSequenceClassification computes it.
EvalResult compute_regression_result(const at::Tensor& logits, const std::vector<double>& targets);

// Multi-label: sigmoid(`logits`) (N, L) >= each label's threshold (`thresholds` by label id;
// empty: 0.5 for all) against the 0/1 rows `targets` (N x L); the loss is BCE-with-logits (mean
// over every cell) in float32, as Hugging Face computes it.
EvalResult compute_multilabel_result(const at::Tensor& logits,
                                     const std::vector<std::vector<uint8_t>>& targets,
                                     const std::vector<std::string>& id2label,
                                     const std::vector<double>& thresholds);

// Each example's label set (lib/data/text_dataset.h label_sets) as a 0/1 row over `id2label`.
// DataError naming file:line, the unknown label and the model's labels, as map_label_ids.
std::vector<std::vector<uint8_t>> map_label_sets(const TextExamples& examples,
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
// The four numbers have max(4, digits) decimals. Regression: format_regression_report's lines,
// then the loss line. Multi-label: sklearn's multi-label report, a blank line, then
// `subset_accuracy`, `hamming_loss`, `micro_f1`, `macro_f1` and `loss` lines.
std::string format_eval_result(const EvalResult& result, int digits);

// The --report-json document: {"classification_report": sklearn's output_dict exactly,
// "confusion_matrix": {"labels": [...], "matrix": [[...]]}, "metrics": {"accuracy", "f1_macro",
// "f1_micro", "f1_weighted", "matthews_corrcoef", "support", and "loss" when set}}. The sklearn
// dict sits under its own key so that no label name can collide with ours. Regression:
// {"metrics": {"mse", "mae", "pearson", "spearman", "count", and "loss" when set}}. Multi-label:
// {"classification_report": sklearn's output_dict, "metrics": {"subset_accuracy",
// "hamming_loss", "f1_micro", "f1_macro", "f1_weighted", "f1_samples", "support", "loss"}}.
nlohmann::json eval_result_to_json(const EvalResult& result);

}  // namespace ftune
