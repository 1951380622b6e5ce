// `ftune predict`: a fine-tuned classifier over a table file, one JSON line per row.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lib/device.h"
#include "lib/text_dataset.h"
#include "models/bert.h"

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

// Runs the classifier in inference mode over `encodings` in batches of `batch_size` (examples of
// similar length together, each batch padded to its own longest), on the model's device, under
// the caller's autocast if any. Returns float32 logits (N, num_labels) on the CPU, in the order
// of `encodings`.
at::Tensor compute_logits(BertForSequenceClassification& model,
                          const std::vector<Encoding>& encodings,
                          int64_t pad_id,
                          size_t batch_size,
                          const std::string& progress_label,
                          bool show_progress = true);

// Returns the number of rows written.
size_t run_predict(const PredictOptions& options);

}  // namespace ftune
