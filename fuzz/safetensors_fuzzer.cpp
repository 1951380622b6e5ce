// libFuzzer target: parse_safetensors on arbitrary bytes. A CheckpointError is the expected
// answer to bad input; anything else (another exception, a sanitizer report, a broken promise
// of lib/formats/safetensors.h) is a finding.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_check.h"
#include "lib/formats/safetensors.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    ftune::SafetensorsHeader header = ftune::parse_safetensors(data, size, "fuzz.safetensors");
    FUZZ_CHECK(header.data_start >= 8 && header.data_start <= size);
    const std::size_t data_size = size - header.data_start;
    const std::uint8_t* area = data + header.data_start;
    unsigned sum = 0;
    for (std::size_t i = 0; i < header.entries.size(); ++i) {
      const auto& e = header.entries[i];
      if (i > 0) FUZZ_CHECK(header.entries[i - 1].name < e.name);  // sorted, unique
      FUZZ_CHECK(e.begin <= e.end && e.end <= data_size);
      unsigned __int128 nbytes = ftune::dtype_item_size(e.dtype);
      for (auto dim : e.shape) {
        FUZZ_CHECK(dim >= 0);
        nbytes *= static_cast<unsigned __int128>(dim);
        if (nbytes > (static_cast<unsigned __int128>(1) << 64))
          nbytes = ~static_cast<unsigned __int128>(0) >> 1;
      }
      FUZZ_CHECK(nbytes == e.end - e.begin);
      // Touch the first and last byte, so ASan sees any view outside the buffer.
      if (e.end > e.begin) sum += area[e.begin] + area[e.end - 1];
    }
    return static_cast<int>(sum & 0);
  } catch (const ftune::CheckpointError&) {
    return 0;
  }
}
