// `ftune predict`: a fine-tuned classifier over a table file, one JSON line per row.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "lib/data/text_dataset.h"
#include "lib/tensors/device.h"

namespace ftune {

struct PredictOptions {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> weights;
  std::filesystem::path data;
  std::filesystem::path output;
  size_t max_length = 128;
  size_t batch_size = 32;
  TextColumns columns;
  TableReadOptions table;
  RuntimeOptions runtime;  // --device, --precision
};

// Returns the number of rows written.
size_t run_predict(const PredictOptions& options);

}  // namespace ftune
