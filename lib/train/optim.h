// AdamW with Hugging Face Trainer's parameter groups: weight decay on every parameter except
// biases and LayerNorm weights (Trainer.create_optimizer), and gradient-norm clipping.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>
#include <torch/optim/adamw.h>

namespace ftune {

struct AdamWSettings {
  double lr = 5e-5;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
};

struct ParameterGroups {
  std::vector<std::string> decay_names;     // in named_parameters() order
  std::vector<std::string> no_decay_names;  // biases and LayerNorm weights
};

// transformers' get_parameter_names(model, [nn.LayerNorm]) minus names containing "bias".
ParameterGroups split_decay_groups(const torch::nn::Module& model);

// Two groups, in this order: decay (weight_decay), no decay (0.0).
std::unique_ptr<torch::optim::AdamW> make_adamw(const torch::nn::Module& model,
                                                const AdamWSettings& settings);

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// Total L2 norm of all gradients before clipping; clips to max_norm when max_norm > 0 with
// torch.nn.utils.clip_grad_norm_ semantics.
double clip_gradients(const std::vector<at::Tensor>& parameters, double max_norm);

}  // namespace ftune
