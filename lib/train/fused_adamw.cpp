// Compiled with -fno-math-errno, so that sqrtf may be the vector instruction, and -fopenmp, so
// that at::parallel_for uses the threads (lib/train/CMakeLists.txt).
#include "lib/train/fused_adamw.h"

#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>

#include <ATen/Parallel.h>
#include <torch/torch.h>

namespace ftune {

namespace {

// One clone per instruction set, picked when the program loads: the loop is memory-bound at
// AVX2 width, but a baseline x86-64 build would do sqrt and division four floats at a time.
__attribute__((target_clones("avx512f", "avx2", "default"))) void adamw_span(
    float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
    int64_t n, AdamWCoefficients c) {
  for (int64_t i = 0; i < n; ++i) {
    // AdamW::step's order: p.mul_(decay); exp_avg.mul_(beta1).add_(grad, 1 - beta1);
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
    // denom = (exp_avg_sq.sqrt() / sqrt(bias_correction2)).add_(eps);
    // p.addcdiv_(exp_avg, denom, -step_size), addcdiv being p + value * t1 / t2.
    const float gi = g[i];
    const float mi = m[i] * c.beta1 + c.one_minus_beta1 * gi;
    const float vi = v[i] * c.beta2 + c.one_minus_beta2 * gi * gi;
    const float denom = std::sqrt(vi) / c.sqrt_bias_correction2 + c.eps;
    p[i] = p[i] * c.decay + c.neg_step_size * mi / denom;
    m[i] = mi;
    v[i] = vi;
  }
}

bool fusable_tensor(const torch::Tensor& t) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == torch::kFloat &&
         t.is_contiguous() && !t.is_sparse();
}

// The optimizer state map's key: the TensorImpl's address as a string in LibTorch 1.13, the
// address itself from 2.0 on; AdamW::step and torch::save use the same keys.
template <typename Key>
Key state_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream key;  // what c10::guts::to_string made of the pointer in 1.13
    key << static_cast<const void*>(p.unsafeGetTensorImpl());
    return key.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

}  // namespace

void adamw_update(float* p, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                  const AdamWCoefficients& c) {
  // 16K floats per task: a parameter this small is not worth waking a second thread for.
  at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
    adamw_span(p + begin, grad + begin, exp_avg + begin, exp_avg_sq + begin, end - begin, c);
  });
}

bool FusedAdamW::fusable() const {
  for (const auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    if (options.amsgrad()) return false;
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      if (!fusable_tensor(p) || !fusable_tensor(p.grad())) return false;
    }
  }
  return true;
}

torch::optim::AdamWParamState& FusedAdamW::state_of(const torch::Tensor& p) {
  const auto key = state_key<typename std::decay_t<decltype(state_)>::key_type>(p);
  auto found = state_.find(key);
  if (found == state_.end()) {
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(0);
    state->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    state->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    found = state_.emplace(key, std::move(state)).first;
  }
  return static_cast<torch::optim::AdamWParamState&>(*found->second);
}

torch::Tensor FusedAdamW::step(LossClosure closure) {
  if (!fusable()) return torch::optim::AdamW::step(std::move(closure));
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& options = static_cast<const torch::optim::AdamWOptions&>(group.options());
    const auto [beta1, beta2] = options.betas();
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& state = state_of(p);
      state.step(state.step() + 1);
      auto& exp_avg = state.exp_avg();
      auto& exp_avg_sq = state.exp_avg_sq();
      TORCH_CHECK(fusable_tensor(exp_avg) && fusable_tensor(exp_avg_sq),
                  "AdamW state of a float32 CPU parameter is not float32, contiguous and on the "
                  "CPU");
      const double bias_correction1 = 1 - std::pow(beta1, state.step());
      const double bias_correction2 = 1 - std::pow(beta2, state.step());
      const AdamWCoefficients c{static_cast<float>(1 - options.lr() * options.weight_decay()),
                                static_cast<float>(beta1),
                                static_cast<float>(1 - beta1),
                                static_cast<float>(beta2),
                                static_cast<float>(1 - beta2),
                                static_cast<float>(std::sqrt(bias_correction2)),
                                static_cast<float>(options.eps()),
                                static_cast<float>(-options.lr() / bias_correction1)};
      adamw_update(p.data_ptr<float>(),
                   p.grad().data_ptr<float>(),
                   exp_avg.data_ptr<float>(),
                   exp_avg_sq.data_ptr<float>(),
                   p.numel(),
                   c);
    }
  }
  return loss;
}

}  // namespace ftune
