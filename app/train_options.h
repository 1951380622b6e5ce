// The trainer options `ftune train` and `ftune pretrain` share (optimization, evaluation, early
// stopping, checkpoints), registered once so both spell and document them the same way.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "lib/train/launcher.h"
#include "lib/train/trainer.h"

namespace ftune {

// Adds the "Optimization" and "Evaluation, early stopping, checkpoints" option groups to `sub`.
// `metric_help` documents --metric-for-best-model for this command.
void add_trainer_options(CLI::App& sub, TrainOptions& o, const std::string& metric_help);

// Adds the "Distributed" option group: the launcher's flags and --dist-backend/--dist-timeout
// (stored in `backend` and `timeout_seconds`).
void add_distributed_options(CLI::App& sub, LaunchOptions& launch, std::string& backend,
                             int64_t& timeout_seconds);

// The closing line on stderr: "trained 6 steps in 1.2 s, best loss 2.3012 at step 4 -> DIR".
void print_train_result(const TrainResult& result, const TrainOptions& o);

}  // namespace ftune
