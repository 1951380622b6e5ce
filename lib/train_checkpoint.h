// Training checkpoints: `checkpoint-<step>/` folders holding a loadable model folder plus the
// optimizer, RNG and trainer state needed to resume exactly; `best/` and `last/` model folders;
// rotation. Every folder is written under a temporary name and renamed into place when whole.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>
#include <torch/optim/optimizer.h>

#include "lib/train_task.h"
#include "lib/trainer_state.h"

namespace ftune {

constexpr const char* kTrainerStateFile = "trainer_state.json";

// Writes `output_dir/checkpoint-<step>/` (model, tokenizer, optimizer.pt, rng_state.pt,
// trainer_state.json). Returns its path.
std::filesystem::path save_training_checkpoint(const std::filesystem::path& output_dir,
                                               int64_t step,
                                               const TrainTask& task,
                                               torch::optim::Optimizer& optimizer,
                                               const nlohmann::json& trainer_state);

// Replaces `output_dir/<name>/` (best, last) with a fresh model folder whose floating-point
// weights are stored as `save_dtype` (--save-dtype; config.json's torch_dtype says which).
void save_model_folder(const std::filesystem::path& output_dir,
                       const std::string& name,
                       const TrainTask& task,
                       c10::ScalarType save_dtype = c10::kFloat);

// Rewrites `model_dir`'s model.safetensors with its floating-point tensors as `dtype` and sets
// config.json's torch_dtype. Integer tensors are kept as they are.
void convert_saved_weights(const std::filesystem::path& model_dir, c10::ScalarType dtype);

// The newest complete checkpoint-<step> folder, if any.
std::optional<std::filesystem::path> find_latest_checkpoint(const std::filesystem::path& output_dir);

// "latest" or a path -> a checkpoint folder that has trainer_state.json; CheckpointError otherwise.
std::filesystem::path resolve_resume_checkpoint(const std::filesystem::path& output_dir,
                                                const std::string& spec);

// Checks trainer_state.json (lib/trainer_state.h), then restores optimizer state (onto `device`,
// where the parameters are) and the CPU RNG; returns trainer_state.json's content.
TrainerState restore_training_state(const std::filesystem::path& checkpoint,
                                      torch::optim::Optimizer& optimizer,
                                      const c10::Device& device = c10::Device(c10::DeviceType::CPU));

// Deletes the oldest checkpoint-<step> folders beyond `limit` (0 = keep all), never the one
// of `keep_step` (the best model's) nor the newest.
void rotate_checkpoints(const std::filesystem::path& output_dir, int64_t limit, int64_t keep_step);

}  // namespace ftune
