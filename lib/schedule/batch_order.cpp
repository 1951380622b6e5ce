// Batch order. Shuffling uses a Fisher-Yates pass driven by std::mt19937_64 seeded with
// (seed, epoch): reproducible across runs and platforms, unlike std::shuffle whose algorithm
// is implementation-defined. Length grouping follows transformers' get_length_grouped_indices:
// random megabatches of 50 batches, each sorted longest first.
#include "lib/schedule/batch_order.h"

#include <algorithm>
#include <numeric>
#include <random>

namespace ftune {
namespace {

constexpr size_t kMegabatchFactor = 50;

std::vector<size_t> permute(size_t n, uint64_t seed, int64_t epoch) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 1000003ULL + static_cast<uint64_t>(epoch));
  for (size_t i = n; i > 1; --i) {
    const size_t j = static_cast<size_t>(rng() % i);  // bias is negligible for dataset sizes
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

}  // namespace

std::vector<std::vector<size_t>> make_epoch_batches(const std::vector<size_t>& lengths,
                                                    const BatchOrderOptions& options,
                                                    int64_t epoch) {
  const size_t n = lengths.size();
  std::vector<size_t> order;
  if (options.shuffle) {
    order = permute(n, options.seed, epoch);
  } else {
    order.resize(n);
    std::iota(order.begin(), order.end(), 0);
  }
  if (options.group_by_length) {
    const size_t megabatch = options.batch_size * kMegabatchFactor;
    for (size_t start = 0; start < n; start += megabatch) {
      auto first = order.begin() + static_cast<std::ptrdiff_t>(start);
      auto last = order.begin() + static_cast<std::ptrdiff_t>(std::min(n, start + megabatch));
      std::stable_sort(first, last, [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
    }
  }
  std::vector<std::vector<size_t>> batches;
  for (size_t start = 0; start < n; start += options.batch_size) {
    batches.emplace_back(
        order.begin() + static_cast<std::ptrdiff_t>(start),
        order.begin() + static_cast<std::ptrdiff_t>(std::min(n, start + options.batch_size)));
  }
  return batches;
}

}  // namespace ftune
