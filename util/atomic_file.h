// Files that appear whole or not at all: written to a temporary beside the target, flushed to
// disk, then renamed over it. No LibTorch here.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

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
  const std::filesystem::path& temporary() const { return temporary_; }
  // The temporary a writer for `target` uses in this process, known before it exists.
  static std::filesystem::path temporary_for(const std::filesystem::path& target);
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

// "12.3 MB free on '<path's folder>'", for disk-full errors.
std::string describe_free_space(const std::filesystem::path& path);

// Refuses (IoError naming both options) to write `output` over one of `inputs`, given as
// (option, path) pairs: the same file by device and inode when both exist, else by canonical path.
// `ftune predict --data v.csv --output v.csv` would otherwise replace the data with predictions.
void refuse_output_over_input(
    const std::filesystem::path& output, const std::string& output_option,
    const std::vector<std::pair<std::string, std::filesystem::path>>& inputs);

// fsync of a file or directory by path; errors are reported as IoError naming the path.
void sync_path(const std::filesystem::path& path);

}  // namespace ftune
