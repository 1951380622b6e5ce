// Attention arithmetic, written to follow Hugging Face's BertSelfAttention operation order so
// that float32 results agree to ~1e-6. LibTorch >= 2.0 could use scaled_dot_product_attention
// (issue #6); 1.13 has no public fused kernel, so this is the plain matmul/softmax path.
#include "models/attention.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>

namespace ftune {

at::Tensor compute_attention(const at::Tensor& q,
                             const at::Tensor& k,
                             const at::Tensor& v,
                             const at::Tensor& additive_mask,
                             double dropout_p,
                             bool training) {
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

at::Tensor make_additive_padding_mask(const at::Tensor& attention_mask, at::ScalarType dtype) {
  auto mask = attention_mask.to(dtype).unsqueeze(1).unsqueeze(2);  // (B, 1, 1, S)
  double lowest = dtype == at::kFloat    ? std::numeric_limits<float>::lowest()
                  : dtype == at::kDouble ? std::numeric_limits<double>::lowest()
                                         : -65504.0;  // fp16/bf16: large enough, finite in both
  return (1.0 - mask) * lowest;
}

}  // namespace ftune
