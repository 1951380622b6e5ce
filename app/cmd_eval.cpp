// `ftune eval`: a fine-tuned classifier's loss and sklearn report, or a translation model's loss,
// BLEU and chrF, on labelled data.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/commands.h"
#include "app/options.h"
#include "lib/eval/evaluate.h"
#include "util/error.h"

namespace ftune {
namespace {

// " -> report.json, runs/x/best/eval_results.json, ...": what the evaluation wrote.
std::string describe_outputs(const std::optional<std::filesystem::path>& report_json,
                             const std::vector<std::filesystem::path>& written) {
  std::vector<std::string> paths;
  if (report_json) paths.push_back(report_json->string());
  for (const auto& path : written) paths.push_back(path.string());
  return paths.empty() ? "" : fmt::format(" -> {}", fmt::join(paths, ", "));
}

}  // namespace

Command add_eval_command(CLI::App& app) {
  auto options = std::make_shared<EvalOptions>();
  auto task = std::make_shared<std::string>("classify");
  CLI::App* sub = app.add_subcommand(
      "eval",
      "Evaluate a fine-tuned classifier on a labelled .jsonl/.csv/.tsv file (header row).\n"
      "Every label must be one of the model's (config.json id2label).\n"
      "Prints sklearn's classification_report, a blank line, the confusion matrix (rows = true,\n"
      "columns = predicted), a blank line, then `accuracy`, `macro_f1`, `mcc` and `loss` (mean\n"
      "cross-entropy) lines with max(4, --digits) decimals.\n"
      "--report-json writes {\"classification_report\": sklearn's output_dict, "
      "\"confusion_matrix\":\n"
      "{\"labels\", \"matrix\"}, \"metrics\": {\"accuracy\", \"f1_macro\", \"f1_micro\", "
      "\"f1_weighted\",\n"
      "\"matthews_corrcoef\", \"support\", \"loss\"}}.\n"
      "Example: ftune eval --model runs/intent/best --data test.jsonl --report-json report.json\n"
      "Evaluating a run's best/ or last/ also writes eval_results.json and confusion_matrix.svg\n"
      "(counts, colours by share of the true label's row) into that folder (--output-dir: "
      "elsewhere).\n"
      "A multi-label model (problem_type multi_label_classification; each label cell a JSON list\n"
      "or 'a|b'): sklearn's multi-label report, then `subset_accuracy`, `hamming_loss`,\n"
      "`micro_f1`, `macro_f1` and `loss` (BCE) lines; a label is predicted at sigmoid >= 0.5.\n"
      "A regression model (config.json problem_type regression; labels are numbers): `mse`, "
      "`mae`,\n"
      "`pearson`, `spearman` (scikit-learn's errors, scipy's correlations) and `loss` (the MSE)\n"
      "lines; --report-json writes {\"metrics\": {\"mse\", \"mae\", \"pearson\", \"spearman\",\n"
      "\"count\", \"loss\"}}.\n"
      "A token classifier (config.json architectures BertForTokenClassification; CoNLL or JSONL\n"
      "tagged words, as `ftune train --task ner` reads): seqeval's classification_report (entity\n"
      "types), a blank line, then `accuracy` (per word), `precision`, `recall`, `f1` (entity\n"
      "level, micro) and `loss` lines; --seqeval-mode strict counts as seqeval's strict IOB2 "
      "mode.\n"
      "Example: ftune eval --model runs/ner/best --data dev.conll\n"
      "With --task translate (a Marian model; data with source/target columns): the loss, then\n"
      "sacreBLEU's BLEU and chrF lines, each followed by its signature.\n"
      "Example: ftune eval --task translate --model runs/m30k/best --data valid.jsonl --beam 4");
  sub->add_option("--task",
                  *task,
                  "classify (default), ner (the default for a BertForTokenClassification folder) "
                  "or translate")
      ->check(CLI::IsMember({"classify", "ner", "translate"}));
  add_stride_option(*sub, options->stride);
  add_seqeval_mode_option(*sub, options->seqeval_mode);
  sub->add_option("--source-column", options->pair_columns.source, "translate: source column");
  sub->add_option("--target-column", options->pair_columns.target, "translate: target column");
  sub->add_option("--max-target-length",
                  options->max_target_length,
                  "translate: truncate targets to this many tokens including </s> (default 128)")
      ->check(at_least(2));
  sub->add_option("--beam", options->generation.num_beams, "translate: beams (default 1)")
      ->check(at_least(1));
  sub->add_option("--generation-max-length",
                  options->generation.max_length,
                  "translate: max output length counting the start token (default 128)")
      ->check(at_least(2));
  sub->add_option("--vocab-shortlist",
                  options->vocab_shortlist,
                  "translate: decode with this vocabulary shortlist (as `ftune translate "
                  "--vocab-shortlist`), to see what it costs in BLEU");
  sub->add_option("--model", options->model_dir, "fine-tuned model folder")
      ->transform(model_folder())
      ->required();
  sub->add_option("--weights", options->weights, "weights file overriding the folder's own");
  sub->add_option("--data", options->data, "labelled .jsonl, .csv or .tsv")->required();
  sub->add_option("--report-json", options->report_json, "also write the report as JSON here");
  sub->add_option("--output-dir",
                  options->output_dir,
                  "write eval_results.json (the report JSON with the data and model paths) and, "
                  "for single-label classification, confusion_matrix.svg here (default: the model "
                  "folder when it is a run's best/ or last/, which `ftune report` reads; else "
                  "nowhere)");
  sub->add_option("--digits", options->digits, "decimals in the report (default 2, as sklearn)")
      ->check(between(0, 15));
  sub->add_option("--max-length",
                  options->max_length,
                  "truncate inputs to this many tokens (default 128, at most the model's limit)")
      ->check(at_least(1));
  sub->add_option("--batch-size", options->batch_size, "rows per forward pass (default 32)")
      ->check(at_least(1));
  add_text_column_options(*sub, options->columns, /*with_label=*/true);
  add_table_options(*sub, options->table);
  add_runtime_options(*sub, options->runtime, /*with_quantize=*/true);
  options->generation.max_length = 128;  // the help's default (GenerationOptions' is HF's 20)
  return {sub, [options, task] {
            if (*task == "translate") {
              std::fputs(run_translate_eval(*options).c_str(), stdout);
              return;
            }
            if (options->vocab_shortlist) {
              throw Error(
                  "eval: --vocab-shortlist: expected --task translate (a shortlist restricts a "
                  "translation's output vocabulary); hint: drop it, or add --task translate");
            }
            if (*task == "ner" || is_token_classifier_folder(options->model_dir)) {
              const NerEvalResult result = run_ner_eval(*options);
              std::fputs(format_ner_result(result, options->digits).c_str(), stdout);
              std::string note = fmt::format("evaluated {} sentences of {}",
                                             result.predictions.size(),
                                             options->data.string());
              note += describe_outputs(options->report_json, result.written);
              std::fputs((note + "\n").c_str(), stderr);
              return;
            }
            const EvalResult result = run_eval(*options);
            std::fputs(format_eval_result(result, options->digits).c_str(), stdout);
            const size_t rows = result.regression ? static_cast<size_t>(result.regression->count)
                                                  : result.predictions.size();
            std::string note = fmt::format("evaluated {} rows of {}", rows, options->data.string());
            if (result.skipped_rows > 0) {
              note += fmt::format(" ({} rows skipped)", result.skipped_rows);
            }
            note += describe_outputs(options->report_json, result.written);
            std::fputs((note + "\n").c_str(), stderr);
          }};
}

}  // namespace ftune
