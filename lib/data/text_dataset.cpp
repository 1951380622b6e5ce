// Table rows -> tokenized classification examples.
#include "lib/data/text_dataset.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

#include "util/error.h"
#include "util/json.h"

namespace ftune {

TextExamples read_text_examples(const std::filesystem::path& file, const TextColumns& columns,
                                const WordPieceTokenizer& tokenizer, size_t max_length,
                                bool read_labels, const TableReadOptions& table_options) {
  Table table = read_table(file, table_options);
  TextExamples examples;
  examples.file = file;
  examples.skipped_rows = table.skipped_rows;
  const size_t text_column = table.require_column(columns.text, "--text-column");
  std::optional<size_t> pair_column;
  if (columns.text_pair) {
    pair_column = table.require_column(*columns.text_pair, "--text-pair-column");
  } else {
    pair_column = table.find_column("text_pair");
  }
  examples.has_pairs = pair_column.has_value();
  std::optional<size_t> label_column;
  if (read_labels) label_column = table.require_column(columns.label, "--label-column");

  for (size_t row = 0; row < table.rows.size(); ++row) {
    const auto& values = table.rows[row];
    const int64_t line = table.line_numbers[row];
    const std::string& text = values[text_column];
    std::string problem;
    if (is_blank(text)) {
      problem = fmt::format("column '{}' is empty", columns.text);
    } else if (label_column && values[*label_column].empty()) {
      problem = fmt::format("column '{}' (the label) is empty", columns.label);
    }
    if (!problem.empty()) {
      if (table_options.skip_bad_rows) {
        ++examples.skipped_rows;
        continue;
      }
      throw DataError(
          fmt::format("reading '{}': line {}: {}; hint: fix or remove the row, or "
                      "pass --skip-bad-rows",
                      file.string(),
                      line,
                      problem));
    }
    std::optional<std::string> pair;
    if (pair_column) pair = values[*pair_column];
    examples.encodings.push_back(tokenizer.encode(text, pair, max_length));
    if (label_column) examples.labels.push_back(values[*label_column]);
    examples.line_numbers.push_back(line);
  }
  if (examples.encodings.empty()) {
    throw DataError(fmt::format("reading '{}': no usable rows", file.string()));
  }
  return examples;
}

namespace {

std::string trim_spaces(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

}  // namespace

std::vector<std::vector<std::string>> label_sets(const TextExamples& examples) {
  std::vector<std::vector<std::string>> sets;
  sets.reserve(examples.labels.size());
  for (size_t i = 0; i < examples.labels.size(); ++i) {
    const std::string cell = trim_spaces(examples.labels[i]);
    auto fail = [&](const std::string& problem) {
      throw DataError(fmt::format(
          "reading '{}': line {}: label '{}': {}; hint: multi-label cells are a JSON list "
          "([\"joy\", \"optimism\"], [] for none) or labels separated by '|' (joy|optimism)",
          examples.file.string(),
          examples.line_numbers[i],
          examples.labels[i],
          problem));
    };
    std::set<std::string> labels;
    if (!cell.empty() && cell.front() == '[') {
      nlohmann::json list;
      try {
        list = parse_json_capped(cell, examples.file.string());
      } catch (const JsonError& e) {
        fail("not a valid JSON list (" + e.got + ")");
      }
      if (!list.is_array()) fail("expected a JSON list");
      for (const auto& item : list) {
        std::string label;
        if (item.is_string()) {
          label = trim_spaces(item.get<std::string>());
        } else if (item.is_number_integer()) {
          label = item.dump();
        } else {
          fail("expected labels (strings), got " + quote_json_value(item));
        }
        if (label.empty()) fail("an empty label");
        labels.insert(label);
      }
    } else {
      size_t start = 0;
      while (true) {
        const size_t bar = cell.find('|', start);
        const std::string label = trim_spaces(cell.substr(start, bar - start));
        if (label.empty()) fail("an empty label");
        labels.insert(label);
        if (bar == std::string::npos) break;
        start = bar + 1;
      }
    }
    sets.emplace_back(labels.begin(), labels.end());
  }
  return sets;
}

std::optional<double> parse_number(const std::string& text) {
  const char* begin = text.c_str();
  while (*begin == ' ' || *begin == '\t') ++begin;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(begin, &end);
  if (end == begin) return std::nullopt;
  while (*end == ' ' || *end == '\t') ++end;
  // strtod also reads "nan", "inf" and hex floats: none of them is a usable target.
  const bool hex = text.find_first_of("xX") != std::string::npos;
  if (*end != '\0' || errno == ERANGE || !std::isfinite(value) || hex) return std::nullopt;
  return value;
}

std::vector<double> numeric_labels(const TextExamples& examples) {
  std::vector<double> values;
  values.reserve(examples.labels.size());
  for (size_t i = 0; i < examples.labels.size(); ++i) {
    const auto value = parse_number(examples.labels[i]);
    if (!value) {
      throw DataError(fmt::format(
          "reading '{}': line {}: label: expected a number (--problem-type regression), got "
          "'{}'; hint: regression labels are numbers such as 3.8; for named classes pass "
          "--problem-type single_label_classification",
          examples.file.string(),
          examples.line_numbers[i],
          examples.labels[i]));
    }
    values.push_back(*value);
  }
  return values;
}

}  // namespace ftune
