// `ftune score`: metrics of a predictions file against references (labels, or translations).
#include <cstdio>
#include <memory>
#include <string>

#include "app/commands.h"
#include "app/options.h"
#include "lib/eval/score.h"

namespace ftune {

Command add_score_command(CLI::App& app) {
  auto options = std::make_shared<ScoreOptions>();
  CLI::App* sub = app.add_subcommand(
      "score",
      "Score a predictions file against references, line by line (same number of lines).\n"
      "--task classify: one label per line (surrounding spaces trimmed). Prints sklearn's\n"
      "classification_report, a blank line, the confusion matrix, a blank line, then `accuracy`,\n"
      "`macro_f1` and `mcc` lines, as `ftune eval` does (no loss). --report-json writes\n"
      "{\"classification_report\": sklearn's output_dict, \"confusion_matrix\", \"metrics\"}.\n"
      "--task multi-label: the labels of one example per line, '|'-separated or a JSON list\n"
      "([] for none). Prints sklearn's multi-label report (micro/macro/weighted/samples avg),\n"
      "then `subset_accuracy`, `hamming_loss`, `micro_f1` and `macro_f1` lines.\n"
      "--task regression: one number per line. Prints `mse`, `mae`, `pearson` and `spearman`\n"
      "lines (scikit-learn's errors, scipy's correlations; nan where scipy gives nan), as\n"
      "`ftune eval` does for a regression model; --report-json writes {\"metrics\": {...}}.\n"
      "--task ner: CoNLL or JSONL tagged sentences in both files (`ftune predict` writes JSONL\n"
      "with \"tokens\" and \"tags\"), as many sentences and words on each side. Prints seqeval's\n"
      "classification_report, then `accuracy`, `precision`, `recall` and `f1` lines\n"
      "(--seqeval-mode strict: seqeval's strict IOB2 mode).\n"
      "--task translate: one sentence per line, one or more reference files. Prints sacreBLEU's\n"
      "corpus BLEU and chrF2 (defaults: 13a, exp smoothing, mixed case), each as its score line\n"
      "then its signature line:\n"
      "  BLEU = 34.12 70.1/45.2/30.0/20.1 (BP = 1.000 ratio = 1.012 hyp_len = 245 ref_len = 242)\n"
      "  BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0\n"
      "  chrF2 = 34.42\n"
      "  chrF2|nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0\n"
      "--report-json writes {\"bleu\": {score, counts, totals, precisions, bp, sys_len, ref_len,\n"
      "signature}, \"chrf\": {score, signature}}.\n"
      "Example: ftune score --task translate --references ref.de --predictions hyp.de");
  auto task = std::make_shared<std::string>();
  sub->add_option("--task", *task, "classify, multi-label, regression, ner or translate")
      ->required()
      ->check(CLI::IsMember({"classify", "multi-label", "regression", "ner", "translate"}));
  add_seqeval_mode_option(*sub, options->seqeval_mode);
  sub->add_option("--references",
                  options->references,
                  "reference file (translate: one or more, one per reference set)")
      ->required();
  sub->add_option("--predictions", options->predictions, "predictions file")->required();
  sub->add_option("--digits",
                  options->digits,
                  "decimals in the classification report (default 2, as sklearn)")
      ->check(between(0, 15));
  sub->add_option("--report-json", options->report_json, "also write the scores as JSON here");
  // A usage error (exit 2), caught while parsing, rather than a data error.
  sub->callback([options, task] {
    options->task = *task == "classify"      ? ScoreTask::kClassify
                    : *task == "regression"  ? ScoreTask::kRegression
                    : *task == "multi-label" ? ScoreTask::kMultiLabel
                    : *task == "ner"         ? ScoreTask::kNer
                                             : ScoreTask::kTranslate;
    if (options->task != ScoreTask::kTranslate && options->references.size() != 1) {
      throw CLI::ValidationError("--references",
                                 "--task " + *task + " takes exactly one references file, got " +
                                     std::to_string(options->references.size()));
    }
  });
  return {sub, [options] { std::fputs(run_score(*options).c_str(), stdout); }};
}

}  // namespace ftune
