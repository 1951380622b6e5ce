// read_table: CSV/TSV/JSONL/TXT dataset files → Table. The whole file is read once into memory
// and scanned front to back (no per-line re-scans, so 10 MB lines cost what 10 MB of lines do).
// Not here: choosing columns, label mapping, splitting train/validation.
#include "lib/data/table.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <unordered_map>
#include <variant>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace {

enum class Format { kCsv, kTsv, kJsonLines, kText };

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";
constexpr std::string_view kSkipHint = "or pass --skip-bad-rows to skip such rows";

// A row that cannot be read: the message to throw (or count), and where reading resumes.
struct BadRow {
  std::string message;
  size_t resume = 0;
};

// The file's bytes and what every error message needs to name a place in it.
struct Source {
  std::string where;  // the path as the user wrote it
  std::string bytes;  // the whole file, BOM included, so columns are file byte columns
  size_t start = 0;   // after the BOM
  TextEncoding encoding = TextEncoding::kUtf8;
};

std::string format_place(const Source& source, int64_t line, int64_t column = 0) {
  if (column > 0) return fmt::format("{}:{}:{}", source.where, line, column);
  return fmt::format("{}:{}", source.where, line);
}

std::string format_error(const std::string& place, std::string_view expected, std::string_view got,
                         std::string_view hint) {
  return fmt::format(
      "reading table '{}': expected {}, got {}; hint: {}", place, expected, got, hint);
}

