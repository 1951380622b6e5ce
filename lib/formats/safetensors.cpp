// The safetensors reader (validate everything, trust nothing) and atomic writer.
// Format: https://github.com/huggingface/safetensors (8-byte LE header length, JSON header, data).
// No LibTorch here; see lib/io/weights.cpp for the at::Tensor side.
#include "lib/formats/safetensors.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/atomic_file.h"
#include "util/error.h"

namespace ftune {
namespace {

// Hugging Face's reader refuses headers over 100 MB; a real one is a few hundred KB.
constexpr std::uint64_t kMaxHeaderBytes = 100ULL << 20;
constexpr int kMaxRank = 64;
// A real header nests 3 levels (header, tensor, shape). nlohmann's dump() (our error excerpts)
// recurses once per level, so 100k '[' would overflow the stack: deeper headers are rejected.
constexpr int kMaxJsonDepth = 32;

std::string shape_string(const std::vector<std::int64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// A short, printable excerpt of an untrusted JSON value for error messages.
std::string excerpt(const nlohmann::json& value) {
  std::string text =
      value.dump(-1, ' ', /*ensure_ascii=*/true, nlohmann::json::error_handler_t::replace);
  if (text.size() > 80) text = text.substr(0, 77) + "...";
  return text;
}

[[noreturn]] void fail_tensor(const std::string& source, const std::string& name,
                              const std::string& what) {
  throw CheckpointError(
      fmt::format("reading safetensors '{}': tensor '{}': {}", source, name, what));
}

// Reads one non-negative integer that fits in int64 from an untrusted JSON value.
std::optional<std::uint64_t> read_count(const nlohmann::json& value) {
  if (value.is_number_unsigned()) {
    auto v = value.get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return {};
    return v;
  }
  if (value.is_number_integer()) {
    auto v = value.get<std::int64_t>();
    if (v < 0) return {};
    return static_cast<std::uint64_t>(v);
  }
  return {};
}

SafetensorsEntry parse_entry(const std::string& source, const std::string& name,
                             const nlohmann::json& info, std::size_t data_size) {
  const std::string hint = "hint: the file is corrupt or was not written by a safetensors writer";
  if (!info.is_object()) {
    fail_tensor(source,
                name,
                fmt::format("expected an object with dtype, shape, data_offsets, "
                            "got {}; {}",
                            excerpt(info),
                            hint));
  }
  SafetensorsEntry entry;
  entry.name = name;

  auto dtype_it = info.find("dtype");
  if (dtype_it == info.end() || !dtype_it->is_string()) {
    fail_tensor(source,
                name,
                fmt::format("expected a string 'dtype', got {}; {}",
                            dtype_it == info.end() ? "none" : excerpt(*dtype_it),
                            hint));
  }
  auto dtype = parse_dtype(dtype_it->get_ref<const std::string&>());
  if (!dtype) {
    fail_tensor(source,
                name,
                fmt::format("expected dtype one of F32, F16, BF16, F64, I64, I32, I16, I8, U8, "
                            "BOOL, got {}; hint: convert the tensor to a supported dtype",
                            excerpt(*dtype_it)));
  }
  entry.dtype = *dtype;

  auto shape_it = info.find("shape");
  if (shape_it == info.end() || !shape_it->is_array() ||
      shape_it->size() > static_cast<std::size_t>(kMaxRank)) {
    fail_tensor(source,
                name,
                fmt::format("expected 'shape' as a list of at most {} sizes, got {}; {}",
                            kMaxRank,
                            shape_it == info.end() ? "none" : excerpt(*shape_it),
                            hint));
  }
  std::uint64_t nbytes = dtype_item_size(entry.dtype);
  for (const auto& dim : *shape_it) {
    auto size = read_count(dim);
    if (!size) {
      fail_tensor(source,
                  name,
                  fmt::format("expected non-negative integer sizes in 'shape', got "
                              "{}; {}",
                              excerpt(*shape_it),
                              hint));
    }
    entry.shape.push_back(static_cast<std::int64_t>(*size));
    if (__builtin_mul_overflow(nbytes, *size, &nbytes) ||
        nbytes > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      fail_tensor(source,
                  name,
                  fmt::format("expected a shape whose byte size fits in 63 bits, "
                              "got {} of {}; {}",
                              excerpt(*shape_it),
                              dtype_name(entry.dtype),
                              hint));
    }
  }

  auto offsets_it = info.find("data_offsets");
  std::optional<std::uint64_t> begin, end;
  if (offsets_it != info.end() && offsets_it->is_array() && offsets_it->size() == 2) {
    begin = read_count((*offsets_it)[0]);
    end = read_count((*offsets_it)[1]);
  }
  if (!begin || !end) {
    fail_tensor(source,
                name,
                fmt::format("expected 'data_offsets' as [begin, end], got {}; {}",
                            offsets_it == info.end() ? "none" : excerpt(*offsets_it),
                            hint));
  }
  if (*begin > *end || *end > data_size) {
    fail_tensor(source,
                name,
                fmt::format("expected data_offsets inside the data area [0, {}], got [{}, {}]; "
                            "hint: the file is truncated or its header is corrupt",
                            data_size,
                            *begin,
                            *end));
  }
  if (*end - *begin != nbytes) {
    fail_tensor(source,
                name,
                fmt::format("expected {} bytes for {} {}, got {} (data_offsets [{}, {}]); {}",
                            nbytes,
                            dtype_name(entry.dtype),
                            shape_string(entry.shape),
                            *end - *begin,
                            *begin,
                            *end,
                            hint));
  }
  entry.begin = static_cast<std::size_t>(*begin);
  entry.end = static_cast<std::size_t>(*end);
  return entry;
}

// Duplicate keys are legal JSON but nlohmann keeps only the last, so find them with a SAX pass.
// Only keys of the top-level object (depth 1) are tensor names.
// It also stops at nesting deeper than kMaxJsonDepth (too_deep).
class DuplicateKeyFinder : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::optional<std::string> duplicate;
  bool too_deep = false;

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return true; }
  bool number_unsigned(number_unsigned_t) override { return true; }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool string(string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return enter(); }
  bool key(string_t& name) override {
    if (depth_ == 1 && !keys_.insert(name).second) {
      duplicate = name;
      return false;  // stop parsing
    }
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override { return enter(); }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  bool enter() {
    too_deep = ++depth_ > kMaxJsonDepth;
    return !too_deep;  // false stops parsing
  }

  int depth_ = 0;
  std::set<std::string> keys_;
};

}  // namespace

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return "F32";
    case DType::F16:
      return "F16";
    case DType::BF16:
      return "BF16";
    case DType::F64:
      return "F64";
    case DType::I64:
      return "I64";
    case DType::I32:
      return "I32";
    case DType::I16:
      return "I16";
    case DType::I8:
      return "I8";
    case DType::U8:
      return "U8";
    case DType::BOOL:
      return "BOOL";
  }
  return "?";
}

