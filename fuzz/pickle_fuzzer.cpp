// libFuzzer target: parse_state_dict_pickle (the data.pkl of a zip-format pytorch_model.bin) on
// arbitrary bytes. A CheckpointError is the expected answer to bad input; anything else is a
// finding, and so is a tensor view outside its storage (lib/formats/pickle.h promises it is
// checked).
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_check.h"
#include "fuzz/pickled_tensor_check.h"
#include "lib/formats/pickle.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    for (const auto& t : ftune::parse_state_dict_pickle(data, size, "fuzz/data.pkl")) {
      check_view_inside_storage(t);
    }
  } catch (const ftune::CheckpointError&) {
  }
  return 0;
}
