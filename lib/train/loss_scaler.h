// Dynamic loss scaling for fp16 training, with the semantics of PyTorch's torch.cuda.amp.GradScaler
// (scale the loss, unscale the gradients, skip the step and back off on inf/NaN, grow after a run
// of good steps). Not an optimizer wrapper: the trainer decides whether to step.
//
//   LossScaler scaler;                        // disabled for fp32/bf16: every call is an identity
//   scaler.scale(loss).backward();
//   bool finite = scaler.unscale(parameters);  // grads are true gradients from here on
//   if (finite) { clip; optimizer.step(); }    // an overflowed step is skipped
//   scaler.update(finite);
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace ftune {

// Defaults are GradScaler's.
struct LossScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;
};

class LossScaler {
 public:
  // ConfigError when init_scale <= 0, growth_factor <= 1, backoff_factor outside (0, 1) or
  // growth_interval < 1.
  explicit LossScaler(LossScalerOptions options = {});

  // loss * scale; the loss itself when disabled.
  at::Tensor scale(const at::Tensor& loss) const;

  // Divides every defined .grad() of `parameters` by the scale, in place, and returns true when all
  // of them are finite. One host sync per call. Disabled: touches nothing and returns true.
  // Call it once per optimizer step, between backward and update; a second call before update()
  // throws std::logic_error (the grads would be divided twice).
  bool unscale(const std::vector<at::Tensor>& parameters);

  // GradScaler.update: non-finite grads -> scale *= backoff_factor and the good-step counter
  // restarts; finite -> the counter grows, and at growth_interval the scale *= growth_factor (kept
  // when that would overflow to inf) and the counter restarts. No-op when disabled.
  void update(bool grads_finite);

  double current_scale() const { return scale_; }
  bool enabled() const { return options_.enabled; }
  int64_t growth_tracker() const { return growth_tracker_; }  // good steps since the last change

  // {"scale", "growth_tracker", "growth_factor", "backoff_factor", "growth_interval", "enabled"}
  // for trainer checkpoints. restore() takes everything but "enabled", which stays as constructed
  // (it follows --precision); CheckpointError when a key is missing or a value is invalid.
  nlohmann::json to_json() const;
  void restore(const nlohmann::json& state);

 private:
  LossScalerOptions options_;
  double scale_;
  int64_t growth_tracker_ = 0;
  bool unscaled_since_update_ = false;
};

}  // namespace ftune
