// Attention arithmetic. LibTorch 1.13 has no public fused kernel, so there it is the plain
// matmul/softmax path, written in Hugging Face's BertSelfAttention operation order so that
// float32 results agree to ~1e-6. LibTorch >= 2.0 uses at::scaled_dot_product_attention, which
// picks flash / memory-efficient kernels on CUDA and falls back to the same math elsewhere.
#include "models/attention.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>
#include <torch/version.h>

namespace ftune {

#if TORCH_VERSION_MAJOR >= 2

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

at::Tensor compute_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& additive_mask, double dropout_p, bool training) {
  const auto head_dim = q.size(-1);
  auto scores = torch::matmul(q, k.transpose(-1, -2));  // (B, H, T, S)
  scores = scores / std::sqrt(static_cast<double>(head_dim));
  if (additive_mask.defined()) {
    scores = scores + additive_mask;
  }
  auto probs = torch::softmax(scores, -1);  // (B, H, T, S)
  if (training && dropout_p > 0.0) {
    probs = torch::dropout(probs, dropout_p, /*train=*/true);
  }
  return torch::matmul(probs, v);  // (B, H, T, D)
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
