// Tests for lib/classification_metrics: golden comparisons against scikit-learn 1.2.1 output
// (tests/fixtures/metrics/classification_case*.json) plus small hand-computed cases.
// Not tested here: how the trainer turns logits into labels.
#include "lib/metrics/classification_metrics.h"

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ftune {
namespace {

constexpr double kDictTolerance = 1e-12;

nlohmann::json read_fixture(const std::string& name) {
  std::string path = "tests/fixtures/metrics/" + name;
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot open fixture '" << path << "' (tests run from the repo root)";
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(in);
}

// Compares two texts and, on mismatch, prints both and the first differing byte offset.
::testing::AssertionResult same_text(const std::string& expected, const std::string& actual) {
  if (expected == actual) return ::testing::AssertionSuccess();
  size_t offset = 0;
  while (offset < expected.size() && offset < actual.size() && expected[offset] == actual[offset]) {
    ++offset;
  }
  return ::testing::AssertionFailure()
         << "texts differ at byte offset " << offset << " (expected " << expected.size()
         << " bytes, got " << actual.size() << ")\n--- expected ---\n"
         << expected << "--- actual ---\n"
         << actual << "---";
}

void expect_metrics_match(const nlohmann::json& expected, const ClassMetrics& actual) {
  SCOPED_TRACE("row '" + actual.label + "'");
  EXPECT_NEAR(expected.at("precision").get<double>(), actual.precision, kDictTolerance);
  EXPECT_NEAR(expected.at("recall").get<double>(), actual.recall, kDictTolerance);
  EXPECT_NEAR(expected.at("f1-score").get<double>(), actual.f1, kDictTolerance);
  EXPECT_EQ(expected.at("support").get<int64_t>(), actual.support);
}

class SklearnClassificationCase : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    fixture_ = read_fixture(GetParam());
    ASSERT_TRUE(fixture_.contains("y_true")) << GetParam();
    report_ = compute_classification_report(fixture_.at("y_true").get<std::vector<std::string>>(),
                                            fixture_.at("y_pred").get<std::vector<std::string>>());
  }

  nlohmann::json fixture_;
  ClassificationReport report_;
};

TEST_P(SklearnClassificationCase, ReportTextWithTwoDigitsMatchesCharacterForCharacter) {
  EXPECT_TRUE(same_text(fixture_.at("classification_report_digits2").get<std::string>(),
                        format_classification_report(report_, 2)));
}

TEST_P(SklearnClassificationCase, ReportTextWithFourDigitsMatchesCharacterForCharacter) {
  EXPECT_TRUE(same_text(fixture_.at("classification_report_digits4").get<std::string>(),
                        format_classification_report(report_, 4)));
}

TEST_P(SklearnClassificationCase, ReportDictNumbersMatch) {
  const auto& expected = fixture_.at("classification_report_dict");
  ASSERT_EQ(report_.per_class.size() + 3, expected.size());
  for (const auto& row : report_.per_class) {
    ASSERT_TRUE(expected.contains(row.label)) << "label '" << row.label << "' not in sklearn dict";
    expect_metrics_match(expected.at(row.label), row);
  }
  EXPECT_NEAR(expected.at("accuracy").get<double>(), report_.accuracy, kDictTolerance);
  expect_metrics_match(expected.at("macro avg"), report_.macro_avg);
  expect_metrics_match(expected.at("weighted avg"), report_.weighted_avg);
}

TEST_P(SklearnClassificationCase, ReportToJsonHasSklearnKeysAndValues) {
  auto json = classification_report_to_json(report_);
  const auto& expected = fixture_.at("classification_report_dict");
  ASSERT_EQ(expected.size(), json.size());
  for (const auto& [key, value] : expected.items()) {
    ASSERT_TRUE(json.contains(key)) << "missing key '" << key << "'";
    if (value.is_number()) {
      EXPECT_NEAR(value.get<double>(), json.at(key).get<double>(), kDictTolerance) << key;
      continue;
    }
    for (const auto& [field, number] : value.items()) {
      EXPECT_NEAR(number.get<double>(), json.at(key).at(field).get<double>(), kDictTolerance)
          << key << "." << field;
    }
    EXPECT_TRUE(json.at(key).at("support").is_number_integer()) << key;
  }
}

