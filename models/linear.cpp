// Linear layers on int8 or oneDNN-packed weights for inference; see linear.h. The int8 numbers
// follow PyTorch's torch/ao/quantization/observer.py (PerChannelMinMaxObserver,
// _calculate_qparams), torch/ao/nn/quantized/modules/utils.py (_quantize_weight) and
// torch/ao/nn/quantized/dynamic/modules/linear.py (forward), so that ftune's int8 model gives what
// quantize_dynamic gives in Python with fbgemm (tests/models/linear_test.cpp: bit for bit on
// recorded calls, the Debian build's libdnnl kernels included).
#include "models/linear.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <fmt/format.h>

#include "util/error.h"

#if FTUNE_DNNL
#include <dnnl.hpp>
#endif

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

#if !FTUNE_DNNL
// The operator, when this LibTorch registers it with a CPU kernel.
std::optional<c10::OperatorHandle> find_cpu_operator(const char* name) {
  auto handle = c10::Dispatcher::singleton().findSchema({name, ""});
  if (!handle || !handle->hasKernelForDispatchKey(c10::DispatchKey::CPU)) return std::nullopt;
  return *handle;
}
#endif

}  // namespace

#if FTUNE_DNNL

namespace {

const dnnl::engine& engine() {
  static const dnnl::engine cpu(dnnl::engine::kind::cpu, 0);
  return cpu;
}

// One reorder between two layouts of the same weight (packing it, or unpacking it).
void copy_between(const dnnl::memory::desc& from_desc, void* from_data,
                  const dnnl::memory::desc& to_desc, void* to_data) {
  dnnl::memory from(from_desc, engine(), from_data);
  dnnl::memory to(to_desc, engine(), to_data);
  dnnl::stream stream(engine());
  dnnl::reorder(from, to).execute(stream, from, to);
  stream.wait();
}

// Debian's LibTorch 1.13 has no packed float32 linear op, but it runs on Debian's libdnnl (2.x),
// which ftune calls directly: a matmul primitive whose weight layout is left to oneDNN
// (format_tag::any), the weight reordered into that layout once. oneDNN picks the layout from the
// shapes and the CPU, the same for every row count (checked per primitive: a row count whose
// primitive wants another layout is not run on it). Primitives are made per row count (decoding
// changes it as examples finish) and kept, at most kMaxPrimitives per weight.
class DnnlWeight final : public OnednnWeight {
 public:
  // `type`: f32, or bf16 (the weight rounded to bfloat16 once, each input per call; products
  // summed in float32, the output float32).
  static std::shared_ptr<const DnnlWeight> pack(const at::Tensor& weight,
                                                dnnl::memory::data_type type) {
    const int64_t out_features = weight.size(0);
    const int64_t in_features = weight.size(1);
    // The layout oneDNN chooses for a decoding-sized product (16 rows).
    auto desc = make_primitive_desc(
        16, in_features, out_features, any_weights(in_features, out_features, type), false);
    const dnnl::memory::desc packed_desc = desc.weights_desc();
    auto packed = at::empty({static_cast<int64_t>(packed_desc.get_size())}, at::kByte);
    at::Tensor dense = weight.detach().contiguous();
    copy_between(dense_weight_desc(in_features, out_features),
                 dense.data_ptr<float>(),
                 packed_desc,
                 packed.data_ptr());
    return std::shared_ptr<const DnnlWeight>(
        new DnnlWeight(in_features, out_features, type, packed_desc, std::move(packed)));
  }

