// Config table, parameter count, every tensor of the weights file, and the load report.
#include "lib/io/inspect.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "lib/io/bert_folder.h"
#include "lib/io/marian_folder.h"
#include "lib/io/state_dict.h"
#include "lib/io/weights.h"
#include "models/bert.h"
#include "models/bert_mlm.h"
#include "models/marian.h"

namespace ftune {

std::string inspect_model(const InspectOptions& options) {
  require_model_folder(options.model_dir);
  const auto config_path = options.model_dir / "config.json";
  const bool marian = is_marian_folder(options.model_dir);
  const auto weights_file = resolve_weights_file(options.model_dir, options.weights);
  auto tensors = read_weights(weights_file);
  auto matched = tensors;
  nlohmann::json raw;
  std::shared_ptr<torch::nn::Module> model;
  std::string model_class;
  if (marian) {
    auto config = MarianConfig::read(config_path.string());
    raw = config.raw;
    model = MarianMTModel(config).ptr();
    model_class = "MarianMTModel";
    matched = drop_marian_redundant_keys(tensors, config);  // tied copies checked, then dropped
  } else {
    auto config = BertConfig::read(config_path.string());
    raw = config.raw;
    const bool has_mlm_head = std::any_of(tensors.begin(), tensors.end(), [](const auto& item) {
      return item.first.rfind("cls.predictions.", 0) == 0;
    });
    if (has_mlm_head) {
      model = BertForMaskedLM(config).ptr();
      model_class = "BertForMaskedLM";
      matched = drop_bert_mlm_tied_aliases(tensors, config);  // tied copies checked, then dropped
    } else if (config.num_labels() > 0) {
      model = BertForSequenceClassification(config).ptr();
      model_class = "BertForSequenceClassification";
    } else {
      model = BertModel(config).ptr();
      model_class = "BertModel";
    }
  }

  std::string out = fmt::format(
      "model folder: {}\nconfig: {}\n", options.model_dir.string(), config_path.string());
  size_t key_width = 0;
  for (const auto& item : raw.items()) key_width = std::max(key_width, item.key().size());
  for (const auto& item : raw.items()) {
    out += fmt::format("  {:<{}}  {}\n", item.key(), key_width, item.value().dump());
  }

  int64_t parameter_count = 0;
  for (const auto& p : model->parameters()) parameter_count += p.numel();
  out += fmt::format("model class: {} ({} parameters)\n", model_class, parameter_count);

  int64_t file_elements = 0;
  size_t name_width = 0;
  for (const auto& [name, tensor] : tensors) name_width = std::max(name_width, name.size());
  out += fmt::format("weights: {} ({} tensors)\n", weights_file.string(), tensors.size());
  for (const auto& [name, tensor] : tensors) {
    file_elements += tensor.numel();
    out += fmt::format("  {:<{}}  {:<14}  [{}]\n",
                       name,
                       name_width,
                       std::string(c10::toString(tensor.scalar_type())),
                       fmt::join(tensor.sizes(), ", "));
  }
  out += fmt::format("  total elements: {}\n", file_elements);

  LoadReport report = match_state_dict(*model, matched, LoadPolicy{});
  out += fmt::format("loading as {}: {}\n{}\n",
                     model_class,
                     report.is_ok() ? "ok" : "would FAIL",
                     report.format());
  return out;
}

}  // namespace ftune
