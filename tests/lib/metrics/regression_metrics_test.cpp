// Tests for lib/metrics/regression_metrics: scikit-learn's MSE/MAE and scipy's pearsonr,
// spearmanr and rankdata on the cases of tests/fixtures/metrics/regression.json
// (make_problem_types.py): noise, heavy ties, a negative correlation, large values, and the
// cases where scipy gives nan.
#include "lib/metrics/regression_metrics.h"

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ftune {
namespace {

constexpr double kTolerance = 1e-12;  // relative; numpy sums pairwise, we sum in order

nlohmann::json read_cases() {
  std::ifstream in("tests/fixtures/metrics/regression.json");
  if (!in) {
    ADD_FAILURE() << "cannot open tests/fixtures/metrics/regression.json (run from the repo root)";
    return nlohmann::json::object({{"cases", nlohmann::json::array()}});
  }
  return nlohmann::json::parse(in);
}

void expect_same(const nlohmann::json& want, double got, const std::string& what) {
  if (want.is_null()) {
    EXPECT_TRUE(std::isnan(got)) << what << ": scipy gives nan, got " << got;
    return;
  }
  const double expected = want.get<double>();
  EXPECT_NEAR(got, expected, kTolerance * std::max(1.0, std::abs(expected))) << what;
}

TEST(RegressionMetrics, EqualScikitLearnAndScipyOnEveryFixtureCase) {
  const auto cases = read_cases()["cases"];
  ASSERT_GE(cases.size(), 7u);
  for (const auto& c : cases) {
    const std::string name = c["name"];
    const auto y_true = c["y_true"].get<std::vector<double>>();
    const auto y_pred = c["y_pred"].get<std::vector<double>>();
    const RegressionReport report = compute_regression_report(y_true, y_pred);
    expect_same(c["mse"], report.mse, name + " mse");
    expect_same(c["mae"], report.mae, name + " mae");
    expect_same(c["pearson"], report.pearson, name + " pearson");
    expect_same(c["spearman"], report.spearman, name + " spearman");
    EXPECT_EQ(report.count, static_cast<int64_t>(y_true.size()));
    EXPECT_EQ(average_ranks(y_true), c["ranks_true"].get<std::vector<double>>()) << name;
    EXPECT_EQ(average_ranks(y_pred), c["ranks_pred"].get<std::vector<double>>()) << name;
  }
}

TEST(RegressionMetrics, NanPrintsAsNanAndIsNullInJson) {
  const auto report = compute_regression_report({0.5, 1.5, 2.5}, {2.0, 2.0, 2.0});
  EXPECT_EQ(format_regression_report(report, 2),
            "mse 0.9167\nmae 0.8333\npearson nan\nspearman nan\n");
  const auto json = regression_report_to_json(report);
  EXPECT_TRUE(json["pearson"].is_null());
  EXPECT_TRUE(json["spearman"].is_null());
  EXPECT_EQ(json["count"], 3);
  EXPECT_NEAR(json["mse"].get<double>(), 2.75 / 3.0, 1e-15);  // (1.5² + 0.5² + 0.5²) / 3
}

TEST(RegressionMetrics, RefusesEmptyOrUnequalInputs) {
  EXPECT_THROW(compute_regression_report({}, {}), DataError);
  EXPECT_THROW(compute_regression_report({1.0, 2.0}, {1.0}), DataError);
}

}  // namespace
}  // namespace ftune
