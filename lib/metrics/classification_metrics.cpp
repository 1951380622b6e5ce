// Classification metrics matching scikit-learn 1.2 (sklearn/metrics/_classification.py) to the
// last bit: same formulas, same operation order, numpy's summation order for the averages.
// Not a general statistics library; no LibTorch here.
#include "lib/metrics/classification_metrics.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lib/metrics/sklearn_arithmetic.h"
#include "util/error.h"

namespace ftune {
using namespace sklearn_arithmetic;  // shared with sequence_labeling.cpp

ClassificationReport compute_classification_report(const std::vector<std::string>& y_true,
                                                   const std::vector<std::string>& y_pred) {
  if (y_true.size() != y_pred.size()) {
    throw DataError(fmt::format(
        "computing classification metrics: labels 'y_true' and 'y_pred': expected the same "
        "length, got {} and {}; hint: pass one prediction per example",
        y_true.size(),
        y_pred.size()));
  }
  if (y_true.empty()) {
    throw DataError(
        "computing classification metrics: labels 'y_true': expected at least one example, got "
        "0; hint: check that the evaluation set is not empty");
  }

  ClassificationReport report;
  std::map<std::string, size_t> index_of;  // std::map orders bytes, i.e. UTF-8 code points
  for (const auto& label : y_true) index_of.emplace(label, 0);
  for (const auto& label : y_pred) index_of.emplace(label, 0);
  for (auto& [label, index] : index_of) {
    index = report.labels.size();
    report.labels.push_back(label);
  }
  const size_t num_labels = report.labels.size();
  report.total = static_cast<int64_t>(y_true.size());

  report.confusion.assign(num_labels, std::vector<int64_t>(num_labels, 0));
  for (size_t i = 0; i < y_true.size(); ++i) {
    ++report.confusion[index_of.at(y_true[i])][index_of.at(y_pred[i])];
  }

  std::vector<int64_t> true_sum(num_labels, 0);
  std::vector<int64_t> pred_sum(num_labels, 0);
  int64_t correct = 0;
  for (size_t t = 0; t < num_labels; ++t) {
    for (size_t p = 0; p < num_labels; ++p) {
      true_sum[t] += report.confusion[t][p];
      pred_sum[p] += report.confusion[t][p];
    }
    correct += report.confusion[t][t];
  }

  std::vector<double> precisions(num_labels);
  std::vector<double> recalls(num_labels);
  std::vector<double> f1s(num_labels);
  for (size_t i = 0; i < num_labels; ++i) {
    int64_t tp = report.confusion[i][i];
    precisions[i] = divide_or_zero(tp, pred_sum[i]);
    recalls[i] = divide_or_zero(tp, true_sum[i]);
    f1s[i] = compute_f1(precisions[i], recalls[i]);
    report.per_class.push_back({report.labels[i], precisions[i], recalls[i], f1s[i], true_sum[i]});
  }

  report.macro_avg = {"macro avg",
                      average_like_numpy(precisions),
                      average_like_numpy(recalls),
                      average_like_numpy(f1s),
                      report.total};
  report.weighted_avg = {"weighted avg",
                         weighted_average_like_numpy(precisions, true_sum),
                         weighted_average_like_numpy(recalls, true_sum),
                         weighted_average_like_numpy(f1s, true_sum),
                         report.total};

  // Micro averaging pools the counts: every sample is predicted once, so precision = recall =
  // correct / total; F1 goes through the formula and can differ from them in the last bit.
  double micro_precision = divide_or_zero(correct, report.total);
  double micro_recall = divide_or_zero(correct, report.total);
  report.accuracy = micro_precision;
  report.f1_micro = compute_f1(micro_precision, micro_recall);

  // Multiclass MCC (Gorodkin 2004) as sklearn's matthews_corrcoef: every term is an integer held
  // exactly in float64, so only the final sqrt and division round.
  auto n_samples = static_cast<double>(report.total);
  auto n_correct = static_cast<double>(correct);
  double t_dot_p = 0.0;
  double p_dot_p = 0.0;
  double t_dot_t = 0.0;
  for (size_t i = 0; i < num_labels; ++i) {
    auto t = static_cast<double>(true_sum[i]);
    auto p = static_cast<double>(pred_sum[i]);
    t_dot_p += t * p;
    p_dot_p += p * p;
    t_dot_t += t * t;
  }
  double cov_ytyp = n_correct * n_samples - t_dot_p;
  double cov_ypyp = n_samples * n_samples - p_dot_p;
  double cov_ytyt = n_samples * n_samples - t_dot_t;
  report.matthews_corrcoef =
      (cov_ypyp * cov_ytyt == 0.0) ? 0.0 : cov_ytyp / std::sqrt(cov_ytyt * cov_ypyp);
  return report;
}

std::string format_classification_report(const ClassificationReport& report, int digits) {
  if (digits < 0 || digits > kMaxDigits) {
    throw Error(fmt::format(
        "formatting classification report: argument 'digits': expected 0..{}, got {}; hint: "
        "sklearn's default is 2",
        kMaxDigits,
        digits));
  }
  const size_t width = report_name_width(report.per_class, digits);
  std::string text = report_header(width);
  for (const auto& row : report.per_class) text += format_metrics_row(row, width, digits);
  text += "\n";
  // The accuracy row leaves precision and recall blank and shows the micro F1 (= accuracy).
  text += pad_left("accuracy", width) + " " + " " + std::string(9, ' ') + " " +
          std::string(9, ' ') + " " + format_fixed(report.f1_micro, digits) + " " +
          fmt::format("{:>9}", report.total) + "\n";
  text += format_metrics_row(report.macro_avg, width, digits);
  text += format_metrics_row(report.weighted_avg, width, digits);
  return text;
}

nlohmann::json classification_report_to_json(const ClassificationReport& report) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& row : report.per_class) json[row.label] = metrics_to_json(row);
  json["accuracy"] = report.accuracy;
  json["macro avg"] = metrics_to_json(report.macro_avg);
  json["weighted avg"] = metrics_to_json(report.weighted_avg);
  return json;
}