TEST_P(SklearnClassificationCase, ConfusionMatrixAndLabelOrderMatch) {
  EXPECT_EQ(fixture_.at("confusion_matrix_labels").get<std::vector<std::string>>(), report_.labels);
  EXPECT_EQ(fixture_.at("confusion_matrix").get<std::vector<std::vector<int64_t>>>(),
            report_.confusion);
}

TEST_P(SklearnClassificationCase, NeverPredictedClassHasZeroPrecisionAndAbsentClassZeroSupport) {
  auto never_predicted = fixture_.at("never_predicted").get<std::string>();
  auto absent = fixture_.at("absent_from_y_true").get<std::string>();
  for (const auto& row : report_.per_class) {
    if (row.label == never_predicted) {
      EXPECT_EQ(0.0, row.precision);
    }
    if (row.label == absent) {
      EXPECT_EQ(0, row.support);
      EXPECT_EQ(0.0, row.recall);
    }
  }
}

TEST_P(SklearnClassificationCase, ScalarScoresMatch) {
  EXPECT_NEAR(fixture_.at("accuracy").get<double>(), report_.accuracy, kDictTolerance);
  EXPECT_NEAR(fixture_.at("f1_macro").get<double>(), report_.macro_avg.f1, kDictTolerance);
  EXPECT_NEAR(fixture_.at("f1_micro").get<double>(), report_.f1_micro, kDictTolerance);
  EXPECT_NEAR(fixture_.at("f1_weighted").get<double>(), report_.weighted_avg.f1, kDictTolerance);
  EXPECT_NEAR(
      fixture_.at("matthews_corrcoef").get<double>(), report_.matthews_corrcoef, kDictTolerance);
}

// The implementation repeats sklearn's operation order, so the scores agree to the bit, not
// just within tolerance.
TEST_P(SklearnClassificationCase, ScalarScoresAreBitIdentical) {
  EXPECT_EQ(fixture_.at("accuracy").get<double>(), report_.accuracy);
  EXPECT_EQ(fixture_.at("f1_macro").get<double>(), report_.macro_avg.f1);
  EXPECT_EQ(fixture_.at("f1_micro").get<double>(), report_.f1_micro);
  EXPECT_EQ(fixture_.at("f1_weighted").get<double>(), report_.weighted_avg.f1);
  EXPECT_EQ(fixture_.at("matthews_corrcoef").get<double>(), report_.matthews_corrcoef);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, SklearnClassificationCase,
                         ::testing::Values("classification_case1.json", "classification_case2.json",
                                           "classification_case3.json"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return "Case" + std::to_string(info.index + 1);
                         });

TEST(ClassificationMetrics, PerfectPredictionsGiveMatthewsOfOne) {
  std::vector<std::string> labels = {"a", "b", "c", "a", "c"};
  auto report = compute_classification_report(labels, labels);
  EXPECT_EQ(1.0, report.matthews_corrcoef);
  EXPECT_EQ(1.0, report.accuracy);
  EXPECT_EQ(1.0, report.macro_avg.f1);
}

TEST(ClassificationMetrics, SingleClassEverywhereGivesMatthewsOfZero) {
  auto report = compute_classification_report({"a", "a"}, {"a", "a"});
  EXPECT_EQ(0.0, report.matthews_corrcoef);
  EXPECT_EQ(1.0, report.accuracy);
}

TEST(ClassificationMetrics, ClassNeverPredictedHasZeroPrecision) {
  auto report = compute_classification_report({"cat", "dog", "dog"}, {"dog", "dog", "dog"});
  ASSERT_EQ((std::vector<std::string>{"cat", "dog"}), report.labels);
  EXPECT_EQ(0.0, report.per_class[0].precision);
  EXPECT_EQ(0.0, report.per_class[0].recall);
  EXPECT_EQ(0.0, report.per_class[0].f1);
  EXPECT_EQ(1, report.per_class[0].support);
  EXPECT_DOUBLE_EQ(2.0 / 3.0, report.per_class[1].precision);
  EXPECT_EQ(1.0, report.per_class[1].recall);
}