  at::Tensor linear(const at::Tensor& input, const at::Tensor& bias) const override {
    TORCH_CHECK(input.scalar_type() == at::kFloat && input.device().is_cpu(),
                "a oneDNN-packed Linear layer takes float32 CPU inputs, got ",
                input.scalar_type(),
                " on ",
                input.device());
    TORCH_CHECK(input.size(-1) == in_features_,
                "a oneDNN-packed Linear layer expects ",
                in_features_,
                " input features, got ",
                input.size(-1));
    const bool bf16 = type_ == dnnl::memory::data_type::bf16;
    const at::Tensor rows = input.reshape({-1, in_features_})
                                .to(bf16 ? at::kBFloat16 : at::kFloat)
                                .contiguous();  // (N, In)
    const int64_t count = rows.size(0);
    std::vector<int64_t> out_sizes = input.sizes().vec();
    out_sizes.back() = out_features_;
    at::Tensor out = at::empty({count, out_features_}, input.options());  // (N, Out), float32
    if (count == 0) return out.view(out_sizes);
    const bool with_bias = bias.defined();
    const std::optional<dnnl::matmul> primitive = find_primitive(count, with_bias);
    if (!primitive) {  // oneDNN wants another layout for this row count
      return at::linear(input, dense_weight(), bias);
    }
    using dnnl::memory;
    memory src({{count, in_features_}, type_, memory::format_tag::ab}, engine(), rows.data_ptr());
    memory weights(packed_desc_, engine(), packed_.data_ptr());
    memory dst({{count, out_features_}, memory::data_type::f32, memory::format_tag::ab},
               engine(),
               out.data_ptr<float>());
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}};
    at::Tensor bias_values;
    if (with_bias) {
      bias_values = bias.detach().to(at::kFloat).contiguous();
      args.emplace(DNNL_ARG_BIAS,
                   memory({{1, out_features_}, memory::data_type::f32, memory::format_tag::ab},
                          engine(),
                          bias_values.data_ptr<float>()));
    }
    dnnl::stream stream(engine());
    primitive->execute(stream, args);
    stream.wait();
    return out.view(out_sizes);  // (..., Out)
  }

 private:
  static constexpr size_t kMaxPrimitives = 64;

  DnnlWeight(int64_t in_features, int64_t out_features, dnnl::memory::data_type type,
             dnnl::memory::desc packed_desc, at::Tensor packed)
      : in_features_(in_features),
        out_features_(out_features),
        type_(type),
        packed_desc_(std::move(packed_desc)),
        packed_(std::move(packed)) {}

  // Weights (In, Out) of `type` in the layout oneDNN will choose.
  static dnnl::memory::desc any_weights(int64_t in_features, int64_t out_features,
                                        dnnl::memory::data_type type) {
    return {{in_features, out_features}, type, dnnl::memory::format_tag::any};
  }

  // torch's (Out, In) row-major weight is oneDNN's (In, Out) in column order: format_tag::ba.
  static dnnl::memory::desc dense_weight_desc(int64_t in_features, int64_t out_features) {
    return {
        {in_features, out_features}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ba};
  }

  // Input of the weights' type, output and bias float32.
  static dnnl::matmul::primitive_desc make_primitive_desc(int64_t rows, int64_t in_features,
                                                          int64_t out_features,
                                                          const dnnl::memory::desc& weights,
                                                          bool with_bias) {
    using dnnl::memory;
    const memory::desc src({rows, in_features}, weights.data_type(), memory::format_tag::ab);
    const memory::desc dst({rows, out_features}, memory::data_type::f32, memory::format_tag::ab);
    if (with_bias) {
      const memory::desc bias({1, out_features}, memory::data_type::f32, memory::format_tag::ab);
      return {dnnl::matmul::desc(src, weights, bias, dst), engine()};
    }
    return {dnnl::matmul::desc(src, weights, dst), engine()};
  }

  // The primitive for `rows` rows on the packed layout (a handle: copies share it); nullopt when
  // oneDNN would choose another layout.
  std::optional<dnnl::matmul> find_primitive(int64_t rows, bool with_bias) const {
    const int64_t key = with_bias ? -rows : rows;
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = primitives_.find(key);
    if (found != primitives_.end()) return found->second;
    if (primitives_.size() >= kMaxPrimitives) primitives_.clear();
    std::optional<dnnl::matmul> primitive;
    auto desc = make_primitive_desc(rows,
                                    in_features_,
                                    out_features_,
                                    any_weights(in_features_, out_features_, type_),
                                    with_bias);
    if (desc.weights_desc() == packed_desc_) primitive.emplace(desc);
    primitives_[key] = primitive;
    return primitive;
  }

  // The float32 weight (Out, In) back from the packed copy, for a row count oneDNN would lay out
  // differently (not seen on the shapes ftune uses; kept so that every call has an answer).
  at::Tensor dense_weight() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!dense_.defined()) {
      dense_ = at::empty({out_features_, in_features_}, at::kFloat);
      copy_between(packed_desc_,
                   packed_.data_ptr(),
                   dense_weight_desc(in_features_, out_features_),
                   dense_.data_ptr<float>());
    }
    return dense_;
  }

  int64_t in_features_;
  int64_t out_features_;
  dnnl::memory::data_type type_;
  dnnl::memory::desc packed_desc_;
  at::Tensor packed_;  // bytes in packed_desc_'s layout
  mutable std::mutex mutex_;
  mutable std::unordered_map<int64_t, std::optional<dnnl::matmul>> primitives_;
  mutable at::Tensor dense_;
};

}  // namespace

