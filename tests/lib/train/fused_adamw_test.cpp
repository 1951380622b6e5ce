// FusedAdamW against LibTorch's own AdamW (the reference whose state it shares): same parameters,
// gradients and settings, several steps, two parameter groups (with and without weight decay).
#include "lib/train/fused_adamw.h"

#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace ftune {
namespace {

struct Setup {
  std::vector<torch::Tensor> decay, no_decay;
};

Setup make_parameters(torch::Dtype dtype = torch::kFloat) {
  torch::manual_seed(3);
  Setup s;
  // 70,000 elements: more than one 16K-element task, so the threads split it.
  s.decay = {torch::randn({350, 200}, dtype).requires_grad_(),
             torch::randn({7}, dtype).requires_grad_()};
  s.no_decay = {torch::randn({33}, dtype).requires_grad_()};
  return s;
}

template <typename Optimizer>
std::unique_ptr<Optimizer> make(const Setup& s) {
  auto options = [](double wd) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(3e-3).betas({0.9, 0.98}).eps(1e-6).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(s.decay, options(0.05));
  groups.emplace_back(s.no_decay, options(0.0));
  return std::make_unique<Optimizer>(std::move(groups), torch::optim::AdamWOptions(3e-3));
}

// The same gradients for both optimizers at each step: a fixed function of the step.
void set_gradients(const Setup& s, int step) {
  torch::manual_seed(100 + step);
  for (const auto* group : {&s.decay, &s.no_decay}) {
    for (auto p : *group) p.mutable_grad() = torch::randn_like(p) * (step + 1);
  }
}

void expect_close(const torch::Tensor& a, const torch::Tensor& b, const std::string& what) {
  EXPECT_TRUE(torch::allclose(a, b, /*rtol=*/1e-5, /*atol=*/1e-7))
      << what << ": max difference " << (a - b).abs().max().item<double>();
}

TEST(FusedAdamW, FiveStepsEqualLibTorchsAdamW) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  auto a = make_parameters();
  auto b = make_parameters();
  auto fused = make<FusedAdamW>(a);
  auto reference = make<torch::optim::AdamW>(b);
  for (int step = 0; step < 5; ++step) {
    set_gradients(a, step);
    set_gradients(b, step);
    fused->step();
    reference->step();
  }
  for (size_t i = 0; i < a.decay.size(); ++i) {
    expect_close(a.decay[i], b.decay[i], "decayed parameter " + std::to_string(i));
  }
  expect_close(a.no_decay[0], b.no_decay[0], "undecayed parameter");
  // The weights moved: the comparison is not between two untouched copies.
  EXPECT_GT((a.decay[0] - make_parameters().decay[0]).abs().max().item<double>(), 1e-3);
  at::set_num_threads(threads);
}

TEST(FusedAdamW, StateIsLibTorchsAdamWStateBothWays) {
  // optimizer.pt written by one loads into the other and the next step agrees: resuming a run
  // saved before the fused step (or by it) works unchanged.
  auto a = make_parameters();
  auto b = make_parameters();
  auto fused = make<FusedAdamW>(a);
  for (int step = 0; step < 3; ++step) {
    set_gradients(a, step);
    fused->step();
  }
  std::stringstream saved;
  torch::save(*fused, saved);
  for (size_t i = 0; i < a.decay.size(); ++i) b.decay[i].data().copy_(a.decay[i].data());
  b.no_decay[0].data().copy_(a.no_decay[0].data());
  auto reference = make<torch::optim::AdamW>(b);
  torch::load(*reference, saved);
  set_gradients(a, 3);
  set_gradients(b, 3);
  fused->step();
  reference->step();
  expect_close(a.decay[0], b.decay[0], "parameter after the restored step");
}

TEST(FusedAdamW, ParametersWithoutGradientsAreSkipped) {
  auto a = make_parameters();
  const auto before = a.no_decay[0].detach().clone();
  auto fused = make<FusedAdamW>(a);
  set_gradients(a, 0);
  a.no_decay[0].mutable_grad() = torch::Tensor();
  fused->step();
  EXPECT_TRUE(torch::equal(a.no_decay[0].detach(), before));
}

TEST(FusedAdamW, DoubleParametersTakeLibTorchsStep) {
  auto a = make_parameters(torch::kDouble);
  auto b = make_parameters(torch::kDouble);
  auto fused = make<FusedAdamW>(a);
  auto reference = make<torch::optim::AdamW>(b);
  set_gradients(a, 0);
  set_gradients(b, 0);
  fused->step();
  reference->step();
  EXPECT_TRUE(torch::equal(a.decay[0], b.decay[0]));
}

TEST(FusedAdamW, UpdateOfOneElementIsTheAdamWFormula) {
  // Written out by hand in double precision for step 1: m = (1 - b1) g, v = (1 - b2) g^2,
  // p' = p (1 - lr wd) - lr / (1 - b1) * m / (sqrt(v) / sqrt(1 - b2) + eps).
  float p = 0.5f, g = -0.25f, m = 0.0f, v = 0.0f;
  const double lr = 1e-2, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8;
  const AdamWCoefficients c{static_cast<float>(1 - lr * wd),
                            static_cast<float>(b1),
                            static_cast<float>(1 - b1),
                            static_cast<float>(b2),
                            static_cast<float>(1 - b2),
                            static_cast<float>(std::sqrt(1 - b2)),
                            static_cast<float>(eps),
                            static_cast<float>(-lr / (1 - b1))};
  adamw_update(&p, &g, &m, &v, 1, c);
  const double m_ref = (1 - b1) * -0.25;
  const double v_ref = (1 - b2) * 0.0625;
  const double p_ref =
      0.5 * (1 - lr * wd) - lr / (1 - b1) * m_ref / (std::sqrt(v_ref) / std::sqrt(1 - b2) + eps);
  EXPECT_NEAR(m, m_ref, 1e-8);
  EXPECT_NEAR(v, v_ref, 1e-9);
  EXPECT_NEAR(p, p_ref, 1e-6);
}

}  // namespace
}  // namespace ftune
