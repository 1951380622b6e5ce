// `ftune score`: metrics of a predictions file against references, without a model.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lib/metrics/sequence_labeling.h"

namespace ftune {

enum class ScoreTask { kClassify, kTranslate, kRegression, kMultiLabel, kNer };

struct ScoreOptions {
  ScoreTask task = ScoreTask::kClassify;
  std::vector<std::filesystem::path>
      references;  // classify, regression: exactly one; translate: one or more
  std::filesystem::path predictions;
  std::optional<std::filesystem::path> report_json;
  int digits = 2;
  SeqevalMode seqeval_mode = SeqevalMode::kDefault;  // ner
};

// Scores the predictions and returns the text to print. classify: format_eval_result (no loss
// line); labels are trimmed of surrounding whitespace, and an empty one is a DataError. translate:
//   BLEU = 34.12 70.1/45.2/30.0/20.1 (BP = 1.000 ratio = 1.012 hyp_len = 245 ref_len = 242)
//   BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0
//   chrF2 = 34.42
//   chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0
// (sacreBLEU's str(score), then its signature prefixed with the metric name). Every file must
// have as many lines as the predictions, else a DataError names both files and both counts.
// multi-label: each line the labels of one example, '|'-separated or a JSON list ([] for none);
// sklearn's multi-label report over the sorted union of both files' labels, then the
// subset_accuracy, hamming_loss, micro_f1 and macro_f1 lines (format_eval_result).
// regression: one number per line in both files; the lines of format_regression_report (MSE, MAE,
// Pearson, Spearman), and --report-json {"metrics": {...}} as `ftune eval` writes it.
// ner: CoNLL or JSONL tagged sentences in both files (`ftune predict`'s output for a token
// classifier is JSONL with "tokens" and "tags"), as many sentences and words on each side;
// format_ner_result's text and ner_result_to_json.
// --report-json for translate: {"bleu": {score, counts, totals, precisions, bp, sys_len, ref_len,
// signature}, "chrf": {score, signature}}.
std::string run_score(const ScoreOptions& options);

}  // namespace ftune
