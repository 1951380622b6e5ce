// lowest_value is torch.finfo(dtype).min, the one "never attend" value every mask uses (values
// from PyTorch 2.x: torch.finfo(torch.bfloat16).min etc.).
#include "models/attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace ftune {
namespace {

TEST(Attention, LowestValueIsTorchFinfoMinForEachFloatingDtype) {
  EXPECT_EQ(lowest_value(at::kFloat), -3.4028234663852886e38);
  EXPECT_EQ(lowest_value(at::kDouble), -1.7976931348623157e308);
  EXPECT_EQ(lowest_value(at::kBFloat16), -3.3895313892515355e38);
  EXPECT_EQ(lowest_value(at::kHalf), -65504.0);
  EXPECT_THROW(lowest_value(at::kLong), std::invalid_argument);
}

TEST(Attention, PaddingMaskHoldsTheDtypesLowestFiniteValueAtPaddedPositions) {
  const auto keep = torch::tensor({{1, 1, 0}}, torch::kLong);  // (B, T)
  for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
    const auto mask = make_additive_padding_mask(keep, dtype);  // (B, 1, 1, T)
    EXPECT_EQ(mask.scalar_type(), dtype);
    EXPECT_EQ(mask[0][0][0][0].item<double>(), 0.0);
    EXPECT_EQ(mask[0][0][0][2].item<double>(), lowest_value(dtype));
    EXPECT_TRUE(torch::isfinite(mask).all().item<bool>());
  }
}

}  // namespace
}  // namespace ftune
