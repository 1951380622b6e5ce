// The arithmetic and text layout that scikit-learn's and seqeval's reports share, to the last
// bit: numpy's summation order for averages, sklearn's zero-division rule and F1 formula, and
// the report row layout. Internal to lib/metrics (classification_metrics, sequence_labeling).
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "lib/metrics/classification_metrics.h"

namespace ftune::sklearn_arithmetic {

// numpy reduces a contiguous float64 array in buffer-sized chunks (8192 elements), each chunk
// summed pairwise (numpy/core/src/umath/loops_utils.h.src, pairwise_sum); chunk sums are added
// in order. Matters only past 8 classes, but then it decides the last bit of macro/weighted avg.
constexpr size_t kNumpyBufferSize = 8192;
constexpr size_t kNumpyPairwiseBlock = 128;
constexpr int kMaxDigits = 100;  // keeps every formatted number inside a fixed buffer

inline double sum_pairwise(const double* a, size_t n) {
  if (n < 8) {
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += a[i];
    return sum;
  }
  if (n <= kNumpyPairwiseBlock) {
    std::array<double, 8> r;
    for (size_t j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (size_t j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    double sum = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) sum += a[i];
    return sum;
  }
  size_t half = n / 2;
  half -= half % 8;
  return sum_pairwise(a, half) + sum_pairwise(a + half, n - half);
}

inline double sum_like_numpy(const std::vector<double>& values) {
  double sum = 0.0;  // add.reduce starts from its identity
  for (size_t start = 0; start < values.size(); start += kNumpyBufferSize) {
    size_t n = std::min(kNumpyBufferSize, values.size() - start);
    sum += sum_pairwise(values.data() + start, n);
  }
  return sum;
}

// np.average(values): np.mean, i.e. sum / count.
inline double average_like_numpy(const std::vector<double>& values) {
  return sum_like_numpy(values) / static_cast<double>(values.size());
}

// np.average(values, weights=weights): sum(values * weights) / sum(weights), in float64.
inline double weighted_average_like_numpy(const std::vector<double>& values,
                                          const std::vector<int64_t>& weights) {
  std::vector<double> products(values.size());
  std::vector<double> weights_f64(weights.size());
  for (size_t i = 0; i < values.size(); ++i) {
    weights_f64[i] = static_cast<double>(weights[i]);
    products[i] = values[i] * weights_f64[i];
  }
  return sum_like_numpy(products) / sum_like_numpy(weights_f64);
}

// sklearn's _prf_divide with zero_division="warn": 0.0 where the denominator is 0.
inline double divide_or_zero(int64_t numerator, int64_t denominator) {
  if (denominator == 0) return 0.0;
  return static_cast<double>(numerator) / static_cast<double>(denominator);
}

// F-beta with beta = 1 as sklearn 1.2 computes it from precision and recall (1.3 changed to
// counts): (1 + beta^2) * p * r / (beta^2 * p + r), with a zero denominator replaced by 1.
inline double compute_f1(double precision, double recall) {
  double denominator = precision + recall;
  if (denominator == 0.0) denominator = 1.0;
  return 2.0 * precision * recall / denominator;
}

// Number of code points in a UTF-8 string, which is what Python's len() counts.
inline size_t count_code_points(const std::string& text) {
  size_t count = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++count;
  }
  return count;
}

// Python's '{:>{width}s}': right-aligned to width code points.
inline std::string pad_left(const std::string& text, size_t width) {
  size_t length = count_code_points(text);
  if (length >= width) return text;
  return std::string(width - length, ' ') + text;
}

inline std::string pad_right(const std::string& text, size_t width) {
  size_t length = count_code_points(text);
  if (length >= width) return text;
  return text + std::string(width - length, ' ');
}

// Python's '{:>9.{digits}f}'. printf's %f and Python's float formatting both round the exact
// binary value correctly (ties to even), so they agree digit for digit.
inline std::string format_fixed(double value, int digits) {
  std::array<char, 512> buffer;
  std::snprintf(buffer.data(), buffer.size(), "%9.*f", digits, value);
  return buffer.data();
}

inline std::string format_metrics_row(const ClassMetrics& row, size_t width, int digits) {
  return pad_left(row.label, width) + " " + " " + format_fixed(row.precision, digits) + " " +
         format_fixed(row.recall, digits) + " " + format_fixed(row.f1, digits) + " " +
         fmt::format("{:>9}", row.support) + "\n";
}

inline nlohmann::json metrics_to_json(const ClassMetrics& row) {
  return {{"precision", row.precision},
          {"recall", row.recall},
          {"f1-score", row.f1},
          {"support", row.support}};
}

// The width of a report's row-name column: its longest row name, at least "weighted avg" (the
// longest average row) and at least `digits`, in code points, as sklearn and seqeval size it.
inline size_t report_name_width(const std::vector<ClassMetrics>& rows, int digits) {
  size_t width = count_code_points("weighted avg");
  for (const auto& row : rows) width = std::max(width, count_code_points(row.label));
  return std::max(width, static_cast<size_t>(digits));
}

// The header line of a report, and the blank line after it.
inline std::string report_header(size_t width) {
  std::string text = std::string(width, ' ') + " ";
  for (const char* header : {"precision", "recall", "f1-score", "support"}) {
    text += fmt::format(" {:>9}", header);
  }
  return text + "\n\n";
}

// A report without an accuracy row (multi-label, seqeval): the header, one row per label, a blank
// line, then the average rows.
inline std::string format_report_rows(const std::vector<ClassMetrics>& rows,
                                      const std::vector<const ClassMetrics*>& averages,
                                      int digits) {
  const size_t width = report_name_width(rows, digits);
  std::string text = report_header(width);
  for (const auto& row : rows) text += format_metrics_row(row, width, digits);
  text += "\n";
  for (const auto* row : averages) text += format_metrics_row(*row, width, digits);
  return text;
}

}  // namespace ftune::sklearn_arithmetic
