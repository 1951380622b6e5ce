// Weights files to and from name -> at::Tensor maps. The parsing of untrusted bytes lives in
// lib/formats/safetensors.cpp and lib/formats/pickle.cpp; this file only turns their validated
// views into tensors and opens zip archives (LibTorch's PyTorchStreamReader) and TorchScript
// modules.
#include "lib/io/weights.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/strides.h>
#include <caffe2/serialize/inline_container.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/mman.h>
#include <torch/script.h>
#include <unistd.h>

#include "lib/formats/pickle.h"
#include "lib/formats/safetensors.h"
#include "lib/tensors/device.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace fs = std::filesystem;

namespace {

constexpr const char* kCandidateNames[] = {"model.safetensors",
                                           "model.safetensors.index.json",
                                           "pytorch_model.bin",
                                           "pytorch_model.bin.index.json"};

at::ScalarType to_scalar_type(DType dtype) {
  switch (dtype) {
    case DType::F32:
      return at::kFloat;
    case DType::F16:
      return at::kHalf;
    case DType::BF16:
      return at::kBFloat16;
    case DType::F64:
      return at::kDouble;
    case DType::I64:
      return at::kLong;
    case DType::I32:
      return at::kInt;
    case DType::I16:
      return at::kShort;
    case DType::I8:
      return at::kChar;
    case DType::U8:
      return at::kByte;
    case DType::BOOL:
      return at::kBool;
  }
  return at::kFloat;
}

std::optional<DType> to_dtype(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return DType::F32;
    case at::kHalf:
      return DType::F16;
    case at::kBFloat16:
      return DType::BF16;
    case at::kDouble:
      return DType::F64;
    case at::kLong:
      return DType::I64;
    case at::kInt:
      return DType::I32;
    case at::kShort:
      return DType::I16;
    case at::kChar:
      return DType::I8;
    case at::kByte:
      return DType::U8;
    case at::kBool:
      return DType::BOOL;
    default:
      return std::nullopt;
  }
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

[[noreturn]] void fail_file(const fs::path& file, const std::string& what) {
  throw CheckpointError(fmt::format("reading weights: file '{}': {}", file.string(), what));
}

// A view of `storage` as `t` describes it, copied out when it is not the whole storage so that a
// small tensor never pins a large buffer. Tensors that are the whole storage (tied weights) share.
at::Tensor make_tensor(const c10::Storage& storage, const PickledTensor& t) {
  at::Tensor view = at::empty({0}, at::TensorOptions().dtype(to_scalar_type(t.dtype)))
                        .set_(storage, t.storage_offset, t.shape, t.strides);
  bool whole = t.storage_offset == 0 && view.is_contiguous() &&
               view.numel() * static_cast<std::int64_t>(dtype_item_size(t.dtype)) ==
                   static_cast<std::int64_t>(storage.nbytes());
  return whole ? view : view.clone(at::MemoryFormat::Contiguous);
}

void check_storage_size(const fs::path& file, const PickledTensor& t, std::size_t nbytes) {
  std::uint64_t expected = static_cast<std::uint64_t>(t.storage_numel) * dtype_item_size(t.dtype);
  if (nbytes < expected) {
    fail_file(file,
              fmt::format("tensor '{}': expected storage '{}' of {} bytes ({} x {}), got {} "
                          "bytes; hint: the file is truncated or corrupt",
                          t.name,
                          t.storage_key,
                          expected,
                          t.storage_numel,
                          dtype_name(t.dtype),
                          nbytes));
  }
}

// Tensors that alias the file's private mapping instead of copying it: the file's pages come into
// memory only when a tensor is read (copied into a model), and release_mapped_pages() drops them
// again, so loading a model does not hold its weights twice.
using SharedMapping = std::shared_ptr<const MappedFile>;

void release_mapping(void* context) { delete static_cast<SharedMapping*>(context); }

// `nbytes` at `offset` of the mapping as a contiguous tensor, or a copy where the address is not
// aligned for the dtype (safetensors does not promise alignment).
at::Tensor map_tensor(const SharedMapping& mapping, std::size_t offset, std::size_t nbytes,
                      at::IntArrayRef shape, at::ScalarType dtype) {
  const std::uint8_t* data = mapping->data() + offset;
  const auto options = at::TensorOptions().dtype(dtype);
  if (nbytes == 0 || reinterpret_cast<std::uintptr_t>(data) % c10::elementSize(dtype) != 0) {
    at::Tensor copy = at::empty(shape, options);
    if (nbytes > 0) std::memcpy(copy.data_ptr(), data, nbytes);
    return copy;
  }
  c10::DataPtr pointer(const_cast<std::uint8_t*>(data),
                       new SharedMapping(mapping),
                       &release_mapping,
                       c10::Device(c10::DeviceType::CPU));
  c10::Storage storage(c10::Storage::use_byte_size_t(),
                       nbytes,
                       std::move(pointer),
                       /*allocator=*/nullptr,
                       /*resizable=*/false);
  return at::empty({0}, options).set_(storage, 0, shape, c10::contiguous_strides(shape));
}

// Whether the zip member whose data starts at `data_offset` is stored uncompressed: its local file
// header (signature 0x04034b50, then the method at +8, name and extra lengths at +26/+28) must end
// exactly at the data. torch.save always stores; anything else is read through the zip reader.
bool is_stored_zip_member(const MappedFile& mapping, std::size_t data_offset) {
  const std::uint8_t* d = mapping.data();
  auto u16 = [d](std::size_t at) { return static_cast<std::size_t>(d[at] | (d[at + 1] << 8)); };
  if (data_offset < 30 || data_offset > mapping.size()) return false;
  const std::size_t lowest = data_offset > 30 + 2 * 65535 ? data_offset - 30 - 2 * 65535 : 0;
  for (std::size_t at = data_offset - 30 + 1; at-- > lowest;) {
    if (d[at] == 0x50 && d[at + 1] == 0x4b && d[at + 2] == 0x03 && d[at + 3] == 0x04 &&
        at + 30 + u16(at + 26) + u16(at + 28) == data_offset) {
      return u16(at + 8) == 0;  // compression method 0: stored
    }
  }
  return false;
}

TensorMap read_safetensors_tensors(const fs::path& file, const SharedMapping& mapping) {
  SafetensorsHeader header = parse_safetensors(mapping->data(), mapping->size(), file.string());
  TensorMap out;
  for (const auto& e : header.entries) {
    out.emplace(e.name,
                map_tensor(mapping,
                           header.data_start + e.begin,
                           e.end - e.begin,
                           e.shape,
                           to_scalar_type(e.dtype)));
  }
  return out;
}

TensorMap read_legacy_tensors(const fs::path& file, const MappedFile& mapping) {
  LegacyCheckpoint checkpoint =
      parse_legacy_checkpoint(mapping.data(), mapping.size(), file.string());
  std::map<std::string, c10::Storage> storages;
  for (const auto& [key, s] : checkpoint.storages) {
    std::size_t nbytes = static_cast<std::size_t>(s.numel) * dtype_item_size(s.dtype);
    at::Tensor bytes = at::empty({static_cast<std::int64_t>(nbytes)}, at::kByte);
    if (nbytes > 0) std::memcpy(bytes.data_ptr(), mapping.data() + s.byte_offset, nbytes);
    storages.emplace(key, bytes.storage());
  }
  TensorMap out;
  for (const auto& t : checkpoint.tensors) {
    const c10::Storage& storage = storages.at(t.storage_key);
    check_storage_size(file, t, storage.nbytes());
    out.insert_or_assign(t.name, make_tensor(storage, t));
  }
  return out;
}

TensorMap read_zip_state_dict(const fs::path& file, caffe2::serialize::PyTorchStreamReader& reader,
                              const SharedMapping& mapping) {
  if (reader.hasRecord("byteorder")) {  // written by torch >= 2.1; absent means little-endian
    auto [order, order_size] = reader.getRecord("byteorder");
    std::string text(static_cast<const char*>(order.get()), order_size);
    if (text != "little") {
      fail_file(file,
                fmt::format("byte order: expected 'little', got '{}'; hint: re-save the "
                            "checkpoint on a little-endian machine",
                            text.substr(0, 16)));
    }
  }
  auto [pickle_data, pickle_size] = reader.getRecord("data.pkl");
  auto tensors = parse_state_dict_pickle(static_cast<const std::uint8_t*>(pickle_data.get()),
                                         pickle_size,
                                         file.string() + ":data.pkl");
  std::map<std::string, c10::Storage> storages;
  TensorMap out;
  for (const auto& t : tensors) {
    auto it = storages.find(t.storage_key);
    if (it == storages.end()) {
      std::string record = "data/" + t.storage_key;
      if (!reader.hasRecord(record)) {
        fail_file(file,
                  fmt::format("tensor '{}': expected the archive record '{}', got none; "
                              "hint: the file is truncated or corrupt",
                              t.name,
                              record));
      }
      // Stored members are used in place (map_tensor); others are read through the zip reader.
      const std::size_t offset = reader.getRecordOffset(record);
      const std::size_t nbytes =
          static_cast<std::size_t>(t.storage_numel) * dtype_item_size(t.dtype);
      if (nbytes > 0 && offset + nbytes <= mapping->size() &&
          is_stored_zip_member(*mapping, offset)) {
        at::Tensor bytes =
            map_tensor(mapping, offset, nbytes, {static_cast<int64_t>(nbytes)}, at::kByte);
        it = storages.emplace(t.storage_key, bytes.storage()).first;
      } else {
        auto [data, size] = reader.getRecord(record);
        it = storages
                 .emplace(t.storage_key,
                          c10::Storage(c10::Storage::use_byte_size_t(),
                                       size,
                                       std::move(data),
                                       /*allocator=*/nullptr,
                                       /*resizable=*/false))
                 .first;
      }
    }
    check_storage_size(file, t, it->second.nbytes());
    out.insert_or_assign(t.name, make_tensor(it->second, t));
  }
  return out;
}

TensorMap read_torchscript_tensors(const fs::path& file) {
  torch::jit::Module module = torch::jit::load(file.string());
  TensorMap out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) {
    out.insert_or_assign(p.name, p.value.detach().clone(at::MemoryFormat::Contiguous));
  }
  for (const auto& b : module.named_buffers(/*recurse=*/true)) {
    out.insert_or_assign(b.name, b.value.detach().clone(at::MemoryFormat::Contiguous));
  }
  return out;
}

