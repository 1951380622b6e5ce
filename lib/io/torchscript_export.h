// `ftune export --format torchscript`: a fine-tuned BERT classifier (sequence or token) as a
// TorchScript module that Python runs with nothing but torch (`torch.jit.load(path)(input_ids,
// attention_mask, token_type_ids)` -> logits) and a C++ program with LibTorch alone. Its
// parameters keep the checkpoint's names (bert.encoder.layer.0.attention.self.query.weight, ...),
// so ftune itself loads the file as it loads a TorchScript export of transformers.
// Not tracing: the forward pass is written out as TorchScript source for the model's config.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace ftune {

struct ExportOptions {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> weights;
  // A folder: model.pt, plus config.json and the tokenizer files copied from model_dir, so that
  // the folder is a model folder ftune reads (`--model OUT` or `--model OUT/model.pt`).
  std::filesystem::path output_dir;
};

struct ExportResult {
  std::filesystem::path module_file;
  std::string kind;           // "sequence classifier" | "token classifier"
  int64_t parameters = 0;     // tensors in the module
  double max_difference = 0;  // |TorchScript - ftune| logits on a check batch, after reloading
};

// Loads the folder, writes the module atomically, loads it back with torch::jit::load and checks
// its logits against ftune's own model (Error when they differ by more than 1e-4).
ExportResult export_torchscript(const ExportOptions& options);

}  // namespace ftune
