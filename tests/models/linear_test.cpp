// ftune::Linear's oneDNN path (models/linear.h): a packed layer gives torch::linear's numbers (to
// float32 rounding) for the shapes decoding and encoding use, with and without a bias; where
// this LibTorch cannot pack (Debian's 1.13), nothing changes.
#include "models/linear.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/common/tensor_testing.h"

namespace ftune {
namespace {

using testing::tensors_close;

TEST(OnednnLinear, PackedLayerEqualsTorchLinear) {
  if (!onednn_linear_available()) {
    GTEST_SKIP() << "this LibTorch has no mkldnn::_linear_pointwise (LibTorch 1.13)";
  }
  torch::manual_seed(0);
  for (const bool with_bias : {true, false}) {
    Linear layer(torch::nn::LinearOptions(96, 40).bias(with_bias));
    layer->eval();
    torch::NoGradGuard no_grad;
    ASSERT_TRUE(layer->pack_onednn());
    // One decoding step of 3 rows, an encoder batch (B, T, C), and a single row.
    for (const auto& x :
         {torch::randn({3, 1, 96}), torch::randn({4, 7, 96}), torch::randn({1, 96})}) {
      const auto expected = torch::linear(x, layer->weight, layer->bias);
      const auto y = layer(x);
      EXPECT_EQ(y.sizes(), expected.sizes());
      EXPECT_TRUE(tensors_close(y, expected, 1e-5, 1e-6)) << "bias " << with_bias;
    }
  }
}

TEST(OnednnLinear, OnlyFloat32CpuWeightsArePacked) {
  torch::manual_seed(0);
  Linear layer(16, 8);
  const auto x = torch::randn({2, 16});
  torch::NoGradGuard no_grad;
  const auto expected = torch::linear(x, layer->weight, layer->bias);
  EXPECT_FALSE(pack_onednn_weight(layer->weight.to(torch::kBFloat16)).has_value());
  // Packed where this LibTorch can, left alone where it cannot: the same numbers either way.
  EXPECT_EQ(layer->pack_onednn(), onednn_linear_available());
  layer->eval();
  EXPECT_TRUE(tensors_close(layer(x), expected, 1e-5, 1e-6));
}

// Layers below the size asked for stay on torch::linear (what --cpu-gemm auto does with small
// ones); a large enough one is packed.
TEST(OnednnLinear, LayersBelowTheMinimumSizeStayOnBlas) {
  if (!onednn_linear_available()) {
    GTEST_SKIP() << "this LibTorch has no mkldnn::_linear_pointwise (LibTorch 1.13)";
  }
  torch::nn::Sequential model(Linear(16, 8), Linear(64, 64), Linear(8, 4));
  EXPECT_EQ(pack_linear_layers_onednn(*model, /*min_weight_elements=*/64 * 64), 1);
  EXPECT_EQ(pack_linear_layers_onednn(*model), 3);
}

TEST(OnednnLinear, PackedLayerRefusesTraining) {
  if (!onednn_linear_available()) {
    GTEST_SKIP() << "this LibTorch has no mkldnn::_linear_pointwise (LibTorch 1.13)";
  }
  Linear layer(16, 8);
  ASSERT_TRUE(layer->pack_onednn());
  layer->train();
  EXPECT_THROW(layer(torch::randn({2, 16})), c10::Error);
}

}  // namespace
}  // namespace ftune
