// Text files as lines, for the files that hold one item per line (predictions, references).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace ftune {

// One line per entry: '\n' splits, a trailing '\r' is dropped, and so is the empty piece after a
// final line break; a UTF-8 byte order mark is skipped. Throws IoError when unreadable.
std::vector<std::string> read_lines(const std::filesystem::path& file);

}  // namespace ftune
