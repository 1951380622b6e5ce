// Dropout whose mask is drawn by all threads (CPU, float32).
//
// LibTorch's CPU dropout draws its Bernoulli mask element by element from the one global
// generator (bernoulli_ without MKL, as in Debian's LibTorch): 10 % of a BERT-tiny training step
// at one thread, and none of it faster at two (bench/README.md, "Threads"). Here one 64-bit seed
// is drawn from that generator per call, so the run stays reproducible from --seed and resumes
// exactly (the generator's state is in each checkpoint), and each 64K-element chunk of the mask
// comes from its own Philox stream (seed, chunk): the same mask whatever the thread count. Kept
// elements are scaled by 1 / (1 - p), and the gradient is grad * mask, as torch.nn.Dropout does;
// the masks themselves differ from torch's (no reference draws the same ones on the CPU anyway:
// torch with MKL uses yet another stream). Elsewhere (CUDA, bf16/fp16) it is torch::dropout.
#pragma once

#include <torch/nn/cloneable.h>
#include <torch/nn/pimpl.h>

namespace ftune {

at::Tensor dropout(const at::Tensor& x, double p, bool training);

// torch::nn::Dropout with the dropout above; no parameters, so checkpoints are unaffected.
class DropoutImpl : public torch::nn::Cloneable<DropoutImpl> {
 public:
  explicit DropoutImpl(double p = 0.5) : p(p) {}
  void reset() override {}
  at::Tensor forward(const at::Tensor& x) { return ftune::dropout(x, p, is_training()); }
  double p;
};
TORCH_MODULE(Dropout);

}  // namespace ftune
