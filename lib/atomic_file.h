// Files that appear whole or not at all: written to a temporary beside the target, flushed to
// disk, then renamed over it. No LibTorch here.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace ftune {

// Streams into `<target>.tmp.<pid>`; commit() syncs and renames it over the target. Destroying
// an uncommitted writer removes the temporary, so a failed run leaves the old file in place.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path target);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  std::ostream& stream() { return out_; }
  void commit();

 private:
  std::filesystem::path target_;
  std::filesystem::path temporary_;
  std::ofstream out_;
  bool committed_ = false;
};

void write_file_atomically(const std::filesystem::path& target, std::string_view content);

// Fails early (IoError with a hint) when `target`'s folder is missing or not writable, so a
// long run does not discover it at the end.
void require_writable_parent(const std::filesystem::path& target);

// fsync of a file or directory by path; errors are reported as IoError naming the path.
void sync_path(const std::filesystem::path& path);

}  // namespace ftune
