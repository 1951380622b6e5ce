// `ftune score`: a predictions file against references, with scikit-learn's classification report
// or sacreBLEU's BLEU and chrF.
#include "lib/eval/score.h"

#include <algorithm>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lib/data/lines.h"
#include "lib/data/ner_data.h"
#include "lib/data/text_dataset.h"
#include "lib/eval/classification_eval.h"
#include "lib/eval/token_classification_eval.h"
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

// The tasks scored against one references file: both files read by `read` and lined up, scored
// into an EvalResult by `score`, --report-json written as `ftune eval` writes it, and the text
// format_eval_result prints.
template <typename Read, typename Score>
std::string score_against_one_file(const ScoreOptions& options, std::string_view task, Read read,
                                   Score score) {
  if (options.references.size() != 1) {
    throw DataError(fmt::format("scoring: --references: expected one file for --task {}, got {}",
                                task,
                                options.references.size()));
  }
  const auto references = read(options.references[0]);
  const auto predictions = read(options.predictions);
  require_same_line_count(
      options.predictions, predictions.size(), options.references[0], references.size());
  const EvalResult result = score(references, predictions);
  if (options.report_json) {
    write_file_atomically(*options.report_json, eval_result_to_json(result).dump(2) + "\n");
  }
  return format_eval_result(result, options.digits);
}

std::string score_classification(const ScoreOptions& options) {
  return score_against_one_file(
      options, "classify", read_labels, [](const auto& references, const auto& predictions) {
        EvalResult result;
        result.report = compute_classification_report(references, predictions);
        result.predictions = predictions;
        return result;
      });
}

std::vector<double> read_numbers(const std::filesystem::path& file) {
  const std::vector<std::string> lines = read_labels(file);
  std::vector<double> values;
  values.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto value = parse_number(lines[i]);
    if (!value) {
      throw DataError(fmt::format(
          "scoring: file '{}' line {}: expected a number (--task regression), got '{}'; hint: "
          "one value per line, e.g. from `ftune predict` output: jq -r .score predictions.jsonl",
          file.string(),
          i + 1,
          lines[i]));
    }
    values.push_back(*value);
  }
  return values;
}

std::string score_regression(const ScoreOptions& options) {
  return score_against_one_file(
      options, "regression", read_numbers, [](const auto& references, const auto& predictions) {
        EvalResult result;
        result.regression = compute_regression_report(references, predictions);
        return result;
      });
}

// The label set of each line of `file` ('|'-separated or a JSON list), as label_sets reads a
// multi-label column.
std::vector<std::vector<std::string>> read_label_sets(const std::filesystem::path& file) {
  TextExamples lines;
  lines.file = file;
  lines.labels = read_lines(file);
  if (lines.labels.empty()) {
    throw DataError(fmt::format(
        "scoring: file '{}': expected the labels of one example per line, got an empty file",
        file.string()));
  }
  for (size_t i = 0; i < lines.labels.size(); ++i) {
    lines.line_numbers.push_back(static_cast<int64_t>(i + 1));
  }
  return label_sets(lines);
}

std::string score_multilabel(const ScoreOptions& options) {
  return score_against_one_file(
      options,
      "multi-label",
      read_label_sets,
      [](const std::vector<std::vector<std::string>>& references,
         const std::vector<std::vector<std::string>>& predictions) {
        // The labels are the sorted union of both files'.
        std::set<std::string> names;
        for (const auto* sets : {&references, &predictions}) {
          for (const auto& set : *sets) names.insert(set.begin(), set.end());
        }
        const std::vector<std::string> labels(names.begin(), names.end());
        auto rows_of = [&](const std::vector<std::vector<std::string>>& sets) {
          std::vector<std::vector<uint8_t>> rows(sets.size(),
                                                 std::vector<uint8_t>(labels.size(), 0));
          for (size_t i = 0; i < sets.size(); ++i) {
            for (const auto& label : sets[i]) {
              rows[i][std::lower_bound(labels.begin(), labels.end(), label) - labels.begin()] = 1;
            }
          }
          return rows;
        };
        EvalResult result;
        result.multilabel =
            compute_multilabel_report(rows_of(references), rows_of(predictions), labels);
        return result;
      });
}

// Tagged sentences (CoNLL or JSONL, as `ftune predict` writes them for a token classifier), lined
// up sentence by sentence and word by word.
std::string score_ner(const ScoreOptions& options) {
  if (options.references.size() != 1) {
    throw DataError(fmt::format("scoring: --references: expected one file for --task ner, got {}",
                                options.references.size()));
  }
  const auto references = read_tagged_sentences(options.references[0], /*read_tags=*/true);
  const auto predictions = read_tagged_sentences(options.predictions, /*read_tags=*/true);
  if (references.words.size() != predictions.words.size()) {
    throw DataError(fmt::format(
        "scoring: predictions '{}': expected {} sentences (as many as references '{}'), got {}; "
        "hint: sentence i of the predictions must tag sentence i of the references",
        options.predictions.string(),
        references.words.size(),
        options.references[0].string(),
        predictions.words.size()));
  }
  for (size_t s = 0; s < references.words.size(); ++s) {
    if (references.words[s].size() != predictions.words[s].size()) {
      throw DataError(fmt::format(
          "scoring: predictions '{}' line {}: expected {} tags (the words of the sentence at "
          "references '{}' line {}), got {}",
          options.predictions.string(),
          predictions.line_numbers[s],
          references.words[s].size(),
          options.references[0].string(),
          references.line_numbers[s],
          predictions.words[s].size()));
    }
  }
  NerEvalResult result;
  result.mode = options.seqeval_mode;
  result.predictions = predictions.tags;
  result.report = compute_entity_report(references.tags, predictions.tags, options.seqeval_mode);
  if (options.report_json) {
    write_file_atomically(*options.report_json, ner_result_to_json(result).dump(2) + "\n");
  }
  return format_ner_result(result, options.digits);
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
  switch (options.task) {
    case ScoreTask::kClassify:
      return score_classification(options);
    case ScoreTask::kRegression:
      return score_regression(options);
    case ScoreTask::kMultiLabel:
      return score_multilabel(options);
    case ScoreTask::kNer:
      return score_ner(options);
    case ScoreTask::kTranslate:
      break;
  }
  return score_translation(options);
}

}  // namespace ftune
