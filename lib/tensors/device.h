// Where and in which precision the model runs: --device auto|cpu|cuda|cuda:N and
// --precision fp32|bf16|fp16 (autocast; the master weights stay float32), plus --save-dtype.
// Autocast follows PyTorch's torch.autocast: matmuls and linear layers run in the low precision,
// reductions and losses in float32; backward runs outside the guard.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/InferenceMode.h>
#include <c10/core/ScalarType.h>

namespace torch::nn {
class Module;
}

namespace ftune {

enum class Precision { kFp32, kBf16, kFp16 };

// --device and --precision as every command that runs a model takes them.
struct RuntimeOptions {
  std::string device = "auto";
  std::string precision = "fp32";
  std::string quantize = "none";  // --quantize (inference commands only): none | int8
  std::string cpu_gemm = "auto";  // --cpu-gemm (inference commands only): auto | onednn | blas
};

struct Runtime {
  c10::Device device = c10::Device(c10::DeviceType::CPU);
  Precision precision = Precision::kFp32;
  bool int8 = false;  // Linear layers run int8 kernels (models/linear.h), CPU and fp32 only
  // Linear layers run oneDNN's float32 GEMM on packed weights (models/linear.h), CPU, fp32 and
  // not int8: --cpu-gemm auto where this LibTorch has it, or onednn.
  bool onednn = false;
  // The smallest weight packed: with LibTorch's oneDNN ops auto leaves small layers on BLAS
  // (their fixed cost of 10-30 us a call made a 64-wide model 1.5-2.5x slower); with libdnnl
  // (the Debian build) and with onednn every layer is packed.
  int64_t onednn_min_weight_elements = 0;
  bool onednn_auto = false;  // chosen by --cpu-gemm auto rather than asked for
  // --precision bf16 on the CPU where libdnnl has native bfloat16 products
  // (onednn_linear_bf16_available): the Linear layers are packed as bfloat16 instead of running
  // under autocast (which was no faster than float32 there), everything else in float32.
  bool onednn_bf16 = false;
};

// With LibTorch's oneDNN ops, auto packs a Linear from 512 x 512 weights up: at 16 rows a 256 x
// 256 product was as fast on BLAS, 512 x 512 twice as fast on oneDNN (bench/README.md,
// "Translation three ways").
constexpr int64_t kAutoOnednnMinWeightElements = 512 * 512;

// Resolves and checks them (fp16 needs CUDA; int8 needs the CPU and fp32, and makes "auto" the
// CPU; --cpu-gemm onednn needs the CPU, fp32, no int8 and oneDNN: libdnnl in the Debian build,
// LibTorch's own in the torch2 build);
// ConfigError naming the flag otherwise.
Runtime resolve_runtime(const RuntimeOptions& options);

// With runtime.int8: every Linear of `model` to int8 (models/linear.h), their float32 weights
// freed where nothing else holds them, and one line on stderr saying how many of each.
// `quantize` does it for a decoder (Marian: its lm_head too); a decoder on a LibTorch whose only
// quantized engine is oneDNN also gets a warning (int8 decoding there is slower than float32 on
// libdnnl, and 7x slower for a tiny model; bench/int8.py, bench/README.md).
void quantize_if_asked(torch::nn::Module& model, const Runtime& runtime,
                       const std::function<int64_t()>& quantize = {});

// With runtime.onednn: `pack(min_weight_elements, bf16)` packs `model`'s Linear layers for oneDNN
// (a model's own pack_onednn(): Marian's lm_head too), frees the float32 weights nothing reads any
// more (models/linear.h: pack_linear_layers_onednn; a tied embedding stays) and says both in one
// line on stderr, when any. Inference only: the model cannot be saved or trained afterwards.
void pack_onednn_if_chosen(const Runtime& runtime, torch::nn::Module& model,
                           const std::function<int64_t(int64_t, bool)>& pack);

// pack_onednn_if_chosen for every ftune::Linear of `model` (BERT classifiers and token
// classifiers). They were measured on libdnnl only, so with LibTorch's oneDNN ops auto leaves them
// on BLAS; --cpu-gemm onednn still packs them.
void pack_linear_layers_onednn_if_chosen(torch::nn::Module& model, const Runtime& runtime);

// "fp32" | "bf16" | "fp16"; nullopt otherwise.
std::optional<Precision> parse_precision(const std::string& name);
std::string precision_name(Precision precision);

// "auto" (CUDA when available, else CPU), "cpu", "cuda", "cuda:N". ConfigError when the spec is
// malformed or names a CUDA device this build or machine does not have.
c10::Device resolve_device(const std::string& spec);

// The device of the module's first parameter (CPU for a module without parameters).
c10::Device device_of(const torch::nn::Module& module);

// `tensor` on `device`: itself when already there; to CUDA from pinned memory, non-blocking.
at::Tensor to_device(const at::Tensor& tensor, const c10::Device& device);

// Moves each tensor in place: move_to(device, batch.input_ids, batch.attention_mask, ...).
template <typename... Tensors>
void move_to(const c10::Device& device, Tensors&... tensors) {
  ((tensors = to_device(tensors, device)), ...);
}

// Checks that `precision` can run on `device` (fp16 autocast needs CUDA); ConfigError otherwise.
void check_precision_for_device(Precision precision, const c10::Device& device);

// "float32" | "bfloat16" | "float16" (config.json's torch_dtype names; fp32/bf16/fp16 too).
std::optional<c10::ScalarType> parse_save_dtype(const std::string& name);
std::string torch_dtype_name(c10::ScalarType dtype);  // kBFloat16 -> "bfloat16"

// Autocast for one forward pass, on this thread, for the device type's autocast: a no-op for
// fp32. Nests like torch.autocast; the cast cache is cleared when the outermost guard ends.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType device_type, Precision precision);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  bool active_ = false;
  c10::DeviceType device_type_;
  bool previous_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::kFloat;
};

// Inference on `model` while the scope lives: eval mode, no autograd (inference mode), and with a
// Runtime also the model moved to its device and autocast in its precision. Ends by putting the
// model back in train mode if it was training, so the trainer's periodic evaluation uses it too.
//
//   const Runtime runtime = resolve_runtime(options.runtime);  // fails before loading anything
//   Classifier classifier = load_classifier(options.model_dir, load_options);
//   InferenceScope inference(*classifier.model, runtime);
class InferenceScope {
 public:
  explicit InferenceScope(torch::nn::Module& model);
  InferenceScope(torch::nn::Module& model, const Runtime& runtime);
  ~InferenceScope();
  InferenceScope(const InferenceScope&) = delete;
  InferenceScope& operator=(const InferenceScope&) = delete;

 private:
  torch::nn::Module& model_;
  bool was_training_;
  std::optional<c10::InferenceMode> inference_mode_;
  std::optional<AutocastGuard> autocast_;
};

}  // namespace ftune
