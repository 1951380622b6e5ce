// Classification metrics that reproduce scikit-learn 1.2 bit for bit: classification_report
// (text and output_dict), f1_score (micro/macro/weighted), matthews_corrcoef, confusion_matrix.
// Not here: sample weights, multilabel targets, logits → labels (the caller passes label strings).
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

}  // namespace ftune