TEST(ClassificationMetrics, BinaryCaseMatchesHandComputation) {
  // Confusion (rows true, cols pred): a: [2, 1], b: [1, 1].
  auto report = compute_classification_report({"a", "a", "a", "b", "b"}, {"a", "b", "a", "b", "a"});
  EXPECT_EQ((std::vector<std::vector<int64_t>>{{2, 1}, {1, 1}}), report.confusion);
  EXPECT_DOUBLE_EQ(2.0 / 3.0, report.per_class[0].precision);
  EXPECT_DOUBLE_EQ(2.0 / 3.0, report.per_class[0].recall);
  EXPECT_DOUBLE_EQ(2.0 / 3.0, report.per_class[0].f1);
  EXPECT_DOUBLE_EQ(0.5, report.per_class[1].f1);
  EXPECT_DOUBLE_EQ(0.6, report.accuracy);
  EXPECT_DOUBLE_EQ(7.0 / 12.0, report.macro_avg.f1);      // (2/3 + 1/2) / 2
  EXPECT_DOUBLE_EQ(0.6, report.weighted_avg.f1);          // (3 * 2/3 + 2 * 1/2) / 5
  EXPECT_DOUBLE_EQ(1.0 / 6.0, report.matthews_corrcoef);  // (2*1 - 1*1) / sqrt(3*2*3*2)
  EXPECT_EQ(5, report.total);
}

TEST(ClassificationMetrics, LabelsSortAsUnicodeCodePoints) {
  auto report = compute_classification_report({"é", "z", "B", "a"}, {"a", "a", "a", "a"});
  EXPECT_EQ((std::vector<std::string>{"B", "a", "z", "é"}), report.labels);
}

TEST(ClassificationMetrics, ReportWidthCountsCodePointsNotBytes) {
  // Expected text built with sklearn's own format strings in Python on these values.
  auto report = compute_classification_report(
      {"naïve", "naïve", "zürich-überweisung", "zürich-überweisung"},
      {"naïve", "zürich-überweisung", "zürich-überweisung", "zürich-überweisung"});
  std::string expected =
      "                    precision    recall  f1-score   support\n"
      "\n"
      "             naïve       1.00      0.50      0.67         2\n"
      "zürich-überweisung       0.67      1.00      0.80         2\n"
      "\n"
      "          accuracy                           0.75         4\n"
      "         macro avg       0.83      0.75      0.73         4\n"
      "      weighted avg       0.83      0.75      0.73         4\n";
  EXPECT_TRUE(same_text(expected, format_classification_report(report, 2)));
}

TEST(ClassificationMetrics, ConfusionMatrixPrintsLabelledRowsAndColumns) {
  auto report = compute_classification_report({"a", "a", "a", "b", "b"}, {"a", "b", "a", "b", "a"});
  std::string expected =
      "true \\ pred  a  b\n"
      "a            2  1\n"
      "b            1  1\n";
  EXPECT_TRUE(same_text(expected, format_confusion_matrix(report)));
}

TEST(ClassificationMetrics, MismatchedLengthsThrowDataError) {
  EXPECT_THROW(compute_classification_report({"a", "b"}, {"a"}), DataError);
}

TEST(ClassificationMetrics, NegativeDigitsAreRejected) {
  auto report = compute_classification_report({"a"}, {"a"});
  EXPECT_THROW(format_classification_report(report, -1), Error);
}

TEST(ClassificationMetrics, EmptyInputThrowsDataError) {
  EXPECT_THROW(compute_classification_report({}, {}), DataError);
}

// ----- multi-label (tests/fixtures/metrics/multilabel.json, scikit-learn 1.9.1) -----

std::vector<std::vector<uint8_t>> rows_of(const nlohmann::json& value) {
  std::vector<std::vector<uint8_t>> rows;
  for (const auto& row : value) rows.push_back(row.get<std::vector<uint8_t>>());
  return rows;
}

