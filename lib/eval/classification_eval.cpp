// Evaluating a sequence classifier: batched logits, label ids, the report and its two renderings.
#include "lib/eval/classification_eval.h"

#include <algorithm>
#include <map>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>

#include "lib/data/text_dataset.h"
#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "util/error.h"
#include "util/progress.h"

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

}  // namespace

at::Tensor compute_logits(BertForSequenceClassification& model,
                          const std::vector<Encoding>& encodings, int64_t pad_id, size_t batch_size,
                          const std::string& progress_label, bool show_progress) {
  InferenceScope inference(*model);
  const auto device = device_of(*model);
  // Batches of similar length: rows sorted by length (longest first, ties in file order) pad
  // to almost nothing, also inside attention. Each row's logits do not depend on its batch
  // mates, so the result is put back into file order at the end.
  std::vector<size_t> order(encodings.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return encodings[a].input_ids.size() > encodings[b].input_ids.size();
  });
  std::vector<at::Tensor> parts;
  ProgressBar progress(progress_label, static_cast<int64_t>(encodings.size()), show_progress);
  for (size_t start = 0; start < order.size(); start += batch_size) {
    const auto end = static_cast<std::ptrdiff_t>(std::min(order.size(), start + batch_size));
    std::vector<size_t> indices(order.begin() + static_cast<std::ptrdiff_t>(start),
                                order.begin() + end);
    Batch batch = collate_batch(encodings, {}, indices, pad_id);
    auto logits = model(to_device(batch.input_ids, device),
                        to_device(batch.attention_mask, device),
                        to_device(batch.token_type_ids, device));  // (B, L)
    parts.push_back(logits.to(torch::kCPU, torch::kFloat));        // predictions stay on the host
    progress.update(static_cast<int64_t>(start + indices.size()));
  }
  progress.finish();
  if (parts.empty()) return torch::empty({0, model->classifier->options.out_features()});
  return put_rows_in_example_order(torch::cat(parts, 0), order);  // (N, L), file order
}

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

EvalResult compute_regression_result(const at::Tensor& logits, const std::vector<double>& targets) {
  const auto N = static_cast<int64_t>(targets.size());
  if (logits.dim() != 2 || logits.size(0) != N || logits.size(1) != 1) {
    throw Error(fmt::format("evaluating: regression logits: expected shape [{}, 1], got {}",
                            N,
                            fmt::join(logits.sizes(), "x")));
  }
  at::Tensor scores = logits.detach().to(torch::kCPU, torch::kFloat).squeeze(-1);  // (N)
  std::vector<float> gold_float(targets.begin(), targets.end());
  EvalResult result;
  result.loss = torch::mse_loss(scores, torch::tensor(gold_float, torch::kFloat)).item<double>();
  auto values = scores.accessor<float, 1>();
  std::vector<double> predicted(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) predicted[static_cast<size_t>(i)] = values[i];
  result.regression = compute_regression_report(targets, predicted);
  return result;
}