TensorMap read_zip_tensors(const fs::path& file, const SharedMapping& mapping) {
  caffe2::serialize::PyTorchStreamReader reader(file.string());
  bool has_code = reader.hasRecord("constants.pkl");
  for (const auto& record : reader.getAllRecords()) {
    if (record.rfind("code/", 0) == 0) has_code = true;
  }
  if (has_code) return read_torchscript_tensors(file);
  if (!reader.hasRecord("data.pkl")) {
    fail_file(file,
              "expected a zip archive with data.pkl (torch.save) or code/ (TorchScript), got "
              "neither; hint: this zip is not a PyTorch checkpoint");
  }
  return read_zip_state_dict(file, reader, mapping);
}

std::string hex_prefix(const MappedFile& mapping) {
  std::string out;
  for (std::size_t i = 0; i < std::min<std::size_t>(mapping.size(), 8); ++i) {
    out += fmt::format("{}{:02x}", i ? " " : "", mapping.data()[i]);
  }
  return out.empty() ? "an empty file" : "bytes " + out;
}

// Shards are plain files next to the index; refuse paths that leave the folder.
fs::path resolve_shard(const fs::path& index, const std::string& shard) {
  fs::path relative(shard);
  bool escapes = relative.empty() || relative.is_absolute() || ends_with(shard, ".json");
  for (const auto& part : relative) escapes = escapes || part == "..";
  if (escapes) {
    fail_file(index,
              fmt::format("shard '{}': expected a weights file name inside the index's "
                          "folder, got a path outside it or another index; hint: fix "
                          "weight_map",
                          shard));
  }
  return index.parent_path() / relative;
}

