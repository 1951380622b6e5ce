// clear_gradients: optimizer.zero_grad(set_to_none=True).
#include "lib/train/optim.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace ftune {
namespace {

std::vector<torch::Tensor> parameters_with_gradients(double gradient_scale) {
  torch::manual_seed(4);
  std::vector<torch::Tensor> params = {torch::randn({350, 200}).requires_grad_(),
                                       torch::randn({13}).requires_grad_()};
  for (auto& p : params) p.mutable_grad() = torch::randn_like(p) * gradient_scale;
  return params;
}

TEST(ClearGradients, LeavesEveryParameterWithoutAGradient) {
  auto params = parameters_with_gradients(1.0);
  torch::optim::SGD optimizer(params, torch::optim::SGDOptions(0.1));
  clear_gradients(optimizer);
  for (const auto& p : params) EXPECT_FALSE(p.grad().defined());
}

}  // namespace
}  // namespace ftune
