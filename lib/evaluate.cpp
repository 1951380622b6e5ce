// Evaluation of a classifier on labelled data, and scoring of prediction files: the glue between
// data reading, lib/predict.h's batched forward, and the sklearn/sacreBLEU metric ports.
#include "lib/evaluate.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "lib/atomic_file.h"
#include "lib/bleu.h"
#include "lib/error.h"
#include "lib/model_folder.h"
#include "lib/predict.h"

namespace ftune {
namespace {

constexpr size_t kMaxListedLabels = 20;

std::string list_labels(const std::vector<std::string>& labels) {
  std::vector<std::string> quoted;
  for (size_t i = 0; i < labels.size() && i < kMaxListedLabels; ++i) {
    quoted.push_back(fmt::format("'{}'", labels[i]));
  }
  std::string text = fmt::format("{}", fmt::join(quoted, ", "));
  if (labels.size() > kMaxListedLabels) {
    text += fmt::format(", ... ({} in all)", labels.size());
  }
  return text;
}

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

EvalResult compute_eval_result(const at::Tensor& logits, const std::vector<int64_t>& label_ids,
                               const std::vector<std::string>& id2label) {
  const auto N = static_cast<int64_t>(label_ids.size());
  const auto L = static_cast<int64_t>(id2label.size());
  if (logits.dim() != 2 || logits.size(0) != N || logits.size(1) != L) {
    throw Error(fmt::format("evaluating: logits: expected shape [{}, {}], got {}",
                            N,
                            L,
                            fmt::join(logits.sizes(), "x")));
  }
  for (int64_t i = 0; i < N; ++i) {
    if (label_ids[i] < 0 || label_ids[i] >= L) {
      throw Error(fmt::format(
          "evaluating: label id of example {}: expected 0..{}, got {}", i, L - 1, label_ids[i]));
    }
  }
  at::Tensor scores = logits.detach().to(torch::kCPU, torch::kFloat);  // (N, L)
  at::Tensor targets = torch::tensor(label_ids, torch::kLong);         // (N)
  EvalResult result;
  // Mean cross-entropy in float32, as BertForSequenceClassification's loss computes it.
  result.loss = torch::nn::functional::cross_entropy(scores, targets).item<double>();
  at::Tensor best = scores.argmax(-1);  // (N)
  auto best_ids = best.accessor<int64_t, 1>();
  std::vector<std::string> gold;
  gold.reserve(N);
  result.predictions.reserve(N);
  for (int64_t i = 0; i < N; ++i) {
    gold.push_back(id2label[label_ids[i]]);
    result.predictions.push_back(id2label[best_ids[i]]);
  }
  result.report = compute_classification_report(gold, result.predictions);
  return result;
}

std::vector<int64_t> map_label_ids(const TextExamples& examples,
                                   const std::vector<std::string>& id2label) {
  std::map<std::string, int64_t> ids;
  for (size_t i = 0; i < id2label.size(); ++i) ids.emplace(id2label[i], static_cast<int64_t>(i));
  std::vector<int64_t> label_ids;
  label_ids.reserve(examples.labels.size());
  std::optional<size_t> first_bad;
  size_t bad_rows = 0;
  std::vector<std::string> unknown;  // distinct, first-seen order
  for (size_t i = 0; i < examples.labels.size(); ++i) {
    auto found = ids.find(examples.labels[i]);
    if (found != ids.end()) {
      label_ids.push_back(found->second);
      continue;
    }
    if (!first_bad) first_bad = i;
    ++bad_rows;
    if (std::find(unknown.begin(), unknown.end(), examples.labels[i]) == unknown.end()) {
      unknown.push_back(examples.labels[i]);
    }
  }
  if (!first_bad) return label_ids;
  if (id2label.empty()) {
    throw ConfigError(fmt::format(
        "evaluating '{}': the model's config.json has no id2label (nor num_labels), so its "
        "outputs have no label names to compare with the data's; hint: evaluate a model folder "
        "written by `ftune train` (best/ or last/), or add id2label to config.json",
        examples.file.string()));
  }
  std::string others;
  if (bad_rows > 1) {
    others = fmt::format(" ({} rows in all have labels the model does not know: {})",
                         bad_rows,
                         list_labels(unknown));
  }
  throw DataError(fmt::format(
      "evaluating: label at '{}' line {}: expected one of the model's labels ({}), got '{}'{}; "
      "hint: evaluate with the model fine-tuned on these labels, or check --label-column",
      examples.file.string(),
      examples.line_numbers[*first_bad],
      list_labels(id2label),
      examples.labels[*first_bad],
      others));
}

EvalResult run_eval(const EvalOptions& options) {
  require_model_folder(options.model_dir);
  if (options.report_json) {
    require_writable_parent(*options.report_json);
    refuse_output_over_input(
        *options.report_json,
        "--report-json",
        {{"--data", options.data}, {"--weights", options.weights.value_or("")}});
  }
  const Runtime runtime = resolve_runtime(options.runtime);
  // Labels are checked against config.json before the (possibly large) weights are read.
  const BertConfig config = BertConfig::read((options.model_dir / "config.json").string());
  auto tokenizer = WordPieceTokenizer::load_from_folder(options.model_dir.string());
  require_vocabulary_fits(tokenizer, config, options.model_dir);
  const size_t max_length = clamp_max_length(config, options.max_length);
  TextExamples examples = read_text_examples(options.data,
                                             options.columns,
                                             tokenizer,
                                             max_length,
                                             /*read_labels=*/true,
                                             options.table);
  const std::vector<int64_t> label_ids = map_label_ids(examples, config.id2label);

  ClassifierLoadOptions load_options;
  load_options.weights = options.weights;
  Classifier classifier = load_classifier(options.model_dir, load_options);
  classifier.model->to(runtime.device);
  at::Tensor logits;
  {
    AutocastGuard autocast(runtime.device.type(), runtime.precision);
    logits = compute_logits(classifier.model,
                            examples.encodings,
                            tokenizer.pad_id(),
                            options.batch_size,
                            "eval");  // (N, L)
  }
  EvalResult result = compute_eval_result(logits, label_ids, classifier.config.id2label);
  result.skipped_rows = examples.skipped_rows;
  if (options.report_json) {
    write_file_atomically(*options.report_json, eval_result_to_json(result).dump(2) + "\n");
  }
  return result;
}

std::string format_eval_result(const EvalResult& result, int digits) {
  const int decimals = std::max(4, digits);
  std::string text = format_classification_report(result.report, digits);
  text += "\n";
  text += format_confusion_matrix(result.report);
  text += "\n";
  text += fmt::format("accuracy {:.{}f}\n", result.report.accuracy, decimals);
  text += fmt::format("macro_f1 {:.{}f}\n", result.report.macro_avg.f1, decimals);
  text += fmt::format("mcc {:.{}f}\n", result.report.matthews_corrcoef, decimals);
  if (result.loss) text += fmt::format("loss {:.{}f}\n", *result.loss, decimals);
  return text;
}

nlohmann::json eval_result_to_json(const EvalResult& result) {
  const ClassificationReport& report = result.report;
  nlohmann::json metrics;
  metrics["accuracy"] = report.accuracy;
  metrics["f1_macro"] = report.macro_avg.f1;
  metrics["f1_micro"] = report.f1_micro;
  metrics["f1_weighted"] = report.weighted_avg.f1;
  metrics["matthews_corrcoef"] = report.matthews_corrcoef;
  metrics["support"] = report.total;
  if (result.loss) metrics["loss"] = *result.loss;
  nlohmann::json document;
  document["classification_report"] = classification_report_to_json(report);
  document["confusion_matrix"] = {{"labels", report.labels}, {"matrix", report.confusion}};
  document["metrics"] = metrics;
  return document;
}

std::vector<std::string> read_lines(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw IoError(fmt::format("reading '{}': cannot open it: {}; hint: check the path",
                              file.string(),
                              std::strerror(errno)));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) text.erase(0, 3);
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

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