bool onednn_linear_available() { return true; }

bool onednn_linear_is_libdnnl() { return true; }

std::string onednn_linear_engine() {
  const dnnl_version_t* version = dnnl_version();
  return fmt::format("libdnnl {}.{}.{}", version->major, version->minor, version->patch);
}

bool onednn_linear_bf16_available() {
  // Native bfloat16 products only (AVX512-BF16, AMX): elsewhere oneDNN emulates them, slower than
  // float32.
  static const bool available = [] {
    const dnnl::cpu_isa isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  }();
  return available;
}

std::shared_ptr<const OnednnWeight> pack_onednn_weight(const at::Tensor& weight, bool bf16) {
  if (!weight.device().is_cpu() || weight.scalar_type() != at::kFloat || weight.dim() != 2 ||
      (bf16 && !onednn_linear_bf16_available())) {
    return nullptr;
  }
  try {
    return DnnlWeight::pack(weight,
                            bf16 ? dnnl::memory::data_type::bf16 : dnnl::memory::data_type::f32);
  } catch (const dnnl::error& error) {
    throw Error(fmt::format("packing a {} x {} weight for oneDNN: {} (status {})",
                            weight.size(0),
                            weight.size(1),
                            error.what(),
                            static_cast<int>(error.status)));
  }
}

#else  // LibTorch 2.x: its own oneDNN through the mkldnn operators

namespace {

class LibTorchOnednnWeight final : public OnednnWeight {
 public:
  explicit LibTorchOnednnWeight(at::Tensor packed) : packed_(std::move(packed)) {}

  at::Tensor linear(const at::Tensor& input, const at::Tensor& bias) const override {
    static const auto linear = find_cpu_operator("mkldnn::_linear_pointwise");
    TORCH_CHECK(linear, "linear_onednn: this LibTorch has no mkldnn::_linear_pointwise");
    const auto in_features = input.size(-1);
    auto rows = input.reshape({-1, in_features});  // (N, In)
    std::vector<int64_t> out_sizes = input.sizes().vec();
    torch::jit::Stack stack{rows.contiguous(),
                            packed_,
                            bias.defined() ? c10::IValue(bias) : c10::IValue(),
                            std::string("none"),
                            c10::List<c10::optional<at::Scalar>>(),
                            c10::IValue()};
    linear->callBoxed(&stack);
    auto out = stack.at(0).toTensor();  // (N, Out)
    out_sizes.back() = out.size(-1);
    return out.view(out_sizes);  // (..., Out)
  }

 private:
  at::Tensor packed_;  // an mkldnn tensor in oneDNN's blocked layout
};

}  // namespace

bool onednn_linear_available() {
  static const bool available = at::hasMKLDNN() &&
                                find_cpu_operator("mkldnn::_reorder_linear_weight").has_value() &&
                                find_cpu_operator("mkldnn::_linear_pointwise").has_value();
  return available;
}

bool onednn_linear_is_libdnnl() { return false; }

std::string onednn_linear_engine() { return onednn_linear_available() ? "LibTorch's oneDNN" : ""; }

bool onednn_linear_bf16_available() { return false; }  // --precision bf16 stays on autocast

std::shared_ptr<const OnednnWeight> pack_onednn_weight(const at::Tensor& weight, bool bf16) {
  static const auto reorder = find_cpu_operator("mkldnn::_reorder_linear_weight");
  if (bf16 || !onednn_linear_available() || !weight.device().is_cpu() ||
      weight.scalar_type() != at::kFloat || weight.dim() != 2) {
    return nullptr;
  }
  // No batch-size hint: decoding's row count changes every step (examples finish, beams).
  torch::jit::Stack stack{weight.detach().contiguous(), c10::IValue()};
  reorder->callBoxed(&stack);
  return std::make_shared<LibTorchOnednnWeight>(stack.at(0).toTensor());
}

#endif

