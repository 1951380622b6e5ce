// Attention arithmetic. LibTorch 1.13 has no public fused kernel, so there it is the plain
// matmul/softmax path, written in Hugging Face's BertSelfAttention operation order so that
// float32 results agree to ~1e-6. LibTorch >= 2.0 uses at::scaled_dot_product_attention, which
// picks flash / memory-efficient kernels on CUDA and falls back to the same math elsewhere.
#include "models/attention.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>
#include <torch/version.h>

#include "models/dropout.h"

#if TORCH_VERSION_MAJOR < 2
#include <ATen/Parallel.h>
#include <cblas.h>
#endif

namespace ftune {

#if TORCH_VERSION_MAJOR >= 2

at::Tensor attention_matmul(const at::Tensor& a, const at::Tensor& b) {
  return torch::matmul(a, b);
}

// scaled_dot_product_attention(query, key, value, attn_mask, dropout_p, is_causal): the 2.0
// signature (2.1 appends an optional `scale`, 2.5 `enable_gqa`; both default to what we want:
// 1/sqrt(D) and plain multi-head). A float attn_mask is added to q k^T / sqrt(D) before the
// softmax, and dropout_p drops attention probabilities exactly as the path below does; the op
// has no training flag, so dropout_p is zeroed in eval mode.
at::Tensor compute_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& additive_mask, double dropout_p, bool training) {
  const double effective_dropout = training ? dropout_p : 0.0;
  if (!additive_mask.defined()) {
    return at::scaled_dot_product_attention(q,
                                            k,
                                            v,
                                            /*attn_mask=*/{},
                                            effective_dropout,
                                            /*is_causal=*/false);  // (B, H, T, D)
  }
  // 2.0/2.1 accept only a bool mask or one of the query's dtype (under autocast q is bf16/fp16
  // while our masks are float32). The lowest float32 would round to -inf in bf16/fp16, so clamp
  // to the target dtype's lowest finite value first, as Hugging Face builds its masks.
  auto mask = additive_mask;
  if (mask.scalar_type() != q.scalar_type()) {
    mask = mask.clamp_min(lowest_value(q.scalar_type())).to(q.scalar_type());
  }
  return at::scaled_dot_product_attention(q,
                                          k,
                                          v,
                                          mask,
                                          effective_dropout,
                                          /*is_causal=*/false);  // (B, H, T, D)
}

#else  // LibTorch 1.13

namespace {

// A (B, H, rows, cols) float32 operand as CBLAS sees each of its B * H matrices: row-major with
// leading dimension `ld`, transposed or not. Views with a unit stride in either of the last two
// dimensions (q, k^T and v are such views of the projections) go in without a copy.
struct BlasOperand {
  at::Tensor tensor;
  CBLAS_TRANSPOSE trans = CblasNoTrans;
  int ld = 1;
};

BlasOperand blas_operand(const at::Tensor& t) {
  const auto rows = t.size(2);
  const auto cols = t.size(3);
  if (t.stride(3) == 1 && t.stride(2) >= std::max<int64_t>(cols, 1)) {
    return {t, CblasNoTrans, static_cast<int>(t.stride(2))};
  }
  if (t.stride(2) == 1 && t.stride(3) >= std::max<int64_t>(rows, 1)) {
    return {t, CblasTrans, static_cast<int>(t.stride(3))};
  }
  auto contiguous = t.contiguous();
  return {contiguous, CblasNoTrans, static_cast<int>(std::max<int64_t>(cols, 1))};
}

// a (B, H, M, K) x b (B, H, K, N) -> (B, H, M, N), one sgemm per (batch, head) matrix with the
// matrices split across the threads. LibTorch 1.13's bmm loops over them one after the other
// (each sgemm too small for OpenBLAS to thread), so attention ran on one core whatever
// --threads said; and each of its per-matrix calls costs several microseconds of tensor views.
// (This file is compiled with -fopenmp: at::parallel_for uses the threads only then.)
at::Tensor matmul_per_head(const at::Tensor& a, const at::Tensor& b) {
  const auto B = a.size(0);
  const auto H = a.size(1);
  const auto M = a.size(2);
  const auto K = a.size(3);
  const auto N = b.size(3);
  const auto A = blas_operand(a);
  const auto Bop = blas_operand(b);
  auto c = at::empty({B, H, M, N}, a.options());
  const float* a_data = A.tensor.data_ptr<float>();
  const float* b_data = Bop.tensor.data_ptr<float>();
  float* c_data = c.data_ptr<float>();
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const auto batch = i / H;
      const auto head = i % H;
      cblas_sgemm(CblasRowMajor,
                  A.trans,
                  Bop.trans,
                  static_cast<int>(M),
                  static_cast<int>(N),
                  static_cast<int>(K),
                  1.0f,
                  a_data + batch * A.tensor.stride(0) + head * A.tensor.stride(1),
                  A.ld,
                  b_data + batch * Bop.tensor.stride(0) + head * Bop.tensor.stride(1),
                  Bop.ld,
                  0.0f,
                  c_data + i * M * N,
                  static_cast<int>(N));
    }
  });
  return c;
}

