// DIR/trainer_log.jsonl: one JSON object per logged step, per evaluation, and a closing summary
// with Hugging Face's names (loss, learning_rate, grad_norm, eval_<metric>, train_runtime, ...).
// With --report-to tensorboard, the same numbers as TensorBoard scalars in DIR/runs/, under the
// tags Hugging Face's TensorBoardCallback uses (train/loss, eval/f1, ...).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/report/tensorboard.h"

namespace ftune {

class TrainLog {
 public:
  // Opens the log for appending. When resuming at `resume_step` > 0, records after that step
  // (written by the interrupted run after its last checkpoint) are dropped first.
  // An empty `path` makes a log that writes nothing (ranks other than 0). `events_dir`: also
  // write a TensorBoard events file there (a new one per process, resumed or not).
  TrainLog(std::filesystem::path path, int64_t resume_step,
           const std::optional<std::filesystem::path>& events_dir = std::nullopt);

  // `elapsed` is seconds since training started, taken once the step's loss reached the host
  // (so the device has finished the step): steady-state speed is the slope between two records.
  void write_step(int64_t step, double epoch, double loss, double learning_rate, double grad_norm,
                  double elapsed);
  void write_eval(int64_t step, double epoch, double loss,
                  const std::vector<std::pair<std::string, double>>& metrics);
  // `outcome`: keys appended to the record after Hugging Face's (metric_for_best_model,
  // best_metric, best_step, stopped_early), for `ftune report`; not TensorBoard scalars.
  void write_summary(int64_t step, double epoch, double train_loss, double runtime_seconds,
                     int64_t samples, int64_t steps,
                     const nlohmann::ordered_json& outcome = nlohmann::ordered_json::object());
  // The run's settings, as JSON, to TensorBoard's text dashboard (tag "args", as Hugging Face);
  // trainer_log.jsonl does not hold them (trainer_state.json does).
  void write_settings(const std::string& json_text, int64_t step);

 private:
  void write_line(const std::string& line);

  std::filesystem::path path_;
  std::ofstream out_;
  std::unique_ptr<EventFileWriter> events_;  // null without --report-to tensorboard
};

}  // namespace ftune
