// Data for the problem-type tests (problem_types_test.cpp, ner_test.cpp, hf_roundtrip_test.cpp):
// the 16 texts of tests/fixtures/bert-cls with labels made from their intents, so that the tiny
// fixture model trains on them as a regression or a multi-label task; and 16 tagged sentences
// for NER.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>
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

// 16 sentences written for these tests (not from a dataset), IOB2 tags of four types, as CoNLL
// columns: words of several sub-words, punctuation, accents, an entity at each end of a sentence,
// and sentence 12 longer than a 12-token window.
inline const std::vector<std::vector<std::pair<std::string, std::string>>> kNerSentences = {
    {{"Alice", "B-PER"}, {"moved", "O"}, {"to", "O"}, {"Paris", "B-LOC"}, {".", "O"}},
    {{"Bob", "B-PER"}, {"Smith", "I-PER"}, {"works", "O"}, {"at", "O"}, {"Acme", "B-ORG"}},
    {{"The", "O"}, {"United", "B-LOC"}, {"Kingdom", "I-LOC"}, {"voted", "O"}},
    {{"Microsoft", "B-ORG"}, {"bought", "O"}, {"GitHub", "B-ORG"}, {"in", "O"}, {"2018", "O"}},
    {{"Zoë", "B-PER"}, {"visited", "O"}, {"São", "B-LOC"}, {"Paulo", "I-LOC"}},
    {{"Nothing", "O"}, {"happened", "O"}, {"today", "O"}, {"!", "O"}},
    {{"Google", "B-ORG"}, {"Maps", "B-MISC"}, {"shows", "O"}, {"Berlin", "B-LOC"}},
    {{"Dr.", "O"}, {"Watson", "B-PER"}, {"met", "O"}, {"Sherlock", "B-PER"}, {"Holmes", "I-PER"}},
    {{"Flights", "O"},
     {"from", "O"},
     {"New", "B-LOC"},
     {"York", "I-LOC"},
     {"to", "O"},
     {"Tokyo", "B-LOC"}},
    {{"She", "O"}, {"reads", "O"}, {"The", "B-MISC"}, {"Hobbit", "I-MISC"}},
    {{"Amazon", "B-ORG"}, {"Web", "I-ORG"}, {"Services", "I-ORG"}, {"failed", "O"}},
    {{"Yesterday", "O"},  {"Carol", "B-PER"}, {"and", "O"},        {"Dave", "B-PER"},
     {"flew", "O"},       {"from", "O"},      {"Lisbon", "B-LOC"}, {"via", "O"},
     {"Madrid", "B-LOC"}, {"and", "O"},       {"Rome", "B-LOC"},   {"to", "O"},
     {"Athens", "B-LOC"}, {"for", "O"},       {"the", "O"},        {"Olympic", "B-MISC"},
     {"Games", "I-MISC"}, {"with", "O"},      {"Intel", "B-ORG"},  {"colleagues", "O"}},
    {{"Unbelievably", "O"}, {"expensive", "O"}, {"tickets", "O"}},
    {{"Eve", "B-PER"}, {"joined", "O"}, {"Siemens", "B-ORG"}},
    {{"Lakes", "O"}, {"near", "O"}, {"Geneva", "B-LOC"}, {"freeze", "O"}},
    {{"Nvidia", "B-ORG"}, {"and", "O"}, {"AMD", "B-ORG"}, {"compete", "O"}},
};

// kNerSentences as a CoNLL file (word<TAB>tag, a blank line between sentences), from `first` on.
inline void write_ner_data(const std::filesystem::path& file, size_t first = 0) {
  std::ofstream out(file);
  for (size_t s = first; s < kNerSentences.size(); ++s) {
    for (const auto& [word, tag] : kNerSentences[s]) out << word << '\t' << tag << '\n';
    out << '\n';
  }
}

// A token classifier trained briefly on write_ner_data's sentences with `model`: one epoch,
// 12-token windows (sentence 12 takes three), no evaluation. Its folder is `dir`/run/last.
inline CommandResult train_small_ner_model(const std::filesystem::path& dir,
                                           const std::string& model) {
  const std::filesystem::path train = dir / "train.conll";
  write_ner_data(train);
  return run_ftune({"--threads",
                    "1",
                    "train",
                    "--task",
                    "ner",
                    "--model",
                    model,
                    "--train",
                    train.string(),
                    "--output-dir",
                    (dir / "run").string(),
                    "--max-length",
                    "12",
                    "--epochs",
                    "1",
                    "--learning-rate",
                    "5e-3",
                    "--eval-strategy",
                    "no"});
}

}  // namespace ftune::testing