std::size_t dtype_item_size(DType dtype) {
  switch (dtype) {
    case DType::F64:
    case DType::I64:
      return 8;
    case DType::F32:
    case DType::I32:
      return 4;
    case DType::F16:
    case DType::BF16:
    case DType::I16:
      return 2;
    case DType::I8:
    case DType::U8:
    case DType::BOOL:
      return 1;
  }
  return 1;
}

std::optional<DType> parse_dtype(std::string_view name) {
  static const std::pair<std::string_view, DType> kNames[] = {{"F32", DType::F32},
                                                              {"F16", DType::F16},
                                                              {"BF16", DType::BF16},
                                                              {"F64", DType::F64},
                                                              {"I64", DType::I64},
                                                              {"I32", DType::I32},
                                                              {"I16", DType::I16},
                                                              {"I8", DType::I8},
                                                              {"U8", DType::U8},
                                                              {"BOOL", DType::BOOL}};
  for (const auto& [n, d] : kNames) {
    if (n == name) return d;
  }
  return std::nullopt;
}

MappedFile::MappedFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw CheckpointError(
        fmt::format("reading weights: file '{}': expected a readable file, got "
                    "error '{}'; hint: check the path and its permissions",
                    path.string(),
                    std::strerror(errno)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw CheckpointError(
        fmt::format("reading weights: file '{}': expected a regular file, got "
                    "something else; hint: pass the weights file itself",
                    path.string()));
  }
  size_ = static_cast<std::size_t>(st.st_size);
  if (size_ > 0) {
    // Private and writable: tensors that alias the mapping (lib/io/weights.cpp) may be written
    // like any tensor; a write copies that page for this process and never reaches the file.
    void* addr = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      throw CheckpointError(
          fmt::format("reading weights: file '{}': expected a file that can be "
                      "memory-mapped, got error '{}'; hint: check free memory",
                      path.string(),
                      std::strerror(err)));
    }
    data_ = static_cast<const std::uint8_t*>(addr);
  }
  ::close(fd);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
}

