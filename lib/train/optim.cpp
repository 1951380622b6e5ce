// Optimizer construction and per-step helpers.
#include "lib/train/optim.h"

#include <set>

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

double clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm) {
  if (max_norm > 0.0) return torch::nn::utils::clip_grad_norm_(parameters, max_norm);
  std::vector<at::Tensor> norms;
  for (const auto& p : parameters) {
    if (p.grad().defined()) norms.push_back(p.grad().detach().norm(2));
  }
  if (norms.empty()) return 0.0;
  return torch::stack(norms).norm(2).item<double>();
}

}  // namespace ftune
