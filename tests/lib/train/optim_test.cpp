// clip_gradients against LibTorch's clip_grad_norm_ (the reference of Trainer's clipping), with
// the clipping active and inactive, and clear_gradients.
#include "lib/train/optim.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace ftune {
namespace {

std::vector<torch::Tensor> parameters_with_gradients(double gradient_scale) {
  torch::manual_seed(4);
  // 70,000 elements: the threads split the big one.
  std::vector<torch::Tensor> params = {torch::randn({350, 200}).requires_grad_(),
                                       torch::randn({13}).requires_grad_(),
                                       torch::randn({5, 3}).requires_grad_()};
  for (auto& p : params) p.mutable_grad() = torch::randn_like(p) * gradient_scale;
  return params;
}

std::vector<torch::Tensor> copies(const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> out;
  for (const auto& p : params) {
    auto c = p.detach().clone().requires_grad_();
    c.mutable_grad() = p.grad().clone();
    out.push_back(c);
  }
  return out;
}

void expect_same_clipping(double max_norm) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  auto ours = parameters_with_gradients(0.01);
  auto reference = copies(ours);
  const double norm = clip_gradients(ours, max_norm);
  const double reference_norm = torch::nn::utils::clip_grad_norm_(reference, max_norm);
  EXPECT_NEAR(norm, reference_norm, 1e-6 * reference_norm);
  for (size_t i = 0; i < ours.size(); ++i) {
    EXPECT_TRUE(torch::allclose(ours[i].grad(), reference[i].grad(), 1e-6, 1e-9))
        << "gradient " << i << " with max_norm " << max_norm;
  }
  at::set_num_threads(threads);
}

TEST(ClipGradients, ClippingActiveEqualsClipGradNorm) {
  // The gradients' norm is about 0.01 * sqrt(70,028) = 2.6: clipped to 0.5.
  expect_same_clipping(0.5);
}

TEST(ClipGradients, ClippingInactiveEqualsClipGradNorm) { expect_same_clipping(100.0); }

TEST(ClipGradients, ZeroMaxNormOnlyMeasures) {
  auto params = parameters_with_gradients(0.01);
  const auto before = params[0].grad().clone();
  const double norm = clip_gradients(params, 0.0);
  double expected = 0.0;
  for (const auto& p : params) expected += p.grad().to(torch::kDouble).pow(2).sum().item<double>();
  EXPECT_NEAR(norm, std::sqrt(expected), 1e-9 * norm);
  EXPECT_TRUE(torch::equal(params[0].grad(), before));
}

TEST(ClearGradients, LeavesEveryParameterWithoutAGradient) {
  auto params = parameters_with_gradients(1.0);
  torch::optim::SGD optimizer(params, torch::optim::SGDOptions(0.1));
  clear_gradients(optimizer);
  for (const auto& p : params) EXPECT_FALSE(p.grad().defined());
}

}  // namespace
}  // namespace ftune
