// Regression metrics, computed in double precision in the order scipy and scikit-learn use.
#include "lib/metrics/regression_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <fmt/format.h>

#include "util/error.h"

namespace ftune {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double mean(const std::vector<double>& values) {
  return std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
}

// scipy.stats.pearsonr: both sides centred, then each scaled by its norm before the dot product
// (so that large values do not overflow), clipped to [-1, 1].
double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  if (n < 2) return kNaN;
  const double mx = mean(x), my = mean(y);
  std::vector<double> xm(n), ym(n);
  for (size_t i = 0; i < n; ++i) {
    xm[i] = x[i] - mx;
    ym[i] = y[i] - my;
  }
  double nx = 0.0, ny = 0.0;
  for (size_t i = 0; i < n; ++i) {
    nx += xm[i] * xm[i];
    ny += ym[i] * ym[i];
  }
  nx = std::sqrt(nx);
  ny = std::sqrt(ny);
  if (nx == 0.0 || ny == 0.0) return kNaN;  // a constant input: scipy warns and returns nan
  double r = 0.0;
  for (size_t i = 0; i < n; ++i) r += (xm[i] / nx) * (ym[i] / ny);
  return std::clamp(r, -1.0, 1.0);
}

}  // namespace

std::vector<double> average_ranks(const std::vector<double>& values) {
  const size_t n = values.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(
      order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  std::vector<double> ranks(n);
  for (size_t start = 0; start < n;) {
    size_t end = start + 1;
    while (end < n && values[order[end]] == values[order[start]]) ++end;
    // Positions start..end-1 hold equal values: ranks start+1..end, mean (start+1+end)/2.
    const double rank = 0.5 * static_cast<double>(start + 1 + end);
    for (size_t k = start; k < end; ++k) ranks[order[k]] = rank;
    start = end;
  }
  return ranks;
}

RegressionReport compute_regression_report(const std::vector<double>& y_true,
                                           const std::vector<double>& y_pred) {
  if (y_true.size() != y_pred.size()) {
    throw DataError(
        fmt::format("regression metrics: expected as many predictions as references "
                    "({}), got {}",
                    y_true.size(),
                    y_pred.size()));
  }
  if (y_true.empty()) throw DataError("regression metrics: expected at least one value, got none");
  RegressionReport report;
  report.count = static_cast<int64_t>(y_true.size());
  double squared = 0.0, absolute = 0.0;
  for (size_t i = 0; i < y_true.size(); ++i) {
    const double error = y_true[i] - y_pred[i];
    squared += error * error;
    absolute += std::abs(error);
  }
  report.mse = squared / static_cast<double>(y_true.size());
  report.mae = absolute / static_cast<double>(y_true.size());
  report.pearson = pearson(y_true, y_pred);
  report.spearman = pearson(average_ranks(y_true), average_ranks(y_pred));
  return report;
}

std::string format_regression_report(const RegressionReport& report, int digits) {
  const int decimals = std::max(4, digits);
  auto number = [&](double value) {
    return std::isnan(value) ? std::string("nan") : fmt::format("{:.{}f}", value, decimals);
  };
  return fmt::format("mse {}\nmae {}\npearson {}\nspearman {}\n",
                     number(report.mse),
                     number(report.mae),
                     number(report.pearson),
                     number(report.spearman));
}

nlohmann::json regression_report_to_json(const RegressionReport& report) {
  auto number = [](double value) {
    return std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value);
  };
  return {{"mse", number(report.mse)},
          {"mae", number(report.mae)},
          {"pearson", number(report.pearson)},
          {"spearman", number(report.spearman)},
          {"count", report.count}};
}

}  // namespace ftune
