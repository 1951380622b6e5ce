// Per-class weights for the loss on imbalanced data (--class-weights): scikit-learn's "balanced"
// formula, or a JSON file of label -> weight. Weights are in label-id order (the model's
// id2label), ready for cross_entropy's `weight` (single-label) or BCE's `pos_weight`.
//
//   auto w = balanced_class_weights({0, 0, 0, 1}, {"neg", "pos"});  // {0.667, 2.0}
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace ftune {

// compute_class_weight("balanced"): n_samples / (n_classes * count of the class), for each
// label of `id2label`. DataError when a label has no example (sklearn refuses it too: its weight
// would be infinite), naming the label and `source` (the training file).
std::vector<double> balanced_class_weights(const std::vector<int64_t>& label_ids,
                                           const std::vector<std::string>& id2label,
                                           const std::filesystem::path& source);

// Multi-label "balanced": BCE's pos_weight for each label, negatives / positives over the training
// rows (0/1 rows, one column per label of `id2label`), so that each label's positives weigh as
// much as its negatives. DataError naming the label when it is on no row or on every row.
std::vector<double> balanced_positive_weights(const std::vector<std::vector<uint8_t>>& rows,
                                              const std::vector<std::string>& id2label,
                                              const std::filesystem::path& source);

// A JSON object {"label": weight, ...} naming every label of `id2label` once, each weight a
// positive finite number. DataError naming the file and the label for a missing, unknown or bad
// entry; IoError when the file cannot be read.
std::vector<double> read_class_weights(const std::filesystem::path& file,
                                       const std::vector<std::string>& id2label);

// "negative=2.4613 neutral=0.5457 positive=1.3136": the line the trainer logs.
std::string format_class_weights(const std::vector<double>& weights,
                                 const std::vector<std::string>& id2label);

}  // namespace ftune
