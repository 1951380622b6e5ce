// Linear layers on int8 or oneDNN-packed weights for inference; see linear.h. The int8 numbers
// follow PyTorch's torch/ao/quantization/observer.py (PerChannelMinMaxObserver,
// _calculate_qparams), torch/ao/nn/quantized/modules/utils.py (_quantize_weight) and
// torch/ao/nn/quantized/dynamic/modules/linear.py (forward), so that ftune's int8 model gives what
// quantize_dynamic gives in Python on the same LibTorch (tests/models/linear_test.cpp).
#include "models/linear.h"

#include <algorithm>
#include <limits>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

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

  static const dnnl::engine& engine() {
    static const dnnl::engine cpu(dnnl::engine::kind::cpu, 0);
    return cpu;
  }

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

  // One reorder between two layouts of the same weight (packing it, or unpacking it).
  static void copy_between(const dnnl::memory::desc& from_desc, void* from_data,
                           const dnnl::memory::desc& to_desc, void* to_data) {
    dnnl::memory from(from_desc, engine(), from_data);
    dnnl::memory to(to_desc, engine(), to_data);
    dnnl::stream stream(engine());
    dnnl::reorder(from, to).execute(stream, from, to);
    stream.wait();
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
  if (onednn_weight_ && input.scalar_type() == at::kFloat && input.device().is_cpu()) {
    TORCH_CHECK(!is_training(), "a oneDNN-packed Linear layer is for inference only");
    return onednn_weight_->linear(input, bias);
  }
  if (packed_.isNone()) return torch::nn::LinearImpl::forward(input);
  TORCH_CHECK(!is_training(), "an int8 Linear layer cannot be trained (it has no gradient)");
  return linear_int8(input, packed_);
}

void LinearImpl::quantize_int8() {
  packed_ =
      pack_int8_weight(weight, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt);
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
  if (!onednn_weight_ && packed_.isNone()) return 0;
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
