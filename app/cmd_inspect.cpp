// `ftune inspect`: config, parameters, tensors and the load report of a model folder.
#include <cstdio>
#include <memory>

#include "app/commands.h"
#include "app/options.h"
#include "lib/io/inspect.h"

namespace ftune {

Command add_inspect_command(CLI::App& app) {
  auto options = std::make_shared<InspectOptions>();
  CLI::App* sub = app.add_subcommand(
      "inspect",
      "Show a model folder's config, parameter count, every tensor (name, dtype, shape) and what "
      "loading it would report.\nExample: ftune inspect --model checkpoints/bert-base-uncased");
  sub->add_option(
         "--model", options->model_dir, "Hugging Face model folder (config.json + weights)")
      ->transform(model_folder())
      ->required();
  sub->add_option("--weights",
                  options->weights,
                  "weights file to use instead of the folder's own (.safetensors, .bin, .pt, "
                  "*.index.json)");
  return {sub, [options] { std::fputs(inspect_model(*options).c_str(), stdout); }};
}

}  // namespace ftune
