// Devices, precisions and autocast (see lib/tensors/device.h).
#include "lib/tensors/device.h"

#include <ATen/autocast_mode.h>
#include <fmt/format.h>
#include <malloc.h>
#include <torch/cuda.h>
#include <torch/nn/module.h>
#include <torch/version.h>

#include "models/linear.h"
#include "util/error.h"

namespace ftune {
namespace {

// LibTorch 2.4 replaced the per-backend autocast switches with ones taking a device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool is_autocast_enabled(c10::DeviceType type) { return at::autocast::is_autocast_enabled(type); }
void set_autocast_enabled(c10::DeviceType type, bool on) {
  at::autocast::set_autocast_enabled(type, on);
}
c10::ScalarType get_autocast_dtype(c10::DeviceType type) {
  return at::autocast::get_autocast_dtype(type);
}
void set_autocast_dtype(c10::DeviceType type, c10::ScalarType dtype) {
  at::autocast::set_autocast_dtype(type, dtype);
}
#else
bool is_autocast_enabled(c10::DeviceType type) {
  return type == c10::DeviceType::CUDA ? at::autocast::is_enabled()
                                       : at::autocast::is_cpu_enabled();
}
void set_autocast_enabled(c10::DeviceType type, bool on) {
  if (type == c10::DeviceType::CUDA) {
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_cpu_enabled(on);
  }
}
c10::ScalarType get_autocast_dtype(c10::DeviceType type) {
  return type == c10::DeviceType::CUDA ? at::autocast::get_autocast_gpu_dtype()
                                       : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(c10::DeviceType type, c10::ScalarType dtype) {
  if (type == c10::DeviceType::CUDA) {
    at::autocast::set_autocast_gpu_dtype(dtype);
  } else {
    at::autocast::set_autocast_cpu_dtype(dtype);
  }
}
#endif

// "; 340 MB of float32 weights freed" for the packing messages, "" when nothing was freed.
std::string freed_text(int64_t bytes) {
  if (bytes == 0) return "";
  return fmt::format("; {:.1f} MB of float32 weights freed", static_cast<double>(bytes) / 1e6);
}

// The bytes of float32 weights that packing or int8 freed in `model` (models/linear.h), handed
// back to the system: the weights were read into the middle of the heap, where glibc keeps freed
// memory for later allocations instead of returning it (BERT-base evaluation kept 220 MB more).
int64_t hand_back_freed_weights(torch::nn::Module& model) {
  const int64_t bytes = released_dense_weight_bytes(model);
  if (bytes > 0) ::malloc_trim(0);
  return bytes;
}

}  // namespace

std::optional<Precision> parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "bf16") return Precision::kBf16;
  if (name == "fp16") return Precision::kFp16;
  return std::nullopt;
}

std::string precision_name(Precision precision) {
  switch (precision) {
    case Precision::kBf16:
      return "bf16";
    case Precision::kFp16:
      return "fp16";
    case Precision::kFp32:
      break;
  }
  return "fp32";
}

c10::Device resolve_device(const std::string& spec) {
  if (spec == "auto") {
    return torch::cuda::is_available() ? c10::Device(c10::DeviceType::CUDA, 0)
                                       : c10::Device(c10::DeviceType::CPU);
  }
  std::optional<c10::Device> device;
  if (spec == "cpu" || spec == "cuda" || spec.rfind("cuda:", 0) == 0) {
    try {
      device = c10::Device(spec);
    } catch (const std::exception&) {
      // reported below
    }
  }
  if (!device) {
    throw ConfigError(
        fmt::format("checking options: --device '{}': expected auto, cpu, cuda or "
                    "cuda:N",
                    spec));
  }
  if (device->is_cuda()) {
    const auto count = static_cast<int64_t>(torch::cuda::device_count());
    if (count == 0) {
      throw ConfigError(fmt::format(
          "checking options: --device {}: this {} sees no CUDA device; hint: use --device cpu, "
          "or build ftune against a CUDA LibTorch (README: GPU hosts and Docker)",
          spec,
          torch::cuda::is_available() ? "machine" : "LibTorch build or machine"));
    }
    if (!device->has_index()) device = c10::Device(c10::DeviceType::CUDA, 0);
    if (device->index() >= count) {
      throw ConfigError(
          fmt::format("checking options: --device {}: expected an index below {} "
                      "(the CUDA devices visible here)",
                      spec,
                      count));
    }
  }
  return *device;
}