TensorMap read_sharded_tensors(const fs::path& index) {
  std::string text;
  {
    MappedFile mapping(index);
    text.assign(reinterpret_cast<const char*>(mapping.data()), mapping.size());
  }
  nlohmann::json json;
  try {
    json = parse_json_capped(text, index.string());
  } catch (const JsonError& e) {
    fail_file(index,
              fmt::format("expected a shard index in {}, got {}; hint: pass a *.index.json or a "
                          "weights file",
                          e.expected,
                          e.got));
  }
  if (!json.is_object() || !json.contains("weight_map") || !json["weight_map"].is_object()) {
    fail_file(index,
              "expected a shard index: a JSON object with a \"weight_map\" object (tensor name -> "
              "shard file), got JSON without a weight_map; hint: pass a *.index.json or a weights "
              "file");
  }
  std::map<std::string, std::string> shard_of;  // tensor -> shard
  for (const auto& [name, shard] : json["weight_map"].items()) {
    if (!shard.is_string()) {
      fail_file(index,
                fmt::format("weight_map '{}': expected a shard file name, got {}; hint: "
                            "the index is corrupt",
                            name,
                            quote_json_value(shard)));
    }
    shard_of[name] = shard.get<std::string>();
  }
  std::set<std::string> shards;
  for (const auto& [name, shard] : shard_of) shards.insert(shard);

  TensorMap out;
  std::map<std::string, std::string> found_in;
  for (const auto& shard : shards) {
    TensorMap part = read_weights(resolve_shard(index, shard));
    for (auto& [name, tensor] : part) {
      auto [it, inserted] = found_in.emplace(name, shard);
      if (!inserted) {
        fail_file(index,
                  fmt::format("tensor '{}': expected it in one shard, got it in '{}' and "
                              "'{}'; hint: the shards come from different saves",
                              name,
                              it->second,
                              shard));
      }
      out.emplace(name, std::move(tensor));
    }
  }
  for (const auto& [name, shard] : shard_of) {
    auto it = found_in.find(name);
    if (it == found_in.end() || it->second != shard) {
      fail_file(
          index,
          fmt::format("tensor '{}': expected it in shard '{}', got {}; hint: the "
                      "index and its shards do not match",
                      name,
                      shard,
                      it == found_in.end() ? "no shard holding it" : "it in '" + it->second + "'"));
    }
  }
  return out;
}