namespace {

// Each output row of `weight` (Out, In) to int8: PerChannelMinMaxObserver (ch_axis 0), qint8
// [-128, 127], per_channel_symmetric: scale = max(-min, max) / 127.5, at least float32's
// epsilon, computed in float32 and handed over as double (torch.ao's _quantize_weight); zero
// points 0. A quantized tensor: int_repr() the int8 values, q_per_channel_scales() the scales.
at::Tensor quantize_weight_per_row(const at::Tensor& weight) {
  at::Tensor w = weight.detach().to(at::kFloat).contiguous();
  const at::Tensor largest = at::maximum(-at::clamp_max(std::get<0>(w.min(1)), 0),
                                         at::clamp_min(std::get<0>(w.max(1)), 0));
  const at::Tensor scales =
      at::clamp_min(largest / 127.5, std::numeric_limits<float>::epsilon()).to(at::kDouble);
  const at::Tensor zero_points = at::zeros({w.size(0)}, at::kLong);
  return at::quantize_per_channel(w, scales, zero_points, /*axis=*/0, at::kQInt8);
}

// LibTorch's quantized::linear_dynamic on its packed params (fbgemm, or its oneDNN engine).
class LibTorchInt8Weight final : public Int8Weight {
 public:
  explicit LibTorchInt8Weight(c10::IValue packed) : packed_(std::move(packed)) {}

  at::Tensor linear(const at::Tensor& input) const override {
    torch::jit::Stack stack{input.to(at::kFloat).contiguous(), packed_, /*reduce_range=*/true};
    static const c10::OperatorHandle linear_dynamic = find_operator("quantized::linear_dynamic");
    linear_dynamic.callBoxed(&stack);
    return stack.at(0).toTensor();
  }

 private:
  c10::IValue packed_;
};

std::shared_ptr<const Int8Weight> pack_libtorch_int8(const at::Tensor& weight,
                                                     const std::optional<at::Tensor>& bias) {
  select_quantized_engine();
  c10::optional<at::Tensor> float_bias;
  if (bias && bias->defined()) float_bias = bias->detach().to(at::kFloat).contiguous();
  torch::jit::Stack stack{quantize_weight_per_row(weight), float_bias};
  static const c10::OperatorHandle prepack = find_operator("quantized::linear_prepack");
  prepack.callBoxed(&stack);
  return std::make_shared<LibTorchInt8Weight>(stack.at(0));
}

}  // namespace

#if FTUNE_DNNL

namespace {

// The per-tensor uint8 quantization PyTorch's dynamic Linear picks for its input
// (quant_utils::ChooseQuantizationParams over qmin 0 and qmax 255 halved by reduce_range, no
// sparsity preserved): the range widened to hold 0, scale = range / 127 (0.1 for an all-zero
// input; at least 6.1e-5, the range scaled to match), the zero point from whichever end adds the
// smaller error, rounded and kept in [0, 127]. The inputs are multiplied by the reciprocal of the
// scale in double precision rounded to float32, and the sums by the scale rounded to float32: how
// PyTorch's fbgemm path rounds (one input element in a beam search of the Marian fixture lay at
// 31.5 that way and at 31.499996 with the reciprocal of the float32 scale, and moved a beam's
// score by 6e-3).
struct InputQuantization {
  float scale;
  float inverse_scale;
  int32_t zero_point;
};

InputQuantization choose_input_quantization(float lowest, float highest) {
  constexpr int32_t kMin = 0;
  constexpr int32_t kMax = 255 / 2;  // reduce_range: 7 bits, as PyTorch asks of every engine
  constexpr double kSmallestScale = 6.1e-5;
  double low = std::min(lowest, 0.0f);
  double high = std::max(highest, 0.0f);
  double scale = (high - low) / (kMax - kMin);
  if (static_cast<float>(scale) == 0.0f || std::isinf(1.0f / static_cast<float>(scale))) {
    scale = 0.1;
  }
  if (scale < kSmallestScale) {
    const double factor = kSmallestScale / scale;
    scale = kSmallestScale;
    if (low == 0.0) {
      high = kSmallestScale * (kMax - kMin);
    } else if (high == 0.0) {
      low = -kSmallestScale * (kMax - kMin);
    } else {
      low *= factor;
      high *= factor;
    }
  }
  const double from_low = kMin - low / scale;
  const double from_high = kMax - high / scale;
  const double low_error = std::abs(static_cast<double>(kMin)) - std::abs(low / scale);
  const double high_error = std::abs(static_cast<double>(kMax)) - std::abs(high / scale);
  const double zero_point = low_error < high_error ? from_low : from_high;
  int32_t nudged = kMin;
  if (zero_point > kMax) {
    nudged = kMax;
  } else if (zero_point >= kMin) {
    nudged = static_cast<int32_t>(std::nearbyint(zero_point));
  }
  return {static_cast<float>(scale), static_cast<float>(1.0 / scale), nudged};
}

// The loops around the int8 product, built for AVX-512 and AVX2 + FMA (x86-64-v3) as well as the
// baseline (GCC picks one per CPU at load time), next to an AMX product of 7-70 us at decoding's
// row counts.

// values (count > 0) -> their min and max. Sixteen running minima and maxima in one GCC vector
// (a plain loop's single running minimum is a chain GCC keeps scalar, and it does not vectorize
// sixteen separate ones either); `a < b ? a : b` per lane is what MINPS computes.
__attribute__((target_clones("avx512f", "arch=x86-64-v3", "default"))) std::pair<float, float>
min_max(const float* values, int64_t count) {
  using Lanes = float __attribute__((vector_size(64)));
  constexpr int64_t kLanes = 16;
  Lanes lowest;
  Lanes highest;
  for (int64_t lane = 0; lane < kLanes; ++lane) lowest[lane] = highest[lane] = values[0];
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    Lanes chunk;
    std::memcpy(&chunk, values + i, sizeof(chunk));
    lowest = chunk < lowest ? chunk : lowest;
    highest = chunk > highest ? chunk : highest;
  }
  float low = lowest[0];
  float high = highest[0];
  for (int64_t lane = 1; lane < kLanes; ++lane) {
    low = lowest[lane] < low ? lowest[lane] : low;
    high = highest[lane] > high ? highest[lane] : high;
  }
  for (; i < count; ++i) {
    low = values[i] < low ? values[i] : low;
    high = values[i] > high ? values[i] : high;
  }
  return {low, high};
}

