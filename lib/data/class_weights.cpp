// Class weights: the balanced formula and the weights file.
#include "lib/data/class_weights.h"

#include <cmath>
#include <fstream>
#include <iterator>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/error.h"
#include "util/json.h"

namespace ftune {

std::vector<double> balanced_class_weights(const std::vector<int64_t>& label_ids,
                                           const std::vector<std::string>& id2label,
                                           const std::filesystem::path& source) {
  std::vector<int64_t> counts(id2label.size(), 0);
  for (int64_t id : label_ids) {
    if (id < 0 || static_cast<size_t>(id) >= counts.size()) {
      throw Error(fmt::format("class weights: label id {} outside 0..{}", id, counts.size() - 1));
    }
    ++counts[static_cast<size_t>(id)];
  }
  std::vector<double> weights;
  weights.reserve(counts.size());
  const auto classes = static_cast<double>(counts.size());
  for (size_t k = 0; k < counts.size(); ++k) {
    if (counts[k] == 0) {
      throw DataError(fmt::format(
          "--class-weights balanced: label '{}' has no example in '{}', so its weight "
          "(n_samples / (n_classes * count)) would be infinite; hint: add examples of it, or give "
          "the weights in a JSON file (--class-weights weights.json)",
          id2label[k],
          source.string()));
    }
    // Divided in this order, as scikit-learn's n_samples / (n_classes * np.bincount(y)).
    weights.push_back(static_cast<double>(label_ids.size()) /
                      (classes * static_cast<double>(counts[k])));
  }
  return weights;
}

std::vector<double> balanced_positive_weights(const std::vector<std::vector<uint8_t>>& rows,
                                              const std::vector<std::string>& id2label,
                                              const std::filesystem::path& source) {
  std::vector<double> weights;
  for (size_t k = 0; k < id2label.size(); ++k) {
    int64_t positives = 0;
    for (const auto& row : rows) positives += (k < row.size() && row[k] != 0) ? 1 : 0;
    const auto negatives = static_cast<int64_t>(rows.size()) - positives;
    if (positives == 0 || negatives == 0) {
      throw DataError(fmt::format(
          "--class-weights balanced: label '{}' is on {} of the {} rows of '{}', so its "
          "positive weight (negatives / positives) is {}; hint: give the weights in a JSON file "
          "(--class-weights weights.json)",
          id2label[k],
          positives == 0 ? "none" : "all",
          rows.size(),
          source.string(),
          positives == 0 ? "infinite" : "0"));
    }
    weights.push_back(static_cast<double>(negatives) / static_cast<double>(positives));
  }
  return weights;
}

std::vector<double> read_class_weights(const std::filesystem::path& file,
                                       const std::vector<std::string>& id2label) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw IoError(fmt::format("reading class weights '{}': cannot open the file", file.string()));
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  nlohmann::json object;
  try {
    object = parse_json_capped(text, file.string());
  } catch (const JsonError& e) {
    throw DataError(
        fmt::format("reading class weights: {}; hint: write a JSON object such as "
                    "{{\"negative\": 2.0, \"neutral\": 0.5}}",
                    e.what()));
  }
  if (!object.is_object()) {
    throw DataError(
        fmt::format("reading class weights '{}': expected a JSON object of label -> weight, got {}",
                    file.string(),
                    quote_json_value(object)));
  }
  std::map<std::string, size_t> ids;
  for (size_t k = 0; k < id2label.size(); ++k) ids.emplace(id2label[k], k);
  std::vector<double> weights(id2label.size(), std::nan(""));
  for (const auto& [label, value] : object.items()) {
    const auto found = ids.find(label);
    if (found == ids.end()) {
      throw DataError(fmt::format(
          "reading class weights '{}': label '{}' is not one of the model's labels ({}); hint: "
          "the keys are the label values of the training data",
          file.string(),
          label,
          fmt::join(id2label, ", ")));
    }
    if (!value.is_number() || !std::isfinite(value.get<double>()) || value.get<double>() <= 0) {
      throw DataError(
          fmt::format("reading class weights '{}': label '{}': expected a positive number, got {}",
                      file.string(),
                      label,
                      quote_json_value(value)));
    }
    weights[found->second] = value.get<double>();
  }
  for (size_t k = 0; k < weights.size(); ++k) {
    if (std::isnan(weights[k])) {
      throw DataError(fmt::format(
          "reading class weights '{}': no weight for label '{}'; hint: give every label a "
          "weight (1.0 leaves a label as it is)",
          file.string(),
          id2label[k]));
    }
  }
  return weights;
}

std::string format_class_weights(const std::vector<double>& weights,
                                 const std::vector<std::string>& id2label) {
  std::vector<std::string> parts;
  for (size_t k = 0; k < weights.size() && k < id2label.size(); ++k) {
    parts.push_back(fmt::format("{}={:.4f}", id2label[k], weights[k]));
  }
  return fmt::format("{}", fmt::join(parts, " "));
}

}  // namespace ftune
