// Early stopping with Hugging Face's semantics: patience counts evaluations that fail to beat the
// best by more than the threshold; the best model is any strictly better evaluation.
#include "lib/schedule/early_stopping.h"

#include <gtest/gtest.h>

namespace ftune {
namespace {

TEST(EarlyStopping, StopsAfterExactlyPatienceStalledEvaluations) {
  EarlyStopping stopping("macro_f1", /*greater_is_better=*/true, /*patience=*/2, /*threshold=*/0.0);
  EXPECT_TRUE(stopping.observe(0.50, 10, 1).is_new_best);
  auto first_stall = stopping.observe(0.40, 20, 2);
  EXPECT_FALSE(first_stall.should_stop);
  EXPECT_EQ(first_stall.log_line,
            "epoch 2 step 20 | eval macro_f1 0.4000 | stalled 1/2 (best 0.5000 at step 10)");
  auto second_stall = stopping.observe(0.50, 30, 3);  // equal is not better
  EXPECT_TRUE(second_stall.should_stop);
  EXPECT_EQ(stopping.best_step(), 10);
}

TEST(EarlyStopping, ImprovementResetsThePatience) {
  EarlyStopping stopping("macro_f1", true, 2, 0.0);
  stopping.observe(0.50, 1, 1);
  stopping.observe(0.40, 2, 2);
  auto better = stopping.observe(0.60, 3, 3);
  EXPECT_TRUE(better.is_new_best);
  EXPECT_EQ(better.log_line, "epoch 3 step 3 | eval macro_f1 0.6000 | new best");
  EXPECT_EQ(stopping.stalls(), 0);
  EXPECT_FALSE(stopping.observe(0.55, 4, 4).should_stop);
  EXPECT_TRUE(stopping.observe(0.55, 5, 5).should_stop);
}

TEST(EarlyStopping, ImprovementWithinThresholdCountsAsStallButUpdatesTheBest) {
  EarlyStopping stopping("accuracy", true, 2, 0.01);
  stopping.observe(0.800, 1, 1);
  auto small = stopping.observe(0.805, 2, 2);
  EXPECT_TRUE(small.is_new_best);
  EXPECT_EQ(stopping.stalls(), 1);
  EXPECT_EQ(stopping.best_step(), 2);
  EXPECT_TRUE(stopping.observe(0.812, 3, 3).should_stop);  // 0.007 above the best: still a stall
}

TEST(EarlyStopping, LowerIsBetterForLoss) {
  EarlyStopping stopping("loss", /*greater_is_better=*/false, 1, 0.0);
  stopping.observe(0.9, 1, 1);
  EXPECT_TRUE(stopping.observe(0.7, 2, 2).is_new_best);
  auto worse = stopping.observe(0.8, 3, 3);
  EXPECT_TRUE(worse.should_stop);
  EXPECT_EQ(
      worse.log_line,
      "epoch 3 step 3 | eval loss 0.8000 | stalled 1/1 (best 0.7000 at step 2) | early stopping");
}

TEST(EarlyStopping, PatienceZeroNeverStops) {
  EarlyStopping stopping("macro_f1", true, 0, 0.0);
  stopping.observe(0.5, 1, 1);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(stopping.observe(0.1, 2 + i, 2 + i).should_stop);
}

TEST(EarlyStopping, RestoresItsStateForResume) {
  EarlyStopping a("macro_f1", true, 3, 0.0);
  a.observe(0.5, 10, 1);
  a.observe(0.4, 20, 2);
  EarlyStopping b("macro_f1", true, 3, 0.0);
  b.restore(a.to_json());
  EXPECT_EQ(b.best_value(), 0.5);
  EXPECT_EQ(b.best_step(), 10);
  EXPECT_EQ(b.stalls(), 1);
  b.observe(0.3, 30, 3);
  EXPECT_TRUE(b.observe(0.3, 40, 4).should_stop);
}

}  // namespace
}  // namespace ftune
