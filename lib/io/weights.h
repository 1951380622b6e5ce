// Reading and writing weights files as name -> at::Tensor maps: safetensors, PyTorch .bin (zip and
// legacy), sharded *.index.json and TorchScript archives. Not the model loader: matching names to
// a module (missing / unexpected / mis-shaped keys) happens in the checkpoint code.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>
#include <nlohmann/json.hpp>

namespace ftune {

using TensorMap = std::map<std::string, at::Tensor>;

// The weights file of a model folder, first found: model.safetensors,
// model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json, then a single
// *.pt (TorchScript). Throws CheckpointError listing what was looked for.
std::filesystem::path find_weights_file(const std::filesystem::path& model_dir);

// Reads any supported weights file, recognized by content (safetensors / zip .bin / legacy .bin /
// TorchScript archive), or a sharded *.index.json ({"weight_map": name -> shard file}).
// Tensors are CPU, contiguous, writable and independent of later changes to the file: those of
// safetensors files and torch.save zips alias a private mapping of the file (no copy; its pages
// load when read, and a write copies the page for this process), the others are copies.
// TorchScript gives its parameters and buffers by name. Throws CheckpointError naming the file
// and what was wrong.
TensorMap read_weights(const std::filesystem::path& file);

// For a tensor read_weights mapped from its file and that nobody wrote into: drops its pages from
// this process's memory (they are read from the file again if touched) and returns true; false,
// doing nothing, for any other tensor. load_state_dict calls it after copying each tensor into
// the model, so that loading a model does not hold its weights twice.
bool release_mapped_pages(const at::Tensor& tensor);

// Writes a safetensors file atomically. Tensors must be contiguous CPU tensors of a supported
// dtype (float32/16, bfloat16, float64, int64/32/16/8, uint8, bool); a CheckpointError names any
// that is not.
void write_weights_safetensors(const std::filesystem::path& file, const TensorMap& tensors);

// The weights and config.json of a model folder being saved (created if missing), each written
// atomically: model.safetensors with every floating-point tensor stored as `dtype` (--save-dtype;
// integer tensors as they are) and, when that is not float32, config.json's torch_dtype naming it.
// Every family's save (lib/io/*_folder.h) ends here, so the dtype is applied as it is written.
void write_model_files(const std::filesystem::path& dir, TensorMap tensors, nlohmann::json config,
                       c10::ScalarType dtype = c10::kFloat);

}  // namespace ftune
