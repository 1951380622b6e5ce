// Scaled dot-product attention shared by the BERT and Marian modules. Not a module: no weights.
//
// Shape legend used across models/: B batch, T source (or query) length, S target (or key)
// length, H heads, D head dim, C hidden (= H * D), V vocab.
#pragma once

#include <ATen/ATen.h>

namespace ftune {

// softmax(q k^T / sqrt(D) + additive_mask) v, with dropout on the probabilities in training.
// q (B, H, T, D), k and v (B, H, S, D), additive_mask broadcastable to (B, H, T, S) or undefined.
// Returns (B, H, T, D).
at::Tensor compute_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& additive_mask, double dropout_p, bool training);

// torch::matmul for attention's (B, H, M, K) x (B, H, K, N) products. On LibTorch 1.13 float32
// CPU products go one sgemm per (batch, head) matrix split across the threads (1.13's bmm runs
// them one after another on one core, each behind several tensor views); differentiable.
at::Tensor attention_matmul(const at::Tensor& a, const at::Tensor& b);

// (B, S) 1/0 padding mask -> (B, 1, 1, S) additive mask: 0 where kept, the dtype's lowest value
// where masked, as Hugging Face's get_extended_attention_mask builds it.
// torch.finfo(dtype).min for a floating-point dtype: the value Hugging Face's masks use for "never
// attend". Finite in the dtype itself, so adding it to scores of that dtype never makes -inf.
double lowest_value(at::ScalarType dtype);

at::Tensor make_additive_padding_mask(const at::Tensor& attention_mask, at::ScalarType dtype);

}  // namespace ftune
