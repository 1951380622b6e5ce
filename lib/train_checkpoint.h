// Training checkpoints: `checkpoint-<step>/` folders holding a loadable model folder plus the
// optimizer, RNG and trainer state needed to resume exactly; `best/` and `last/` model folders;
// rotation. Every folder is written under a temporary name and renamed into place when whole.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include "lib/train_task.h"

namespace ftune {

constexpr const char* kTrainerStateFile = "trainer_state.json";

// Writes `output_dir/checkpoint-<step>/` (model, tokenizer, optimizer.pt, rng_state.pt,
// trainer_state.json). Returns its path.
std::filesystem::path save_training_checkpoint(const std::filesystem::path& output_dir,
                                               int64_t step,
                                               const TrainTask& task,
                                               torch::optim::Optimizer& optimizer,
                                               const nlohmann::json& trainer_state);

// Replaces `output_dir/<name>/` (best, last) with a fresh model folder.
void save_model_folder(const std::filesystem::path& output_dir,
                       const std::string& name,
                       const TrainTask& task);

// The newest complete checkpoint-<step> folder, if any.
std::optional<std::filesystem::path> find_latest_checkpoint(const std::filesystem::path& output_dir);

// "latest" or a path -> a checkpoint folder that has trainer_state.json; CheckpointError otherwise.
std::filesystem::path resolve_resume_checkpoint(const std::filesystem::path& output_dir,
                                                const std::string& spec);

// Restores optimizer state and the CPU RNG; returns trainer_state.json's content.
nlohmann::json restore_training_state(const std::filesystem::path& checkpoint,
                                      torch::optim::Optimizer& optimizer);

// Deletes the oldest checkpoint-<step> folders beyond `limit` (0 = keep all), never the one
// of `keep_step` (the best model's) nor the newest.
void rotate_checkpoints(const std::filesystem::path& output_dir, int64_t limit, int64_t keep_step);

}  // namespace ftune