TensorMap read_weights_unwrapped(const fs::path& file) {
  if (ends_with(file.filename().string(), ".json")) return read_sharded_tensors(file);
  auto shared = std::make_shared<const MappedFile>(file);  // tensors may keep it alive
  const MappedFile& mapping = *shared;
  const std::uint8_t* d = mapping.data();
  const std::size_t n = mapping.size();
  if (n >= 4 && d[0] == 'P' && d[1] == 'K' && d[2] == 0x03 && d[3] == 0x04) {
    return read_zip_tensors(file, shared);
  }
  if (is_legacy_checkpoint(d, n)) return read_legacy_tensors(file, mapping);
  if (n >= 9 && d[8] == '{') return read_safetensors_tensors(file, shared);
  // Another pickle (PROTO 2..5): a truncated or foreign one, which the legacy parser names.
  if (n >= 2 && d[0] == 0x80 && d[1] >= 2 && d[1] <= 5) return read_legacy_tensors(file, mapping);
  // A `.safetensors` file whose header is not JSON: the safetensors parser names what is wrong.
  if (ends_with(file.filename().string(), ".safetensors")) {
    return read_safetensors_tensors(file, shared);
  }
  fail_file(file,
            fmt::format("expected a safetensors file, a PyTorch .bin (zip or legacy) or a "
                        "TorchScript archive, got {}; hint: convert the weights to "
                        "safetensors",
                        hex_prefix(mapping)));
}

}  // namespace