// out[i] = clamp(round_half_even(values[i] * inverse_scale) + zero_point, 0, 255), the product in
// float32 and rounded on its own, before the zero point is added. Rounds by adding and subtracting
// 1.5 * 2^23 (exact for |x| < 2^22; every product here lies within the 7-bit range), which
// vectorizes where std::nearbyint stays a call per element.
__attribute__((target_clones("avx512f", "arch=x86-64-v3", "default"))) void quantize_input(
    const float* values, int64_t count, float inverse_scale, int32_t zero_point, uint8_t* out) {
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23
  const auto zero = static_cast<float>(zero_point);
  for (int64_t i = 0; i < count; ++i) {
    const float rounded = (values[i] * inverse_scale + kRound) - kRound;
    const float shifted = std::min(std::max(rounded + zero, 0.0f), 255.0f);
    out[i] = static_cast<uint8_t>(static_cast<int32_t>(shifted));
  }
}

// In place over (rows, columns): sums[r][c] (int32) -> float(sums - zero_point * column_sums[c])
// * (weight_scales[c] * input_scale) + bias[c], the last two in one fused multiply-add as
// fbgemm's float output does it (one rounding; with two, recorded fbgemm outputs came out an ulp
// apart). The zero point's share leaves in int32, exactly, before the scaling. Per column, no
// per-call tensors: this runs on every Linear call of every decoding step.
__attribute__((target_clones("avx512f", "arch=x86-64-v3", "default"))) void scale_sums(
    void* sums_then_out, int64_t rows, int64_t columns, const int32_t* column_sums,
    int32_t zero_point, const float* weight_scales, float input_scale, const float* bias) {
  auto* sums = static_cast<int32_t*>(sums_then_out);
  auto* out = static_cast<float*>(sums_then_out);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t at = r * columns;
    for (int64_t c = 0; c < columns; ++c) {
      out[at + c] = std::fma(static_cast<float>(sums[at + c] - zero_point * column_sums[c]),
                             weight_scales[c] * input_scale,
                             bias[c]);
    }
  }
}

// int8 products on libdnnl (the Debian build). A matmul primitive uint8 x int8 -> int32 with no
// attributes: oneDNN 2.6 runs that on its brgemm kernels (AMX or VNNI), while runtime scales or
// zero points send it to a gemm 3-10x slower at decoding's row counts. So the input's
// quantization, the zero point's share (zero point x each column's sum of int8 weights, kept
// from packing) and the scaling back to float (input scale x the row's weight scale) are done
// here around it. The weight is reordered once into the layout oneDNN picks for 16 rows, which
// did not change with the row count on the shapes measured (1-1024 rows, AMX); a row count that
// would want another gets a primitive asked for the packed layout, and an error only where oneDNN
// has none.
class DnnlInt8Weight final : public Int8Weight {
  // Elements per thread's share of the loops around the product.
  static constexpr int64_t kElementsPerTask = 32768;

