// Which examples go into which training batch, epoch by epoch: seeded shuffling, file order, or
// Hugging Face's length grouping. Deterministic from (seed, epoch) alone, so a resumed run
// rebuilds exactly the batches the interrupted one would have used. No LibTorch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ftune {

struct BatchOrderOptions {
  size_t batch_size = 8;
  bool shuffle = true;
  bool group_by_length = false;
  uint64_t seed = 42;
};

// The batches of epoch `epoch` (0-based) as lists of example indices. `lengths[i]` is example
// i's token count (used only by group_by_length). The last batch may be smaller.
std::vector<std::vector<size_t>> make_epoch_batches(const std::vector<size_t>& lengths,
                                                    const BatchOrderOptions& options,
                                                    int64_t epoch);

}  // namespace ftune