std::string format_confusion_matrix(const ClassificationReport& report) {
  static const std::string kCorner = "true \\ pred";
  size_t row_header_width = count_code_points(kCorner);
  for (const auto& label : report.labels) {
    row_header_width = std::max(row_header_width, count_code_points(label));
  }
  std::vector<size_t> column_widths;
  for (size_t col = 0; col < report.labels.size(); ++col) {
    size_t width = count_code_points(report.labels[col]);
    for (const auto& row : report.confusion) {
      width = std::max(width, std::to_string(row[col]).size());
    }
    column_widths.push_back(width);
  }

  std::string text = pad_right(kCorner, row_header_width);
  for (size_t col = 0; col < report.labels.size(); ++col) {
    text += "  " + pad_left(report.labels[col], column_widths[col]);
  }
  text += "\n";
  for (size_t row = 0; row < report.labels.size(); ++row) {
    text += pad_right(report.labels[row], row_header_width);
    for (size_t col = 0; col < report.labels.size(); ++col) {
      text += "  " + pad_left(std::to_string(report.confusion[row][col]), column_widths[col]);
    }
    text += "\n";
  }
  return text;
}

namespace {

// F1 from counts, as scikit-learn >= 1.3 computes it: 2 tp / (true + pred), 0.0 when both are 0.
double f1_from_counts(int64_t tp, int64_t true_count, int64_t pred_count) {
  return divide_or_zero(2 * tp, true_count + pred_count);
}

}  // namespace

