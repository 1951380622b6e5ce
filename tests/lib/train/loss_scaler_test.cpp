// LossScaler against GradScaler's semantics, with real autograd through a tiny Linear: loss
// scaling, exact unscaling, the skipped step on inf/NaN, backoff, growth, checkpoint round trip.
#include "lib/train/loss_scaler.h"

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "util/error.h"

namespace ftune {
namespace {

struct TinyRegression {
  torch::nn::Linear linear{nullptr};
  torch::Tensor x, y;

  explicit TinyRegression(double input_magnitude = 1.0) {
    torch::manual_seed(7);
    linear = torch::nn::Linear(torch::nn::LinearOptions(4, 2));
    x = torch::randn({8, 4}) * input_magnitude;  // (B, 4)
    y = torch::randn({8, 2});                    // (B, 2)
  }
  torch::Tensor loss() { return torch::mse_loss(linear(x), y); }
  std::vector<torch::Tensor> parameters() { return linear->parameters(); }
  void zero_grad() {
    for (auto& p : linear->parameters()) {
      if (p.grad().defined()) p.mutable_grad().zero_();
    }
  }
  std::vector<torch::Tensor> grads() {
    std::vector<torch::Tensor> out;
    for (auto& p : linear->parameters()) out.push_back(p.grad().clone());
    return out;
  }
};

LossScalerOptions options_with(double init_scale, int64_t growth_interval) {
  LossScalerOptions options;
  options.init_scale = init_scale;
  options.growth_interval = growth_interval;
  return options;
}

TEST(LossScaler, DefaultsAreGradScalers) {
  LossScaler scaler;
  EXPECT_TRUE(scaler.enabled());
  EXPECT_EQ(scaler.current_scale(), 65536.0);
  auto state = scaler.to_json();
  EXPECT_EQ(state["growth_factor"].get<double>(), 2.0);
  EXPECT_EQ(state["backoff_factor"].get<double>(), 0.5);
  EXPECT_EQ(state["growth_interval"].get<int64_t>(), 2000);
  EXPECT_EQ(state["growth_tracker"].get<int64_t>(), 0);
}

TEST(LossScaler, ScaleMultipliesTheLossByTheCurrentScale) {
  LossScaler scaler(options_with(1024.0, 10));
  auto loss = torch::tensor(0.75f);
  auto scaled = scaler.scale(loss);
  EXPECT_EQ(scaled.item<float>(), 768.0f);
  EXPECT_EQ(scaled.scalar_type(), torch::kFloat);
}

TEST(LossScaler, UnscaleDividesTheGradientsExactly) {
  TinyRegression model;
  model.loss().backward();
  auto reference = model.grads();

  model.zero_grad();
  LossScaler scaler(options_with(65536.0, 10));  // a power of two: scaling is exact in float32
  scaler.scale(model.loss()).backward();
  auto scaled = model.grads();
  for (size_t i = 0; i < scaled.size(); ++i) {
    EXPECT_FALSE(torch::equal(scaled[i], reference[i])) << "parameter " << i;
  }
  EXPECT_TRUE(scaler.unscale(model.parameters()));
  auto unscaled = model.grads();
  for (size_t i = 0; i < unscaled.size(); ++i) {
    EXPECT_TRUE(torch::equal(unscaled[i], reference[i])) << "parameter " << i;
  }
}

TEST(LossScaler, UnscaleDividesInPlaceByANonPowerOfTwoScale) {
  TinyRegression model;
  LossScaler scaler(options_with(3.0, 10));
  scaler.scale(model.loss()).backward();
  auto before = model.grads();
  EXPECT_TRUE(scaler.unscale(model.parameters()));
  auto after = model.grads();
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(torch::equal(after[i], before[i] / 3.0)) << "parameter " << i;
  }
}

TEST(LossScaler, OverflowingGradientsSkipTheStepAndBackOff) {
  TinyRegression model(/*input_magnitude=*/1e4);
  LossScaler scaler(options_with(1e36, 10));  // loss * scale overflows float32 in backward
  torch::optim::SGD optimizer(model.parameters(), torch::optim::SGDOptions(0.1));
  auto weight_before = model.linear->weight.detach().clone();

  optimizer.zero_grad();
  scaler.scale(model.loss()).backward();
  const bool finite = scaler.unscale(model.parameters());
  EXPECT_FALSE(finite);
  if (finite) optimizer.step();  // the trainer's pattern: an overflowed step is skipped
  scaler.update(finite);

  EXPECT_TRUE(torch::equal(model.linear->weight.detach(), weight_before));
  EXPECT_EQ(scaler.current_scale(), 0.5e36);
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(LossScaler, NanGradientsAreReportedAsNonFinite) {
  TinyRegression model;
  model.x[3][1] = std::numeric_limits<float>::quiet_NaN();
  LossScaler scaler(options_with(256.0, 10));
  scaler.scale(model.loss()).backward();
  EXPECT_FALSE(scaler.unscale(model.parameters()));
  scaler.update(false);
  EXPECT_EQ(scaler.current_scale(), 128.0);
}

TEST(LossScaler, FiniteStepRunsTheOptimizerAndKeepsTheScale) {
  TinyRegression model;
  LossScaler scaler(options_with(1024.0, 10));
  torch::optim::SGD optimizer(model.parameters(), torch::optim::SGDOptions(0.1));
  auto weight_before = model.linear->weight.detach().clone();
  scaler.scale(model.loss()).backward();
  const bool finite = scaler.unscale(model.parameters());
  ASSERT_TRUE(finite);
  optimizer.step();
  scaler.update(finite);
  EXPECT_FALSE(torch::equal(model.linear->weight.detach(), weight_before));
  EXPECT_EQ(scaler.current_scale(), 1024.0);
  EXPECT_EQ(scaler.growth_tracker(), 1);
}

TEST(LossScaler, GrowsAfterGrowthIntervalConsecutiveGoodSteps) {
  LossScaler scaler(options_with(8.0, 3));
  scaler.update(true);
  scaler.update(true);
  EXPECT_EQ(scaler.current_scale(), 8.0);
  EXPECT_EQ(scaler.growth_tracker(), 2);
  scaler.update(true);
  EXPECT_EQ(scaler.current_scale(), 16.0);
  EXPECT_EQ(scaler.growth_tracker(), 0);
}

TEST(LossScaler, BackoffRestartsTheRunOfGoodSteps) {
  LossScaler scaler(options_with(8.0, 3));
  scaler.update(true);
  scaler.update(true);
  scaler.update(false);
  EXPECT_EQ(scaler.current_scale(), 4.0);
  scaler.update(true);
  scaler.update(true);
  EXPECT_EQ(scaler.current_scale(), 4.0);  // two good steps since the backoff, not four
  scaler.update(true);
  EXPECT_EQ(scaler.current_scale(), 8.0);
}

TEST(LossScaler, GrowthNeverOverflowsTheScaleToInfinity) {
  LossScaler scaler(options_with(std::numeric_limits<double>::max() / 1.5, 1));
  scaler.update(true);
  EXPECT_TRUE(std::isfinite(scaler.current_scale()));
  EXPECT_EQ(scaler.current_scale(), std::numeric_limits<double>::max() / 1.5);
}

TEST(LossScaler, DisabledScalerIsTheIdentity) {
  LossScalerOptions options;
  options.enabled = false;
  LossScaler scaler(options);
  EXPECT_FALSE(scaler.enabled());

  TinyRegression model;
  auto loss = model.loss();
  auto scaled = scaler.scale(loss);
  EXPECT_TRUE(scaled.is_same(loss));
  scaled.backward();
  auto before = model.grads();
  model.linear->weight.mutable_grad()[0][0] = std::numeric_limits<float>::infinity();
  before[0][0][0] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(scaler.unscale(model.parameters()));  // always true, grads untouched
  EXPECT_TRUE(scaler.unscale(model.parameters()));  // and no once-per-step bookkeeping
  auto after = model.grads();
  for (size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(torch::equal(after[i], before[i]));
  scaler.update(false);
  EXPECT_EQ(scaler.current_scale(), 65536.0);
}

TEST(LossScaler, UnscaleTwiceBeforeUpdateThrows) {
  TinyRegression model;
  LossScaler scaler;
  scaler.scale(model.loss()).backward();
  EXPECT_TRUE(scaler.unscale(model.parameters()));
  EXPECT_THROW(scaler.unscale(model.parameters()), std::logic_error);
  scaler.update(true);
  model.zero_grad();
  scaler.scale(model.loss()).backward();
  EXPECT_TRUE(scaler.unscale(model.parameters()));
}

TEST(LossScaler, ParametersWithoutGradientsAreSkipped) {
  LossScaler scaler;
  std::vector<torch::Tensor> parameters{torch::zeros({3}, torch::requires_grad())};
  EXPECT_TRUE(scaler.unscale(parameters));
}

TEST(LossScaler, JsonRoundTripRestoresScaleAndProgress) {
  LossScalerOptions options = options_with(1024.0, 4);
  options.growth_factor = 4.0;
  options.backoff_factor = 0.25;
  LossScaler original(options);
  original.update(false);  // 256
  original.update(true);
  original.update(true);

  LossScaler restored;  // defaults everywhere, then the checkpoint's state
  restored.restore(original.to_json());
  EXPECT_EQ(restored.to_json(), original.to_json());
  EXPECT_EQ(restored.current_scale(), 256.0);
  EXPECT_EQ(restored.growth_tracker(), 2);
  restored.update(true);
  restored.update(true);
  EXPECT_EQ(restored.current_scale(), 1024.0);  // growth_factor 4 came back too
}

TEST(LossScaler, RestoreNamesTheMissingOrInvalidKey) {
  LossScaler scaler;
  auto state = scaler.to_json();
  state.erase("scale");
  try {
    scaler.restore(state);
    FAIL() << "expected CheckpointError";
  } catch (const CheckpointError& error) {
    EXPECT_NE(std::string(error.what()).find("'scale'"), std::string::npos) << error.what();
  }
  auto negative = scaler.to_json();
  negative["scale"] = -1.0;
  EXPECT_THROW(scaler.restore(negative), CheckpointError);
  auto tracker_too_large = scaler.to_json();
  tracker_too_large["growth_tracker"] = 2000;
  EXPECT_THROW(scaler.restore(tracker_too_large), CheckpointError);
  EXPECT_EQ(scaler.current_scale(), 65536.0);  // a failed restore changes nothing
}

TEST(LossScaler, RejectsInvalidOptions) {
  auto with = [](auto change) {
    LossScalerOptions options;
    change(options);
    return options;
  };
  EXPECT_THROW(LossScaler(with([](auto& o) { o.init_scale = 0.0; })), ConfigError);
  EXPECT_THROW(LossScaler(with([](auto& o) { o.growth_factor = 1.0; })), ConfigError);
  EXPECT_THROW(LossScaler(with([](auto& o) { o.backoff_factor = 1.0; })), ConfigError);
  EXPECT_THROW(LossScaler(with([](auto& o) { o.growth_interval = 0; })), ConfigError);
}

}  // namespace
}  // namespace ftune
