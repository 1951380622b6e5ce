// Optimizer construction and per-step helpers.
#include "lib/train/optim.h"

#include <cmath>
#include <functional>
#include <set>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "lib/train/fused_adamw.h"

namespace ftune {

ParameterGroups split_decay_groups(const torch::nn::Module& model) {
  std::set<std::string> layer_norm_params;
  for (const auto& item : model.named_modules(/*name_prefix=*/"", /*include_self=*/true)) {
    if (item.value()->as<torch::nn::LayerNormImpl>() == nullptr) continue;
    for (const auto& param : item.value()->named_parameters(/*recurse=*/false)) {
      layer_norm_params.insert(item.key().empty() ? param.key() : item.key() + "." + param.key());
    }
  }
  ParameterGroups groups;
  for (const auto& param : model.named_parameters(/*recurse=*/true)) {
    const std::string& name = param.key();
    const bool decays =
        layer_norm_params.count(name) == 0 && name.find("bias") == std::string::npos;
    (decays ? groups.decay_names : groups.no_decay_names).push_back(name);
  }
  return groups;
}

std::unique_ptr<torch::optim::AdamW> make_adamw(const torch::nn::Module& model,
                                                const AdamWSettings& settings) {
  auto groups = split_decay_groups(model);
  auto params = model.named_parameters(/*recurse=*/true);
  auto options_for = [&](double weight_decay) {
    return std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(settings.lr)
                                                            .betas({settings.beta1, settings.beta2})
                                                            .eps(settings.epsilon)
                                                            .weight_decay(weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> param_groups;
  for (const auto& [names, decay] :
       {std::pair{&groups.decay_names, settings.weight_decay}, {&groups.no_decay_names, 0.0}}) {
    std::vector<at::Tensor> tensors;
    for (const auto& name : *names) tensors.push_back(params[name]);
    param_groups.emplace_back(tensors, options_for(decay));
  }
  return std::make_unique<FusedAdamW>(std::move(param_groups),
                                      torch::optim::AdamWOptions(settings.lr));
}

void clear_gradients(torch::optim::Optimizer& optimizer) {
  for (auto& group : optimizer.param_groups()) {
    for (auto& p : group.params()) {
      if (p.grad().defined()) p.mutable_grad() = at::Tensor();
    }
  }
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  }
}

namespace {

bool float32_on_cpu(const std::vector<at::Tensor>& tensors) {
  for (const auto& t : tensors) {
    if (!t.device().is_cpu() || t.scalar_type() != at::kFloat || !t.is_contiguous()) return false;
  }
  return true;
}

double sum_of_squares(const float* values, int64_t n) {
  return at::parallel_reduce(
      0,
      n,
      16384,
      0.0,
      [&](int64_t begin, int64_t end, double partial) {
        for (int64_t i = begin; i < end; ++i) partial += double(values[i]) * values[i];
        return partial;
      },
      std::plus<double>());
}

}  // namespace

double clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm) {
  std::vector<at::Tensor> grads;
  for (const auto& p : parameters) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  if (grads.empty()) return 0.0;
  if (!float32_on_cpu(grads)) {
    if (max_norm > 0.0) return torch::nn::utils::clip_grad_norm_(parameters, max_norm);
    std::vector<at::Tensor> norms;
    for (const auto& g : grads) norms.push_back(g.detach().norm(2));
    return torch::stack(norms).norm(2).item<double>();
  }
  // On the CPU: one threaded pass over each gradient for the norm (summed in double) and, when
  // clipping, one to scale it, instead of clip_grad_norm_'s per-parameter norm, stack, norm and
  // mul_ (two ops per parameter, on one thread each for the small ones; bench/README.md,
  // "Threads"). Same result: norm = sqrt(sum of squares), coefficient max_norm / (norm + 1e-6)
  // clamped to 1, and a coefficient of 1 leaves the gradients as they are.
  torch::NoGradGuard no_grad;
  double total = 0.0;
  for (const auto& g : grads) total += sum_of_squares(g.data_ptr<float>(), g.numel());
  const double norm = std::sqrt(total);
  const double coefficient = max_norm / (norm + 1e-6);
  if (max_norm > 0.0 && !(coefficient >= 1.0)) {  // NaN too: clip_grad_norm_ multiplies by it
    const auto scale = static_cast<float>(coefficient);
    for (auto& g : grads) {
      float* values = g.data_ptr<float>();
      at::parallel_for(0, g.numel(), 16384, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) values[i] *= scale;
      });
    }
  }
  return norm;
}

}  // namespace ftune
