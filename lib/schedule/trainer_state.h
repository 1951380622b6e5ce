// trainer_state.json of a checkpoint-<step> folder, parsed and checked before a resume uses it.
// LibTorch-free so that fuzz/trainer_state_fuzzer.cpp runs it; the optimizer and RNG state are
// restored by lib/train/checkpoints.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace ftune {

// What a resume takes from trainer_state.json (lib/train/trainer.cpp writes it).
struct TrainerState {
  int64_t global_step = 0;
  nlohmann::json early_stopping;              // checked here for EarlyStopping::restore
  std::optional<nlohmann::json> loss_scaler;  // an object; LossScaler::restore checks its keys
  // The run's shape (training examples, steps per epoch, batch, learning rate...), an object;
  // lib/train/trainer.cpp compares it with the resuming run's. Absent in older checkpoints.
  std::optional<nlohmann::json> run;
};

// Parses trainer_state.json's text (`path` names it in errors). CheckpointError naming the file
// and the key when it is not JSON, nests too deep, or a value has the wrong type or range.
TrainerState parse_trainer_state(std::string_view text, const std::string& path);

}  // namespace ftune
