// ftune::dropout: the drop rate, the scale of what is kept, the gradient, and masks that depend
// on the seed only (not on the thread count).
#include "models/dropout.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace ftune {
namespace {

torch::Tensor mask_of(double p, int threads, uint64_t seed, int64_t n = 300000) {
  const int before = at::get_num_threads();
  at::set_num_threads(threads);
  torch::manual_seed(seed);
  auto out = ftune::dropout(torch::ones({n}), p, /*training=*/true);
  at::set_num_threads(before);
  return out;
}

TEST(Dropout, DropsAboutPAndScalesTheRestByOneOverOneMinusP) {
  const auto out = mask_of(0.1, 2, 42, 1000000);
  const double kept = (out != 0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.9, 0.002);  // 1e6 draws: the standard deviation is 0.0003
  const auto values = std::get<0>(at::_unique(out.masked_select(out != 0)));
  ASSERT_EQ(values.numel(), 1);
  EXPECT_EQ(values.item<float>(), 1.0f / 0.9f);
}

TEST(Dropout, SameSeedSameMaskAtOneAndTwoThreads) {
  EXPECT_TRUE(torch::equal(mask_of(0.3, 1, 7), mask_of(0.3, 2, 7)));
  EXPECT_FALSE(torch::equal(mask_of(0.3, 2, 7), mask_of(0.3, 2, 8)));
}

TEST(Dropout, ChunksOfTheMaskAreNotCopiesOfEachOther) {
  // Each 64K-element chunk has its own Philox stream.
  const auto out = mask_of(0.5, 2, 11, 2 * 65536);
  EXPECT_FALSE(torch::equal(out.slice(0, 0, 65536), out.slice(0, 65536)));
}

TEST(Dropout, GradientIsTheMaskAndEvalIsTheIdentity) {
  torch::manual_seed(5);
  auto x = torch::randn({4, 50}).requires_grad_();
  auto y = ftune::dropout(x, 0.25, /*training=*/true);
  y.sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), (y != 0).to(torch::kFloat) / 0.75f));
  EXPECT_TRUE(torch::allclose(y, x * x.grad()));
  EXPECT_TRUE(torch::equal(ftune::dropout(x, 0.25, /*training=*/false), x));
  EXPECT_TRUE(torch::equal(ftune::dropout(x, 0.0, /*training=*/true), x));
}

TEST(Dropout, DrawsFromTheGlobalGeneratorSoRunsAdvanceIt) {
  // Two calls after one seeding give two different masks; seeding again repeats the first.
  torch::manual_seed(9);
  const auto first = ftune::dropout(torch::ones({1000}), 0.5, true);
  const auto second = ftune::dropout(torch::ones({1000}), 0.5, true);
  torch::manual_seed(9);
  const auto again = ftune::dropout(torch::ones({1000}), 0.5, true);
  EXPECT_FALSE(torch::equal(first, second));
  EXPECT_TRUE(torch::equal(first, again));
}

}  // namespace
}  // namespace ftune
