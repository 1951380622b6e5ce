// Reads a dataset file that users bring (.csv, .tsv, .jsonl/.json, .txt) into a table of UTF-8
// strings, with the file and line of every row. Not a label mapper or tokenizer: every value
// stays text, and callers pick the columns they need (require_column).
//
//   ftune::Table table = ftune::read_table("data/sst2/train.tsv");
//   size_t text = table.require_column("sentence", "--text-column");
//   for (const auto& row : table.rows) use(row[text]);
//
// Formats, by extension (case-insensitive):
//   .csv   RFC 4180: a field that starts with '"' is quoted ("" is a quote; ',' and line breaks
//          may be inside). A '"' inside an unquoted field is kept as a literal character.
//   .tsv   Tab-separated, fields literal, as GLUE writes them (sst2, mrpc: `"` is just a
//   .tab   character there). A field is read as quoted only when it starts with '"', its closing
//          '"' is followed by a tab or the line end, and it needed quoting: it holds "", a tab or
//          a line break (what pandas/csv writers quote). If every field of the first line is
//          wrapped in quotes (R's write.table, QUOTE_ALL), the file is fully quoted and the last
//          condition is dropped. Anything else (`"Hi," he said.`) is literal text. A row that
//          quoting gives the wrong field count is read again all literal (MRPC has
//          `"text<TAB>text"` meaning two fields); the reading that matches the header wins.
//   .jsonl One JSON object per line (also .json and .ndjson, read as JSON Lines). Columns are the
//          union of keys in first-seen order. Strings are kept as they are; numbers and bools are
//          rendered as JSON text (2 -> "2", 0.5 -> "0.5", true -> "true"); arrays and objects as
//          compact JSON. null and absent keys become "" and are listed in missing_cells.
//   .txt   One column "text", one row per line (split on '\n' only; U+2028 is not a break).
// In every format blank lines are skipped (line_numbers keep the physical lines), CRLF and LF are
// both accepted, a UTF-8 byte order mark is skipped, and CSV/TSV take their first line as header
// unless has_header is false (then the columns are named column1, column2, ...).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ftune {

enum class TextEncoding { kUtf8, kLatin1 };

// "utf-8", "utf8", "latin-1", "latin1", "iso-8859-1" (any case); nothing for other names.
std::optional<TextEncoding> parse_text_encoding(std::string_view name);

struct TableReadOptions {
  // kUtf8 validates every byte (an invalid one is an error naming file:line:column);
  // kLatin1 converts each byte to its UTF-8 character.
  TextEncoding encoding = TextEncoding::kUtf8;
  // Skip rows that cannot be read (wrong field count, bad bytes, bad JSON, a broken quote) and
  // count them, instead of failing on the first. The header and an empty result still fail.
  bool skip_bad_rows = false;
  // CSV/TSV only: false when the first line is already data.
  bool has_header = true;
};

struct Table {
  std::filesystem::path path;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;  // every row has columns.size() UTF-8 values
  std::vector<int64_t> line_numbers;           // 1-based physical line where each row starts
  int64_t skipped_rows = 0;                    // with skip_bad_rows
  std::vector<std::string> skip_reasons;       // the first kMaxSkipReasons messages, in file order
  // JSONL cells that were null or absent, as (row, column), sorted. Empty for other formats.
  std::vector<std::pair<size_t, size_t>> missing_cells;

  static constexpr size_t kMaxSkipReasons = 10;

  std::optional<size_t> find_column(std::string_view name) const;
  // Throws DataError naming the file, the column and the columns there are; the hint names
  // `option` (the command-line flag that chose this column).
  size_t require_column(std::string_view name, std::string_view option = "--text-column") const;
  bool is_missing(size_t row, size_t column) const;
};

// True when `value` holds nothing but spaces, tabs and line breaks (an "empty" text cell).
bool is_blank(std::string_view value);

// Throws IoError when the file cannot be read, DataError for anything wrong with its contents;
// both name the file, and the line (and byte column) where that applies.
Table read_table(const std::filesystem::path& file, const TableReadOptions& options = {});

}  // namespace ftune
