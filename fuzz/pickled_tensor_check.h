// The promise of lib/formats/pickle.h's PickledTensor, checked in 128-bit arithmetic: every element
// the strided view touches lies inside the storage's declared numel.
#pragma once

#include "fuzz/fuzz_check.h"
#include "lib/formats/pickle.h"

inline void check_view_inside_storage(const ftune::PickledTensor& t) {
  FUZZ_CHECK(t.shape.size() == t.strides.size());
  FUZZ_CHECK(t.storage_numel >= 0 && t.storage_offset >= 0);
  __int128 low = t.storage_offset, high = t.storage_offset;
  for (std::size_t d = 0; d < t.shape.size(); ++d) {
    FUZZ_CHECK(t.shape[d] >= 0);
    if (t.shape[d] == 0) return;  // no element at all
    const __int128 reach = static_cast<__int128>(t.shape[d] - 1) * t.strides[d];
    if (reach < 0)
      low += reach;
    else
      high += reach;
  }
  FUZZ_CHECK(low >= 0 && high < t.storage_numel);
}
