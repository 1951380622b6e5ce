// Temporary file + fsync + rename: the only way ftune writes an output file.
#include "lib/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "lib/error.h"

namespace ftune {

AtomicFileWriter::AtomicFileWriter(std::filesystem::path target) : target_(std::move(target)) {
  temporary_ = target_;
  temporary_ += fmt::format(".tmp.{}", ::getpid());
  out_.open(temporary_, std::ios::binary | std::ios::trunc);
  if (!out_) {
    throw IoError(fmt::format("writing '{}': cannot create '{}': {}; hint: check that the folder "
                              "exists and is writable",
                              target_.string(), temporary_.string(), std::strerror(errno)));
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
  const bool ok = static_cast<bool>(out_);
  out_.close();
  if (!ok) {
    throw IoError(fmt::format("writing '{}': write failed (disk full?)", target_.string()));
  }
  sync_path(temporary_);
  std::error_code error;
  std::filesystem::rename(temporary_, target_, error);
  if (error) {
    throw IoError(fmt::format("writing '{}': cannot rename the temporary file: {}",
                              target_.string(), error.message()));
  }
  committed_ = true;
  auto parent = target_.parent_path();
  sync_path(parent.empty() ? std::filesystem::path(".") : parent);
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
    throw IoError(fmt::format("writing '{}': folder '{}' does not exist or is not writable; "
                              "hint: create it first or choose another output path",
                              target.string(), parent.string()));
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
