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

// compute_attention (on LibTorch 1.13: products threaded over the heads, straight into CBLAS)
// against the formula in float64, forward and the gradients of q, k and v. q is a transposed view
// as BertSelfAttention passes it; two threads, so the heads are split.
TEST(Attention, OutputAndGradientsMatchTheFormulaInDoublePrecision) {
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  torch::manual_seed(1);
  const int64_t B = 3, H = 4, T = 6, S = 9, D = 8;
  auto q = torch::randn({B, T, H, D}).transpose(1, 2).requires_grad_();  // (B, H, T, D) view
  auto k = torch::randn({B, H, S, D}).requires_grad_();
  auto v = torch::randn({B, H, S, D}).requires_grad_();
  auto keep = torch::ones({B, S}, torch::kLong);
  keep[1].slice(0, 6).fill_(0);
  const auto mask = make_additive_padding_mask(keep, at::kFloat);
  const auto y = compute_attention(q, k, v, mask, /*dropout_p=*/0.1, /*training=*/false);
  const auto upstream = torch::randn({B, H, T, D});
  const auto grads = torch::autograd::grad({y}, {q, k, v}, {upstream});

  auto q64 = q.detach().to(torch::kDouble).requires_grad_();
  auto k64 = k.detach().to(torch::kDouble).requires_grad_();
  auto v64 = v.detach().to(torch::kDouble).requires_grad_();
  const auto scores = torch::matmul(q64, k64.transpose(-1, -2)) / std::sqrt(double(D)) +
                      make_additive_padding_mask(keep, at::kDouble);
  const auto y64 = torch::matmul(torch::softmax(scores, -1), v64);
  const auto grads64 = torch::autograd::grad({y64}, {q64, k64, v64}, {upstream.to(torch::kDouble)});
  EXPECT_TRUE(torch::allclose(y.to(torch::kDouble), y64, 1e-5, 1e-6));
  const char* names[] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(torch::allclose(grads[i].to(torch::kDouble), grads64[i], 1e-5, 1e-6))
        << "gradient of " << names[i] << ": max difference "
        << (grads[i].to(torch::kDouble) - grads64[i]).abs().max().item<double>();
  }
  at::set_num_threads(threads);
}

}  // namespace
}  // namespace ftune
