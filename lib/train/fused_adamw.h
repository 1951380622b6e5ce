// AdamW in one pass over each parameter (CPU, float32), with LibTorch's AdamW state.
//
// LibTorch's AdamW::step (like torch.optim.AdamW's default for-loop path, which the HF Trainer
// runs) makes nine whole-tensor passes per parameter, two of them into fresh temporaries: on
// BERT-tiny, whose 30,522 x 128 word embeddings are 89 % of its weights, the optimizer was 28 % of
// a one-thread training step and scaled worse than the model (bench/README.md, "Threads"). This
// step reads each of p, grad, exp_avg and exp_avg_sq once and writes three of them once, split
// across the threads. Same AdamWParamState objects as AdamW (optimizer.pt and resuming are
// unchanged), the same formula in the same order, in float32 per element; elsewhere (CUDA,
// bf16/fp16 parameters, amsgrad, non-contiguous tensors) it is AdamW::step itself.
#pragma once

#include <torch/optim/adamw.h>

namespace ftune {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  torch::Tensor step(LossClosure closure = nullptr) override;

 private:
  bool fusable() const;
  torch::optim::AdamWParamState& state_of(const torch::Tensor& p);
};

// One parameter's update; exposed for the test that compares it with AdamW::step.
struct AdamWCoefficients {
  float decay;  // 1 - lr * weight_decay
  float beta1, one_minus_beta1;
  float beta2, one_minus_beta2;
  float sqrt_bias_correction2;  // sqrt(1 - beta2^step)
  float eps;
  float neg_step_size;  // -lr / (1 - beta1^step)
};
void adamw_update(float* p, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n,
                  const AdamWCoefficients& c);

}  // namespace ftune
