// Dynamic loss scaling, following torch/cuda/amp/grad_scaler.py (scale, unscale_, update) and
// the update rule of aten/src/ATen/native/cuda/AmpKernels.cu (_amp_update_scale_). Written with
// plain tensor ops so that it runs on CPU with LibTorch 1.13 and on CUDA with 2.x alike.
#include "lib/train/loss_scaler.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace {

void check_options(const LossScalerOptions& options) {
  auto fail = [](const std::string& name, const std::string& expected, double got) {
    throw ConfigError(
        fmt::format("loss scaler: option '{}': expected {}, got {}", name, expected, got));
  };
  if (!(options.init_scale > 0.0) || !std::isfinite(options.init_scale)) {
    fail("init_scale", "a positive finite number", options.init_scale);
  }
  if (!(options.growth_factor > 1.0) || !std::isfinite(options.growth_factor)) {
    fail("growth_factor", "a finite number > 1", options.growth_factor);
  }
  if (!(options.backoff_factor > 0.0 && options.backoff_factor < 1.0)) {
    fail("backoff_factor", "a number in (0, 1)", options.backoff_factor);
  }
  if (options.growth_interval < 1) {
    fail("growth_interval", "an integer >= 1", static_cast<double>(options.growth_interval));
  }
}

// state[key] as a number, or CheckpointError naming the key.
double read_number(const nlohmann::json& state, const char* key) {
  if (!state.is_object() || !state.contains(key) || !state[key].is_number()) {
    throw CheckpointError(fmt::format(
        "restoring loss scaler: key '{}': expected a number, got {}; hint: the checkpoint's "
        "loss scaler state must come from LossScaler::to_json()",
        key,
        state.is_object() && state.contains(key) ? quote_json_value(state[key]) : "nothing"));
  }
  return state[key].get<double>();
}

}  // namespace

LossScaler::LossScaler(LossScalerOptions options) : options_(options), scale_(options.init_scale) {
  check_options(options_);
}

at::Tensor LossScaler::scale(const at::Tensor& loss) const {
  if (!options_.enabled) return loss;
  return loss * scale_;
}

bool LossScaler::unscale(const std::vector<at::Tensor>& parameters) {
  if (!options_.enabled) return true;
  if (unscaled_since_update_) {
    throw std::logic_error(
        "LossScaler::unscale called twice without update(): the gradients would be divided by "
        "the scale twice; call update() after every optimizer step (or skipped step)");
  }
  unscaled_since_update_ = true;

  // One all-finite flag per gradient stays on its device; a single .item() reads them together.
  std::vector<at::Tensor> finite_flags;
  finite_flags.reserve(parameters.size());
  for (const auto& parameter : parameters) {
    at::Tensor grad = parameter.grad();
    if (!grad.defined()) continue;
    grad.div_(scale_);
    finite_flags.push_back(at::isfinite(grad).all());
  }
  if (finite_flags.empty()) return true;
  const auto device = finite_flags.front().device();
  for (auto& flag : finite_flags) flag = flag.to(device);
  return at::stack(finite_flags).all().item<bool>();
}

void LossScaler::update(bool grads_finite) {
  if (!options_.enabled) return;
  unscaled_since_update_ = false;
  if (!grads_finite) {
    scale_ *= options_.backoff_factor;
    growth_tracker_ = 0;
    return;
  }
  growth_tracker_ += 1;
  if (growth_tracker_ == options_.growth_interval) {
    const double grown = scale_ * options_.growth_factor;
    if (std::isfinite(grown)) scale_ = grown;
    growth_tracker_ = 0;
  }
}

nlohmann::json LossScaler::to_json() const {
  return {{"scale", scale_},
          {"growth_tracker", growth_tracker_},
          {"growth_factor", options_.growth_factor},
          {"backoff_factor", options_.backoff_factor},
          {"growth_interval", options_.growth_interval},
          {"enabled", options_.enabled}};
}

void LossScaler::restore(const nlohmann::json& state) {
  LossScalerOptions restored = options_;
  const double scale = read_number(state, "scale");
  const double tracker = read_number(state, "growth_tracker");
  restored.growth_factor = read_number(state, "growth_factor");
  restored.backoff_factor = read_number(state, "backoff_factor");
  restored.growth_interval = static_cast<int64_t>(read_number(state, "growth_interval"));
  restored.init_scale = scale;
  try {
    check_options(restored);
  } catch (const ConfigError& error) {
    throw CheckpointError(fmt::format("restoring loss scaler: {}", error.what()));
  }
  if (tracker < 0 || tracker >= static_cast<double>(restored.growth_interval) ||
      tracker != std::floor(tracker)) {
    throw CheckpointError(fmt::format(
        "restoring loss scaler: key 'growth_tracker': expected an integer in [0, {}), got {}",
        restored.growth_interval,
        tracker));
  }
  options_.growth_factor = restored.growth_factor;
  options_.backoff_factor = restored.backoff_factor;
  options_.growth_interval = restored.growth_interval;
  scale_ = scale;
  growth_tracker_ = static_cast<int64_t>(tracker);
  unscaled_since_update_ = false;
}

}  // namespace ftune
