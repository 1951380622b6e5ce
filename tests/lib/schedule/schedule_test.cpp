// Learning-rate schedules against values worked out by hand from transformers' formulas.
#include "lib/schedule/schedule.h"

#include <cmath>

#include <gtest/gtest.h>

namespace ftune {
namespace {

std::vector<double> rates(LrSchedulerKind kind, int64_t warmup, int64_t total, double peak = 1.0) {
  LrSchedule schedule{kind, peak, warmup, total};
  std::vector<double> out;
  for (int64_t step = 1; step <= total; ++step) out.push_back(schedule.compute_lr(step));
  return out;
}

void expect_rates(const std::vector<double>& actual, const std::vector<double>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    EXPECT_NEAR(actual[i], expected[i], 1e-12) << "step " << i + 1;
  }
}

TEST(LrSchedule, LinearWarmsUpFromZeroThenDecaysToZero) {
  // get_linear_schedule_with_warmup(warmup=2, total=6): the fixture's lr column / 1e-3.
  expect_rates(rates(LrSchedulerKind::kLinear, 2, 6), {0.0, 0.5, 1.0, 0.75, 0.5, 0.25});
}

TEST(LrSchedule, LinearWithoutWarmupStartsAtThePeak) {
  expect_rates(rates(LrSchedulerKind::kLinear, 0, 4, 2e-5), {2e-5, 1.5e-5, 1e-5, 0.5e-5});
}

TEST(LrSchedule, CosineFollowsHalfAWaveAfterWarmup) {
  // warmup 2, total 10: step k (1-based) uses progress (k-1-2)/8 after warmup.
  std::vector<double> expected = {0.0, 0.5};
  for (int k = 3; k <= 10; ++k) {
    expected.push_back(0.5 * (1.0 + std::cos(M_PI * (k - 3) / 8.0)));
  }
  const auto actual = rates(LrSchedulerKind::kCosine, 2, 10);
  expect_rates(actual, expected);
  // Literal anchors, independent of the formula above: step 3 is the peak, step 7 (progress
  // 0.5) half of it, step 10 0.5 * (1 + cos(7 pi / 8)).
  EXPECT_NEAR(actual[2], 1.0, 1e-12);
  EXPECT_NEAR(actual[6], 0.5, 1e-12);
  EXPECT_NEAR(actual[9], 0.038060233744356624, 1e-12);
}

TEST(LrSchedule, ConstantIgnoresWarmup) {
  expect_rates(rates(LrSchedulerKind::kConstant, 3, 4), {1.0, 1.0, 1.0, 1.0});
}

TEST(LrSchedule, ConstantWithWarmupHoldsThePeakAfterWarmup) {
  expect_rates(rates(LrSchedulerKind::kConstantWithWarmup, 4, 6), {0.0, 0.25, 0.5, 0.75, 1.0, 1.0});
}

TEST(LrSchedule, WarmupRatioRoundsUpAndExplicitStepsWin) {
  EXPECT_EQ(compute_warmup_steps(0, 0.1, 95), 10);  // ceil(9.5)
  EXPECT_EQ(compute_warmup_steps(0, 0.1, 100), 10);
  EXPECT_EQ(compute_warmup_steps(7, 0.5, 100), 7);
  EXPECT_EQ(compute_warmup_steps(0, 0.0, 100), 0);
}

TEST(LrSchedule, ParsesTheFourNamesOnly) {
  EXPECT_EQ(parse_lr_scheduler("cosine"), LrSchedulerKind::kCosine);
  EXPECT_EQ(parse_lr_scheduler("constant_with_warmup"), LrSchedulerKind::kConstantWithWarmup);
  EXPECT_FALSE(parse_lr_scheduler("polynomial").has_value());
}

}  // namespace
}  // namespace ftune
