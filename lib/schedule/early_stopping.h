// Early stopping and best-model tracking with Hugging Face's semantics (EarlyStoppingCallback +
// Trainer's best_metric): an evaluation resets the patience counter only when it beats the best
// so far by more than the threshold; the best model is any strictly better evaluation.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ftune {

struct EarlyStoppingDecision {
  bool is_new_best = false;  // save as best/
  bool should_stop = false;  // patience exhausted
  std::string log_line;      // "epoch 3 step 1200 | eval macro_f1 0.8812 | new best"
};

// Larger is better for every metric but the losses, the errors and the perplexity.
bool metric_greater_is_better(const std::string& name);

class EarlyStopping {
 public:
  // patience 0 = never stop early (best-model tracking still runs).
  EarlyStopping(std::string metric, bool greater_is_better, int64_t patience, double threshold);

  EarlyStoppingDecision observe(double value, int64_t step, double epoch);

  const std::string& metric() const { return metric_; }
  std::optional<double> best_value() const { return best_value_; }
  int64_t best_step() const { return best_step_; }
  int64_t stalls() const { return stalls_; }

  nlohmann::json to_json() const;            // for trainer_state.json
  void restore(const nlohmann::json& json);  // resume

 private:
  bool is_better(double value, double reference) const;

  std::string metric_;
  bool greater_is_better_;
  int64_t patience_;
  double threshold_;
  std::optional<double> best_value_;
  int64_t best_step_ = 0;
  int64_t stalls_ = 0;
};

}  // namespace ftune