c10::Device device_of(const torch::nn::Module& module) {
  const auto parameters = module.parameters();
  return parameters.empty() ? c10::Device(c10::DeviceType::CPU) : parameters.front().device();
}

at::Tensor to_device(const at::Tensor& tensor, const c10::Device& device) {
  if (!tensor.defined() || tensor.device() == device) return tensor;
  if (device.is_cuda() && tensor.device().is_cpu()) {
    return tensor.pin_memory().to(device, /*non_blocking=*/true);
  }
  return tensor.to(device);
}

void check_precision_for_device(Precision precision, const c10::Device& device) {
  if (precision == Precision::kFp16 && !device.is_cuda()) {
    throw ConfigError(
        "checking options: --precision fp16 on the CPU: expected a CUDA device "
        "(CPU autocast runs bfloat16 only); hint: use --precision bf16");
  }
}

Runtime resolve_runtime(const RuntimeOptions& options) {
  const auto precision = parse_precision(options.precision);
  if (!precision) {
    throw ConfigError(fmt::format("checking options: --precision '{}': expected fp32, bf16 or fp16",
                                  options.precision));
  }
  if (options.quantize != "none" && options.quantize != "int8") {
    throw ConfigError(
        fmt::format("checking options: --quantize '{}': expected none or int8", options.quantize));
  }
  const bool int8 = options.quantize == "int8";
  // int8 kernels are CPU kernels: "auto" means the CPU then, even on a GPU host.
  Runtime runtime{
      resolve_device(int8 && options.device == "auto" ? "cpu" : options.device), *precision, int8};
  check_precision_for_device(runtime.precision, runtime.device);
  if (int8 && !runtime.device.is_cpu()) {
    throw ConfigError(fmt::format(
        "checking options: --quantize int8 with --device {}: int8 runs on the CPU only; hint: "
        "--device cpu, or --precision bf16/fp16 on the GPU instead",
        options.device));
  }
  if (int8 && runtime.precision != Precision::kFp32) {
    throw ConfigError(fmt::format(
        "checking options: --quantize int8 with --precision {}: int8 layers take float32 "
        "inputs; hint: leave --precision at fp32",
        options.precision));
  }
  if (options.cpu_gemm != "auto" && options.cpu_gemm != "onednn" && options.cpu_gemm != "blas") {
    throw ConfigError(fmt::format(
        "checking options: --cpu-gemm '{}': expected auto, onednn or blas", options.cpu_gemm));
  }
  const bool float_cpu =
      runtime.device.is_cpu() && runtime.precision == Precision::kFp32 && !runtime.int8;
  const bool bf16_cpu = runtime.device.is_cpu() && runtime.precision == Precision::kBf16 &&
                        !runtime.int8 && onednn_linear_bf16_available();
  if (options.cpu_gemm == "onednn") {
    if (!float_cpu && !bf16_cpu) {
      throw ConfigError(fmt::format(
          "checking options: --cpu-gemm onednn with --device {} --precision {} --quantize {}: "
          "oneDNN's packed GEMM is for float32 on the CPU (and bf16 where libdnnl has native "
          "bfloat16 products: AVX512-BF16, AMX); hint: leave --cpu-gemm at auto",
          options.device,
          options.precision,
          options.quantize));
    }
    if (!onednn_linear_available()) {
      throw ConfigError(
          "checking options: --cpu-gemm onednn: this build has no oneDNN linear with packed "
          "weights (neither libdnnl nor a LibTorch 2.x with mkldnn::_linear_pointwise); hint: "
          "--cpu-gemm auto or blas");
    }
  }
  runtime.onednn =
      (float_cpu || bf16_cpu) && options.cpu_gemm != "blas" && onednn_linear_available();
  runtime.onednn_bf16 = runtime.onednn && bf16_cpu;
  runtime.onednn_auto = options.cpu_gemm == "auto";
  runtime.onednn_min_weight_elements =
      runtime.onednn_auto && !onednn_linear_is_libdnnl() ? kAutoOnednnMinWeightElements : 0;
  return runtime;
}

