// Our own safetensors reader and writer over raw bytes: a validated header and views into a
// read-only memory map. Not a tensor library: no LibTorch here (lib/io/weights.h makes
// at::Tensors), so this file can be fuzzed on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ftune {

// The element types a weights file may hold; names as in the safetensors header.
enum class DType : std::uint8_t { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

const char* dtype_name(DType dtype);                      // "F32", "BF16", ...
std::size_t dtype_item_size(DType dtype);                 // bytes per element
std::optional<DType> parse_dtype(std::string_view name);  // nullopt for names we do not know

// A read-only memory map of a whole file. Movable, not copyable; unmaps on destruction.
class MappedFile {
 public:
  // Throws CheckpointError if the file cannot be opened or mapped (an empty file maps to size 0).
  explicit MappedFile(const std::filesystem::path& path);
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// One tensor of a parsed header. `begin`/`end` are byte offsets into the data area (the bytes
// after the header), already checked: end - begin == numel * item size, inside the data area.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::size_t begin = 0;
  std::size_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // sorted by name
  std::map<std::string, std::string> metadata;
  std::size_t data_start = 0;  // offset of the data area in the buffer: 8 + header length
};

// Validates a whole safetensors buffer without trusting it: header length, JSON, dtypes, shapes,
// offsets (inside the data area, sized dtype x shape, not overlapping), unique names.
// `source` names the file in error messages. Throws CheckpointError naming what was wrong.
SafetensorsHeader parse_safetensors(const std::uint8_t* data, std::size_t size,
                                    const std::string& source);

// A safetensors file, mapped and validated. Tensor bytes stay valid while this object lives.
//   SafetensorsFile file("model.safetensors");
//   for (const auto& e : file.header().entries) use(e.name, file.bytes(e), e.end - e.begin);
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const SafetensorsHeader& header() const { return header_; }
  const std::uint8_t* bytes(const SafetensorsEntry& entry) const {
    return mapping_.data() + header_.data_start + entry.begin;
  }

 private:
  MappedFile mapping_;
  SafetensorsHeader header_;
};

// One tensor to write: raw little-endian C-contiguous bytes, `size` == numel * item size.
struct SafetensorsTensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  const void* data = nullptr;
  std::size_t size = 0;
};

// Writes a safetensors file atomically (temp file in the same folder, fsync, rename): tensors
// sorted by name, header padded with spaces to a multiple of 8, `__metadata__` = `metadata` plus
// "format": "pt" unless given. Throws CheckpointError for bad entries, IoError for I/O failures.
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<SafetensorsTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ftune
