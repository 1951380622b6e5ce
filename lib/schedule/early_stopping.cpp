// The patience counter follows transformers' EarlyStoppingCallback.check_metric_value; the best
// metric follows Trainer._save_checkpoint (updated after the callback saw the old best).
#include "lib/schedule/early_stopping.h"

#include <cmath>

#include <fmt/format.h>

namespace ftune {

bool metric_greater_is_better(const std::string& name) {
  return name != "loss" && name != "perplexity" && name != "mse" && name != "mae" &&
         name != "hamming_loss";
}

EarlyStopping::EarlyStopping(std::string metric, bool greater_is_better, int64_t patience,
                             double threshold)
    : metric_(std::move(metric)),
      greater_is_better_(greater_is_better),
      patience_(patience),
      threshold_(threshold) {}

bool EarlyStopping::is_better(double value, double reference) const {
  return greater_is_better_ ? value > reference : value < reference;
}

EarlyStoppingDecision EarlyStopping::observe(double value, int64_t step, double epoch) {
  EarlyStoppingDecision decision;
  const bool resets_patience = !best_value_ || (is_better(value, *best_value_) &&
                                                std::fabs(value - *best_value_) > threshold_);
  stalls_ = resets_patience ? 0 : stalls_ + 1;
  decision.is_new_best = !best_value_ || is_better(value, *best_value_);
  if (decision.is_new_best) {
    best_value_ = value;
    best_step_ = step;
  }
  decision.should_stop = patience_ > 0 && stalls_ >= patience_;

  std::string head =
      fmt::format("epoch {:.4g} step {} | eval {} {:.4f} | ", epoch, step, metric_, value);
  if (resets_patience) {
    decision.log_line = head + "new best";
  } else {
    decision.log_line = head + fmt::format("stalled {}/{} (best {:.4f} at step {})",
                                           stalls_,
                                           patience_ > 0 ? fmt::to_string(patience_) : "-",
                                           *best_value_,
                                           best_step_);
    if (decision.is_new_best) decision.log_line += " [new best within threshold]";
  }
  if (decision.should_stop) decision.log_line += " | early stopping";
  return decision;
}

nlohmann::json EarlyStopping::to_json() const {
  nlohmann::json json;
  json["metric"] = metric_;
  json["best_value"] = best_value_ ? nlohmann::json(*best_value_) : nlohmann::json(nullptr);
  json["best_step"] = best_step_;
  json["stalls"] = stalls_;
  return json;
}

void EarlyStopping::restore(const nlohmann::json& json) {
  if (json.contains("best_value") && !json["best_value"].is_null()) {
    best_value_ = json["best_value"].get<double>();
  } else {
    best_value_.reset();
  }
  best_step_ = json.value("best_step", int64_t{0});
  stalls_ = json.value("stalls", int64_t{0});
}

}  // namespace ftune
