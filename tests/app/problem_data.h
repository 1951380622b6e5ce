// Data for the problem-type tests (problem_types_test.cpp, hf_roundtrip_test.cpp): the 16 texts
// of tests/fixtures/bert-cls with labels made from their intents, so that the tiny fixture model
// trains on them as a regression or a multi-label task.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"

namespace ftune::testing {

inline const std::string kProblemTexts = "tests/fixtures/bert-cls/texts.jsonl";

// A number per intent: 'balance' 0.5, 'transfer' 2.25, 'oos' 4.0, plus 0.1 * (row % 3), so that
// the values are not three constants.
inline void write_regression_data(const std::filesystem::path& file) {
  const std::map<std::string, double> value = {{"balance", 0.5}, {"transfer", 2.25}, {"oos", 4.0}};
  std::ofstream out(file);
  size_t row = 0;
  for (const auto& line : read_json_lines(kProblemTexts)) {
    const double label = value.at(line["label"].get<std::string>()) + 0.1 * double(row++ % 3);
    out << nlohmann::json{{"text", line["text"]}, {"label", label}}.dump() << "\n";
  }
}

// Label sets: 'balance' [money], 'transfer' [action, money], 'oos' [] (no label); half the
// labelled rows as JSON lists and half as 'a | b' cells (both forms in one file: a .jsonl string
// cell is split on '|').
inline void write_multi_label_data(const std::filesystem::path& file) {
  const std::map<std::string, std::vector<std::string>> sets = {
      {"balance", {"money"}}, {"transfer", {"action", "money"}}, {"oos", {}}};
  std::ofstream out(file);
  size_t row = 0;
  for (const auto& line : read_json_lines(kProblemTexts)) {
    const auto& set = sets.at(line["label"].get<std::string>());
    nlohmann::json label = set;
    if (row++ % 2 == 1 && !set.empty()) {
      std::string cell;
      for (const auto& name : set) cell += (cell.empty() ? "" : " | ") + name;
      label = cell;
    }
    out << nlohmann::json{{"text", line["text"]}, {"label", label}}.dump() << "\n";
  }
}

// The label names of a data row: a JSON list, or a '|'-separated string.
inline std::set<std::string> label_set_of(const nlohmann::ordered_json& label) {
  std::set<std::string> names;
  if (label.is_array()) {
    for (const auto& name : label) names.insert(name.get<std::string>());
    return names;
  }
  std::string cell = label.get<std::string>();
  size_t start = 0;
  while (true) {
    const size_t bar = cell.find('|', start);
    std::string name = cell.substr(start, bar - start);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    names.insert(name);
    if (bar == std::string::npos) return names;
    start = bar + 1;
  }
}

}  // namespace ftune::testing
