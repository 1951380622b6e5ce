// Devices, precisions and the autocast guard (lib/tensors/device.h).
#include "lib/tensors/device.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "util/error.h"

namespace ftune {
namespace {

TEST(DeviceTest, ParsesThePrecisionAndSaveDtypeNames) {
  EXPECT_EQ(parse_precision("fp32"), Precision::kFp32);
  EXPECT_EQ(parse_precision("bf16"), Precision::kBf16);
  EXPECT_EQ(parse_precision("fp16"), Precision::kFp16);
  EXPECT_FALSE(parse_precision("bfloat16").has_value());
  EXPECT_EQ(parse_save_dtype("bfloat16"), at::kBFloat16);
  EXPECT_EQ(parse_save_dtype("fp16"), at::kHalf);
  EXPECT_EQ(parse_save_dtype("float32"), at::kFloat);
  EXPECT_FALSE(parse_save_dtype("int8").has_value());
  EXPECT_EQ(torch_dtype_name(at::kBFloat16), "bfloat16");
}

TEST(DeviceTest, ResolvesCpuAndAutoAndRejectsMalformedSpecs) {
  EXPECT_EQ(resolve_device("cpu"), c10::Device(c10::DeviceType::CPU));
  const auto automatic = resolve_device("auto");
  EXPECT_EQ(automatic.is_cuda(), torch::cuda::is_available());
  for (const char* bad : {"gpu", "cuda:x", "cpu:0:1", ""}) {
    EXPECT_THROW(resolve_device(bad), Error) << bad;
  }
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(resolve_device("cuda"), Error);
    EXPECT_THROW(resolve_device("cuda:0"), Error);
  }
}

TEST(DeviceTest, Fp16NeedsCuda) {
  EXPECT_THROW(resolve_runtime({"cpu", "fp16"}), Error);
  EXPECT_THROW(resolve_runtime({"cpu", "half"}), Error);
  const Runtime runtime = resolve_runtime({"cpu", "bf16"});
  EXPECT_EQ(runtime.precision, Precision::kBf16);
  EXPECT_TRUE(runtime.device.is_cpu());
}

TEST(DeviceTest, AutocastGuardRunsLinearInBf16OnlyWhileAlive) {
  torch::nn::Linear linear(4, 3);
  auto x = torch::randn({2, 4});
  {
    AutocastGuard guard(c10::DeviceType::CPU, Precision::kBf16);
    EXPECT_EQ(linear(x).scalar_type(), at::kBFloat16);
    {
      AutocastGuard inner(c10::DeviceType::CPU, Precision::kBf16);  // nests
      EXPECT_EQ(linear(x).scalar_type(), at::kBFloat16);
    }
    EXPECT_EQ(linear(x).scalar_type(), at::kBFloat16);
    // Gradients flow back to the float32 master weights.
    linear(x).sum().backward();
    EXPECT_EQ(linear->weight.grad().scalar_type(), at::kFloat);
  }
  EXPECT_EQ(linear(x).scalar_type(), at::kFloat);
  {
    AutocastGuard fp32(c10::DeviceType::CPU, Precision::kFp32);
    EXPECT_EQ(linear(x).scalar_type(), at::kFloat);
  }
}

TEST(DeviceTest, ToDeviceKeepsTensorsAlreadyThereAndMovesInPlace) {
  auto a = torch::ones({2});
  auto b = torch::zeros({3});
  const auto* a_data = a.data_ptr<float>();
  move_to(c10::Device(c10::DeviceType::CPU), a, b);
  EXPECT_EQ(a.data_ptr<float>(), a_data);  // no copy
  at::Tensor undefined;
  EXPECT_FALSE(to_device(undefined, c10::Device(c10::DeviceType::CPU)).defined());
  torch::nn::Linear linear(2, 2);
  EXPECT_TRUE(device_of(*linear).is_cpu());
}

}  // namespace
}  // namespace ftune
