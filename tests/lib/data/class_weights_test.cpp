// Tests for lib/data/class_weights: scikit-learn's compute_class_weight("balanced") on the
// label lists of tests/fixtures/metrics/class_weights.json (make_problem_types.py), and the
// weights file's errors.
#include "lib/data/class_weights.h"

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

TEST(ClassWeights, BalancedEqualsScikitLearnsComputeClassWeight) {
  std::ifstream in("tests/fixtures/metrics/class_weights.json");
  ASSERT_TRUE(in) << "run from the repository root";
  const auto fixture = nlohmann::json::parse(in);
  ASSERT_EQ(fixture["cases"].size(), 2u);
  for (const auto& c : fixture["cases"]) {
    const auto classes = c["classes"].get<std::vector<std::string>>();
    std::map<std::string, int64_t> ids;
    for (size_t k = 0; k < classes.size(); ++k) ids[classes[k]] = static_cast<int64_t>(k);
    std::vector<int64_t> label_ids;
    for (const auto& label : c["labels"]) label_ids.push_back(ids.at(label.get<std::string>()));
    const auto got = balanced_class_weights(label_ids, classes, "train.csv");
    const auto want = c["balanced"].get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_DOUBLE_EQ(got[k], want[k]) << c["name"] << " " << classes[k];
    }
  }
}

TEST(ClassWeights, BalancedRefusesALabelWithoutExamples) {
  try {
    balanced_class_weights({0, 0, 2}, {"a", "b", "c"}, "train.csv");
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_TRUE(contains(e.what(), "label 'b' has no example in 'train.csv'"));
  }
}

class ClassWeightsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ftune_class_weights_test_" + std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  fs::path write(const std::string& text) {
    const auto path = dir_ / "weights.json";
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }
  std::string error_of(const std::string& text) {
    try {
      read_class_weights(write(text), labels_);
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "no DataError for " << text;
    return "";
  }
  fs::path dir_;
  const std::vector<std::string> labels_ = {"negative", "neutral", "positive"};
};

TEST_F(ClassWeightsFile, ReadsOneWeightPerLabelInLabelIdOrder) {
  const auto weights =
      read_class_weights(write(R"({"positive": 1.5, "negative": 4, "neutral": 0.25})"), labels_);
  EXPECT_EQ(weights, (std::vector<double>{4.0, 0.25, 1.5}));
  EXPECT_EQ(format_class_weights(weights, labels_),
            "negative=4.0000 neutral=0.2500 positive=1.5000");
}

TEST_F(ClassWeightsFile, NamesTheFileAndTheLabelOfEachBadEntry) {
  EXPECT_TRUE(
      contains(error_of(R"({"negative": 4, "neutral": 1})"), "no weight for label 'positive'"));
  EXPECT_TRUE(
      contains(error_of(R"({"negative": 4, "neutral": 1, "positive": 1, "other": 2})"),
               "label 'other' is not one of the model's labels (negative, neutral, positive)"));
  EXPECT_TRUE(contains(error_of(R"({"negative": -1, "neutral": 1, "positive": 1})"),
                       "label 'negative': expected a positive number, got -1"));
  EXPECT_TRUE(contains(error_of(R"({"negative": "2", "neutral": 1, "positive": 1})"),
                       "expected a positive number, got \"2\""));
  EXPECT_TRUE(contains(error_of("[1, 2, 3]"), "expected a JSON object of label -> weight"));
  EXPECT_TRUE(contains(error_of("{\"negative\": "), "weights.json"));
  EXPECT_THROW(read_class_weights(dir_ / "missing.json", labels_), IoError);
}

}  // namespace
}  // namespace ftune
