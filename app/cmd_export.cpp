// `ftune export`: a fine-tuned classifier folder as a TorchScript module.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/options.h"
#include "lib/io/torchscript_export.h"

namespace ftune {

Command add_export_command(CLI::App& app) {
  auto options = std::make_shared<ExportOptions>();
  auto format = std::make_shared<std::string>("torchscript");
  CLI::App* sub = app.add_subcommand(
      "export",
      "Write a fine-tuned BERT classifier (sequence or token classification) as a TorchScript\n"
      "module: OUT/model.pt, with config.json and the tokenizer files next to it. Python runs it\n"
      "with torch alone, C++ with LibTorch alone:\n"
      "  logits = torch.jit.load(\"OUT/model.pt\")(input_ids, attention_mask, token_type_ids)\n"
      "(int64 tensors (B, T); logits (B, labels), or (B, T, labels) for a token classifier).\n"
      "Its parameters keep the checkpoint's names, so ftune reads OUT as a model folder too\n"
      "(--model OUT or --model OUT/model.pt). The file is loaded back and its logits checked\n"
      "against the model's before the command succeeds.\n"
      "Example: ftune export --model runs/intent/best --output exported/intent");
  sub->add_option("--model", options->model_dir, "fine-tuned model folder")
      ->transform(model_folder())
      ->required();
  sub->add_option("--weights", options->weights, "weights file overriding the folder's own");
  sub->add_option("--format", *format, "torchscript (the only format so far)")
      ->check(CLI::IsMember({"torchscript"}));
  sub->add_option("--output", options->output_dir, "output folder (created)")->required();
  return {sub, [options] {
            const ExportResult result = export_torchscript(*options);
            std::fputs(fmt::format("exported the {} ({} tensors) -> {} (checked: logits within "
                                   "{:.1e} of the model's)\n",
                                   result.kind,
                                   result.parameters,
                                   result.module_file.string(),
                                   result.max_difference)
                           .c_str(),
                       stderr);
          }};
}

}  // namespace ftune
