// Regression metrics equal to the Python they replace: mean squared and absolute error
// (scikit-learn's mean_squared_error / mean_absolute_error) and the Pearson and Spearman
// correlations (scipy.stats.pearsonr / spearmanr: ties get their average rank). What ftune eval,
// the trainer's evaluation and `ftune score --task regression` report for
// --problem-type regression.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ftune {

struct RegressionReport {
  double mse = 0.0;
  double mae = 0.0;
  // NaN where scipy gives nan: fewer than two values, or one side constant.
  double pearson = 0.0;
  double spearman = 0.0;
  int64_t count = 0;
};

// Throws DataError when the sizes differ or the input is empty.
//
//   auto r = compute_regression_report({1.0, 2.0, 3.0}, {1.5, 2.0, 2.5});
//   r.mse;       // 1/6
//   r.spearman;  // 1.0
RegressionReport compute_regression_report(const std::vector<double>& y_true,
                                           const std::vector<double>& y_pred);

// scipy.stats.rankdata(values, method="average"): 1-based ranks, ties share their mean rank.
std::vector<double> average_ranks(const std::vector<double>& values);

// The lines `ftune eval` and `ftune score` print, each number with max(4, digits) decimals:
//   mse 0.1234 / mae 0.2345 / pearson 0.8765 / spearman 0.8543 (NaN prints as nan).
std::string format_regression_report(const RegressionReport& report, int digits = 4);

// {"mse", "mae", "pearson", "spearman", "count"}; NaN becomes null (JSON has no NaN).
nlohmann::json regression_report_to_json(const RegressionReport& report);

}  // namespace ftune
