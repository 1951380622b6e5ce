// Schedule formulas; each line cites the transformers function it reproduces.
#include "lib/schedule/schedule.h"

#include <algorithm>
#include <cmath>

namespace ftune {

std::optional<LrSchedulerKind> parse_lr_scheduler(std::string_view name) {
  if (name == "linear") return LrSchedulerKind::kLinear;
  if (name == "cosine") return LrSchedulerKind::kCosine;
  if (name == "constant") return LrSchedulerKind::kConstant;
  if (name == "constant_with_warmup") return LrSchedulerKind::kConstantWithWarmup;
  return std::nullopt;
}

std::string lr_scheduler_name(LrSchedulerKind kind) {
  switch (kind) {
    case LrSchedulerKind::kLinear:
      return "linear";
    case LrSchedulerKind::kCosine:
      return "cosine";
    case LrSchedulerKind::kConstant:
      return "constant";
    case LrSchedulerKind::kConstantWithWarmup:
      return "constant_with_warmup";
  }
  return "linear";
}

double LrSchedule::compute_factor(int64_t completed) const {
  const auto step = static_cast<double>(completed);
  const auto warmup = static_cast<double>(warmup_steps);
  const auto total = static_cast<double>(total_steps);
  if (kind == LrSchedulerKind::kConstant) return 1.0;                 // get_constant_schedule
  if (completed < warmup_steps) return step / std::max(1.0, warmup);  // every warmup
  switch (kind) {
    case LrSchedulerKind::kConstantWithWarmup:
      return 1.0;
    case LrSchedulerKind::kLinear:  // get_linear_schedule_with_warmup
      return std::max(0.0, (total - step) / std::max(1.0, total - warmup));
    case LrSchedulerKind::kCosine: {  // get_cosine_schedule_with_warmup
      const double progress = (step - warmup) / std::max(1.0, total - warmup);
      return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * num_cycles * 2.0 * progress)));
    }
    case LrSchedulerKind::kConstant:
      break;
  }
  return 1.0;
}

int64_t compute_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps) {
  if (warmup_steps > 0) return warmup_steps;
  return static_cast<int64_t>(std::ceil(static_cast<double>(total_steps) * warmup_ratio));
}

}  // namespace ftune
