// A restricted unpickler for PyTorch state dicts: it runs only the pickle opcodes and globals a
// `torch.save(state_dict)` needs and returns where each tensor lives. Not a Python unpickler: no
// other global is ever resolved, and no LibTorch here (lib/io/weights.cpp makes the tensors).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lib/formats/safetensors.h"  // DType

namespace ftune {

// One state-dict entry: a strided view into a storage. Sizes and offsets count elements.
// Already checked: every element the view touches lies inside the storage's declared numel.
struct PickledTensor {
  std::string name;         // the state-dict key, e.g. "bert.pooler.dense.weight"
  std::string storage_key;  // zip: the record "data/<key>"; legacy: a key of the storage list
  DType dtype = DType::F32;
  std::int64_t storage_numel = 0;   // elements of the whole storage, as the pickle declares it
  std::int64_t storage_offset = 0;  // first element of the view
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;
};

// Runs the pickle of a zip-format checkpoint (`<archive>/data.pkl`). Returns the tensors in
// pickle order; `_metadata` (the OrderedDict attribute) is skipped. `source` names the file in
// errors. Throws CheckpointError for malformed pickles, forbidden globals and non-tensor values.
std::vector<PickledTensor> parse_state_dict_pickle(const std::uint8_t* data, std::size_t size,
                                                   const std::string& source);

// True when `data` starts like a pre-1.6 `torch.save(..., _use_new_zipfile_serialization=False)`
// file (a pickled magic number).
bool is_legacy_checkpoint(const std::uint8_t* data, std::size_t size);

// Where one storage's raw little-endian bytes are in a legacy file.
struct LegacyStorage {
  DType dtype = DType::F32;
  std::int64_t numel = 0;
  std::size_t byte_offset = 0;  // into the parsed buffer
};

struct LegacyCheckpoint {
  std::vector<PickledTensor> tensors;
  std::map<std::string, LegacyStorage> storages;  // by storage key
};

// Parses a whole legacy file: magic number, protocol version, sys info, the state-dict pickle,
// the storage key list, then for each storage its 8-byte LE numel and raw bytes. Every offset is
// checked against `size`; a truncated file is a CheckpointError.
LegacyCheckpoint parse_legacy_checkpoint(const std::uint8_t* data, std::size_t size,
                                         const std::string& source);

}  // namespace ftune
