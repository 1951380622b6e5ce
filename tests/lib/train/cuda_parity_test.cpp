// The golden BERT fixture and the fp16 loss scaler on a CUDA device: fp32 logits within 1e-4 of
// Hugging Face's, bf16 autocast logits following fp32's across the inputs. Every test skips without
// CUDA, so the CPU suite runs them as skipped; scripts/gpu-check.sh runs them on a GPU host.
#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "lib/io/state_dict.h"
#include "lib/io/weights.h"
#include "lib/tensors/device.h"
#include "lib/train/loss_scaler.h"
#include "models/attention.h"
#include "models/bert.h"
#include "tests/common/tensor_testing.h"

namespace ftune {
namespace {

using testing::json_to_tensor;
using testing::read_json_file;
using testing::tensors_close;

constexpr double kFp32Tolerance = 1e-4;
const char* const kFixture = "tests/fixtures/bert-cls";

#define SKIP_WITHOUT_CUDA()                                                  \
  if (!torch::cuda::is_available()) {                                        \
    GTEST_SKIP() << "no CUDA device (torch::cuda::is_available() is false)"; \
  }

// Matmuls in true fp32: the fixture was recorded on a CPU, and TF32 alone moves logits ~1e-3.
class CudaParity : public ::testing::Test {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_CUDA();
    allowed_tf32_ = at::globalContext().allowTF32CuBLAS();
    at::globalContext().setAllowTF32CuBLAS(false);
  }
  void TearDown() override {
    if (torch::cuda::is_available()) at::globalContext().setAllowTF32CuBLAS(allowed_tf32_);
  }

  struct Batch {
    torch::Tensor input_ids, attention_mask, token_type_ids, label_ids;
  };

  static Batch read_batch_on(const torch::Device& device) {
    auto inputs = read_json_file(std::string(kFixture) + "/inputs.json");
    Batch batch;
    batch.input_ids = json_to_tensor(inputs["input_ids"], torch::kLong).to(device);
    batch.attention_mask = json_to_tensor(inputs["attention_mask"], torch::kLong).to(device);
    batch.token_type_ids = json_to_tensor(inputs["token_type_ids"], torch::kLong).to(device);
    batch.label_ids = json_to_tensor(inputs["label_ids"], torch::kLong).to(device);
    return batch;
  }

  static BertForSequenceClassification load_classifier_on(const torch::Device& device) {
    auto config = BertConfig::read(std::string(kFixture) + "/config.json");
    BertForSequenceClassification model(config);
    load_state_dict(*model,
                    read_weights(std::string(kFixture) + "/model.safetensors"),
                    LoadPolicy{},
                    "model.safetensors");
    model->to(device);
    model->eval();
    return model;
  }

