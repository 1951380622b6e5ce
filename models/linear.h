// ftune's Linear: torch::nn::Linear (same parameters, same checkpoint keys) that can switch to int8
// weights for CPU inference, as PyTorch's dynamic quantization does it
// (torch.ao.quantization.quantize_dynamic with per_channel_dynamic_qconfig: weights int8 per
// output row, symmetric, scale from their min/max; activations quantized per call; fbgemm's
// numbers: LibTorch's fbgemm kernels where it has them, libdnnl's int8 matmul in the Debian build).
// Not training: an int8 layer has no gradient.
//
//   Linear dense(768, 768);
//   dense->quantize_int8();   // packs the weight once
//   auto y = dense(x);        // x float (..., 768) -> y float (..., 768) through int8 GEMM
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <torch/nn/modules/linear.h>

namespace ftune {

// A weight (Out, In) and its optional bias packed for int8 products: each output row quantized
// to int8 with scale max(|row|) / 127.5 and zero point 0 (PerChannelMinMaxObserver, qint8,
// per_channel_symmetric: PyTorch's per_channel_dynamic_qconfig; per row rather than per tensor,
// since one scale for the whole matrix cost SST-2 and Banking77 over a point of accuracy in
// bench/int8.py).
class Int8Weight {
 public:
  virtual ~Int8Weight() = default;
  // input float (..., In) -> float (..., Out): the input quantized to uint8 per call (one scale
  // and zero point from its own min/max, reduce_range as PyTorch's dynamic Linear asks), int8
  // GEMM summed in int32, scaled back to float, plus the bias.
  virtual at::Tensor linear(const at::Tensor& input) const = 0;
};

// Which kernels multiply: the fastest this build has, or LibTorch's quantized::linear_dynamic on
// its quantized engine (what quantize_dynamic runs in Python; the reference the tests compare
// with). The fastest: on the Debian build, libdnnl's int8 matmul called directly (one primitive
// per row count, the weight reordered once), since LibTorch 1.13's oneDNN engine makes a new
// primitive on most calls (the input's scale is part of its cache key) and decoded slower than
// float32; LibTorch's own kernels elsewhere (fbgemm on the PyTorch wheel's LibTorch).
enum class Int8Kernels { kFastest, kLibTorch };

// Error when this build has no int8 kernels (a LibTorch with no quantized engine and no libdnnl).
std::shared_ptr<const Int8Weight> pack_int8_weight(const at::Tensor& weight,
                                                   const std::optional<at::Tensor>& bias,
                                                   Int8Kernels kernels = Int8Kernels::kFastest);

// What pack_int8_weight's fastest kernels are, for messages: "libdnnl 2.6.3", "fbgemm" or
// "onednn" (LibTorch's engines; Debian's LibTorch 1.13 has no fbgemm). Error when there are none.
std::string int8_engine();

// oneDNN's float32 GEMM on a weight reordered once into its own blocked layout. For the few-row
// products of decoding (1-64 rows) it ran 1.2-3x faster than the BLAS sgemm behind torch::linear,
// which copies (packs) the whole weight again on every call (bench/README.md, "Translation three
// ways"); the sums are the same float32 products in another order (~1e-6 relative). Two engines,
// one per build: LibTorch 1.13 (Debian) calls Debian's libdnnl itself (matmul primitives, one per
// row count, the weight reordered once); LibTorch 2.x calls its own oneDNN through
// mkldnn::_reorder_linear_weight and mkldnn::_linear_pointwise (the ops torch.compile's CPU
// backend calls; 10-30 us a call, so small layers lose there).
class OnednnWeight {
 public:
  virtual ~OnednnWeight() = default;
  // input float (..., In) on the CPU -> float (..., Out), plus `bias` (Out) when defined.
  virtual at::Tensor linear(const at::Tensor& input, const at::Tensor& bias) const = 0;
};

// The weight (Out, In) packed; nullptr where this build cannot (a LibTorch 2.x without oneDNN)
// or for a weight that is not float32 on the CPU. `bf16`: packed as bfloat16, and each input
// rounded to bfloat16 per call, the products summed in float32 and the output float32 (what
// --precision bf16 asks for, 4-5x faster than float32 on AMX for OPUS-MT's output projection);
// nullptr unless onednn_linear_bf16_available().
std::shared_ptr<const OnednnWeight> pack_onednn_weight(const at::Tensor& weight, bool bf16 = false);

// Whether pack_onednn_weight can pack in this build.
bool onednn_linear_available();

// Whether it calls libdnnl itself (the Debian build), whose per-call cost is a few microseconds,
// so that even 64-wide layers were no slower than BLAS (bench/README.md); false for LibTorch's ops.
bool onednn_linear_is_libdnnl();

// Whether pack_onednn_weight can pack as bfloat16: libdnnl (the Debian build) on a CPU with native
// bfloat16 products (AVX512-BF16 or AMX). The torch2 build keeps autocast for --precision bf16.
bool onednn_linear_bf16_available();

// The oneDNN behind it, for messages: "libdnnl 2.6.3", "LibTorch's oneDNN", or "" (none).
std::string onednn_linear_engine();

class LinearImpl : public torch::nn::LinearImpl {
 public:
  using torch::nn::LinearImpl::LinearImpl;
  at::Tensor forward(const at::Tensor& input);
  // From now on forward() runs the int8 kernels; the float weight stays until
  // release_dense_weight() (tests and checkpoint I/O read it).
  void quantize_int8();
  bool is_int8() const { return int8_ != nullptr; }
  // From now on forward() runs oneDNN's GEMM (pack_onednn_weight; in bfloat16 with `bf16`) on
  // float32 inputs; false, and nothing changed, where this build cannot or the weight has fewer
  // than `min_weight_elements`.
  bool pack_onednn(int64_t min_weight_elements = 0, bool bf16 = false);
  // For a layer whose forward() no longer reads the float32 weight (packed for oneDNN, or int8):
  // puts an empty tensor in its place, under the same parameter, and returns the bytes that
  // frees. 0, and nothing changed, for a layer not packed, or when something else holds the
  // weight or its storage too (a weight tied to an embedding). Inference only: afterwards the
  // layer cannot be saved, trained or unpacked.
  int64_t release_dense_weight();
  // What release_dense_weight() freed (0 before it, or when it freed nothing).
  int64_t released_bytes() const { return released_bytes_; }
  // Whether pack_onednn packed it as bfloat16.
  bool is_onednn_bf16() const { return onednn_weight_ && onednn_bf16_; }