SafetensorsHeader parse_safetensors(const std::uint8_t* data, std::size_t size,
                                    const std::string& source) {
  const std::string action = fmt::format("reading safetensors '{}'", source);
  if (size < 8) {
    throw CheckpointError(
        fmt::format("{}: file size: expected at least 8 bytes, got {}; hint: "
                    "the file is truncated or not a safetensors file",
                    action,
                    size));
  }
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | data[i];
  if (header_size > kMaxHeaderBytes) {
    throw CheckpointError(
        fmt::format("{}: header length: expected at most {} bytes, got {}; "
                    "hint: this is not a safetensors file",
                    action,
                    kMaxHeaderBytes,
                    header_size));
  }
  if (header_size > size - 8) {
    throw CheckpointError(
        fmt::format("{}: header length: expected at most the {} bytes after "
                    "the length field, got {}; hint: the file is truncated",
                    action,
                    size - 8,
                    header_size));
  }
  const char* text = reinterpret_cast<const char*>(data + 8);
  const char* text_end = text + header_size;

  DuplicateKeyFinder finder;
  bool well_formed = nlohmann::json::sax_parse(text, text_end, &finder);
  if (finder.duplicate) {
    fail_tensor(source,
                *finder.duplicate,
                "expected a unique tensor name, got it twice in the header; hint: the file "
                "was written by a broken writer");
  }
  if (finder.too_deep) {
    throw CheckpointError(
        fmt::format("{}: header: expected JSON nested at most {} levels, got deeper; "
                    "hint: the file is corrupt or not a safetensors file",
                    action,
                    kMaxJsonDepth));
  }
  nlohmann::json header =
      well_formed ? nlohmann::json::parse(text, text_end, nullptr, /*allow_exceptions=*/false)
                  : nlohmann::json(nlohmann::json::value_t::discarded);
  if (header.is_discarded() || !header.is_object()) {
    throw CheckpointError(
        fmt::format("{}: header: expected a JSON object, got {} of {} bytes; "
                    "hint: the file is truncated or not a safetensors file",
                    action,
                    header.is_discarded() ? "malformed JSON" : "JSON",
                    header_size));
  }

  SafetensorsHeader result;
  result.data_start = 8 + static_cast<std::size_t>(header_size);
  const std::size_t data_size = size - result.data_start;
  for (const auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (!info.is_object()) {
        throw CheckpointError(
            fmt::format("{}: __metadata__: expected a map of strings, got {}; "
                        "hint: the header is corrupt",
                        action,
                        excerpt(info)));
      }
      for (const auto& [key, value] : info.items()) {
        if (!value.is_string()) {
          throw CheckpointError(
              fmt::format("{}: __metadata__ '{}': expected a string, got {}; "
                          "hint: the header is corrupt",
                          action,
                          key,
                          excerpt(value)));
        }
        result.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    result.entries.push_back(parse_entry(source, name, info, data_size));
  }

  // Overlap: sort by begin; empty tensors own no bytes and cannot overlap anything.
  std::vector<const SafetensorsEntry*> by_offset;
  for (const auto& e : result.entries) {
    if (e.end > e.begin) by_offset.push_back(&e);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](const auto* a, const auto* b) {
    return a->begin < b->begin;
  });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const auto* prev = by_offset[i - 1];
    const auto* cur = by_offset[i];
    if (cur->begin < prev->end) {
      fail_tensor(source,
                  cur->name,
                  fmt::format("expected data_offsets not overlapping tensor '{}' [{}, {}], got "
                              "[{}, {}]; hint: the header is corrupt",
                              prev->name,
                              prev->begin,
                              prev->end,
                              cur->begin,
                              cur->end));
    }
  }
  // header.items() iterates the object in key order already; keep the promise explicit.
  std::sort(result.entries.begin(), result.entries.end(), [](const auto& a, const auto& b) {
    return a.name < b.name;
  });
  return result;
}