bool release_mapped_pages(const at::Tensor& tensor) {
  if (!tensor.defined() || !tensor.has_storage()) return false;
  const c10::Storage& storage = tensor.storage();
  if (storage.data_ptr().get_deleter() != &release_mapping) return false;
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(storage.data());
  const std::uintptr_t first = (begin + page - 1) / page * page;  // whole pages only
  const std::uintptr_t last = (begin + storage.nbytes()) / page * page;
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
  return true;
}

fs::path find_weights_file(const fs::path& model_dir) {
  std::error_code ec;
  if (!fs::is_directory(model_dir, ec)) {
    throw CheckpointError(
        fmt::format("finding weights: folder '{}': expected a model folder, got "
                    "{}; hint: pass the folder holding config.json",
                    model_dir.string(),
                    fs::exists(model_dir, ec) ? "a file" : "nothing"));
  }
  for (const char* name : kCandidateNames) {
    fs::path candidate = model_dir / name;
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  std::vector<fs::path> scripts;
  for (const auto& entry : fs::directory_iterator(model_dir, ec)) {
    if (entry.path().extension() == ".pt" && entry.is_regular_file(ec))
      scripts.push_back(entry.path());
  }
  std::sort(scripts.begin(), scripts.end());
  if (scripts.size() == 1) return scripts.front();
  std::string found = "none of them";
  if (!scripts.empty()) {
    found = "several *.pt:";
    for (const auto& s : scripts) found += " " + s.filename().string();
  }
  throw CheckpointError(
      fmt::format("finding weights: folder '{}': expected one of "
                  "model.safetensors, model.safetensors.index.json, "
                  "pytorch_model.bin, pytorch_model.bin.index.json or a single "
                  "*.pt, got {}; hint: download the weights into this folder",
                  model_dir.string(),
                  found));
}

TensorMap read_weights(const fs::path& file) {
  try {
    return read_weights_unwrapped(file);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    // LibTorch's zip reader and TorchScript loader report bad archives this way.
    std::string what = e.what_without_backtrace();
    what = what.substr(0, what.find('\n'));
    fail_file(file,
              fmt::format("expected a readable PyTorch archive, got error '{}'; hint: the "
                          "file is truncated or corrupt",
                          what));
  } catch (const std::exception& e) {
    fail_file(file,
              fmt::format("expected a readable weights file, got error '{}'; hint: the "
                          "file is truncated or corrupt",
                          e.what()));
  }
}

void write_weights_safetensors(const fs::path& file, const TensorMap& tensors) {
  std::vector<at::Tensor> keep;  // contiguous CPU copies, alive until written
  std::vector<SafetensorsTensorView> views;
  keep.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) {
    if (!tensor.defined()) {
      throw CheckpointError(
          fmt::format("writing weights: tensor '{}': expected a tensor, got an "
                      "undefined one; hint: this is a bug in the caller",
                      name));
    }
    auto dtype = to_dtype(tensor.scalar_type());
    if (!dtype) {
      throw CheckpointError(
          fmt::format("writing weights: tensor '{}': expected dtype float32, "
                      "float16, bfloat16, float64, int64/32/16/8, uint8 or bool, "
                      "got {}; hint: convert it with .to()",
                      name,
                      c10::toString(tensor.scalar_type())));
    }
    keep.push_back(tensor.detach().to(at::kCPU).contiguous());
    const at::Tensor& t = keep.back();
    views.push_back(SafetensorsTensorView{
        name, *dtype, t.sizes().vec(), t.data_ptr(), static_cast<std::size_t>(t.nbytes())});
  }
  write_safetensors(file, views);
}

void write_model_files(const fs::path& dir, TensorMap tensors, nlohmann::json config,
                       c10::ScalarType dtype) {
  fs::create_directories(dir);
  if (dtype != c10::kFloat) {
    for (auto& [name, tensor] : tensors) {
      if (tensor.is_floating_point()) tensor = tensor.to(dtype);
    }
    config["torch_dtype"] = torch_dtype_name(dtype);
  }
  write_weights_safetensors(dir / "model.safetensors", tensors);
  write_file_atomically(dir / "config.json", config.dump(2) + "\n");
}

}  // namespace ftune
