// Issue #19's pictures and words about a run, end to end: `ftune train` writes
// train_settings.json, learning_curves.svg (marks at the best step and the early stop) and the
// model card best/README.md, which the real huggingface_hub reads (torch2 build's Python);
// `ftune eval` of a run's best/ writes eval_results.json and confusion_matrix.svg, of any other
// folder nothing; `ftune report` prints the summary and writes report.html, which Python's
// html.parser finds well-formed. SVGs are rendered by rsvg-convert where it is installed.
#include <cstdlib>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";

class RunReport : public CliTest {
 protected:
  // Early stopping that must trigger at the second evaluation: no F1 improves by more than 1.
  std::vector<std::string> train_args(const fs::path& out) const {
    return {"--threads",  "1",
            "train",      "--model",
            kModel,       "--train",
            kTexts,       "--valid",
            kTexts,       "--output-dir",
            out.string(), "--epochs",
            "4",          "--learning-rate",
            "1e-3",       "--logging-steps",
            "1",          "--early-stopping-patience",
            "1",          "--early-stopping-threshold",
            "1.0"};
  }
  void train(const fs::path& out) {
    auto run = run_ftune(train_args(out));
    ASSERT_EQ(run.exit_code, 0) << run.err;
  }
  static json read_json(const fs::path& file) { return json::parse(read_text_file(file)); }
  static size_t count_lines(const fs::path& file) {
    const std::string text = read_text_file(file);
    return static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  }
  // rsvg-convert renders `svg` (fails on malformed SVG); false when it is not installed.
  static bool renders(const fs::path& svg) {
    if (std::system("command -v rsvg-convert >/dev/null 2>&1") != 0) return true;
    const auto png = fs::path(svg).replace_extension(".png");
    return capture("rsvg-convert -o '" + png.string() + "' '" + svg.string() + "' 2>&1").first ==
               0 &&
           fs::file_size(png) > 1000;
  }
};

TEST_F(RunReport, TrainWritesSettingsCurvesAndAModelCard) {
  const fs::path out = dir_ / "intent";
  train(out);
  const json settings = read_json(out / "train_settings.json");
  EXPECT_EQ(settings["command_line"],
            "ftune --threads 1 train --model tests/fixtures/bert-cls --train "
            "tests/fixtures/bert-cls/texts.jsonl --valid tests/fixtures/bert-cls/texts.jsonl "
            "--output-dir " +
                out.string() +
                " --epochs 4 --learning-rate 1e-3 --logging-steps 1 --early-stopping-patience 1 "
                "--early-stopping-threshold 1.0");
  EXPECT_EQ(settings["train_examples"], count_lines(kTexts));
  EXPECT_EQ(settings["valid_examples"], count_lines(kTexts));
  const auto version = run_ftune({"--version"});
  EXPECT_EQ("ftune " + settings["ftune_version"].get<std::string>() + "\n", version.out);

  // The log's own evaluations: the best step is the first strict best of macro_f1; early
  // stopping ended the run at the second evaluation.
  const auto evals = records_with(out / "trainer_log.jsonl", "eval_macro_f1");
  ASSERT_EQ(evals.size(), 2u);
  int64_t best_step = evals[0]["step"];
  if (evals[1]["eval_macro_f1"].get<double>() > evals[0]["eval_macro_f1"].get<double>()) {
    best_step = evals[1]["step"];
  }
  const int64_t stop_step = evals[1]["step"];
  const auto summary = records_with(out / "trainer_log.jsonl", "train_runtime");
  ASSERT_EQ(summary.size(), 1u);
  EXPECT_EQ(summary[0]["best_step"], best_step);
  EXPECT_EQ(summary[0]["stopped_early"], true);
  EXPECT_EQ(summary[0]["metric_for_best_model"], "macro_f1");

  const std::string curves = read_text_file(out / "learning_curves.svg");
  EXPECT_NE(curves.find(">early stop: step " + std::to_string(stop_step) + "</text>"),
            std::string::npos)
      << curves;
  EXPECT_NE(curves.find(">best: step " + std::to_string(best_step) + ", macro_f1 "),
            std::string::npos);
  EXPECT_TRUE(renders(out / "learning_curves.svg"));

  const std::string card = read_text_file(out / "best" / "README.md");
  EXPECT_EQ(card.rfind("---\nlibrary_name: transformers\n", 0), 0u) << card;
  EXPECT_NE(card.find("# intent\n"), std::string::npos);
  EXPECT_NE(card.find("early stopping: macro_f1 did not improve for 1 evaluations"),
            std::string::npos)
      << card;
  EXPECT_FALSE(fs::exists(out / "last" / "README.md"));

  const std::string python = reference_python("huggingface_hub");
  if (python.empty()) {
    GTEST_SKIP() << "no reference Python with huggingface_hub: the card read back by Hugging "
                    "Face is checked in the torch2 build";
  }
  auto [status, text] = capture(python + " tests/app/check_run_files.py card '" +
                                (out / "best" / "README.md").string() + "' 2>&1");
  ASSERT_EQ(status, 0) << text;
  const json read = json::parse(text);
  EXPECT_EQ(read["data"]["base_model"], kModel);
  EXPECT_EQ(read["data"]["pipeline_tag"], "text-classification");
  EXPECT_EQ(read["model_name"], "intent");
  const json& best = evals[best_step == evals[0]["step"] ? 0 : 1];
  size_t metrics = 0;
  for (const auto& result : read["eval_results"]) {
    EXPECT_EQ(result["task_type"], "text-classification");
    EXPECT_EQ(result["dataset_name"], "texts.jsonl");
    EXPECT_EQ(result["dataset_split"], "validation");
    const std::string key = "eval_" + result["metric_type"].get<std::string>();
    ASSERT_TRUE(best.contains(key)) << key;
    EXPECT_DOUBLE_EQ(result["metric_value"].get<double>(), best[key].get<double>()) << key;
    ++metrics;
  }
  EXPECT_EQ(metrics, best.size() - 2);  // every eval_ number; not step and epoch
}