TEST(MultiLabelReport, EqualsScikitLearnOnEveryFixtureCase) {
  const auto cases = read_fixture("multilabel.json")["cases"];
  ASSERT_EQ(cases.size(), 4u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto labels = c["labels"].get<std::vector<std::string>>();
    const auto report =
        compute_multilabel_report(rows_of(c["y_true"]), rows_of(c["y_pred"]), labels);
    EXPECT_TRUE(same_text(c["report_digits2"], format_multilabel_report(report, 2)));
    EXPECT_TRUE(same_text(c["report_digits4"], format_multilabel_report(report, 4)));
    const auto json = multilabel_report_to_json(report);
    for (const auto& [key, want] : c["report_dict"].items()) {
      ASSERT_TRUE(json.contains(key)) << key;
      for (const char* field : {"precision", "recall", "f1-score", "support"}) {
        EXPECT_NEAR(want[field].get<double>(), json[key][field].get<double>(), kDictTolerance)
            << key << " " << field;
      }
    }
    EXPECT_EQ(json.size(), c["report_dict"].size());
    EXPECT_NEAR(c["subset_accuracy"].get<double>(), report.subset_accuracy, kDictTolerance);
    EXPECT_NEAR(c["hamming_loss"].get<double>(), report.hamming_loss, kDictTolerance);
  }
}

TEST(TuneLabelThresholds, PicksTheProbabilityThatMaximizesEachLabelsF1) {
  // Label 0, probabilities 0.9 0.8 0.3 0.2 for truths 1 0 1 0: predicting p >= t gives
  // F1 = 2tp / (true + predicted) = 2/3 (t 0.9), 2/4 (0.8), 4/5 (0.3), 4/6 (0.2): t = 0.3.
  // Label 1, truths 0 1 0 1: 0 (0.9), 2/4 (0.8), 2/5 (0.3), 4/6 (0.2): t = 0.2.
  // Label 2 has no positive row: it keeps the fallback.
  const std::vector<std::vector<double>> probs = {
      {0.9, 0.9, 0.7}, {0.8, 0.8, 0.6}, {0.3, 0.3, 0.2}, {0.2, 0.2, 0.1}};
  const std::vector<std::vector<uint8_t>> targets = {{1, 0, 0}, {0, 1, 0}, {1, 0, 0}, {0, 1, 0}};
  EXPECT_EQ(tune_label_thresholds(probs, targets), (std::vector<double>{0.3, 0.2, 0.5}));
  EXPECT_EQ(tune_label_thresholds(probs, targets, 0.4), (std::vector<double>{0.3, 0.2, 0.4}));
}

TEST(TuneLabelThresholds, TiesGoToTheThresholdClosestToTheFallbackAndEqualRowsShareOne) {
  // Truths 1 0 0 1 at 0.9 0.8 0.7 0.35: F1 2/3 (t 0.9), 2/4, 2/5, 4/6 = 2/3 (t 0.35): a tie
  // between 0.9 and 0.35, and 0.35 is closer to 0.5.
  EXPECT_EQ(tune_label_thresholds({{0.9}, {0.8}, {0.7}, {0.35}}, {{1}, {0}, {0}, {1}}),
            (std::vector<double>{0.35}));
  // Two rows at 0.4 (both true) and a false one at 0.95: t 0.95 gives F1 0; t 0.4 takes both
  // rows at once, 4/5.
  EXPECT_EQ(tune_label_thresholds({{0.95}, {0.4}, {0.4}}, {{0}, {1}, {1}}),
            (std::vector<double>{0.4}));
}

TEST(MultiLabelReport, RefusesRowsOfTheWrongWidthAndEmptyInput) {
  EXPECT_THROW(compute_multilabel_report({{1, 0}}, {{1}}, {"a", "b"}), DataError);
  EXPECT_THROW(compute_multilabel_report({{1, 0}}, {}, {"a", "b"}), DataError);
  EXPECT_THROW(compute_multilabel_report({}, {}, {"a", "b"}), DataError);
}

}  // namespace
}  // namespace ftune
