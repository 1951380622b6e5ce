// libFuzzer target: read_table (CSV, TSV, JSON Lines, text) on arbitrary bytes. read_table takes
// a path, so the input goes into a memfd that file names with the right extension link to (no
// disk writes per run). Input: one control byte, then the file. Control bits 0-1: .csv, .tsv,
// .jsonl, .txt; bit 2: --encoding latin-1; bit 3: --skip-bad-rows; bit 4: no header row.
// A DataError is the expected answer to bad input; anything else is a finding, and so is a table
// that breaks the promises of lib/data/table.h (rows of the header's width, valid UTF-8 values).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include <sys/mman.h>
#include <unistd.h>

#include "fuzz/fuzz_check.h"
#include "lib/data/table.h"
#include "util/error.h"

namespace {

struct MemoryFiles {
  int fd = -1;
  std::filesystem::path dir;

  MemoryFiles() {
    fd = ::memfd_create("ftune_table_fuzz", 0);
    char name[] = "/tmp/ftune_table_fuzz.XXXXXX";
    FUZZ_CHECK(fd >= 0 && ::mkdtemp(name) != nullptr);
    dir = name;
    const std::string target = "/proc/" + std::to_string(::getpid()) + "/fd/" + std::to_string(fd);
    for (const char* ext : {".csv", ".tsv", ".jsonl", ".txt"}) {
      std::filesystem::create_symlink(target, dir / (std::string("in") + ext));
    }
  }
  ~MemoryFiles() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }

  std::filesystem::path write(const char* ext, const std::uint8_t* data, std::size_t size) {
    FUZZ_CHECK(::ftruncate(fd, 0) == 0);
    std::size_t done = 0;
    while (done < size) {
      const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
      FUZZ_CHECK(n > 0);
      done += static_cast<std::size_t>(n);
    }
    return dir / (std::string("in") + ext);
  }
};

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
      min = 0x10000;
    } else
      return false;
    if (i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static MemoryFiles files;
  if (size == 0) return 0;
  static const char* const kExtensions[] = {".csv", ".tsv", ".jsonl", ".txt"};
  const std::uint8_t control = data[0];
  ftune::TableReadOptions options;
  options.encoding = (control & 4) ? ftune::TextEncoding::kLatin1 : ftune::TextEncoding::kUtf8;
  options.skip_bad_rows = (control & 8) != 0;
  options.has_header = (control & 16) == 0;
  const auto path = files.write(kExtensions[control & 3], data + 1, size - 1);
  try {
    const ftune::Table table = ftune::read_table(path, options);
    FUZZ_CHECK(!table.rows.empty());
    FUZZ_CHECK(table.line_numbers.size() == table.rows.size());
    FUZZ_CHECK(options.skip_bad_rows || table.skipped_rows == 0);
    for (const auto& column : table.columns) FUZZ_CHECK(is_valid_utf8(column));
    for (std::size_t r = 0; r < table.rows.size(); ++r) {
      FUZZ_CHECK(table.rows[r].size() == table.columns.size());
      FUZZ_CHECK(table.line_numbers[r] >= 1 &&
                 (r == 0 || table.line_numbers[r - 1] < table.line_numbers[r]));
      for (const auto& value : table.rows[r]) FUZZ_CHECK(is_valid_utf8(value));
    }
    if (!table.columns.empty()) (void)table.require_column(table.columns.front());
  } catch (const ftune::DataError&) {
  }
  return 0;
}
