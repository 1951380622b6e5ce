// Temporary file + fsync + rename: the only way ftune writes an output file.
#include "util/atomic_file.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/error.h"

namespace ftune {

std::filesystem::path AtomicFileWriter::temporary_for(const std::filesystem::path& target) {
  auto temporary = target;
  temporary += fmt::format(".tmp.{}", ::getpid());
  return temporary;
}

AtomicFileWriter::AtomicFileWriter(std::filesystem::path target) : target_(std::move(target)) {
  temporary_ = temporary_for(target_);
  out_.open(temporary_, std::ios::binary | std::ios::trunc);
  if (!out_) {
    throw IoError(
        fmt::format("writing '{}': cannot create '{}': {}; hint: check that the folder "
                    "exists and is writable",
                    target_.string(),
                    temporary_.string(),
                    std::strerror(errno)));
  }
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) {
    out_.close();
    std::error_code ignored;
    std::filesystem::remove(temporary_, ignored);
  }
}

void AtomicFileWriter::commit() {
  out_.flush();
  bool ok = static_cast<bool>(out_);
  out_.close();
  ok = ok && static_cast<bool>(out_);  // close() flushes the last buffer and can fail too
  if (!ok) {
    const int saved = errno;
    std::error_code ignored;
    std::filesystem::remove(temporary_, ignored);  // frees what the partial write took
    throw IoError(
        fmt::format("writing '{}': write failed ({}); {}; hint: free some space or "
                    "write elsewhere",
                    target_.string(),
                    saved ? std::strerror(saved) : "disk full?",
                    describe_free_space(target_)));
  }
  sync_path(temporary_);
  std::error_code error;
  std::filesystem::rename(temporary_, target_, error);
  if (error) {
    throw IoError(fmt::format(
        "writing '{}': cannot rename the temporary file: {}", target_.string(), error.message()));
  }
  committed_ = true;
  auto parent = target_.parent_path();
  sync_path(parent.empty() ? std::filesystem::path(".") : parent);
}

std::string describe_free_space(const std::filesystem::path& path) {
  auto folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::error_code error;
  const auto space = std::filesystem::space(folder, error);
  if (error) return fmt::format("free space on '{}' unknown", folder.string());
  return fmt::format(
      "{:.1f} MB free on '{}'", static_cast<double>(space.available) / 1e6, folder.string());
}

void write_file_atomically(const std::filesystem::path& target, std::string_view content) {
  AtomicFileWriter writer(target);
  writer.stream().write(content.data(), static_cast<std::streamsize>(content.size()));
  writer.commit();
}

void require_writable_parent(const std::filesystem::path& target) {
  auto parent = target.parent_path();
  if (parent.empty()) parent = ".";
  if (!std::filesystem::is_directory(parent) || ::access(parent.c_str(), W_OK) != 0) {
    throw IoError(
        fmt::format("writing '{}': folder '{}' does not exist or is not writable; "
                    "hint: create it first or choose another output path",
                    target.string(),
                    parent.string()));
  }
}

void refuse_output_over_input(
    const std::filesystem::path& output, const std::string& output_option,
    const std::vector<std::pair<std::string, std::filesystem::path>>& inputs) {
  struct stat out_stat {};
  const bool output_exists = ::stat(output.c_str(), &out_stat) == 0;
  std::error_code error;
  const auto output_canonical = std::filesystem::weakly_canonical(output, error);
  for (const auto& [option, input] : inputs) {
    if (input.empty()) continue;
    struct stat in_stat {};
    bool same = false;
    if (output_exists && ::stat(input.c_str(), &in_stat) == 0) {
      same = in_stat.st_dev == out_stat.st_dev && in_stat.st_ino == out_stat.st_ino;
    } else if (!error) {
      std::error_code input_error;
      const auto input_canonical = std::filesystem::weakly_canonical(input, input_error);
      same = !input_error && input_canonical == output_canonical;
    }
    if (same) {
      throw IoError(fmt::format(
          "checking options: {} '{}' is the same file as {} '{}': writing it would destroy the "
          "input; hint: choose another {} path",
          output_option,
          output.string(),
          option,
          input.string(),
          output_option));
    }
  }
}

void sync_path(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw IoError(fmt::format("syncing '{}': {}", path.string(), std::strerror(errno)));
  }
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0 && saved != EINVAL) {  // some filesystems cannot fsync directories
    throw IoError(fmt::format("syncing '{}': {}", path.string(), std::strerror(saved)));
  }
}

}  // namespace ftune
