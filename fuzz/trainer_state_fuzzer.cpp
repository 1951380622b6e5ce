// libFuzzer target: a checkpoint's trainer_state.json (parse_trainer_state), then the early
// stopping state restored from it, as a resume does. The loss scaler's part is LibTorch code and
// not run here. A CheckpointError is the expected answer to bad input; anything else is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "lib/schedule/early_stopping.h"
#include "lib/schedule/trainer_state.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto state = ftune::parse_trainer_state(text, "trainer_state.json");
    FUZZ_CHECK(state.global_step >= 0);
    FUZZ_CHECK(!state.loss_scaler || state.loss_scaler->is_object());
    ftune::EarlyStopping stopping("eval_loss",
                                  /*greater_is_better=*/false,
                                  /*patience=*/3,
                                  /*threshold=*/0.0);
    stopping.restore(state.early_stopping);
    FUZZ_CHECK(stopping.stalls() >= 0);
  } catch (const ftune::CheckpointError&) {
  }
  return 0;
}
