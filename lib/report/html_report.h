// report.html for `ftune report --run DIR`: one self-contained file (inline SVG and CSS, no
// script, nothing fetched) with the run's summary, learning curves, the best checkpoint's
// evaluation (per-class table and confusion matrix, from an `ftune eval` of best/), every
// evaluation, and the hyper-parameters.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "lib/report/model_card.h"

namespace ftune {

// The content of eval_results.json (what `ftune eval` writes next to the model: its
// --report-json document plus "data" and "model"); nullopt without one.
std::string render_report_html(const RunFacts& run,
                               const std::optional<nlohmann::json>& eval_results);

// `ftune report --run DIR`: reads the run (read_run_facts) and best/eval_results.json (else
// last/'s), writes `html_file` atomically, and returns the summary to print, followed by a hint
// line when the run's best/ has not been evaluated. IoError when DIR has no trainer_log.jsonl.
std::string write_run_report(const std::filesystem::path& run_dir,
                             const std::filesystem::path& html_file);

// The confusion matrix of an eval_results.json (single-label classification), nullopt when it
// has none (NER, multi-label, regression); std::invalid_argument-free: a malformed one is nullopt.
std::optional<ConfusionMatrix> confusion_matrix_from_eval(const nlohmann::json& eval_results,
                                                          const std::string& title);

}  // namespace ftune