 private:
  int64_t released_bytes_ = 0;
  bool onednn_bf16_ = false;
  std::shared_ptr<const Int8Weight> int8_;
  std::shared_ptr<const OnednnWeight> onednn_weight_;
};
TORCH_MODULE(Linear);

// Every ftune::Linear inside `model` switched to int8 (what quantize_dynamic does to every
// nn.Linear), each one's float32 weight freed right after where nothing else holds it
// (release_dense_weight), so that the peak is the model plus one layer. Returns how many.
// Inference only.
int64_t quantize_linear_layers_int8(torch::nn::Module& model);

// Every ftune::Linear inside `model` with at least `min_weight_elements` weights packed for
// oneDNN and its float32 weight freed as for quantize_linear_layers_int8; how many (0 where this
// LibTorch cannot). Inference only.
int64_t pack_linear_layers_onednn(torch::nn::Module& model, int64_t min_weight_elements = 0,
                                  bool bf16 = false);

// The bytes of float32 weights the two above freed in `model` (released_bytes of its layers).
int64_t released_dense_weight_bytes(torch::nn::Module& model);

// Whether any ftune::Linear inside `model` runs bfloat16 products on oneDNN (is_onednn_bf16).
bool has_onednn_bf16_layers(torch::nn::Module& model);

}  // namespace ftune
