// `ftune sweep`'s search space: one distribution per `ftune train` option, parsed from text, and
// the trials drawn from it, the same ones for the same seed (a resumed sweep relies on that).
// Not the sweep itself (lib/sweep/sweep.h).
//
//   auto space = {parse_param_space("learning-rate=loguniform(1e-5,1e-3)"),
//                 parse_param_space("batch-size=[16,32]")};
//   check_search_space(space);
//   for (const TrialParams& trial : draw_trials(space, /*trials=*/8, /*seed=*/42)) ...
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace ftune {

struct ParamSpace {
  enum class Kind { kLogUniform, kUniform, kChoice };
  std::string option;  // a train option without its dashes: "learning-rate"
  Kind kind = Kind::kChoice;
  double low = 0;  // kLogUniform, kUniform
  double high = 0;
  std::vector<std::string> choices;  // kChoice, as given
};

// "OPTION=loguniform(LOW,HIGH)", "OPTION=uniform(LOW,HIGH)" or "OPTION=[A,B,...]" (spaces
// allowed). ConfigError naming the text when the syntax, the option (it must be one `sweep` can
// vary: learning-rate, weight-decay, warmup-ratio, warmup-steps, epochs, batch-size,
// gradient-accumulation-steps, max-length, seed, label-smoothing, max-grad-norm, lr-scheduler)
// or a value is wrong (a bound outside the option's range, LOW >= HIGH, loguniform with LOW <= 0,
// an empty list, an integer option with a fractional choice).
ParamSpace parse_param_space(const std::string& text);

// The space as a whole: not empty, no option twice. ConfigError otherwise.
void check_search_space(const std::vector<ParamSpace>& space);

// A trial's values, option -> text as `ftune train` takes it ("0.000123", "32", "cosine").
using TrialParams = std::vector<std::pair<std::string, std::string>>;

// `trials` draws from `space` with a 64-bit Mersenne Twister seeded by `seed`: integer options
// drawn from a range are rounded; values printed with 3 significant digits.
std::vector<TrialParams> draw_trials(const std::vector<ParamSpace>& space, size_t trials,
                                     uint64_t seed);

}  // namespace ftune
