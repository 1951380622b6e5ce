// `ftune score`: a predictions file against references, with scikit-learn's classification report
// or sacreBLEU's BLEU and chrF.
#include "lib/eval/score.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lib/data/lines.h"
#include "lib/eval/classification_eval.h"
#include "lib/metrics/bleu.h"
#include "lib/metrics/classification_metrics.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace ftune {
namespace {

std::string trim(const std::string& text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  const auto end = text.find_last_not_of(" \t\r\n");
  return text.substr(begin, end - begin + 1);
}

void require_same_line_count(const std::filesystem::path& predictions, size_t prediction_count,
                             const std::filesystem::path& references, size_t reference_count) {
  if (prediction_count == reference_count) return;
  throw DataError(fmt::format(
      "scoring: predictions '{}': expected {} lines (as many as references '{}'), got {}; hint: "
      "line i of the predictions must answer line i of the references",
      predictions.string(),
      reference_count,
      references.string(),
      prediction_count));
}

std::vector<std::string> read_labels(const std::filesystem::path& file) {
  std::vector<std::string> labels = read_lines(file);
  if (labels.empty()) {
    throw DataError(
        fmt::format("scoring: file '{}': expected one label per line, got an empty "
                    "file",
                    file.string()));
  }
  for (size_t i = 0; i < labels.size(); ++i) {
    labels[i] = trim(labels[i]);
    if (labels[i].empty()) {
      throw DataError(
          fmt::format("scoring: file '{}' line {}: expected a label, got an empty "
                      "line; hint: every line holds one label",
                      file.string(),
                      i + 1));
    }
  }
  return labels;
}

std::string score_classification(const ScoreOptions& options) {
  if (options.references.size() != 1) {
    throw DataError(
        fmt::format("scoring: --references: expected one file for --task classify, "
                    "got {}",
                    options.references.size()));
  }
  const auto references = read_labels(options.references[0]);
  const auto predictions = read_labels(options.predictions);
  require_same_line_count(
      options.predictions, predictions.size(), options.references[0], references.size());
  EvalResult result;
  result.report = compute_classification_report(references, predictions);
  result.predictions = predictions;
  if (options.report_json) {
    write_file_atomically(*options.report_json, eval_result_to_json(result).dump(2) + "\n");
  }
  return format_eval_result(result, options.digits);
}

std::string score_translation(const ScoreOptions& options) {
  if (options.references.empty()) {
    throw DataError("scoring: --references: expected at least one file, got none");
  }
  const auto hypotheses = read_lines(options.predictions);
  if (hypotheses.empty()) {
    throw DataError(
        fmt::format("scoring: predictions '{}': expected one sentence per line, got an "
                    "empty file",
                    options.predictions.string()));
  }
  std::vector<std::vector<std::string>> references;
  for (const auto& file : options.references) {
    references.push_back(read_lines(file));
    require_same_line_count(options.predictions, hypotheses.size(), file, references.back().size());
  }
  const BleuScore bleu = compute_corpus_bleu(hypotheses, references);
  const ChrfScore chrf = compute_corpus_chrf(hypotheses, references);
  if (options.report_json) {
    nlohmann::ordered_json report;
    report["bleu"] = {{"score", bleu.score},
                      {"counts", bleu.counts},
                      {"totals", bleu.totals},
                      {"precisions", bleu.precisions},
                      {"bp", bleu.bp},
                      {"sys_len", bleu.sys_len},
                      {"ref_len", bleu.ref_len},
                      {"signature", bleu.signature}};
    report["chrf"] = {{"score", chrf.score}, {"signature", chrf.signature}};
    write_file_atomically(*options.report_json, report.dump(2) + "\n");
  }
  return fmt::format(
      "{}\nBLEU|{}\n{}\nchrF2|{}\n", bleu.format(), bleu.signature, chrf.format(), chrf.signature);
}

}  // namespace

std::string run_score(const ScoreOptions& options) {
  if (options.report_json) {
    std::vector<std::pair<std::string, std::filesystem::path>> inputs = {
        {"--predictions", options.predictions}};
    for (const auto& file : options.references) inputs.emplace_back("--references", file);
    refuse_output_over_input(*options.report_json, "--report-json", inputs);
  }
  return options.task == ScoreTask::kClassify ? score_classification(options)
                                              : score_translation(options);
}

}  // namespace ftune
