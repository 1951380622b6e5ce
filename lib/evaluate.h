// `ftune eval` (a fine-tuned classifier on labelled data: loss + sklearn report) and `ftune score`
// (metrics of a predictions file against references: sklearn report, or sacreBLEU BLEU + chrF).
// Not here: the metric formulas themselves (lib/classification_metrics.h, lib/bleu.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lib/classification_metrics.h"
#include "lib/device.h"
#include "lib/text_dataset.h"

namespace ftune {

struct EvalOptions {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> weights;
  std::filesystem::path data;
  std::optional<std::filesystem::path> report_json;  // written atomically (eval_result_to_json)
  int digits = 2;
  size_t max_length = 128;
  size_t batch_size = 32;
  TextColumns columns;
  TableReadOptions table;
  RuntimeOptions runtime;  // --device, --precision
};

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
EvalResult compute_eval_result(const at::Tensor& logits,
                               const std::vector<int64_t>& label_ids,
                               const std::vector<std::string>& id2label);

// The id of each example's label in `id2label`. Throws DataError naming file:line, the unknown
// value and the labels the model knows (and how many rows share the problem).
std::vector<int64_t> map_label_ids(const TextExamples& examples,
                                   const std::vector<std::string>& id2label);

// Loads the model, reads the labelled data, runs it, and writes --report-json when asked.
EvalResult run_eval(const EvalOptions& options);

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

enum class ScoreTask { kClassify, kTranslate };

struct ScoreOptions {
  ScoreTask task = ScoreTask::kClassify;
  std::vector<std::filesystem::path> references;  // classify: exactly one; translate: one or more
  std::filesystem::path predictions;
  std::optional<std::filesystem::path> report_json;
  int digits = 2;
};

// One line per entry: '\n' splits, a trailing '\r' is dropped, and so is the empty piece after a
// final line break; a UTF-8 byte order mark is skipped. Throws IoError when unreadable.
std::vector<std::string> read_lines(const std::filesystem::path& file);

// Scores the predictions and returns the text to print. classify: format_eval_result (no loss
// line); labels are trimmed of surrounding whitespace, and an empty one is a DataError. translate:
//   BLEU = 34.12 70.1/45.2/30.0/20.1 (BP = 1.000 ratio = 1.012 hyp_len = 245 ref_len = 242)
//   BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0
//   chrF2 = 34.42
//   chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0
// (sacreBLEU's str(score), then its signature prefixed with the metric name). Every file must
// have as many lines as the predictions, else a DataError names both files and both counts.
// --report-json for translate: {"bleu": {score, counts, totals, precisions, bp, sys_len, ref_len,
// signature}, "chrf": {score, signature}}.
std::string run_score(const ScoreOptions& options);

}  // namespace ftune