TEST_F(RunReport, EvalOfARunWritesResultsAndAConfusionMatrixNextToIt) {
  const fs::path out = dir_ / "intent";
  train(out);
  auto eval = run_ftune({"--threads",
                         "1",
                         "eval",
                         "--model",
                         (out / "best").string(),
                         "--data",
                         kTexts,
                         "--report-json",
                         (dir_ / "report.json").string()});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_NE(eval.err.find((out / "best" / "confusion_matrix.svg").string()), std::string::npos)
      << eval.err;
  const json report = read_json(dir_ / "report.json");
  const json results = read_json(out / "best" / "eval_results.json");
  EXPECT_EQ(results["confusion_matrix"], report["confusion_matrix"]);
  EXPECT_EQ(results["metrics"], report["metrics"]);
  EXPECT_EQ(results["data"], kTexts);

  // Every non-zero count of the report's matrix is a cell of the picture, and nothing else.
  const std::string svg = read_text_file(out / "best" / "confusion_matrix.svg");
  std::map<std::pair<std::string, std::string>, int64_t> cells;
  const std::regex cell("<title>true ([^,]+), predicted ([^:]+): ([0-9]+) ");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), cell); it != std::sregex_iterator();
       ++it) {
    cells[{(*it)[1], (*it)[2]}] = std::stoll((*it)[3]);
  }
  const auto& labels = report["confusion_matrix"]["labels"];
  const auto& matrix = report["confusion_matrix"]["matrix"];
  size_t non_zero = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    for (size_t j = 0; j < labels.size(); ++j) {
      const int64_t count = matrix[i][j];
      if (count == 0) continue;
      ++non_zero;
      EXPECT_EQ((cells[{labels[i], labels[j]}]), count) << labels[i] << " -> " << labels[j];
    }
  }
  EXPECT_EQ(cells.size(), non_zero);
  EXPECT_TRUE(renders(out / "best" / "confusion_matrix.svg"));

  // A model folder that is not a run's gets nothing; --output-dir puts the files anywhere.
  auto plain = run_ftune({"--threads", "1", "eval", "--model", kModel, "--data", kTexts});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_FALSE(fs::exists(fs::path(kModel) / "eval_results.json"));
  EXPECT_FALSE(fs::exists(fs::path(kModel) / "confusion_matrix.svg"));
  auto elsewhere = run_ftune({"--threads",
                              "1",
                              "eval",
                              "--model",
                              kModel,
                              "--data",
                              kTexts,
                              "--output-dir",
                              (dir_ / "eval").string()});
  ASSERT_EQ(elsewhere.exit_code, 0) << elsewhere.err;
  EXPECT_TRUE(fs::exists(dir_ / "eval" / "eval_results.json"));
  EXPECT_TRUE(fs::exists(dir_ / "eval" / "confusion_matrix.svg"));
}

TEST_F(RunReport, ReportPrintsTheSummaryAndWritesOneWellFormedPage) {
  const fs::path out = dir_ / "intent";
  train(out);
  auto before_eval = run_ftune({"report", "--run", out.string()});
  ASSERT_EQ(before_eval.exit_code, 0) << before_eval.err;
  EXPECT_NE(before_eval.out.find("hint: `ftune eval --model " + (out / "best").string()),
            std::string::npos)
      << before_eval.out;
  ASSERT_EQ(
      run_ftune({"--threads", "1", "eval", "--model", (out / "best").string(), "--data", kTexts})
          .exit_code,
      0);
  auto report = run_ftune({"report", "--run", out.string()});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_NE(report.out.find("run: intent\n"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("ended: early stopping: macro_f1 did not improve for 1 evaluations\n"),
            std::string::npos)
      << report.out;
  const auto summary = records_with(out / "trainer_log.jsonl", "train_runtime")[0];
  EXPECT_NE(report.out.find("best: step " + summary["best_step"].dump() + " "), std::string::npos);
  EXPECT_EQ(report.out.find("hint:"), std::string::npos);
  EXPECT_NE(report.err.find("wrote " + (out / "report.html").string()), std::string::npos);

  if (std::system("command -v python3 >/dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  auto [status, text] = capture("python3 tests/app/check_run_files.py html '" +
                                (out / "report.html").string() + "' 2>&1");
  ASSERT_EQ(status, 0) << text;
  const json html = json::parse(text);
  EXPECT_TRUE(html["errors"].empty()) << html["errors"].dump(2);
  EXPECT_EQ(html["title"], "ftune run intent");
  EXPECT_EQ(html["counts"]["svg"], 2);  // the curves and the confusion matrix
  EXPECT_FALSE(html["counts"].contains("script"));
  EXPECT_GE(html["counts"]["table"], 4);  // summary, per class, evaluations, settings

  auto missing = run_ftune({"report", "--run", (dir_ / "nothing").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("error: reporting: run folder"), std::string::npos) << missing.err;
}

}  // namespace
}  // namespace ftune::testing
