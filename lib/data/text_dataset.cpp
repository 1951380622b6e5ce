// Table rows -> tokenized classification examples.
#include "lib/data/text_dataset.h"

#include <fmt/format.h>

#include "util/error.h"

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

}  // namespace ftune