 public:
  // nullptr where libdnnl has only its reference kernels for int8 on this CPU.
  static std::shared_ptr<const DnnlInt8Weight> pack(const at::Tensor& weight,
                                                    const std::optional<at::Tensor>& bias) {
    const int64_t out_features = weight.size(0);
    const int64_t in_features = weight.size(1);
    const auto desc = make_primitive_desc(16, in_features, out_features);
    if (std::string(desc.impl_info_str()).rfind("ref", 0) == 0) return nullptr;
    const at::Tensor quantized = quantize_weight_per_row(weight);
    const at::Tensor values = quantized.int_repr().contiguous();  // (Out, In) int8
    const dnnl::memory::desc packed_desc = desc.weights_desc();
    auto packed = at::empty({static_cast<int64_t>(packed_desc.get_size())}, at::kByte);
    // torch's (Out, In) row-major weight is oneDNN's (In, Out) in column order: format_tag::ba.
    copy_between(
        {{in_features, out_features}, dnnl::memory::data_type::s8, dnnl::memory::format_tag::ba},
        values.data_ptr(),
        packed_desc,
        packed.data_ptr());
    auto result = std::shared_ptr<DnnlInt8Weight>(new DnnlInt8Weight(in_features, out_features));
    result->packed_desc_ = packed_desc;
    result->packed_ = std::move(packed);
    result->weight_scales_ = quantized.q_per_channel_scales().to(at::kFloat).contiguous();
    result->column_sums_ = values.sum(1, /*keepdim=*/false, at::kInt).contiguous();  // (Out)
    result->bias_ = bias && bias->defined() ? bias->detach().to(at::kFloat).contiguous()
                                            : at::zeros({out_features}, at::kFloat);
    return result;
  }

