// End-to-end tests of `ftune eval` and `ftune score`: the real binary on fixture data, checked
// against scikit-learn / sacreBLEU outputs and the bert-cls golden loss. Not the metric unit tests
// (tests/lib/classification_metrics_test.cpp, tests/lib/bleu_test.cpp).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/metrics/classification_metrics.h"
#include "tests/common/tensor_testing.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;
using ftune::testing::read_json_file;

const char* const kMetricsCase = "tests/fixtures/metrics/classification_case1.json";
const char* const kSacrebleu = "tests/fixtures/metrics/sacrebleu.json";
const char* const kModel = "tests/fixtures/bert-cls";
const char* const kEvalFixtures = "tests/fixtures/eval";

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void write_lines(const fs::path& file, const std::vector<std::string>& lines) {
  std::ofstream out(file, std::ios::binary);
  for (const auto& line : lines) out << line << '\n';
}

std::string quote(const std::string& arg) {
  std::string quoted = "'";
  for (char c : arg) quoted += (c == '\'') ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// A fresh folder per test, removed afterwards, plus a way to run the binary with captured output.
class FtuneCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ =
        fs::temp_directory_path() /
        fmt::format("ftune_eval_score_{}_{}_{}", info->test_suite_name(), info->name(), ::getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  RunResult run(const std::vector<std::string>& args) const {
    std::string command = quote(FTUNE_BINARY);
    for (const auto& arg : args) command += " " + quote(arg);
    const fs::path out = dir_ / "stdout.txt";
    const fs::path err = dir_ / "stderr.txt";
    command += " >" + quote(out.string()) + " 2>" + quote(err.string());
    const int status = std::system(command.c_str());
    RunResult result;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    result.out = read_text(out);
    result.err = read_text(err);
    return result;
  }

  // y_true / y_pred of the sklearn fixture as two label files.
  void write_classification_case(const nlohmann::json& fixture) const {
    write_lines(references(), fixture["y_true"].get<std::vector<std::string>>());
    write_lines(predictions(), fixture["y_pred"].get<std::vector<std::string>>());
  }

  fs::path references() const { return dir_ / "references.txt"; }
  fs::path predictions() const { return dir_ / "predictions.txt"; }

  fs::path dir_;
};

bool starts_with(const std::string& text, const std::string& prefix) {
  return text.compare(0, prefix.size(), prefix) == 0;
}

using ScoreClassifyCommand = FtuneCommand;
using ScoreTranslateCommand = FtuneCommand;
using EvalCommand = FtuneCommand;
using EvalScoreUsage = FtuneCommand;

TEST_F(ScoreClassifyCommand, PrintsSklearnReportThenConfusionMatrixThenMetrics) {
  const auto fixture = read_json_file(kMetricsCase);
  write_classification_case(fixture);
  const RunResult r = run({"score",
                           "--task",
                           "classify",
                           "--references",
                           references().string(),
                           "--predictions",
                           predictions().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string report = fixture["classification_report_digits2"].get<std::string>();
  ASSERT_TRUE(starts_with(r.out, report)) << r.out;

  // scikit-learn's confusion_matrix of the fixture (its confusion_matrix and
  // confusion_matrix_labels), laid out as ftune prints it: rows are the truth.
  const std::string matrix =
      "true \\ pred  balance  bill_due  oos  transfer\n"
      "balance           13         2    0         1\n"
      "bill_due           0         0    0         0\n"
      "oos                3         3    0         7\n"
      "transfer           0         1    0        10\n";
  ASSERT_EQ(fixture["confusion_matrix"],
            nlohmann::json::parse("[[13, 2, 0, 1], [0, 0, 0, 0], [3, 3, 0, 7], [0, 1, 0, 10]]"));
  EXPECT_EQ(r.out.substr(report.size()),
            "\n" + matrix + "\n" +
                fmt::format("accuracy {:.4f}\nmacro_f1 {:.4f}\nmcc {:.4f}\n",
                            fixture["accuracy"].get<double>(),
                            fixture["f1_macro"].get<double>(),
                            fixture["matthews_corrcoef"].get<double>()));
}

TEST_F(ScoreClassifyCommand, PrintsSklearnReportWithFourDigits) {
  const auto fixture = read_json_file(kMetricsCase);
  write_classification_case(fixture);
  const RunResult r = run({"score",
                           "--task",
                           "classify",
                           "--references",
                           references().string(),
                           "--predictions",
                           predictions().string(),
                           "--digits",
                           "4"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(starts_with(r.out, fixture["classification_report_digits4"].get<std::string>()))
      << r.out;
}

TEST_F(ScoreClassifyCommand, WritesSklearnOutputDictUnderItsOwnKey) {
  const auto fixture = read_json_file(kMetricsCase);
  write_classification_case(fixture);
  const fs::path report = dir_ / "report.json";
  const RunResult r = run({"score",
                           "--task",
                           "classify",
                           "--references",
                           references().string(),
                           "--predictions",
                           predictions().string(),
                           "--report-json",
                           report.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto written = read_json_file(report.string());
  const auto& expected = fixture["classification_report_dict"];
  const auto& actual = written["classification_report"];
  ASSERT_EQ(actual.size(), expected.size()) << actual.dump();
  for (const auto& [key, value] : expected.items()) {
    ASSERT_TRUE(actual.contains(key)) << key;
    if (value.is_number()) {
      EXPECT_NEAR(actual[key].get<double>(), value.get<double>(), 1e-12) << key;
      continue;
    }
    for (const auto& [field, number] : value.items()) {
      EXPECT_NEAR(actual[key][field].get<double>(), number.get<double>(), 1e-12)
          << key << " " << field;
    }
  }
  EXPECT_NEAR(written["metrics"]["matthews_corrcoef"].get<double>(),
              fixture["matthews_corrcoef"].get<double>(),
              1e-12);
  EXPECT_FALSE(written["metrics"].contains("loss"));
  EXPECT_EQ(written["confusion_matrix"]["matrix"], fixture["confusion_matrix"]);
  EXPECT_EQ(written["confusion_matrix"]["labels"], fixture["confusion_matrix_labels"]);
}

TEST_F(ScoreClassifyCommand, RejectsFilesWithDifferentLineCountsNamingBoth) {
  const std::string refs = fmt::format("{}/three_labels.txt", kEvalFixtures);
  const std::string preds = fmt::format("{}/two_labels.txt", kEvalFixtures);
  const RunResult r =
      run({"score", "--task", "classify", "--references", refs, "--predictions", preds});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(refs), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(preds), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("expected 3 lines"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("got 2"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(ScoreTranslateCommand, PrintsSacrebleuBleuAndChrfWithSignatures) {
  const auto fixture = read_json_file(kSacrebleu);
  const fs::path hyps = dir_ / "hyps.txt";
  write_lines(hyps, fixture["hypotheses"].get<std::vector<std::string>>());
  std::vector<std::string> reference_files;
  for (size_t i = 0; i < fixture["references"].size(); ++i) {
    const fs::path file = dir_ / fmt::format("ref{}.txt", i);
    write_lines(file, fixture["references"][i].get<std::vector<std::string>>());
    reference_files.push_back(file.string());
  }
  for (const auto& c : fixture["cases"]) {
    const size_t k = c["num_references"].get<size_t>();
    std::vector<std::string> args = {"score", "--task", "translate", "--references"};
    args.insert(args.end(), reference_files.begin(), reference_files.begin() + k);
    args.insert(args.end(), {"--predictions", hyps.string()});
    const RunResult r = run(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out,
              fmt::format("{}\nBLEU|{}\n{}\nchrF2|{}\n",
                          c["bleu"]["str"].get<std::string>(),
                          c["bleu"]["signature"].get<std::string>(),
                          c["chrf"]["str"].get<std::string>(),
                          c["chrf"]["signature"].get<std::string>()))
        << k << " references";
  }
}

TEST_F(EvalCommand, PrintsTheFixtureModelsLossAndReport) {
  const auto expected = read_json_file(fmt::format("{}/expected.json", kModel));
  const fs::path report_json = dir_ / "report.json";
  const RunResult r = run({"eval",
                           "--model",
                           kModel,
                           "--data",
                           fmt::format("{}/texts.jsonl", kModel),
                           "--report-json",
                           report_json.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // scikit-learn's report of Hugging Face's predictions (tests/fixtures/generators/
  // make_bert_cls_eval_report.py), then its confusion matrix as ftune lays it out.
  const auto sklearn = read_json_file(fmt::format("{}/eval_report.json", kModel));
  ASSERT_EQ(sklearn["confusion_matrix"],
            nlohmann::json::parse("[[0, 0, 6], [0, 0, 5], [0, 0, 5]]"));
  const std::string matrix =
      "true \\ pred  balance  oos  transfer\n"
      "balance            0    0         6\n"
      "oos                0    0         5\n"
      "transfer           0    0         5\n";
  EXPECT_TRUE(starts_with(
      r.out, sklearn["classification_report_digits2"].get<std::string>() + "\n" + matrix + "\n"))
      << r.out;
  const double accuracy = sklearn["accuracy"].get<double>();
  EXPECT_NE(r.out.find(fmt::format("\naccuracy {:.4f}\n", accuracy)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(fmt::format("\nloss {:.4f}\n", expected["loss"].get<double>())),
            std::string::npos)
      << r.out;

  const auto written = read_json_file(report_json.string());
  EXPECT_NEAR(written["metrics"]["loss"].get<double>(), expected["loss"].get<double>(), 1e-5);
  EXPECT_NEAR(written["classification_report"]["accuracy"].get<double>(), accuracy, 1e-12);
}

TEST_F(EvalCommand, RejectsALabelTheModelDoesNotKnowNamingFileLineAndLabel) {
  const std::string data = fmt::format("{}/unknown_label.jsonl", kEvalFixtures);
  const RunResult r = run({"eval", "--model", kModel, "--data", data});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(fmt::format("'{}' line 3", data)), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'bill_due'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'balance', 'transfer', 'oos'"), std::string::npos) << r.err;
}

TEST_F(EvalScoreUsage, EvalWithoutDataExitsWithTwo) {
  const RunResult r = run({"eval", "--model", kModel});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--data"), std::string::npos) << r.err;
}

TEST_F(EvalScoreUsage, ScoreClassifyWithTwoReferenceFilesExitsWithTwo) {
  const std::string labels = fmt::format("{}/three_labels.txt", kEvalFixtures);
  const RunResult r =
      run({"score", "--task", "classify", "--references", labels, labels, "--predictions", labels});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--references"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ftune
