// ftune::Linear's oneDNN path (models/linear.h): a packed layer gives torch::linear's numbers (to
// float32 rounding) for the shapes decoding and encoding use, with and without a bias; in the
// Debian build through libdnnl directly, in the torch2 build through LibTorch's mkldnn ops.
#include "models/linear.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "lib/io/weights.h"
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

// int8 (pack_int8_weight): the fastest kernels this build has (libdnnl's int8 matmul on the Debian
// build, with ftune's own input quantization and scaling around it) give the numbers of
// LibTorch's quantized::linear_dynamic, which is what PyTorch's quantize_dynamic runs, for the
// row counts decoding uses and for inputs whose range puts the zero point anywhere: mixed signs,
// all positive (zero point 0), all negative (127), tiny (the smallest-scale rule), all zeros.
TEST(Int8Linear, FastestKernelsEqualLibTorchsDynamicQuantization) {
  torch::manual_seed(2);
  torch::NoGradGuard no_grad;
  // Weights of a trained model's size, so that the sums are of order 1.
  const auto weight = torch::randn({300, 96}) * 0.05;
  const auto bias = torch::randn({300}) * 0.1;
  for (const bool with_bias : {true, false}) {
    const std::optional<at::Tensor> b = with_bias ? std::optional<at::Tensor>(bias) : std::nullopt;
    const auto fastest = pack_int8_weight(weight, b);
    for (const int64_t rows : {1, 2, 3, 16, 17, 64, 65, 1}) {
      const auto x = torch::randn({rows, 96}) * 2 + 0.3;
      for (const auto& input : {x, x.relu(), -x.relu(), x * 1e-6, torch::zeros_like(x)}) {
        // A fresh reference each time: LibTorch 1.13's oneDNN engine keeps the primitive of a
        // layer's first call, and a later all-negative input of another row count came out
        // wrong on it (the fbgemm engine has no such cache).
        const auto expected = pack_int8_weight(weight, b, Int8Kernels::kLibTorch)->linear(input);
        const auto y = fastest->linear(input);
        ASSERT_EQ(y.sizes(), expected.sizes()) << rows << " rows";
        EXPECT_TRUE(tensors_close(y, expected, 1e-5, 1e-6)) << rows << " rows, bias " << with_bias;
      }
    }
    // Shapes (B, S, C) as the decoder passes them; no rows gives no rows.
    const auto steps = torch::randn({4, 1, 96});
    EXPECT_TRUE(tensors_close(fastest->linear(steps),
                              pack_int8_weight(weight, b, Int8Kernels::kLibTorch)->linear(steps),
                              1e-5,
                              1e-6));
    EXPECT_EQ(fastest->linear(torch::randn({0, 96})).sizes(), (std::vector<int64_t>{0, 300}));
  }
}

// And int8 is not float32: the product of the quantized weight and input differs from
// torch::linear by about the quantization's step, not by float32 rounding.
TEST(Int8Linear, LayerQuantizesWeightsAndInputs) {
  torch::manual_seed(3);
  torch::NoGradGuard no_grad;
  Linear layer(torch::nn::LinearOptions(128, 64).bias(true));
  layer->eval();
  const auto x = torch::randn({5, 128});
  const auto fp32 = layer(x);
  layer->quantize_int8();
  ASSERT_TRUE(layer->is_int8());
  const auto int8 = layer(x);
  const double largest = (int8 - fp32).abs().max().item<double>();
  EXPECT_GT(largest, 1e-5) << "int8 gave float32's numbers: nothing was quantized";
  EXPECT_LT(largest, 0.05);
  layer->train();
  EXPECT_THROW(layer(x), c10::Error);
}

// Bit for bit what fbgemm gave inside transformers' int8 beam search (tests/fixtures/int8/
// linear_calls.json: every Linear call of one decoding step of the Marian fixture, lm_head
// included), the same weights quantized here from the checkpoint. One input element in that step
// lies on a rounding tie that only fbgemm's way of taking the reciprocal scale resolves the same.
TEST(Int8Linear, EqualsFbgemmOnADecodingStepOfTheMarianFixture) {
  const std::string folder = "tests/fixtures/marian-mt";
  const auto weights = read_weights(folder + "/pytorch_model.bin");
  const auto recorded = testing::read_json_file("tests/fixtures/int8/linear_calls.json");
  ASSERT_EQ(recorded.at("calls").size(), 17U);
  torch::NoGradGuard no_grad;
  for (const auto& call : recorded.at("calls")) {
    const std::string layer = call.at("layer").get<std::string>();
    const at::Tensor weight = weights.at(call.at("weight").get<std::string>());
    std::optional<at::Tensor> bias;
    if (!call.at("bias").is_null()) bias = weights.at(call.at("bias").get<std::string>());
    const auto input = testing::json_to_tensor(call.at("input"), torch::kFloat);
    const auto expected = testing::json_to_tensor(call.at("output"), torch::kFloat);
    const auto output = pack_int8_weight(weight, bias)->linear(input);
    ASSERT_EQ(output.sizes(), expected.sizes()) << layer;
    EXPECT_LE((output - expected).abs().max().item<double>(), 1e-6) << layer;
  }
}

// The engine named in messages: libdnnl itself where the Debian build runs int8 on it.
TEST(Int8Linear, EngineIsNamed) {
  const std::string engine = int8_engine();
  EXPECT_TRUE(engine == "fbgemm" || engine == "onednn" || engine.rfind("libdnnl ", 0) == 0)
      << engine;
  if (!onednn_linear_is_libdnnl()) EXPECT_EQ(engine.rfind("libdnnl", 0), std::string::npos);
}

}  // namespace
}  // namespace ftune