  at::Tensor linear(const at::Tensor& input) const override {
    TORCH_CHECK(input.device().is_cpu(),
                "an int8 Linear layer takes CPU inputs, got one on ",
                input.device());
    TORCH_CHECK(input.size(-1) == in_features_,
                "an int8 Linear layer expects ",
                in_features_,
                " input features, got ",
                input.size(-1));
    const at::Tensor rows = input.reshape({-1, in_features_}).to(at::kFloat).contiguous();
    const int64_t count = rows.size(0);
    std::vector<int64_t> out_sizes = input.sizes().vec();
    out_sizes.back() = out_features_;
    at::Tensor out = at::empty({count, out_features_}, rows.options());  // (N, Out) float32
    if (count == 0) return out.view(out_sizes);
    const std::optional<dnnl::matmul> primitive = find_primitive(count);
    TORCH_CHECK(primitive,
                "an int8 Linear layer: oneDNN has no int8 kernel for ",
                count,
                " rows on the weight's packed layout; hint: run without --quantize int8");
    // The loops around the product run on every thread for the encoder's hundreds of rows
    // (single-threaded they cost BERT-base's evaluation a fifth of its int8 speed-up); a
    // decoding step's few rows stay on one.
    const float* values = rows.data_ptr<float>();
    const int64_t grain = std::max<int64_t>(1, kElementsPerTask / in_features_);
    // One slot per possible task (each task's first row is a multiple of at least `grain` apart);
    // slots no task fills keep the first value, which changes neither the min nor the max.
    std::vector<std::pair<float, float>> ranges(static_cast<size_t>((count + grain - 1) / grain),
                                                {values[0], values[0]});
    at::parallel_for(0, count, grain, [&](int64_t begin, int64_t end) {
      ranges[static_cast<size_t>(begin / grain)] =
          min_max(values + begin * in_features_, (end - begin) * in_features_);
    });
    float lowest = ranges[0].first;
    float highest = ranges[0].second;
    for (const auto& [low, high] : ranges) {
      lowest = std::min(lowest, low);
      highest = std::max(highest, high);
    }
    const InputQuantization quantization = choose_input_quantization(lowest, highest);
    at::Tensor quantized = at::empty({count, in_features_}, at::kByte);
    uint8_t* quantized_values = quantized.data_ptr<uint8_t>();
    at::parallel_for(0, count, grain, [&](int64_t begin, int64_t end) {
      quantize_input(values + begin * in_features_,
                     (end - begin) * in_features_,
                     quantization.inverse_scale,
                     quantization.zero_point,
                     quantized_values + begin * in_features_);
    });
    using dnnl::memory;
    memory src({{count, in_features_}, memory::data_type::u8, memory::format_tag::ab},
               engine(),
               quantized.data_ptr());
    memory weights(packed_desc_, engine(), packed_.data_ptr());
    // The int32 sums land in the output's own bytes and become floats there.
    memory dst({{count, out_features_}, memory::data_type::s32, memory::format_tag::ab},
               engine(),
               out.data_ptr());
    dnnl::stream stream(engine());
    primitive->execute(stream,
                       {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, dst}});
    stream.wait();
    auto* sums = static_cast<int32_t*>(out.data_ptr());
    at::parallel_for(0,
                     count,
                     std::max<int64_t>(1, kElementsPerTask / out_features_),
                     [&](int64_t begin, int64_t end) {
                       scale_sums(sums + begin * out_features_,
                                  end - begin,
                                  out_features_,
                                  column_sums_.data_ptr<int32_t>(),
                                  quantization.zero_point,
                                  weight_scales_.data_ptr<float>(),
                                  quantization.scale,
                                  bias_.data_ptr<float>());
                     });
    return out.view(out_sizes);  // (..., Out)
  }

 private:
  static constexpr size_t kMaxPrimitives = 64;

  DnnlInt8Weight(int64_t in_features, int64_t out_features)
      : in_features_(in_features), out_features_(out_features) {}

  // Weights in `weights`' layout, or (by default) the one oneDNN prefers for this row count.
  static dnnl::matmul::primitive_desc make_primitive_desc(
      int64_t rows, int64_t in_features, int64_t out_features,
      const std::optional<dnnl::memory::desc>& weights_layout = std::nullopt) {
    using dnnl::memory;
    const memory::desc src({rows, in_features}, memory::data_type::u8, memory::format_tag::ab);
    const memory::desc weights = weights_layout ? *weights_layout
                                                : memory::desc({in_features, out_features},
                                                               memory::data_type::s8,
                                                               memory::format_tag::any);
    const memory::desc dst({rows, out_features}, memory::data_type::s32, memory::format_tag::ab);
    return {dnnl::matmul::desc(src, weights, dst), engine()};
  }

  std::optional<dnnl::matmul> find_primitive(int64_t rows) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = primitives_.find(rows);
    if (found != primitives_.end()) return found->second;
    if (primitives_.size() >= kMaxPrimitives) primitives_.clear();
    std::optional<dnnl::matmul> primitive;
    const auto desc = make_primitive_desc(rows, in_features_, out_features_);
    if (desc.weights_desc() == packed_desc_) {
      primitive.emplace(desc);
    } else {
      // Asked for the packed layout itself, oneDNN may still have a kernel for it.
      try {
        primitive.emplace(make_primitive_desc(rows, in_features_, out_features_, packed_desc_));
      } catch (const dnnl::error&) {
      }
    }
    primitives_[rows] = primitive;
    return primitive;
  }

  int64_t in_features_;
  int64_t out_features_;
  dnnl::memory::desc packed_desc_;
  at::Tensor packed_;         // bytes in packed_desc_'s layout
  at::Tensor weight_scales_;  // (Out) float32
  at::Tensor column_sums_;    // (Out) int32: each output row's sum of int8 weights
  at::Tensor bias_;           // (Out) float32, zeros without a bias
  mutable std::mutex mutex_;
  mutable std::unordered_map<int64_t, std::optional<dnnl::matmul>> primitives_;
};

// Whether libdnnl runs int8 products on optimised kernels on this CPU (not its reference ones).
bool libdnnl_int8_available() {
  static const bool available = [] {
    const auto desc = dnnl::matmul::primitive_desc(
        dnnl::matmul::desc({{16, 64}, dnnl::memory::data_type::u8, dnnl::memory::format_tag::ab},
                           {{64, 64}, dnnl::memory::data_type::s8, dnnl::memory::format_tag::any},
                           {{16, 64}, dnnl::memory::data_type::s32, dnnl::memory::format_tag::ab}),
        engine());
    return std::string(desc.impl_info_str()).rfind("ref", 0) != 0;
  }();
  return available;
}

}  // namespace