struct PerHeadMatmul : torch::autograd::Function<PerHeadMatmul> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& a,
                            const at::Tensor& b) {
    ctx->save_for_backward({a, b});
    return matmul_per_head(a, b);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& grad = grads[0];
    at::Tensor grad_a;
    at::Tensor grad_b;
    if (ctx->needs_input_grad(0)) grad_a = matmul_per_head(grad, saved[1].transpose(2, 3));
    if (ctx->needs_input_grad(1)) grad_b = matmul_per_head(saved[0].transpose(2, 3), grad);
    return {grad_a, grad_b};
  }
};

}  // namespace

at::Tensor attention_matmul(const at::Tensor& a, const at::Tensor& b) {
  const bool per_head = a.device().is_cpu() && a.scalar_type() == at::kFloat &&
                        b.scalar_type() == at::kFloat && a.dim() == 4 && b.dim() == 4 &&
                        a.size(0) == b.size(0) && a.size(1) == b.size(1) &&
                        a.size(3) == b.size(2) && a.numel() > 0 && b.numel() > 0;
  if (!per_head) return torch::matmul(a, b);
  return PerHeadMatmul::apply(a, b);
}

at::Tensor compute_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& additive_mask, double dropout_p, bool training) {
  const auto head_dim = q.size(-1);
  auto scores = attention_matmul(q, k.transpose(-1, -2));  // (B, H, T, S)
  scores = scores / std::sqrt(static_cast<double>(head_dim));
  if (additive_mask.defined()) {
    scores = scores + additive_mask;
  }
  auto probs = torch::softmax(scores, -1);  // (B, H, T, S)
  if (training && dropout_p > 0.0) {
    probs = ftune::dropout(probs, dropout_p, /*train=*/true);
  }
  return attention_matmul(probs, v);  // (B, H, T, D)
}

#endif

double lowest_value(at::ScalarType dtype) {
  switch (dtype) {
    case at::kDouble:
      return std::numeric_limits<double>::lowest();
    case at::kFloat:
      return std::numeric_limits<float>::lowest();
    case at::kBFloat16:
      return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());  // -3.39e38
    case at::kHalf:
      return static_cast<double>(std::numeric_limits<c10::Half>::lowest());  // -65504
    default:
      throw std::invalid_argument(
          std::string("lowest_value: expected a floating-point dtype, got ") +
          c10::toString(dtype));
  }
}

at::Tensor make_additive_padding_mask(const at::Tensor& attention_mask, at::ScalarType dtype) {
  auto mask = attention_mask.to(dtype).unsqueeze(1).unsqueeze(2);  // (B, 1, 1, S)
  return (1.0 - mask) * lowest_value(dtype);
}

}  // namespace ftune
