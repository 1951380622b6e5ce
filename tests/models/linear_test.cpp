// ftune::Linear's oneDNN path (models/linear.h): a packed layer gives torch::linear's numbers (to
// float32 rounding) for the shapes decoding and encoding use, with and without a bias; in the
// Debian build through libdnnl directly, in the torch2 build through LibTorch's mkldnn ops.
#include "models/linear.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "tests/common/tensor_testing.h"

namespace ftune {
namespace {

using testing::tensors_close;

TEST(OnednnLinear, PackedLayerEqualsTorchLinear) {
  if (!onednn_linear_available()) {
    GTEST_SKIP() << "this build has no oneDNN linear (a LibTorch 2.x without oneDNN)";
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
  EXPECT_EQ(pack_onednn_weight(layer->weight.to(torch::kBFloat16)), nullptr);
  // Packed where this LibTorch can, left alone where it cannot: the same numbers either way.
  EXPECT_EQ(layer->pack_onednn(), onednn_linear_available());
  layer->eval();
  EXPECT_TRUE(tensors_close(layer(x), expected, 1e-5, 1e-6));
}

// Layers below the size asked for stay on torch::linear (what --cpu-gemm auto does with small
// ones); a large enough one is packed.
TEST(OnednnLinear, LayersBelowTheMinimumSizeStayOnBlas) {
  if (!onednn_linear_available()) {
    GTEST_SKIP() << "this build has no oneDNN linear (a LibTorch 2.x without oneDNN)";
  }
  torch::nn::Sequential model(Linear(16, 8), Linear(64, 64), Linear(8, 4));
  EXPECT_EQ(pack_linear_layers_onednn(*model, /*min_weight_elements=*/64 * 64), 1);
  EXPECT_EQ(pack_linear_layers_onednn(*model), 3);
}

// Decoding calls one layer with a different row count almost every step (examples finish, beams
// are dropped): every count from 0 to 80 (more than the primitives kept per weight) and back,
// each equal to torch::linear, and the vocabulary-sized shape of OPUS-MT's output projection.
TEST(OnednnLinear, EveryRowCountEqualsTorchLinear) {
  if (!onednn_linear_available()) {
    GTEST_SKIP() << "this build has no oneDNN linear (a LibTorch 2.x without oneDNN)";
  }
  torch::manual_seed(1);
  torch::NoGradGuard no_grad;
  Linear layer(torch::nn::LinearOptions(48, 300).bias(true));
  layer->eval();
  ASSERT_TRUE(layer->pack_onednn());
  for (const int64_t rows : {0, 1, 2, 3, 7, 16, 17, 33, 64, 65, 80, 5, 1, 16}) {
    const auto x = torch::randn({rows, 48});
    const auto expected = torch::linear(x, layer->weight, layer->bias);
    const auto y = layer(x);
    ASSERT_EQ(y.sizes(), expected.sizes()) << rows << " rows";
    EXPECT_TRUE(tensors_close(y, expected, 1e-5, 1e-6)) << rows << " rows";
  }
  for (int64_t rows = 1; rows <= 70; ++rows) {  // past the cache's limit: it starts over
    const auto x = torch::randn({rows, 48});
    ASSERT_TRUE(tensors_close(layer(x), torch::linear(x, layer->weight, layer->bias), 1e-5, 1e-6))
        << rows << " rows";
  }
  // Weights of a trained model's size (std 0.05), so that the 512-term sums are of order 1 and
  // differ only by float32 rounding.
  const auto vocabulary = torch::randn({2000, 512}) * 0.05;
  const auto packed = pack_onednn_weight(vocabulary);
  ASSERT_NE(packed, nullptr);
  const auto hidden = torch::randn({4, 1, 512});
  EXPECT_TRUE(
      tensors_close(packed->linear(hidden, {}), torch::linear(hidden, vocabulary), 1e-5, 1e-5));
}

// Once packed, a layer's float32 weight is only memory: release_dense_weight frees it (what
// inference commands do after packing) and the layer still gives the same numbers; a weight
// something else holds (a tied embedding) and a layer not packed keep theirs.
TEST(OnednnLinear, ReleasedDenseWeightLeavesThePackedLayerWorking) {
  if (!onednn_linear_available()) {
    GTEST_SKIP() << "this build has no oneDNN linear (a LibTorch 2.x without oneDNN)";
  }
  torch::manual_seed(2);
  torch::NoGradGuard no_grad;
  Linear layer(96, 40);
  layer->eval();
  const auto x = torch::randn({5, 96});
  const auto expected = torch::linear(x, layer->weight, layer->bias);
  EXPECT_EQ(layer->release_dense_weight(), 0);  // not packed yet
  ASSERT_TRUE(layer->pack_onednn());
  EXPECT_EQ(layer->release_dense_weight(), 96 * 40 * 4);
  EXPECT_EQ(layer->weight.numel(), 0);
  EXPECT_EQ(layer->named_parameters()["weight"].numel(), 0);
  EXPECT_EQ(layer->released_bytes(), 96 * 40 * 4);
  EXPECT_TRUE(tensors_close(layer(x), expected, 1e-5, 1e-6));

  Linear tied(96, 40);
  const at::Tensor embedding = tied->weight;  // another holder of the same tensor
  const auto before = embedding.clone();
  ASSERT_TRUE(tied->pack_onednn());
  EXPECT_EQ(tied->release_dense_weight(), 0);
  EXPECT_TRUE(torch::equal(embedding, before));

  torch::nn::Sequential model(Linear(16, 8), Linear(64, 64));
  EXPECT_EQ(pack_linear_layers_onednn(*model), 2);
  EXPECT_EQ(released_dense_weight_bytes(*model), (16 * 8 + 64 * 64) * 4);
}

// Packed as bfloat16 (--precision bf16 on a CPU with native bfloat16): the products of the
// bfloat16-rounded input and weight, summed in float32. So the output equals torch::linear on
// the rounded values to float32 rounding, and differs from the float32 layer's.
TEST(OnednnLinear, Bf16PackedLayerSumsBfloat16ProductsInFloat32) {
  if (!onednn_linear_bf16_available()) {
    GTEST_SKIP() << "no libdnnl with native bfloat16 products on this CPU";
  }
  torch::manual_seed(3);
  torch::NoGradGuard no_grad;
  Linear layer(96, 40);
  layer->eval();
  const auto rounded = [](const at::Tensor& t) { return t.to(torch::kBFloat16).to(torch::kFloat); };
  const auto expected_bf16 = [&](const at::Tensor& x) {
    return torch::linear(rounded(x), rounded(layer->weight), layer->bias);
  };
  const auto x = torch::randn({7, 96});
  const auto fp32 = torch::linear(x, layer->weight, layer->bias);
  const auto bf16 = expected_bf16(x);
  ASSERT_TRUE(layer->pack_onednn(0, /*bf16=*/true));
  EXPECT_TRUE(layer->is_onednn_bf16());
  for (const auto& input : {x, torch::randn({1, 96}), torch::randn({3, 5, 96})}) {
    const auto y = layer(input);
    EXPECT_EQ(y.scalar_type(), torch::kFloat);
    EXPECT_TRUE(tensors_close(y, expected_bf16(input), 1e-5, 1e-5));
  }
  EXPECT_TRUE(tensors_close(layer(x), bf16, 1e-5, 1e-5));
  EXPECT_FALSE(tensors_close(layer(x), fp32, 1e-5, 1e-5));
}

TEST(OnednnLinear, PackedLayerRefusesTraining) {
  if (!onednn_linear_available()) {
    GTEST_SKIP() << "this build has no oneDNN linear (a LibTorch 2.x without oneDNN)";
  }
  Linear layer(16, 8);
  ASSERT_TRUE(layer->pack_onednn());
  layer->train();
  EXPECT_THROW(layer(torch::randn({2, 16})), c10::Error);
}

}  // namespace
}  // namespace ftune
