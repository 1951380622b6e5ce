// `ftune sweep`: random search over `ftune train` options. Each trial is a separate `ftune
// train` process (a crash or out-of-memory in one is recorded, never the end of the sweep),
// `parallel` at a time with the threads split between them. Every finished trial is one line of
// OUT/sweep.jsonl, so a killed sweep continues with `resume` without rerunning those. At the end:
// the leaderboard, OUT/best/ (the best trial's best model folder), OUT/best.toml (its options as
// an `ftune --config` file) and OUT/sweep.svg (the metric of each trial).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lib/sweep/search_space.h"

namespace ftune {

struct SweepOptions {
  // Given to every trial after `train`: --model, --train, --valid and any other train option.
  std::vector<std::string> train_args;
  std::filesystem::path output_dir;  // trial-<n>/ and its log trial-<n>.log for each trial
  std::vector<ParamSpace> space;
  size_t trials = 8;
  size_t parallel = 1;
  uint64_t seed = 42;
  int threads = 0;  // LibTorch threads for all trials together; 0: the machine's cores
  bool resume = false;
  // Successive halving (ASHA) with this reduction factor; 0: off. Rung k is a trial's
  // (ETA^k)-th evaluation: a trial whose metric there is not in the top 1/ETA of every value
  // recorded at that rung so far (its own included) is stopped (SIGTERM: it checkpoints and
  // exits) and recorded as "pruned", keeping its best model so far.
  size_t halving = 0;
  std::filesystem::path executable = "/proc/self/exe";  // the ftune that runs each trial
};

struct TrialRecord {
  size_t trial = 0;  // 1-based
  TrialParams params;
  // "ok"; "pruned" (stopped by successive halving); "failed": the process ended without a
  // closing log record.
  std::string status;
  int exit_code = 0;   // the process's (128 + signal when killed)
  std::string metric;  // what the trial chose as best-model metric
  std::optional<double> best_metric;
  int64_t best_step = 0;
  int64_t steps = 0;
  double seconds = 0;  // wall clock of the process
  std::string error;   // failed: the trial log's last "error:" line
  // Successive halving: the trial's value at each rung it reached, its rank there (1 = best)
  // among the values recorded at that rung so far.
  struct Rung {
    size_t evaluation = 0;  // ETA^k
    int64_t step = 0;
    double value = 0;
    size_t rank = 0;
    size_t of = 0;
  };
  std::vector<Rung> rungs;
};

// Runs the sweep (ConfigError before any trial for bad options or a sweep.jsonl that does not
// match --space/--seed/--trials; IoError for an OUT that holds another sweep without --resume)
// and returns every trial's record in trial order. Error when every trial failed.
std::vector<TrialRecord> run_sweep(const SweepOptions& options);

// The trials sorted best first (failed ones last), as a table.
std::string format_leaderboard(const std::vector<TrialRecord>& records);

}  // namespace ftune