SafetensorsFile::SafetensorsFile(const std::filesystem::path& path) : mapping_(path) {
  header_ = parse_safetensors(mapping_.data(), mapping_.size(), path.string());
}

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<SafetensorsTensorView>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<const SafetensorsTensorView*> sorted;
  for (const auto& t : tensors) sorted.push_back(&t);
  std::sort(
      sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->name < b->name; });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  if (metadata.find("format") == metadata.end()) meta["format"] = "pt";
  for (const auto& [key, value] : metadata) meta[key] = value;
  header["__metadata__"] = meta;

  std::size_t offset = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto& t = *sorted[i];
    const std::string action = fmt::format("writing safetensors '{}'", path.string());
    if (t.name.empty() || t.name == "__metadata__" || (i > 0 && sorted[i - 1]->name == t.name)) {
      throw CheckpointError(
          fmt::format("{}: tensor '{}': expected a unique, non-empty name "
                      "other than __metadata__, got a clash; hint: rename it",
                      action,
                      t.name));
    }
    std::uint64_t nbytes = dtype_item_size(t.dtype);
    for (auto dim : t.shape) {
      if (dim < 0 || __builtin_mul_overflow(nbytes, static_cast<std::uint64_t>(dim), &nbytes)) {
        throw CheckpointError(
            fmt::format("{}: tensor '{}': expected non-negative sizes, got {}; "
                        "hint: this is a bug in the caller",
                        action,
                        t.name,
                        shape_string(t.shape)));
      }
    }
    if (nbytes != t.size || (t.size > 0 && t.data == nullptr)) {
      throw CheckpointError(
          fmt::format("{}: tensor '{}': expected {} bytes for {} {}, got {}; "
                      "hint: pass contiguous data of the declared dtype",
                      action,
                      t.name,
                      nbytes,
                      dtype_name(t.dtype),
                      shape_string(t.shape),
                      t.size));
    }
    nlohmann::ordered_json info;
    info["dtype"] = dtype_name(t.dtype);
    info["shape"] = t.shape;
    info["data_offsets"] = {offset, offset + t.size};
    header[t.name] = std::move(info);
    offset += t.size;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  std::uint8_t length[8];
  for (int i = 0; i < 8; ++i) length[i] = static_cast<std::uint8_t>(text.size() >> (8 * i));

  AtomicFileWriter writer(path);  // temporary file, fsync, rename: the old file survives a crash
  auto& out = writer.stream();
  out.write(reinterpret_cast<const char*>(length), sizeof(length));
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto* t : sorted) {
    out.write(static_cast<const char*>(t->data), static_cast<std::streamsize>(t->size));
  }
  writer.commit();
}

}  // namespace ftune
