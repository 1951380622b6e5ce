// Reading a run's trainer_log.jsonl and train_settings.json back.
#include "lib/report/run_history.h"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace {

std::optional<double> number_at(const nlohmann::ordered_json& record, const char* key) {
  const auto it = record.find(key);
  if (it == record.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

}  // namespace

std::optional<double> EvalRecord::find(const std::string& name) const {
  for (const auto& [key, value] : metrics) {
    if (key == name) return value;
  }
  return std::nullopt;
}

TrainHistory read_train_history(const std::filesystem::path& log_file) {
  std::ifstream in(log_file);
  if (!in) {
    throw IoError(
        fmt::format("reading '{}': cannot open; hint: is this a training run's "
                    "--output-dir?",
                    log_file.string()));
  }
  TrainHistory history;
  std::string line;
  while (std::getline(in, line)) {
    nlohmann::ordered_json record;
    try {
      record = parse_ordered_json_capped(line, log_file.string());
    } catch (const JsonError&) {
      continue;  // a torn last line from a killed run
    }
    if (!record.is_object()) continue;
    const int64_t step = record.value("step", int64_t{0});
    if (record.contains("train_runtime")) {
      history.summary = record;
    } else if (record.contains("eval_loss")) {
      EvalRecord eval{step, number_at(record, "epoch").value_or(0), {}};
      for (const auto& [key, value] : record.items()) {
        if (key.rfind("eval_", 0) == 0 && value.is_number()) {
          eval.metrics.emplace_back(key.substr(5), value.get<double>());
        }
      }
      history.evals.push_back(std::move(eval));
    } else if (const auto loss = number_at(record, "loss")) {
      history.train_loss.push_back({step, *loss});
      history.learning_rates.push_back(number_at(record, "learning_rate").value_or(0));
    }
  }
  return history;
}

std::optional<int64_t> find_best_step(const TrainHistory& history, const std::string& metric,
                                      bool greater_is_better) {
  std::optional<int64_t> best_step;
  double best = 0;
  for (const auto& eval : history.evals) {
    const auto value = eval.find(metric);
    if (!value) continue;
    if (!best_step || (greater_is_better ? *value > best : *value < best)) {
      best = *value;
      best_step = eval.step;
    }
  }
  return best_step;
}

LearningCurves make_learning_curves(const TrainHistory& history, const std::string& metric,
                                    bool greater_is_better, const std::string& title) {
  LearningCurves curves;
  curves.title = title;
  curves.metric = metric;
  curves.train_loss = history.train_loss;
  for (const auto& eval : history.evals) {
    if (const auto loss = eval.find("loss")) curves.eval_loss.push_back({eval.step, *loss});
    if (const auto value = eval.find(metric)) curves.eval_metric.push_back({eval.step, *value});
  }
  curves.best_step = find_best_step(history, metric, greater_is_better);
  if (history.summary) {
    const auto& summary = *history.summary;
    if (summary.contains("best_step") && summary["best_step"].is_number_integer()) {
      curves.best_step = summary["best_step"].get<int64_t>();
    }
    curves.last_step = summary.value("step", int64_t{0});
    if (summary.value("stopped_early", false) && !history.evals.empty()) {
      curves.early_stop_step = history.evals.back().step;
    }
  }
  return curves;
}

std::filesystem::path normal_folder(const std::filesystem::path& folder) {
  auto path = std::filesystem::absolute(folder).lexically_normal();
  return path.has_filename() ? path : path.parent_path();
}

nlohmann::ordered_json read_train_settings(const std::filesystem::path& run_dir) {
  const auto path = run_dir / kTrainSettingsFile;
  std::ifstream in(path);
  if (!in) return nlohmann::ordered_json::object();
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::ordered_json settings;
  try {
    settings = parse_ordered_json_capped(text.str(), path.string());
  } catch (const JsonError& e) {
    throw ConfigError(fmt::format("reading run settings: {}", e.what()));
  }
  if (!settings.is_object()) {
    throw ConfigError(fmt::format("reading run settings: file '{}': expected a JSON object, got {}",
                                  path.string(),
                                  quote_json_value(settings)));
  }
  return settings;
}

}  // namespace ftune