MultiLabelReport compute_multilabel_report(const std::vector<std::vector<uint8_t>>& y_true,
                                           const std::vector<std::vector<uint8_t>>& y_pred,
                                           const std::vector<std::string>& labels) {
  if (y_true.size() != y_pred.size()) {
    throw DataError(fmt::format(
        "computing multi-label metrics: expected as many predicted rows as true rows ({}), got {}",
        y_true.size(),
        y_pred.size()));
  }
  if (y_true.empty()) {
    throw DataError("computing multi-label metrics: expected at least one example, got 0");
  }
  const size_t L = labels.size();
  for (size_t i = 0; i < y_true.size(); ++i) {
    if (y_true[i].size() != L || y_pred[i].size() != L) {
      throw DataError(fmt::format(
          "computing multi-label metrics: row {}: expected {} columns (one per label), got {} "
          "true and {} predicted",
          i,
          L,
          y_true[i].size(),
          y_pred[i].size()));
    }
  }
  MultiLabelReport report;
  report.labels = labels;
  report.samples = static_cast<int64_t>(y_true.size());
  std::vector<int64_t> tp(L, 0), true_sum(L, 0), pred_sum(L, 0);
  std::vector<double> sample_precision, sample_recall, sample_f1;
  int64_t exact = 0, wrong_cells = 0;
  for (size_t i = 0; i < y_true.size(); ++i) {
    int64_t row_tp = 0, row_true = 0, row_pred = 0;
    bool same = true;
    for (size_t k = 0; k < L; ++k) {
      const bool t = y_true[i][k] != 0, p = y_pred[i][k] != 0;
      row_tp += t && p;
      row_true += t;
      row_pred += p;
      if (t != p) {
        same = false;
        ++wrong_cells;
      }
    }
    for (size_t k = 0; k < L; ++k) {
      const bool t = y_true[i][k] != 0, p = y_pred[i][k] != 0;
      tp[k] += t && p;
      true_sum[k] += t;
      pred_sum[k] += p;
    }
    exact += same;
    sample_precision.push_back(divide_or_zero(row_tp, row_pred));
    sample_recall.push_back(divide_or_zero(row_tp, row_true));
    sample_f1.push_back(f1_from_counts(row_tp, row_true, row_pred));
  }
  int64_t support = 0, all_tp = 0, all_pred = 0;
  std::vector<double> precisions(L), recalls(L), f1s(L);
  for (size_t k = 0; k < L; ++k) {
    precisions[k] = divide_or_zero(tp[k], pred_sum[k]);
    recalls[k] = divide_or_zero(tp[k], true_sum[k]);
    f1s[k] = f1_from_counts(tp[k], true_sum[k], pred_sum[k]);
    report.per_label.push_back({labels[k], precisions[k], recalls[k], f1s[k], true_sum[k]});
    support += true_sum[k];
    all_tp += tp[k];
    all_pred += pred_sum[k];
  }
  report.micro_avg = {"micro avg",
                      divide_or_zero(all_tp, all_pred),
                      divide_or_zero(all_tp, support),
                      f1_from_counts(all_tp, support, all_pred),
                      support};
  report.macro_avg = {"macro avg",
                      average_like_numpy(precisions),
                      average_like_numpy(recalls),
                      average_like_numpy(f1s),
                      support};
  // With no positive label anywhere the weights sum to 0: sklearn gives 0.0 (zero_division).
  auto weighted = [&](const std::vector<double>& values) {
    return support == 0 ? 0.0 : weighted_average_like_numpy(values, true_sum);
  };
  report.weighted_avg = {
      "weighted avg", weighted(precisions), weighted(recalls), weighted(f1s), support};
  report.samples_avg = {"samples avg",
                        average_like_numpy(sample_precision),
                        average_like_numpy(sample_recall),
                        average_like_numpy(sample_f1),
                        support};
  report.subset_accuracy = static_cast<double>(exact) / static_cast<double>(report.samples);
  report.hamming_loss = static_cast<double>(wrong_cells) /
                        (static_cast<double>(report.samples) * static_cast<double>(L));
  return report;
}

std::vector<double> tune_label_thresholds(const std::vector<std::vector<double>>& probs,
                                          const std::vector<std::vector<uint8_t>>& targets,
                                          double fallback) {
  if (probs.size() != targets.size() || probs.empty()) {
    throw DataError(fmt::format(
        "tuning thresholds: expected as many probability rows as label rows (at least one), got "
        "{} and {}",
        probs.size(),
        targets.size()));
  }
  const size_t L = probs[0].size();
  std::vector<double> thresholds(L, fallback);
  for (size_t k = 0; k < L; ++k) {
    // Sweep the candidates from the highest probability down: lowering t to p adds every row
    // with probability p to the predicted ones.
    std::vector<std::pair<double, bool>> column;
    int64_t positives = 0;
    for (size_t i = 0; i < probs.size(); ++i) {
      const bool positive = targets[i].at(k) != 0;
      column.emplace_back(probs[i].at(k), positive);
      positives += positive;
    }
    if (positives == 0) continue;
    std::sort(column.begin(), column.end(), [](const auto& a, const auto& b) {
      return a.first > b.first;
    });
    double best_f1 = -1.0;
    int64_t tp = 0, predicted = 0;
    for (size_t i = 0; i < column.size(); ++i) {
      tp += column[i].second;
      ++predicted;
      if (i + 1 < column.size() && column[i + 1].first == column[i].first) continue;
      const double t = column[i].first;
      const double f1 = f1_from_counts(tp, positives, predicted);
      const double distance = std::abs(t - fallback),
                   best_distance = std::abs(thresholds[k] - fallback);
      if (f1 > best_f1 || (f1 == best_f1 && (distance < best_distance ||
                                             (distance == best_distance && t > thresholds[k])))) {
        best_f1 = f1;
        thresholds[k] = t;
      }
    }
  }
  return thresholds;
}

std::string format_multilabel_report(const MultiLabelReport& report, int digits) {
  if (digits < 0 || digits > kMaxDigits) {
    throw Error(
        fmt::format("formatting classification report: argument 'digits': expected 0..{}, got {}",
                    kMaxDigits,
                    digits));
  }
  return format_report_rows(
      report.per_label,
      {&report.micro_avg, &report.macro_avg, &report.weighted_avg, &report.samples_avg},
      digits);
}

nlohmann::json multilabel_report_to_json(const MultiLabelReport& report) {
  nlohmann::json json = nlohmann::json::object();
  for (const auto& row : report.per_label) json[row.label] = metrics_to_json(row);
  for (const auto* row :
       {&report.micro_avg, &report.macro_avg, &report.weighted_avg, &report.samples_avg}) {
    json[row->label] = metrics_to_json(*row);
  }
  return json;
}

}  // namespace ftune