#endif

std::string int8_engine() {
#if FTUNE_DNNL
  if (libdnnl_int8_available()) return onednn_linear_engine();
#endif
  select_quantized_engine();
  return at::globalContext().qEngine() == at::QEngine::FBGEMM ? "fbgemm" : "onednn";
}

std::shared_ptr<const Int8Weight> pack_int8_weight(const at::Tensor& weight,
                                                   const std::optional<at::Tensor>& bias,
                                                   Int8Kernels kernels) {
  TORCH_CHECK(weight.dim() == 2, "pack_int8_weight: a weight (Out, In), got ", weight.sizes());
#if FTUNE_DNNL
  if (kernels == Int8Kernels::kFastest && weight.device().is_cpu() && libdnnl_int8_available()) {
    try {
      if (auto packed = DnnlInt8Weight::pack(weight, bias)) return packed;
    } catch (const dnnl::error& error) {
      throw Error(fmt::format("packing a {} x {} weight as int8 for oneDNN: {} (status {})",
                              weight.size(0),
                              weight.size(1),
                              error.what(),
                              static_cast<int>(error.status)));
    }
  }
#else
  (void)kernels;
#endif
  return pack_libtorch_int8(weight, bias);
}

at::Tensor LinearImpl::forward(const at::Tensor& input) {
  if (onednn_weight_ && input.scalar_type() == at::kFloat && input.device().is_cpu()) {
    TORCH_CHECK(!is_training(), "a oneDNN-packed Linear layer is for inference only");
    return onednn_weight_->linear(input, bias);
  }
  if (!int8_) return torch::nn::LinearImpl::forward(input);
  TORCH_CHECK(!is_training(), "an int8 Linear layer cannot be trained (it has no gradient)");
  return int8_->linear(input);
}

void LinearImpl::quantize_int8() {
  int8_ = pack_int8_weight(weight, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt);
}

bool LinearImpl::pack_onednn(int64_t min_weight_elements, bool bf16) {
  if (onednn_weight_) return true;
  if (weight.numel() == 0 || weight.numel() < min_weight_elements) return false;
  auto packed = pack_onednn_weight(weight, bf16);
  if (!packed) return false;
  onednn_weight_ = std::move(packed);
  onednn_bf16_ = bf16;
  return true;
}

int64_t LinearImpl::release_dense_weight() {
  if (!onednn_weight_ && !int8_) return 0;
  // Two references: this member and the module's parameter list. A third holder (a tied
  // embedding, a caller's copy) would see its tensor emptied by set_data, so it is left alone.
  if (weight.use_count() > 2 || !weight.has_storage() || weight.storage().use_count() > 1) {
    return 0;
  }
  const auto bytes = static_cast<int64_t>(weight.storage().nbytes());
  torch::NoGradGuard no_grad;
  weight.set_data(at::empty({0}, weight.options()));
  released_bytes_ += bytes;
  return bytes;
}

int64_t released_dense_weight_bytes(torch::nn::Module& model) {
  int64_t bytes = 0;
  for (const auto& module : model.modules(/*include_self=*/true)) {
    if (auto* linear = module->as<LinearImpl>()) bytes += linear->released_bytes();
  }
  return bytes;
}

bool has_onednn_bf16_layers(torch::nn::Module& model) {
  for (const auto& module : model.modules(/*include_self=*/true)) {
    if (auto* linear = module->as<LinearImpl>(); linear && linear->is_onednn_bf16()) return true;
  }
  return false;
}

int64_t pack_linear_layers_onednn(torch::nn::Module& model, int64_t min_weight_elements,
                                  bool bf16) {
  int64_t count = 0;
  for (const auto& module : model.modules(/*include_self=*/true)) {
    if (auto* linear = module->as<LinearImpl>()) {
      if (linear->pack_onednn(min_weight_elements, bf16)) {
        linear->release_dense_weight();
        ++count;
      }
    }
  }
  return count;
}

int64_t quantize_linear_layers_int8(torch::nn::Module& model) {
  int64_t count = 0;
  for (const auto& module : model.modules(/*include_self=*/true)) {
    if (auto* linear = module->as<LinearImpl>()) {
      linear->quantize_int8();
      linear->release_dense_weight();
      ++count;
    }
  }
  return count;
}

}  // namespace ftune
