// Reading parallel text.
#include "lib/data/seq2seq_data.h"

#include <algorithm>

#include <fmt/format.h>

#include "util/error.h"

namespace ftune {
TranslationExamples read_translation_examples(const std::filesystem::path& file,
                                              const PairColumns& columns,
                                              const MarianTokenizer& tokenizer,
                                              size_t max_source_length, size_t max_target_length,
                                              const TableReadOptions& table_options) {
  Table table = read_table(file, table_options);
  const size_t source_column = table.require_column(columns.source, "--source-column");
  const size_t target_column = table.require_column(columns.target, "--target-column");
  TranslationExamples examples;
  examples.file = file;
  for (size_t row = 0; row < table.rows.size(); ++row) {
    const auto& source = table.rows[row][source_column];
    const auto& target = table.rows[row][target_column];
    const int64_t line = table.line_numbers[row];
    const bool empty_source = is_blank(source);
    const bool empty_target = is_blank(target);
    if (empty_source || empty_target) {
      if (table_options.skip_bad_rows) continue;
      throw DataError(
          fmt::format("reading '{}': line {}: column '{}' is empty; hint: fix or "
                      "remove the row, or pass --skip-bad-rows",
                      file.string(),
                      line,
                      empty_source ? columns.source : columns.target));
    }
    examples.sources.push_back(source);
    examples.targets.push_back(target);
    examples.source_ids.push_back(tokenizer.encode_source(source, max_source_length));
    examples.label_ids.push_back(tokenizer.encode_target(target, max_target_length));
    examples.line_numbers.push_back(line);
  }
  if (examples.sources.empty()) {
    throw DataError(fmt::format("reading '{}': no usable rows", file.string()));
  }
  return examples;
}

}  // namespace ftune
