// libFuzzer target: parse_legacy_checkpoint (a pre-1.6 torch.save file: five pickles, then raw
// storages) on arbitrary bytes. A CheckpointError is the expected answer to bad input; anything
// else is a finding, and so is a tensor or storage outside the buffer.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_check.h"
#include "fuzz/pickled_tensor_check.h"
#include "lib/formats/pickle.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)ftune::is_legacy_checkpoint(data, size);
  try {
    ftune::LegacyCheckpoint checkpoint = ftune::parse_legacy_checkpoint(data, size, "fuzz.bin");
    unsigned sum = 0;
    for (const auto& [key, storage] : checkpoint.storages) {
      const unsigned __int128 end =
          storage.byte_offset +
          static_cast<unsigned __int128>(storage.numel) * ftune::dtype_item_size(storage.dtype);
      FUZZ_CHECK(storage.numel >= 0 && end <= size);
      if (storage.numel > 0) sum += data[storage.byte_offset] + data[end - 1];
    }
    for (const auto& t : checkpoint.tensors) {
      check_view_inside_storage(t);
      auto it = checkpoint.storages.find(t.storage_key);
      FUZZ_CHECK(it != checkpoint.storages.end());
      FUZZ_CHECK(it->second.numel == t.storage_numel && it->second.dtype == t.dtype);
    }
    return static_cast<int>(sum & 0);
  } catch (const ftune::CheckpointError&) {
    return 0;
  }
}
