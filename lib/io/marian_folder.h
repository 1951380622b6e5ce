// A Marian (OPUS-MT) model folder: config.json, weights, source.spm / target.spm / vocab.json.
// Loads the translation model strictly and saves it back in a layout `from_pretrained` reads.
#pragma once

#include <filesystem>
#include <optional>

#include <c10/core/ScalarType.h>

#include "lib/io/state_dict.h"
#include "models/marian.h"
#include "tokenizer/marian_tokenizer.h"

namespace ftune {

struct MarianBundle {
  std::filesystem::path dir;  // where the tokenizer files come from
  MarianConfig config;
  MarianMTModel model{nullptr};
  std::optional<MarianTokenizer> tokenizer;
  LoadReport report;
};

// `weights` overrides the folder's own weights file.
MarianBundle load_marian_folder(const std::filesystem::path& dir,
                                const std::optional<std::filesystem::path>& weights = std::nullopt);

// Loads a weights file into `model` strictly; the file's copies of the tied embedding
// (model.encoder/decoder.embed_tokens.weight, lm_head.weight) must equal model.shared.weight.
LoadReport load_marian_weights(MarianMTModel& model, const MarianConfig& config,
                               const std::filesystem::path& file);

// Writes config.json, model.safetensors (floating-point weights as `dtype`) and copies of the
// tokenizer files.
void save_marian_folder(const std::filesystem::path& out_dir, const MarianBundle& bundle,
                        c10::ScalarType dtype = c10::kFloat);

// True when config.json says model_type "marian".
bool is_marian_folder(const std::filesystem::path& dir);

}  // namespace ftune