void quantize_if_asked(torch::nn::Module& model, const Runtime& runtime,
                       const std::function<int64_t()>& quantize) {
  if (!runtime.int8) return;
  const int64_t layers = quantize ? quantize() : quantize_linear_layers_int8(model);
  const std::string engine = int8_engine();
  fmt::print(stderr,
             "int8: {} Linear layers quantized ({}; int8 weights per output row, activations "
             "quantized per batch){}\n",
             layers,
             engine,
             freed_text(hand_back_freed_weights(model)));
  if (quantize && engine == "onednn") {
    fmt::print(stderr,
               "warning: this LibTorch's only int8 engine is oneDNN, with which int8 decoding is "
               "slower than this build's float32 on libdnnl (OPUS-MT shape, greedy x 16 at 2 "
               "threads: 7.9 s against 4.2-4.7 s for the whole run; a tiny model 7x slower; "
               "bench/README.md); hint: leave out --quantize, or use a LibTorch with fbgemm (the "
               "PyTorch wheel's: the torch2 build, 1.7-4.7x its float32)\n");
  }
}

void pack_onednn_if_chosen(const Runtime& runtime, torch::nn::Module& model,
                           const std::function<int64_t(int64_t, bool)>& pack) {
  if (!runtime.onednn) return;
  const int64_t layers = pack(runtime.onednn_min_weight_elements, runtime.onednn_bf16);
  if (layers > 0) {
    fmt::print(stderr,
               "oneDNN: {} Linear layers packed ({}, {}){}\n",
               layers,
               runtime.onednn_bf16 ? "bfloat16 products, float32 sums" : "float32",
               onednn_linear_engine(),
               freed_text(hand_back_freed_weights(model)));
  }
}

void pack_linear_layers_onednn_if_chosen(torch::nn::Module& model, const Runtime& runtime) {
  if (runtime.onednn_auto && !onednn_linear_is_libdnnl()) return;
  pack_onednn_if_chosen(runtime, model, [&](int64_t min, bool bf16) {
    return pack_linear_layers_onednn(model, min, bf16);
  });
}

std::optional<c10::ScalarType> parse_save_dtype(const std::string& name) {
  if (name == "float32" || name == "fp32") return c10::kFloat;
  if (name == "bfloat16" || name == "bf16") return c10::kBFloat16;
  if (name == "float16" || name == "fp16") return c10::kHalf;
  return std::nullopt;
}

std::string torch_dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::kBFloat16:
      return "bfloat16";
    case c10::kHalf:
      return "float16";
    case c10::kDouble:
      return "float64";
    default:
      break;
  }
  return "float32";
}

AutocastGuard::AutocastGuard(c10::DeviceType device_type, Precision precision)
    : device_type_(device_type) {
  if (precision == Precision::kFp32) return;
  active_ = true;
  previous_enabled_ = is_autocast_enabled(device_type_);
  previous_dtype_ = get_autocast_dtype(device_type_);
  set_autocast_enabled(device_type_, true);
  set_autocast_dtype(device_type_, precision == Precision::kBf16 ? c10::kBFloat16 : c10::kHalf);
  at::autocast::increment_nesting();
}

AutocastGuard::~AutocastGuard() {
  if (!active_) return;
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_autocast_enabled(device_type_, previous_enabled_);
  set_autocast_dtype(device_type_, previous_dtype_);
}

InferenceScope::InferenceScope(torch::nn::Module& model)
    : model_(model), was_training_(model.is_training()) {
  model_.eval();
  inference_mode_.emplace();
}

// The move comes before inference mode: parameters moved inside it would become inference
// tensors.
InferenceScope::InferenceScope(torch::nn::Module& model, const Runtime& runtime)
    : model_(model), was_training_(model.is_training()) {
  model_.to(runtime.device);
  model_.eval();
  inference_mode_.emplace();
  // Layers packed as bfloat16 already run --precision bf16's products; autocast would hand them
  // bfloat16 inputs, which they take only as float32. The model is walked only where bfloat16
  // packing was chosen (serve makes a scope per request).
  const bool packed_bf16 = runtime.onednn_bf16 && has_onednn_bf16_layers(model);
  autocast_.emplace(runtime.device.type(), packed_bf16 ? Precision::kFp32 : runtime.precision);
}

InferenceScope::~InferenceScope() {
  autocast_.reset();
  if (was_training_) model_.train();
}

}  // namespace ftune
