// `ftune predict`: labels for every row of a data file from a fine-tuned classifier.
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/options.h"
#include "lib/eval/evaluate.h"
#include "lib/eval/predict.h"

namespace ftune {

Command add_predict_command(CLI::App& app) {
  auto options = std::make_shared<PredictOptions>();
  CLI::App* sub = app.add_subcommand(
      "predict",
      "Classify every row of a .jsonl/.csv/.tsv file (header row) with a fine-tuned model.\n"
      "Output, one line per row in order: {\"label\", \"label_id\", \"probs\", \"logits\"}; for a\n"
      "multi-label model {\"labels\" (sigmoid >= 0.5), \"probs\" (sigmoids), \"logits\"}; for a\n"
      "regression model (config.json problem_type regression) {\"score\", \"logits\"}.\n"
      "A token classifier (BertForTokenClassification, `ftune train --task ner`) reads CoNLL or\n"
      "JSONL words (tags, if any, are ignored) and writes one line per sentence:\n"
      "{\"tokens\", \"tags\" (one per word), \"scores\" (each tag's probability)}, which\n"
      "`ftune score --task ner` reads.\n"
      "Example: ftune predict --model runs/intent/best --data test.csv --output predictions.jsonl");
  sub->add_option("--model", options->model_dir, "fine-tuned model folder")
      ->transform(model_folder())
      ->required();
  sub->add_option("--weights", options->weights, "weights file overriding the folder's own");
  sub->add_option("--data", options->data, "input .jsonl, .csv or .tsv")->required();
  sub->add_option("--output", options->output, "output .jsonl")->required();
  sub->add_option("--max-length",
                  options->max_length,
                  "truncate inputs to this many tokens (default 128, at most the model's limit)")
      ->check(at_least(1));
  sub->add_option("--batch-size", options->batch_size, "rows per forward pass (default 32)")
      ->check(at_least(1));
  add_text_column_options(*sub, options->columns, /*with_label=*/false);
  add_table_options(*sub, options->table);
  add_runtime_options(*sub, options->runtime, /*with_quantize=*/true);
  add_stride_option(*sub, options->stride);
  return {
      sub, [options] {
        if (is_token_classifier_folder(options->model_dir)) {
          const size_t sentences = run_ner_predict(*options);
          std::fputs(fmt::format("tagged {} sentences -> {}\n", sentences, options->output.string())
                         .c_str(),
                     stderr);
          return;
        }
        const size_t rows = run_predict(*options);
        std::fputs(fmt::format("predicted {} rows -> {}\n", rows, options->output.string()).c_str(),
                   stderr);
      }};
}

}  // namespace ftune
