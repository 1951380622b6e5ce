// Parsing and drawing. Uniform numbers come from the generator's top 53 bits (not from
// std::uniform_real_distribution, whose algorithm the standard leaves open), so a sweep's trials
// are the same on every standard library.
#include "lib/sweep/search_space.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include <fmt/format.h>

#include "util/error.h"

namespace ftune {
namespace {

struct OptionRange {
  const char* name;
  bool integer;
  double min;
  double max;         // inclusive
  bool text = false;  // lr-scheduler: choices only, names
};

// What a sweep may vary, with the ranges `ftune train` accepts.
constexpr OptionRange kOptions[] = {
    {"learning-rate", false, 1e-12, 10},
    {"weight-decay", false, 0, 10},
    {"warmup-ratio", false, 0, 1},
    {"warmup-steps", true, 0, 1e9},
    {"epochs", true, 1, 1000},
    {"batch-size", true, 1, 65536},
    {"gradient-accumulation-steps", true, 1, 65536},
    {"max-length", true, 1, 65536},
    {"seed", true, 0, 4294967295.0},
    {"label-smoothing", false, 0, 1},
    {"max-grad-norm", false, 0, 1e6},
    {"lr-scheduler", false, 0, 0, true},
};

std::string known_options() {
  std::string out;
  for (const auto& option : kOptions) out += (out.empty() ? "" : ", ") + std::string(option.name);
  return out;
}

std::string trim(const std::string& text) {
  const size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    parts.push_back(trim(text.substr(start, comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}

std::string format_value(double value, bool integer) {
  if (integer) return fmt::format("{}", static_cast<int64_t>(std::llround(value)));
  return fmt::format("{:.3g}", value);
}

}  // namespace

ParamSpace parse_param_space(const std::string& text) {
  auto fail = [&](const std::string& what) -> ConfigError {
    return ConfigError(fmt::format("reading --space '{}': {}", text, what));
  };
  const size_t equals = text.find('=');
  if (equals == std::string::npos) {
    throw fail(
        "expected OPTION=loguniform(LOW,HIGH), OPTION=uniform(LOW,HIGH) or OPTION=[A,B,...]; "
        "hint: --space \"learning-rate=loguniform(1e-5,1e-3)\"");
  }
  ParamSpace space;
  space.option = trim(text.substr(0, equals));
  if (space.option.rfind("--", 0) == 0) space.option = space.option.substr(2);
  const OptionRange* range = nullptr;
  for (const auto& option : kOptions) {
    if (space.option == option.name) range = &option;
  }
  if (!range) {
    throw fail(fmt::format(
        "expected a train option a sweep can vary ({}), got '{}'", known_options(), space.option));
  }
  const std::string spec = trim(text.substr(equals + 1));
  auto number = [&](const std::string& value) {
    size_t used = 0;
    double parsed = 0;
    try {
      parsed = std::stod(value, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != value.size() || !std::isfinite(parsed)) {
      throw fail(fmt::format("expected a number, got '{}'", value));
    }
    if (parsed < range->min || parsed > range->max) {
      throw fail(fmt::format("{} must lie in [{}, {}], got {}",
                             space.option,
                             format_value(range->min, range->integer),
                             format_value(range->max, range->integer),
                             value));
    }
    if (range->integer && parsed != std::floor(parsed)) {
      throw fail(fmt::format("{} takes whole numbers, got {}", space.option, value));
    }
    return parsed;
  };

  if (spec.size() >= 2 && spec.front() == '[' && spec.back() == ']') {
    space.kind = ParamSpace::Kind::kChoice;
    const std::string inner = trim(spec.substr(1, spec.size() - 2));
    if (inner.empty()) throw fail("expected at least one value in the list, got []");
    for (std::string value : split_commas(inner)) {
      if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
          value.back() == value.front()) {
        value = value.substr(1, value.size() - 2);
      }
      if (value.empty()) throw fail("expected a value between the commas, got an empty one");
      if (range->text) {
        if (value != "linear" && value != "cosine" && value != "constant" &&
            value != "constant_with_warmup") {
          throw fail(fmt::format(
              "lr-scheduler: expected linear, cosine, constant or constant_with_warmup, got '{}'",
              value));
        }
      } else {
        number(value);
      }
      space.choices.push_back(value);
    }
    return space;
  }
  for (const auto& [name, kind] : {std::pair{"loguniform", ParamSpace::Kind::kLogUniform},
                                   std::pair{"uniform", ParamSpace::Kind::kUniform}}) {
    const std::string head = std::string(name) + "(";
    if (spec.rfind(head, 0) != 0 || spec.back() != ')') continue;
    if (range->text) throw fail("lr-scheduler takes a list of names, e.g. [linear,cosine]");
    const auto bounds = split_commas(spec.substr(head.size(), spec.size() - head.size() - 1));
    if (bounds.size() != 2) throw fail(fmt::format("expected {}(LOW,HIGH)", name));
    space.kind = kind;
    space.low = number(bounds[0]);
    space.high = number(bounds[1]);
    if (space.low >= space.high) {
      throw fail(fmt::format("expected LOW < HIGH, got {} >= {}", bounds[0], bounds[1]));
    }
    if (kind == ParamSpace::Kind::kLogUniform && space.low <= 0) {
      throw fail(fmt::format("loguniform needs LOW > 0, got {}", bounds[0]));
    }
    return space;
  }
  throw fail(fmt::format(
      "expected loguniform(LOW,HIGH), uniform(LOW,HIGH) or [A,B,...] after '=', got '{}'", spec));
}

void check_search_space(const std::vector<ParamSpace>& space) {
  if (space.empty()) {
    throw ConfigError(
        "checking the search space: expected at least one --space; hint: --space "
        "\"learning-rate=loguniform(1e-5,1e-3)\"");
  }
  std::set<std::string> seen;
  for (const auto& param : space) {
    if (!seen.insert(param.option).second) {
      throw ConfigError(
          fmt::format("checking the search space: {} is given twice; hint: one --space per option",
                      param.option));
    }
  }
}

std::vector<TrialParams> draw_trials(const std::vector<ParamSpace>& space, size_t trials,
                                     uint64_t seed) {
  std::mt19937_64 generator(seed);
  auto next_unit = [&] { return static_cast<double>(generator() >> 11) * 0x1.0p-53; };  // [0,1)
  std::vector<TrialParams> out(trials);
  for (auto& trial : out) {
    for (const auto& param : space) {
      bool integer = false;
      for (const auto& option : kOptions) {
        if (param.option == option.name) integer = option.integer;
      }
      const double u = next_unit();
      std::string value;
      switch (param.kind) {
        case ParamSpace::Kind::kChoice:
          value = param.choices[std::min(param.choices.size() - 1,
                                         static_cast<size_t>(u * param.choices.size()))];
          break;
        case ParamSpace::Kind::kLogUniform:
          value = format_value(
              std::exp(std::log(param.low) + u * (std::log(param.high) - std::log(param.low))),
              integer);
          break;
        case ParamSpace::Kind::kUniform:
          value = format_value(param.low + u * (param.high - param.low), integer);
          break;
      }
      trial.emplace_back(param.option, value);
    }
  }
  return out;
}

}  // namespace ftune
