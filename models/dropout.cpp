// Compiled with -fopenmp: at::parallel_for uses the threads only then (models/CMakeLists.txt).
#include "models/dropout.h"

#include <algorithm>
#include <mutex>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/PhiloxRNGEngine.h>
#include <torch/torch.h>

namespace ftune {

namespace {

constexpr int64_t kChunk = 1 << 16;  // mask elements per Philox stream

uint64_t draw_seed() {
  auto generator = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(generator.mutex());
  return generator.get<at::CPUGeneratorImpl>()->random64();
}

}  // namespace

at::Tensor dropout(const at::Tensor& x, double p, bool training) {
  if (!training || p == 0.0) return x;
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat || p >= 1.0 || p < 0.0) {
    return torch::dropout(x, p, training);
  }
  auto mask = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
  const uint64_t seed = draw_seed();
  // Kept when a uniform 32-bit draw falls below (1 - p) * 2^32; kept values are 1 / (1 - p) in
  // float32, as torch's noise.div_(1 - p).
  const auto threshold = static_cast<uint64_t>((1.0 - p) * 4294967296.0);
  const float scale = 1.0f / static_cast<float>(1.0 - p);
  float* out = mask.data_ptr<float>();
  const int64_t n = mask.numel();
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t chunk = begin; chunk < end; ++chunk) {
      at::Philox4_32 engine(seed, static_cast<uint64_t>(chunk), 0);
      const int64_t last = std::min(n, (chunk + 1) * kChunk);
      for (int64_t i = chunk * kChunk; i < last; ++i) out[i] = engine() < threshold ? scale : 0.0f;
    }
  });
  return x * mask;
}

}  // namespace ftune