// Line and 1-based byte column of `offset`, counting from `from`, a line start on line `line`.
std::pair<int64_t, int64_t> locate(const Source& source, size_t from, int64_t line, size_t offset) {
  size_t line_start = from;
  for (size_t i = from; i < offset; ++i) {
    if (source.bytes[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return {line, static_cast<int64_t>(offset - line_start) + 1};
}

int64_t count_newlines(const std::string& bytes, size_t begin, size_t end) {
  return std::count(bytes.begin() + begin, bytes.begin() + end, '\n');
}

size_t next_line_start(const std::string& bytes, size_t offset) {
  size_t newline = bytes.find('\n', offset);
  return newline == std::string::npos ? bytes.size() : newline + 1;
}

// Offset of the first byte that is not part of well-formed UTF-8 (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF) or is NUL, in [begin, end); end when all is well.
size_t find_bad_byte(const std::string& bytes, size_t begin, size_t end, bool check_utf8) {
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t i = begin;
  while (i < end) {
    unsigned char c = s[i];
    if (c == 0) return i;
    if (c < 0x80 || !check_utf8) {
      ++i;
      continue;
    }
    size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return i;
    }
    if (i + length > end) return i;
    if (s[i + 1] < low || s[i + 1] > high) return i;
    for (size_t k = 2; k < length; ++k) {
      if (s[i + k] < 0x80 || s[i + k] > 0xBF) return i;
    }
    i += length;
  }
  return end;
}

// Checks the bytes of one row, which starts at the line start `from` on line `line`.
std::optional<std::string> check_bytes(const Source& source, size_t from, int64_t line,
                                       size_t end) {
  bool utf8 = source.encoding == TextEncoding::kUtf8;
  size_t bad = find_bad_byte(source.bytes, from, end, utf8);
  if (bad == end) return std::nullopt;
  auto [bad_line, column] = locate(source, from, line, bad);
  std::string place = format_place(source, bad_line, column);
  if (source.bytes[bad] == '\0') {
    return format_error(
        place, "text", "a NUL byte", "the file looks binary or UTF-16; save it as UTF-8 text");
  }
  return format_error(place,
                      "UTF-8 text",
                      fmt::format("byte 0x{:02X}", static_cast<unsigned char>(source.bytes[bad])),
                      "pass --encoding latin-1 if the file is Latin-1 (ISO-8859-1)");
}

std::string to_utf8(const Source& source, std::string text) {
  if (source.encoding == TextEncoding::kUtf8) return text;
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {  // Latin-1 byte = code point U+0080..U+00FF, two UTF-8 bytes
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// ----- CSV and TSV -----

// kTsvWhenNeeded and kTsvAll are tried first on a TSV row; kTsvLiteral when they give the row a
// field count other than the header's (GLUE's MRPC has `"text<TAB>text"` meaning two fields).
enum class Quoting { kRfc4180, kTsvWhenNeeded, kTsvAll, kTsvLiteral };

struct Record {
  std::vector<std::string> fields;
  size_t end = 0;  // after the line break that ends it
  bool blank = false;
};

bool is_line_end(const std::string& bytes, size_t i) {
  return i >= bytes.size() || bytes[i] == '\n' ||
         (bytes[i] == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n');
}

// Reads the quoted field whose opening quote is at `open`; returns its value and the offset after
// the closing quote, or nothing when there is no closing quote. `needed_quoting` tells whether
// the value holds "", a tab or a line break.
std::optional<std::pair<std::string, size_t>> read_quoted(const std::string& bytes, size_t open,
                                                          bool* needed_quoting) {
  std::string value;
  size_t from = open + 1;
  *needed_quoting = false;
  while (true) {
    size_t quote = bytes.find('"', from);
    if (quote == std::string::npos) return std::nullopt;
    std::string_view segment(bytes.data() + from, quote - from);
    if (segment.find_first_of("\t\r\n") != std::string_view::npos) *needed_quoting = true;
    value.append(bytes, from, quote - from);
    if (quote + 1 < bytes.size() && bytes[quote + 1] == '"') {
      value.push_back('"');
      *needed_quoting = true;
      from = quote + 2;
      continue;
    }
    return std::make_pair(std::move(value), quote + 1);
  }
}

// Reads one record starting at the line start `begin` (on line `line`).
std::variant<Record, BadRow> read_record(const Source& source, size_t begin, int64_t line,
                                         char delimiter, Quoting quoting) {
  const std::string& bytes = source.bytes;
  Record record;
  size_t p = begin;
  while (true) {
    std::optional<std::string> value;
    if (p < bytes.size() && bytes[p] == '"' && quoting != Quoting::kTsvLiteral) {
      bool needed_quoting = false;
      auto quoted = read_quoted(bytes, p, &needed_quoting);
      if (quoting == Quoting::kRfc4180) {
        if (!quoted) {
          auto [open_line, column] = locate(source, begin, line, p);
          return BadRow{
              format_error(format_place(source, open_line, column),
                           fmt::format("a closing '\"' for the quote opened on line {}", open_line),
                           "the end of the file",
                           "double every '\"' inside a quoted field"),
              next_line_start(bytes, begin)};
        }
        if (quoted->second < bytes.size() && bytes[quoted->second] != delimiter &&
            !is_line_end(bytes, quoted->second)) {
          auto [bad_line, column] = locate(source, begin, line, quoted->second);
          return BadRow{format_error(format_place(source, bad_line, column),
                                     "',' or a line end after a closing quote",
                                     fmt::format("'{}'", bytes[quoted->second]),
                                     "double every '\"' inside a quoted field"),
                        next_line_start(bytes, quoted->second)};
        }
        value = std::move(quoted->first);
        p = quoted->second;
      } else if (quoted && (needed_quoting || quoting == Quoting::kTsvAll) &&
                 (bytes[quoted->second] == delimiter || is_line_end(bytes, quoted->second))) {
        value = std::move(quoted->first);
        p = quoted->second;
      }
    }
    if (!value) {  // unquoted: up to the delimiter or the line end
      size_t end = p;
      while (end < bytes.size() && bytes[end] != delimiter && bytes[end] != '\n') ++end;
      size_t value_end = end;
      if (end < bytes.size() && bytes[end] == '\n' && value_end > p && bytes[value_end - 1] == '\r')
        --value_end;
      value = bytes.substr(p, value_end - p);
      p = value_end;
    }
    record.fields.push_back(std::move(*value));
    if (p < bytes.size() && bytes[p] == delimiter) {
      ++p;
      continue;
    }
    // At a line end (the TSV and RFC branches above only stop there): consume it.
    if (p < bytes.size() && bytes[p] == '\r') ++p;
    if (p < bytes.size() && bytes[p] == '\n') ++p;
    record.end = p;
    record.blank = record.fields.size() == 1 && record.fields[0].empty() && bytes[begin] != '"';
    return record;
  }
}

// GLUE-style TSVs are literal; a TSV whose first line has every field in quotes is fully quoted.
bool is_fully_quoted_tsv(const std::string& bytes, size_t start) {
  size_t end = bytes.find('\n', start);
  std::string_view line(bytes.data() + start,
                        (end == std::string::npos ? bytes.size() : end) - start);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (line.empty()) return false;
  size_t from = 0;
  while (from <= line.size()) {
    size_t tab = std::min(line.find('\t', from), line.size());
    std::string_view field = line.substr(from, tab - from);
    if (field.size() < 2 || field.front() != '"' || field.back() != '"') return false;
    from = tab + 1;
  }
  return true;
}

void read_delimited(const Source& source, Format format, const TableReadOptions& options,
                    Table* table, const std::function<void(BadRow)>& reject) {
  char delimiter = format == Format::kCsv ? ',' : '\t';
  Quoting quoting = Quoting::kRfc4180;
  if (format == Format::kTsv) {
    quoting = is_fully_quoted_tsv(source.bytes, source.start) ? Quoting::kTsvAll
                                                              : Quoting::kTsvWhenNeeded;
  }
  size_t pos = source.start;
  int64_t line = 1;
  bool header_done = false;
  while (pos < source.bytes.size()) {
    auto result = read_record(source, pos, line, delimiter, quoting);
    if (header_done && format == Format::kTsv) {
      const auto& record = std::get<Record>(result);  // TSV quoting never fails, it falls back
      if (!record.blank && record.fields.size() != table->columns.size()) {
        auto literal = read_record(source, pos, line, delimiter, Quoting::kTsvLiteral);
        if (std::get<Record>(literal).fields.size() == table->columns.size()) result = literal;
      }
    }
    size_t next = 0;
    if (auto* bad = std::get_if<BadRow>(&result)) {
      if (!header_done) throw DataError(bad->message);
      next = bad->resume;
      reject(std::move(*bad));
    } else {
      Record& record = std::get<Record>(result);
      next = record.end;
      if (!record.blank) {
        if (auto message = check_bytes(source, pos, line, record.end)) {
          if (!header_done) throw DataError(*message);
          reject(BadRow{std::move(*message), next});
        } else if (!header_done) {
          header_done = true;
          for (size_t i = 0; i < record.fields.size(); ++i) {
            table->columns.push_back(options.has_header ? to_utf8(source, record.fields[i])
                                                        : fmt::format("column{}", i + 1));
          }
          if (!options.has_header) {
            for (auto& field : record.fields) field = to_utf8(source, std::move(field));
            table->rows.push_back(std::move(record.fields));
            table->line_numbers.push_back(line);
          }
        } else if (record.fields.size() != table->columns.size()) {
          reject(
              BadRow{format_error(format_place(source, line),
                                  fmt::format("{} field{} like the {}",
                                              table->columns.size(),
                                              table->columns.size() == 1 ? "" : "s",
                                              options.has_header ? "header" : "first row"),
                                  std::to_string(record.fields.size()),
                                  format == Format::kCsv
                                      ? fmt::format("quote fields that contain ',' {}", kSkipHint)
                                      : fmt::format("remove tabs inside fields {}", kSkipHint)),
                     next});
        } else {
          for (auto& field : record.fields) field = to_utf8(source, std::move(field));
          table->rows.push_back(std::move(record.fields));
          table->line_numbers.push_back(line);
        }
      }
    }
    line += count_newlines(source.bytes, pos, next);
    pos = next;
  }
  if (!header_done) {
    throw DataError(format_error(source.where,
                                 "a header line and rows",
                                 "an empty file",
                                 "check that the path names the data file"));
  }
  std::unordered_map<std::string_view, size_t> seen;
  for (size_t i = 0; i < table->columns.size(); ++i) {
    auto [it, inserted] = seen.emplace(table->columns[i], i);
    if (!inserted) {
      throw DataError(format_error(
          format_place(source, 1),
          "distinct column names",
          fmt::format("'{}' twice (columns {} and {})", table->columns[i], it->second + 1, i + 1),
          "rename one of them in the header"));
    }
  }
}

// ----- JSON Lines and plain text: one row per physical line -----

std::string render_json_value(const nlohmann::ordered_json& value) {
  if (value.is_string()) return value.get<std::string>();
  return value.dump();
}

void read_lines(const Source& source, Format format, Table* table,
                const std::function<void(BadRow)>& reject) {
  const std::string& bytes = source.bytes;
  std::unordered_map<std::string, size_t> column_of;
  std::vector<std::vector<bool>> present;  // JSONL: which cells of each row were given
  if (format == Format::kText) table->columns = {"text"};
  size_t pos = source.start;
  int64_t line = 1;
  for (; pos < bytes.size(); ++line) {
    size_t next = next_line_start(bytes, pos);
    size_t end = next;
    if (end > pos && bytes[end - 1] == '\n') --end;
    if (end > pos && bytes[end - 1] == '\r') --end;
    std::string_view text(bytes.data() + pos, end - pos);
    size_t from = pos;
    pos = next;
    bool blank = format == Format::kText
                     ? text.empty()
                     : text.find_first_not_of(" \t\r") == std::string_view::npos;
    if (blank) continue;
    if (auto message = check_bytes(source, from, line, end)) {
      reject(BadRow{std::move(*message), next});
      continue;
    }
    std::string utf8 = to_utf8(source, std::string(text));
    if (format == Format::kText) {
      table->rows.push_back({std::move(utf8)});
      table->line_numbers.push_back(line);
      continue;
    }
    nlohmann::ordered_json object;
    try {
      // Depth-capped (util/json.h): render_json_value's dump() recurses once per level.
      object = parse_ordered_json_capped(utf8, source.where);
    } catch (const JsonError& error) {
      if (error.kind == JsonError::Kind::kTooDeep) {
        reject(BadRow{format_error(format_place(source, line),
                                   error.expected,
                                   error.got,
                                   fmt::format("flatten the value, {}", kSkipHint)),
                      next});
      } else {
        // error.byte is 0 (no column) for a number beyond double.
        reject(BadRow{format_error(format_place(source, line, static_cast<int64_t>(error.byte)),
                                   "one JSON object per line",
                                   error.got,
                                   text.front() == '[' && line == 1
                                       ? "ftune reads JSON Lines; convert a JSON array with "
                                         "`jq -c '.[]' in.json > out.jsonl`"
                                       : fmt::format("check the line, {}", kSkipHint)),
                      next});
      }
      continue;
    }
    if (!object.is_object()) {
      reject(BadRow{format_error(format_place(source, line),
                                 "one JSON object per line",
                                 fmt::format("a JSON {}", object.type_name()),
                                 object.is_array() && line == 1
                                     ? "ftune reads JSON Lines; convert a JSON array with "
                                       "`jq -c '.[]' in.json > out.jsonl`"
                                     : "write each row as {\"column\": value, ...}"),
                    next});
      continue;
    }
    std::vector<std::string> row(table->columns.size());
    std::vector<bool> given(table->columns.size(), false);
    for (auto& [key, value] : object.items()) {
      auto [it, inserted] = column_of.emplace(key, table->columns.size());
      if (inserted) {
        table->columns.push_back(key);
        row.emplace_back();
        given.push_back(false);
      }
      if (!value.is_null()) {
        row[it->second] = render_json_value(value);
        given[it->second] = true;
      }
    }
    table->rows.push_back(std::move(row));
    table->line_numbers.push_back(line);
    present.push_back(std::move(given));
  }
  if (format != Format::kJsonLines) return;
  for (size_t r = 0; r < table->rows.size(); ++r) {
    table->rows[r].resize(table->columns.size());
    for (size_t c = 0; c < table->columns.size(); ++c) {
      if (c >= present[r].size() || !present[r][c]) table->missing_cells.emplace_back(r, c);
    }
  }
}

// ----- the file -----

Format detect_format(const std::filesystem::path& file) {
  std::string extension = file.extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  if (extension == ".csv") return Format::kCsv;
  if (extension == ".tsv" || extension == ".tab") return Format::kTsv;
  if (extension == ".jsonl" || extension == ".json" || extension == ".ndjson")
    return Format::kJsonLines;
  if (extension == ".txt") return Format::kText;
  throw DataError(format_error(file.string(),
                               "a .csv, .tsv, .jsonl, .json or .txt file",
                               extension.empty() ? "no extension" : fmt::format("'{}'", extension),
                               extension == ".gz" ? "decompress it first (gunzip)"
                                                  : "save the data as CSV, TSV or JSON Lines"));
}

Source load_source(const std::filesystem::path& file, TextEncoding encoding) {
  Source source;
  source.where = file.string();
  source.encoding = encoding;
  std::error_code error;
  if (std::filesystem::is_directory(file, error)) {
    throw IoError(format_error(source.where, "a file", "a directory", "name a file in it"));
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw IoError(format_error(
        source.where,
        "a readable file",
        std::filesystem::exists(file, error) ? "no permission to read it" : "no such file",
        "check the path"));
  }
  source.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) {
    throw IoError(format_error(source.where, "a readable file", "a read error", "check the disk"));
  }
  std::string_view head(source.bytes);
  if (head.substr(0, 2) == "\xFF\xFE" || head.substr(0, 2) == "\xFE\xFF") {
    throw DataError(format_error(source.where,
                                 "UTF-8 or Latin-1 text",
                                 "a UTF-16 byte order mark",
                                 "convert it: iconv -f UTF-16 -t UTF-8 in > out"));
  }
  if (head.substr(0, kUtf8Bom.size()) == kUtf8Bom) {
    if (encoding == TextEncoding::kLatin1) {
      throw DataError(format_error(source.where,
                                   "Latin-1 text (--encoding latin-1)",
                                   "a UTF-8 byte order mark",
                                   "the file is UTF-8: drop --encoding latin-1"));
    }
    source.start = kUtf8Bom.size();
  }
  return source;
}

}  // namespace

std::optional<TextEncoding> parse_text_encoding(std::string_view name) {
  std::string lower;
  for (char c : name)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "utf-8" || lower == "utf8") return TextEncoding::kUtf8;
  if (lower == "latin-1" || lower == "latin1" || lower == "iso-8859-1")
    return TextEncoding::kLatin1;
  return std::nullopt;
}

std::optional<size_t> Table::find_column(std::string_view name) const {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return i;
  }
  return std::nullopt;
}

size_t Table::require_column(std::string_view name, std::string_view option) const {
  if (auto index = find_column(name)) return *index;
  std::string listed;
  for (const auto& column : columns) listed += (listed.empty() ? "'" : ", '") + column + "'";
  throw DataError(fmt::format(
      "reading table '{}': column '{}' not found; expected one of the columns {}; hint: pass {} "
      "with one of those names",
      path.string(),
      name,
      listed,
      option));
}

bool Table::is_missing(size_t row, size_t column) const {
  return std::binary_search(
      missing_cells.begin(), missing_cells.end(), std::make_pair(row, column));
}

bool is_blank(std::string_view value) {
  return value.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

Table read_table(const std::filesystem::path& file, const TableReadOptions& options) {
  Format format = detect_format(file);
  Source source = load_source(file, options.encoding);
  Table table;
  table.path = file;
  auto reject = [&](BadRow bad) {
    if (!options.skip_bad_rows) throw DataError(bad.message);
    ++table.skipped_rows;
    if (table.skip_reasons.size() < Table::kMaxSkipReasons) {
      table.skip_reasons.push_back(std::move(bad.message));
    }
  };
  if (format == Format::kCsv || format == Format::kTsv) {
    read_delimited(source, format, options, &table, reject);
  } else {
    read_lines(source, format, &table, reject);
  }
  if (table.rows.empty()) {
    std::string got = "no rows";
    if (table.skipped_rows > 0)
      got = fmt::format("no rows ({} bad rows skipped)", table.skipped_rows);
    else if (table.columns.empty() || format == Format::kText)
      got = "no rows (an empty file)";
    else if (format != Format::kJsonLines)
      got = "no rows (only a header)";
    throw DataError(format_error(source.where,
                                 "at least one row",
                                 got,
                                 "check that the path names the data file, not an empty one"));
  }
  return table;
}

}  // namespace ftune