  bool allowed_tf32_ = false;
};

TEST_F(CudaParity, BertClassifierLogitsAndLossMatchTheFixtureInFloat32) {
  const torch::Device cuda(torch::kCUDA);
  auto model = load_classifier_on(cuda);
  auto batch = read_batch_on(cuda);
  auto expected = read_json_file(std::string(kFixture) + "/expected.json");
  torch::NoGradGuard no_grad;

  auto logits = model(batch.input_ids, batch.attention_mask, batch.token_type_ids);  // (N, 3)
  ASSERT_TRUE(logits.is_cuda());
  EXPECT_TRUE(tensors_close(
      logits.cpu(), json_to_tensor(expected["logits"]), kFp32Tolerance, kFp32Tolerance));
  auto loss = torch::cross_entropy_loss(logits, batch.label_ids);
  EXPECT_TRUE(tensors_close(
      loss.cpu(), torch::tensor(expected["loss"].get<double>()), kFp32Tolerance, kFp32Tolerance));
}

// bf16 against float32 logits on the GPU. A loss band cannot tell a working model from one
// whose logits ignore the text (the fixture's logits move by only ~0.02 with the input, and a
// constant-logit model's loss is ln 3, 0.013 from the real one), so each logit column must follow
// float32's across the rows: correlation above 0.98 (measured on the CPU: 0.995-0.998), and every
// logit within 1e-2 (CPU: 1.5e-3).
TEST_F(CudaParity, Bf16AutocastLogitsFollowFloat32AcrossTheInputs) {
  const torch::Device cuda(torch::kCUDA);
  auto model = load_classifier_on(cuda);
  auto batch = read_batch_on(cuda);
  torch::NoGradGuard no_grad;

  auto fp32_logits = model(batch.input_ids, batch.attention_mask, batch.token_type_ids).cpu();
  torch::Tensor bf16_logits;
  {
    AutocastGuard autocast(c10::DeviceType::CUDA, Precision::kBf16);
    bf16_logits = model(batch.input_ids, batch.attention_mask, batch.token_type_ids);  // (N, 3)
  }
  EXPECT_EQ(bf16_logits.scalar_type(), torch::kBFloat16) << "autocast did not reach the classifier";
  bf16_logits = bf16_logits.to(torch::kFloat).cpu();
  EXPECT_LE((bf16_logits - fp32_logits).abs().max().item<double>(), 1e-2);
  for (int64_t k = 0; k < fp32_logits.size(1); ++k) {
    auto a = fp32_logits.select(1, k) - fp32_logits.select(1, k).mean();
    auto b = bf16_logits.select(1, k) - bf16_logits.select(1, k).mean();
    const double correlation =
        (a * b).sum().item<double>() / (a.norm().item<double>() * b.norm().item<double>() + 1e-30);
    EXPECT_GT(correlation, 0.98) << "logit column " << k;
  }
}

// compute_attention on CUDA (LibTorch 2.x: the fused kernels) against the CPU path, with a padding
// mask, in fp32 and under bf16 autocast (bf16 q/k/v against a float32 mask).
TEST_F(CudaParity, AttentionWithPaddingMaskMatchesTheCpu) {
  torch::manual_seed(3);
  const int64_t B = 2, H = 4, T = 24, D = 16;
  auto q = torch::randn({B, H, T, D});  // (B, H, T, D)
  auto k = torch::randn({B, H, T, D});  // (B, H, T, D)
  auto v = torch::randn({B, H, T, D});  // (B, H, T, D)
  auto keep = torch::ones({B, T}, torch::kLong);
  keep[1].slice(0, 17).fill_(0);
  auto mask = make_additive_padding_mask(keep, torch::kFloat);  // (B, 1, 1, T)
  auto reference = compute_attention(q, k, v, mask, /*dropout_p=*/0.1, /*training=*/false);

  const torch::Device cuda(torch::kCUDA);
  auto on_cuda = compute_attention(q.to(cuda), k.to(cuda), v.to(cuda), mask.to(cuda), 0.1, false);
  EXPECT_TRUE(tensors_close(on_cuda.cpu(), reference, kFp32Tolerance, kFp32Tolerance));

  // Under autocast the projections hand over bf16 q/k/v while the mask stays float32.
  auto bf16 = [&](const torch::Tensor& t) { return t.to(cuda, torch::kBFloat16); };
  torch::Tensor low;
  {
    AutocastGuard autocast(c10::DeviceType::CUDA, Precision::kBf16);
    low = compute_attention(bf16(q), bf16(k), bf16(v), mask.to(cuda), 0.1, false);
  }
  EXPECT_TRUE(tensors_close(low.to(torch::kFloat).cpu(), reference, 2e-2, 2e-2));
}

// One fp16 training step as the trainer runs it: autocast forward, scaled backward, unscale,
// step only on finite grads; then a forced overflow that must skip the step and back off.
TEST_F(CudaParity, Fp16StepWithLossScalerUpdatesOnlyOnFiniteGradients) {
  const torch::Device cuda(torch::kCUDA);
  auto model = load_classifier_on(cuda);
  model->train();
  auto batch = read_batch_on(cuda);
  auto parameters = model->parameters();
  torch::optim::SGD optimizer(parameters, torch::optim::SGDOptions(1e-3));
  LossScaler scaler;

  auto step = [&]() {
    optimizer.zero_grad();
    torch::Tensor loss;
    {
      AutocastGuard autocast(c10::DeviceType::CUDA, Precision::kFp16);
      auto logits = model(batch.input_ids, batch.attention_mask, batch.token_type_ids);
      loss = torch::cross_entropy_loss(logits.to(torch::kFloat), batch.label_ids);
    }
    scaler.scale(loss).backward();
    const bool finite = scaler.unscale(parameters);
    if (finite) optimizer.step();
    scaler.update(finite);
    return finite;
  };

  auto classifier_before = model->classifier->weight.detach().clone();
  EXPECT_TRUE(step());
  EXPECT_EQ(scaler.current_scale(), 65536.0);
  EXPECT_FALSE(torch::equal(model->classifier->weight.detach(), classifier_before));
  // By type and index: `cuda` has no index, a tensor's device always has one (cuda:0).
  EXPECT_TRUE(parameters.front().grad().device().is_cuda());
  EXPECT_EQ(parameters.front().grad().device().index(), 0);

  LossScalerOptions huge;
  huge.init_scale = 1e38;  // overflows fp32 gradients
  scaler = LossScaler(huge);
  auto weight_before_overflow = model->classifier->weight.detach().clone();
  EXPECT_FALSE(step());
  EXPECT_TRUE(torch::equal(model->classifier->weight.detach(), weight_before_overflow));
  EXPECT_EQ(scaler.current_scale(), 0.5e38);
}

}  // namespace
}  // namespace ftune
