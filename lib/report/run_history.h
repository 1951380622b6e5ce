// What a training run left in its output folder, read back for the pictures, the model card and
// `ftune report`: trainer_log.jsonl (logged steps, evaluations, the closing summary) and
// train_settings.json (the run's options, data sizes, command line). Reading only; the trainer
// writes them (lib/train/train_log.h, lib/train/trainer.cpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/report/charts.h"

namespace ftune {

constexpr const char* kTrainLogFile = "trainer_log.jsonl";
constexpr const char* kTrainSettingsFile = "train_settings.json";
constexpr const char* kLearningCurvesFile = "learning_curves.svg";
constexpr const char* kConfusionMatrixFile = "confusion_matrix.svg";
constexpr const char* kEvalResultsFile = "eval_results.json";
constexpr const char* kModelCardFile = "README.md";

struct EvalRecord {
  int64_t step = 0;
  double epoch = 0;
  std::vector<std::pair<std::string, double>> metrics;  // "loss", "macro_f1", ... (no "eval_")

  std::optional<double> find(const std::string& name) const;
};

struct TrainHistory {
  std::vector<CurvePoint> train_loss;
  std::vector<double> learning_rates;  // one per train_loss point
  std::vector<EvalRecord> evals;
  // The closing record (train_runtime, train_loss, ...), absent while the run goes on or when it
  // was killed.
  std::optional<nlohmann::ordered_json> summary;
};

// Reads trainer_log.jsonl. A line that is not a JSON object (a torn last line after a crash) is
// skipped; IoError naming the file when it cannot be read.
TrainHistory read_train_history(const std::filesystem::path& log_file);

// The first evaluation with the best value of `metric` (strictly better replaces, as the
// trainer's best model); nullopt without evaluations of it.
std::optional<int64_t> find_best_step(const TrainHistory& history, const std::string& metric,
                                      bool greater_is_better);

// The curves of `history`: train loss, eval loss, eval `metric`, the best step (the summary's
// best_step, else find_best_step) and the early stop (the summary's stopped_early: the last
// evaluation).
LearningCurves make_learning_curves(const TrainHistory& history, const std::string& metric,
                                    bool greater_is_better, const std::string& title);

// `folder` made absolute and normal, without a trailing separator, so that filename() is the
// folder's own name ("runs/x/best/" -> /.../runs/x/best; "." -> the working folder) and
// parent_path() the folder holding it.
std::filesystem::path normal_folder(const std::filesystem::path& folder);

// train_settings.json, or an empty object when the run has none (an older ftune); ConfigError
// naming the file when it is not a JSON object.
nlohmann::ordered_json read_train_settings(const std::filesystem::path& run_dir);

}  // namespace ftune
