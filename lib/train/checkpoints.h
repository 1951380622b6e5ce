// Training checkpoints: `checkpoint-<step>/` folders holding a loadable model folder plus the
// optimizer, RNG and trainer state needed to resume exactly; `best/` and `last/` model folders;
// rotation. Every folder is written under a temporary name and renamed into place when whole.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include "lib/schedule/trainer_state.h"
#include "lib/train/train_task.h"

namespace ftune {

constexpr const char* kTrainerStateFile = "trainer_state.json";

// Writes `output_dir/checkpoint-<step>/` (model, tokenizer, optimizer.pt, rng_state.pt,
// trainer_state.json). Returns its path.
std::filesystem::path save_training_checkpoint(const std::filesystem::path& output_dir,
                                               int64_t step, const TrainTask& task,
                                               torch::optim::Optimizer& optimizer,
                                               const nlohmann::json& trainer_state);

// Replaces `output_dir/<name>/` (best, last) with a fresh model folder whose floating-point
// weights are stored as `save_dtype` (--save-dtype; config.json's torch_dtype says which).
void replace_model_folder(const std::filesystem::path& output_dir, const std::string& name,
                          const TrainTask& task, c10::ScalarType save_dtype = c10::kFloat);

// The newest complete checkpoint-<step> folder, if any.
std::optional<std::filesystem::path> find_latest_checkpoint(
    const std::filesystem::path& output_dir);

// "latest" or a path -> a checkpoint folder that has trainer_state.json; CheckpointError otherwise.
std::filesystem::path resolve_resume_checkpoint(const std::filesystem::path& output_dir,
                                                const std::string& spec);

// Checks trainer_state.json (lib/schedule/trainer_state.h), then restores optimizer state (onto
// `device`, where the parameters are) and the CPU RNG; returns trainer_state.json's content.
TrainerState restore_training_state(const std::filesystem::path& checkpoint,
                                    torch::optim::Optimizer& optimizer,
                                    const c10::Device& device = c10::Device(c10::DeviceType::CPU));

// One writer per output folder: an exclusive flock on `<dir>/.ftune.lock`, which holds the
// holder's pid. The kernel releases it when the process ends, however it ends (kill -9 too), so a
// stale lock file never blocks. A second run into the same folder fails at once (IoError naming
// the holder's pid) instead of deleting the first run's checkpoints under it.
class OutputDirLock {
 public:
  explicit OutputDirLock(const std::filesystem::path& dir);
  ~OutputDirLock();
  OutputDirLock(const OutputDirLock&) = delete;
  OutputDirLock& operator=(const OutputDirLock&) = delete;
  // Deletes the lock file and unlocks (also on destruction): no lock file outlives its run, and
  // a run that wrote nothing can remove its empty folder.
  void release();

 private:
  std::filesystem::path file_;
  int fd_ = -1;
};

// What a finished or interrupted run leaves in an output folder: checkpoint-<step>/, best/,
// last/, trainer_log.jsonl, runs/ (TensorBoard events) (sorted names; empty when there is none).
std::vector<std::string> find_previous_run(const std::filesystem::path& output_dir);
// Deletes those (--overwrite-output-dir).
void remove_previous_run(const std::filesystem::path& output_dir);

// Deletes the oldest checkpoint-<step> folders beyond `limit` (0 = keep all), never the one
// of `keep_step` (the best model's) nor the newest.
void rotate_checkpoints(const std::filesystem::path& output_dir, int64_t limit, int64_t keep_step);

}  // namespace ftune
