// A finished run in words: the model card (best/README.md, Hugging Face's layout: YAML front
// matter with `model-index`, then markdown) and the summary `ftune report` prints. Both read the
// same things: train_settings.json and trainer_log.jsonl (lib/report/run_history.h).
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/report/run_history.h"

namespace ftune {

struct RunFacts {
  nlohmann::ordered_json settings;  // train_settings.json (may be empty: an older run)
  TrainHistory history;
  std::string name;    // the output folder's name
  std::string metric;  // the best-model metric
  bool greater_is_better = true;
  std::optional<int64_t> best_step;

  // The evaluation at best_step, if any.
  const EvalRecord* best_eval() const;
  // Why the run ended: "early stopping: macro_f1 did not improve for 2 evaluations", "finished:
  // 3 epochs (1,200 steps)", or "unfinished: ..." when the log has no closing record.
  std::string stop_reason() const;
};

// Reads `run_dir`'s settings and log; the metric and best step from the summary, else the
// settings' metric_for_best_model (else "loss").
RunFacts read_run_facts(const std::filesystem::path& run_dir);

// Hugging Face's pipeline tag of a run's task: text-classification, token-classification,
// translation, fill-mask.
std::string pipeline_tag(const nlohmann::ordered_json& settings);

// best/README.md: front matter (library_name, base_model, pipeline_tag, tags, model-index with
// the best checkpoint's validation metrics) and sections (summary, validation metrics,
// hyper-parameters, training results per evaluation, the command line, versions).
std::string render_model_card(const RunFacts& run);

// render_model_card(read_run_facts(run_dir)) written atomically to model_dir/README.md.
void write_model_card(const std::filesystem::path& run_dir, const std::filesystem::path& model_dir);

// What `ftune report` says of a run, row by row: run, task, data, ended, time, best,
// evaluations (the rows the run's files can fill).
std::vector<std::pair<std::string, std::string>> summarize_run(const RunFacts& run);

// summarize_run as the text `ftune report` prints, "key: value" per line.
std::string format_run_summary(const RunFacts& run);

}  // namespace ftune
