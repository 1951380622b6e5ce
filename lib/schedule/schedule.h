// Learning-rate schedules exactly as Hugging Face defines them (transformers optimization.py:
// get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup, get_constant_schedule,
// get_constant_schedule_with_warmup). No LibTorch: pure arithmetic, tested against the formulas.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ftune {

enum class LrSchedulerKind { kLinear, kCosine, kConstant, kConstantWithWarmup };

std::optional<LrSchedulerKind> parse_lr_scheduler(std::string_view name);
std::string lr_scheduler_name(LrSchedulerKind kind);

struct LrSchedule {
  LrSchedulerKind kind = LrSchedulerKind::kLinear;
  double lr_peak = 5e-5;
  int64_t warmup_steps = 0;
  int64_t total_steps = 1;
  double num_cycles = 0.5;  // cosine: half a cosine wave, from the peak to 0

  // The multiplier Hugging Face's lr_lambda gives after `completed` optimizer steps.
  double compute_factor(int64_t completed) const;
  // The rate optimizer step `step` (1-based) runs with: lr_peak * factor(step - 1). Step 1 of
  // a warmup therefore runs at 0, as in Hugging Face.
  double compute_lr(int64_t step) const { return lr_peak * compute_factor(step - 1); }
};

// Trainer's get_warmup_steps: an explicit count wins, else ceil(ratio * total_steps).
int64_t compute_warmup_steps(int64_t warmup_steps, double warmup_ratio, int64_t total_steps);

}  // namespace ftune
