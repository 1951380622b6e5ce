// Dynamic int8 quantization of Linear layers; see linear.h. The numbers follow PyTorch's
// torch/ao/quantization/observer.py (PerChannelMinMaxObserver, _calculate_qparams),
// torch/ao/nn/quantized/modules/utils.py (_quantize_weight) and
// torch/ao/nn/quantized/dynamic/modules/linear.py (forward), so that ftune's int8 model gives what
// quantize_dynamic gives in Python on the same LibTorch (tests/models/linear_test.cpp).
#include "models/linear.h"

#include <algorithm>
#include <limits>

#include <ATen/core/dispatch/Dispatcher.h>
#include <fmt/format.h>

#include "util/error.h"

namespace ftune {
namespace {

// The quantized engine this LibTorch has, fbgemm (x86) first: PyTorch wheels have fbgemm and
// x86; Debian's LibTorch 1.13 only oneDNN.
void select_quantized_engine() {
  const auto& engines = at::globalContext().supportedQEngines();
  auto has = [&](at::QEngine engine) {
    return std::find(engines.begin(), engines.end(), engine) != engines.end();
  };
  for (at::QEngine engine : {at::QEngine::FBGEMM, at::QEngine::ONEDNN}) {
    if (has(engine)) {
      if (at::globalContext().qEngine() != engine) at::globalContext().setQEngine(engine);
      return;
    }
  }
  throw ConfigError(
      "quantizing to int8: this LibTorch has no quantized CPU engine (fbgemm or oneDNN); hint: "
      "run without --quantize, or build against a LibTorch with fbgemm (the PyTorch wheel's)");
}

c10::OperatorHandle find_operator(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "");
}

// The operator, when this LibTorch registers it with a CPU kernel.
std::optional<c10::OperatorHandle> find_cpu_operator(const char* name) {
  auto handle = c10::Dispatcher::singleton().findSchema({name, ""});
  if (!handle || !handle->hasKernelForDispatchKey(c10::DispatchKey::CPU)) return std::nullopt;
  return *handle;
}

}  // namespace

bool onednn_linear_available() {
  static const bool available = at::hasMKLDNN() &&
                                find_cpu_operator("mkldnn::_reorder_linear_weight").has_value() &&
                                find_cpu_operator("mkldnn::_linear_pointwise").has_value();
  return available;
}

std::optional<at::Tensor> pack_onednn_weight(const at::Tensor& weight) {
  static const auto reorder = find_cpu_operator("mkldnn::_reorder_linear_weight");
  if (!onednn_linear_available() || !weight.device().is_cpu() ||
      weight.scalar_type() != at::kFloat) {
    return std::nullopt;
  }
  // No batch-size hint: decoding's row count changes every step (examples finish, beams).
  torch::jit::Stack stack{weight.detach().contiguous(), c10::IValue()};
  reorder->callBoxed(&stack);
  return stack.at(0).toTensor();
}

at::Tensor linear_onednn(const at::Tensor& input, const at::Tensor& packed,
                         const at::Tensor& bias) {
  static const auto linear = find_cpu_operator("mkldnn::_linear_pointwise");
  TORCH_CHECK(linear, "linear_onednn: this LibTorch has no mkldnn::_linear_pointwise");
  const auto in_features = input.size(-1);
  auto rows = input.reshape({-1, in_features});  // (N, In)
  std::vector<int64_t> out_sizes = input.sizes().vec();
  torch::jit::Stack stack{rows.contiguous(),
                          packed,
                          bias.defined() ? c10::IValue(bias) : c10::IValue(),
                          std::string("none"),
                          c10::List<c10::optional<at::Scalar>>(),
                          c10::IValue()};
  linear->callBoxed(&stack);
  auto out = stack.at(0).toTensor();  // (N, Out)
  out_sizes.back() = out.size(-1);
  return out.view(out_sizes);  // (..., Out)
}

std::string int8_engine() {
  select_quantized_engine();
  return at::globalContext().qEngine() == at::QEngine::FBGEMM ? "fbgemm" : "onednn";
}

c10::IValue pack_int8_weight(const at::Tensor& weight, const std::optional<at::Tensor>& bias) {
  select_quantized_engine();
  at::Tensor w = weight.detach().to(at::kFloat).contiguous();
  // PerChannelMinMaxObserver (ch_axis 0), qint8 [-128, 127], per_channel_symmetric: per output
  // row, scale = max(-min, max) / 127.5, at least float32's epsilon, computed in float32 and
  // handed over as double (torch.ao's _quantize_weight); zero points 0.
  const at::Tensor largest = at::maximum(-at::clamp_max(std::get<0>(w.min(1)), 0),
                                         at::clamp_min(std::get<0>(w.max(1)), 0));
  const at::Tensor scales =
      at::clamp_min(largest / 127.5, std::numeric_limits<float>::epsilon()).to(at::kDouble);
  const at::Tensor zero_points = at::zeros({w.size(0)}, at::kLong);
  const at::Tensor quantized =
      at::quantize_per_channel(w, scales, zero_points, /*axis=*/0, at::kQInt8);
  c10::optional<at::Tensor> float_bias;
  if (bias && bias->defined()) float_bias = bias->detach().to(at::kFloat).contiguous();
  torch::jit::Stack stack{quantized, float_bias};
  static const c10::OperatorHandle prepack = find_operator("quantized::linear_prepack");
  prepack.callBoxed(&stack);
  return stack.at(0);
}

at::Tensor linear_int8(const at::Tensor& input, const c10::IValue& packed) {
  torch::jit::Stack stack{input.to(at::kFloat).contiguous(), packed, /*reduce_range=*/true};
  static const c10::OperatorHandle linear_dynamic = find_operator("quantized::linear_dynamic");
  linear_dynamic.callBoxed(&stack);
  return stack.at(0).toTensor();
}

at::Tensor LinearImpl::forward(const at::Tensor& input) {
  if (onednn_weight_.defined() && input.scalar_type() == at::kFloat && input.device().is_cpu()) {
    TORCH_CHECK(!is_training(), "a oneDNN-packed Linear layer is for inference only");
    return linear_onednn(input, onednn_weight_, bias);
  }
  if (packed_.isNone()) return torch::nn::LinearImpl::forward(input);
  TORCH_CHECK(!is_training(), "an int8 Linear layer cannot be trained (it has no gradient)");
  return linear_int8(input, packed_);
}

void LinearImpl::quantize_int8() {
  packed_ =
      pack_int8_weight(weight, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt);
}

bool LinearImpl::pack_onednn(int64_t min_weight_elements) {
  if (weight.numel() < min_weight_elements) return false;
  auto packed = pack_onednn_weight(weight);
  if (!packed) return false;
  onednn_weight_ = *packed;
  return true;
}

int64_t pack_linear_layers_onednn(torch::nn::Module& model, int64_t min_weight_elements) {
  int64_t count = 0;
  for (const auto& module : model.modules(/*include_self=*/true)) {
    if (auto* linear = module->as<LinearImpl>()) {
      count += linear->pack_onednn(min_weight_elements) ? 1 : 0;
    }
  }
  return count;
}

int64_t quantize_linear_layers_int8(torch::nn::Module& model) {
  int64_t count = 0;
  for (const auto& module : model.modules(/*include_self=*/true)) {
    if (auto* linear = module->as<LinearImpl>()) {
      linear->quantize_int8();
      ++count;
    }
  }
  return count;
}

}  // namespace ftune