EvalResult compute_multilabel_result(const at::Tensor& logits,
                                     const std::vector<std::vector<uint8_t>>& targets,
                                     const std::vector<std::string>& id2label,
                                     const std::vector<double>& thresholds) {
  const auto N = static_cast<int64_t>(targets.size());
  const auto L = static_cast<int64_t>(id2label.size());
  if (logits.dim() != 2 || logits.size(0) != N || logits.size(1) != L) {
    throw Error(fmt::format("evaluating: multi-label logits: expected shape [{}, {}], got {}",
                            N,
                            L,
                            fmt::join(logits.sizes(), "x")));
  }
  at::Tensor scores = logits.detach().to(torch::kCPU, torch::kFloat);  // (N, L)
  at::Tensor gold = torch::zeros({N, L}, torch::kFloat);
  auto gold_rows = gold.accessor<float, 2>();
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t k = 0; k < L; ++k) gold_rows[i][k] = targets[i][k] ? 1.0F : 0.0F;
  }
  EvalResult result;
  result.loss = torch::binary_cross_entropy_with_logits(scores, gold).item<double>();
  std::vector<float> cut(static_cast<size_t>(L), 0.5F);
  for (size_t k = 0; k < thresholds.size() && k < cut.size(); ++k) {
    cut[k] = static_cast<float>(thresholds[k]);
  }
  at::Tensor chosen = torch::sigmoid(scores).ge(torch::tensor(cut)).contiguous();  // (N, L)
  auto chosen_rows = chosen.accessor<bool, 2>();
  std::vector<std::vector<uint8_t>> predicted(targets.size(), std::vector<uint8_t>(L, 0));
  for (int64_t i = 0; i < N; ++i) {
    std::string names;
    for (int64_t k = 0; k < L; ++k) {
      predicted[i][k] = chosen_rows[i][k] ? 1 : 0;
      if (predicted[i][k]) names += (names.empty() ? "" : "|") + id2label[k];
    }
    result.predictions.push_back(names);
  }
  result.multilabel = compute_multilabel_report(targets, predicted, id2label);
  return result;
}

std::vector<std::vector<uint8_t>> map_label_sets(const TextExamples& examples,
                                                 const std::vector<std::string>& id2label) {
  std::map<std::string, size_t> ids;
  for (size_t k = 0; k < id2label.size(); ++k) ids.emplace(id2label[k], k);
  const auto sets = label_sets(examples);
  std::vector<std::vector<uint8_t>> rows(sets.size(), std::vector<uint8_t>(id2label.size(), 0));
  for (size_t i = 0; i < sets.size(); ++i) {
    for (const auto& label : sets[i]) {
      const auto found = ids.find(label);
      if (found == ids.end()) {
        throw DataError(fmt::format(
            "evaluating: label at '{}' line {}: expected one of the model's labels ({}), got "
            "'{}'; hint: evaluate with the model fine-tuned on these labels, or check "
            "--label-column",
            examples.file.string(),
            examples.line_numbers[i],
            list_labels(id2label),
            label));
      }
      rows[i][found->second] = 1;
    }
  }
  return rows;
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

std::string format_eval_result(const EvalResult& result, int digits) {
  const int decimals = std::max(4, digits);
  if (result.multilabel) {
    const MultiLabelReport& report = *result.multilabel;
    std::string text = format_multilabel_report(report, digits) + "\n";
    text += fmt::format("subset_accuracy {:.{}f}\n", report.subset_accuracy, decimals);
    text += fmt::format("hamming_loss {:.{}f}\n", report.hamming_loss, decimals);
    text += fmt::format("micro_f1 {:.{}f}\n", report.micro_avg.f1, decimals);
    text += fmt::format("macro_f1 {:.{}f}\n", report.macro_avg.f1, decimals);
    if (result.loss) text += fmt::format("loss {:.{}f}\n", *result.loss, decimals);
    return text;
  }
  if (result.regression) {
    std::string text = format_regression_report(*result.regression, digits);
    if (result.loss) text += fmt::format("loss {:.{}f}\n", *result.loss, decimals);
    return text;
  }
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
  if (result.multilabel) {
    const MultiLabelReport& report = *result.multilabel;
    nlohmann::json metrics = {{"subset_accuracy", report.subset_accuracy},
                              {"hamming_loss", report.hamming_loss},
                              {"f1_micro", report.micro_avg.f1},
                              {"f1_macro", report.macro_avg.f1},
                              {"f1_weighted", report.weighted_avg.f1},
                              {"f1_samples", report.samples_avg.f1},
                              {"support", report.micro_avg.support}};
    if (result.loss) metrics["loss"] = *result.loss;
    return {{"classification_report", multilabel_report_to_json(report)}, {"metrics", metrics}};
  }
  if (result.regression) {
    nlohmann::json metrics = regression_report_to_json(*result.regression);
    if (result.loss) metrics["loss"] = *result.loss;
    return {{"metrics", metrics}};
  }
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

}  // namespace ftune
