// Classification metrics that reproduce scikit-learn 1.2 bit for bit: classification_report
// (text and output_dict), f1_score (micro/macro/weighted), matthews_corrcoef, confusion_matrix.
// Multi-label: the same report for indicator matrices (scikit-learn 1.9), with micro and samples
// averages, subset accuracy and Hamming loss. Not here: sample weights, logits → labels (the
// caller passes label strings or 0/1 rows).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ftune {

// One row of the report: a class, or the "macro avg" / "weighted avg" line.
struct ClassMetrics {
  std::string label;
  double precision = 0.0;
  double recall = 0.0;
  double f1 = 0.0;
  int64_t support = 0;
};

// Everything sklearn reports for one (y_true, y_pred) pair. Undefined ratios (no prediction of a
// class, no true sample of a class) are 0.0, as sklearn's default zero_division gives them.
struct ClassificationReport {
  std::vector<std::string> labels;              // sorted union of y_true and y_pred (sklearn order)
  std::vector<ClassMetrics> per_class;          // same order as labels
  double accuracy = 0.0;                        // = micro precision = micro recall
  ClassMetrics macro_avg;                       // label "macro avg", support = total
  ClassMetrics weighted_avg;                    // label "weighted avg", support = total
  std::vector<std::vector<int64_t>> confusion;  // rows = true, cols = predicted
  double f1_micro = 0.0;  // f1_score(average="micro"); may differ from accuracy in the last bit
  double matthews_corrcoef = 0.0;  // multiclass MCC; 0.0 when undefined
  int64_t total = 0;
};

// Computes the report. Labels are compared as byte strings, which for UTF-8 is code point order,
// the order Python's sorted() and np.unique give. Throws DataError when the sizes differ or the
// input is empty.
//
//   auto report = compute_classification_report({"pos", "neg", "pos"}, {"pos", "pos", "pos"});
//   report.labels;               // {"neg", "pos"}
//   report.per_class[0].recall;  // 0.0 ("neg" is never predicted)
ClassificationReport compute_classification_report(const std::vector<std::string>& y_true,
                                                   const std::vector<std::string>& y_pred);

// sklearn's classification_report(y_true, y_pred, digits=digits) text, character for character
// (label column width counted in code points, as Python's len counts).
std::string format_classification_report(const ClassificationReport& report, int digits = 2);

// sklearn's classification_report(..., output_dict=True): one object per label with "precision",
// "recall", "f1-score", "support", then "accuracy" (a number), "macro avg" and "weighted avg".
nlohmann::json classification_report_to_json(const ClassificationReport& report);

// A readable confusion matrix (our own layout, not sklearn's): a header row of predicted labels,
// then one row per true label, counts right-aligned.
std::string format_confusion_matrix(const ClassificationReport& report);

// Everything classification_report(y_true, y_pred, target_names=labels) reports for multi-label
// indicator input (rows of 0/1, one column per label), plus accuracy_score (subset accuracy: the
// rows predicted exactly) and hamming_loss. Undefined ratios are 0.0 (zero_division "warn").
struct MultiLabelReport {
  std::vector<std::string> labels;  // column names, in column order
  std::vector<ClassMetrics> per_label;
  ClassMetrics micro_avg, macro_avg, weighted_avg, samples_avg;  // support = sum of supports
  double subset_accuracy = 0.0;
  double hamming_loss = 0.0;
  int64_t samples = 0;
};

// DataError when the shapes differ from each other or from `labels`, or there are no rows.
//
//   auto r = compute_multilabel_report({{1, 0}, {1, 1}}, {{1, 0}, {0, 1}}, {"sports", "tech"});
//   r.subset_accuracy;  // 0.5
//   r.hamming_loss;     // 0.25
MultiLabelReport compute_multilabel_report(const std::vector<std::vector<uint8_t>>& y_true,
                                           const std::vector<std::vector<uint8_t>>& y_pred,
                                           const std::vector<std::string>& labels);

// Per-label decision thresholds tuned on labelled data (--tune-thresholds): for each column k,
// the t among that label's probabilities that maximizes its F1 when predicting p >= t (ties: the
// t closest to `fallback`, then the larger); `fallback` for a label with no positive row.
// `probs` and `targets` are N rows of L columns.
//
//   tune_label_thresholds({{0.9}, {0.8}, {0.3}, {0.2}}, {{1}, {0}, {1}, {0}});  // {0.3}: F1 0.8
std::vector<double> tune_label_thresholds(const std::vector<std::vector<double>>& probs,
                                          const std::vector<std::vector<uint8_t>>& targets,
                                          double fallback = 0.5);

// sklearn's text for it: the label rows, a blank line, then "micro avg", "macro avg",
// "weighted avg" and "samples avg" rows.
std::string format_multilabel_report(const MultiLabelReport& report, int digits = 2);

// sklearn's output_dict: one object per label, then the four averages.
nlohmann::json multilabel_report_to_json(const MultiLabelReport& report);

}  // namespace ftune
