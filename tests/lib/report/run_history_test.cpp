// Tests for lib/report/run_history and lib/report/model_card on hand-written run files: the log
// read back (a torn last line skipped), the best step (first strict best; lower is better for the
// loss), the curves' marks from the closing record, why a run ended, the model card's front matter
// and tables, and report.html's pieces. That a real run writes these files, that Hugging Face's
// huggingface_hub reads the card, and that the HTML is well-formed is tests/app/run_report_test.
#include "lib/report/run_history.h"

#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "lib/report/html_report.h"
#include "lib/report/model_card.h"
#include "util/error.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;

class RunFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ftune_run_history_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "intent");
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path run() const { return dir_ / "intent"; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(run() / name) << text;
  }
  // Three evaluations (macro_f1 0.5, 0.9, 0.9: the first 0.9 is the best), a torn last line.
  void write_log(bool finished, bool stopped_early = false) const {
    std::string log =
        R"({"step":1,"epoch":0.1,"loss":1.1,"learning_rate":5e-05,"grad_norm":3.0,"elapsed":0.5})"
        "\n"
        R"({"step":10,"epoch":1.0,"eval_loss":0.7,"eval_macro_f1":0.5,"eval_accuracy":0.6})"
        "\n"
        R"({"step":10,"epoch":1.0,"loss":0.8,"learning_rate":4e-05,"grad_norm":2.0,"elapsed":5.0})"
        "\n"
        R"({"step":20,"epoch":2.0,"eval_loss":0.4,"eval_macro_f1":0.9,"eval_accuracy":0.92})"
        "\n"
        R"({"step":30,"epoch":3.0,"eval_loss":0.45,"eval_macro_f1":0.9,"eval_accuracy":0.93})"
        "\n";
    if (finished) {
      log += std::string(R"({"step":30,"epoch":3.0,"train_loss":0.6,"train_runtime":125.0,)") +
             R"("train_samples_per_second":7.68,"train_steps_per_second":0.24,)" +
             R"("metric_for_best_model":"macro_f1","best_metric":0.9,"best_step":20,)" +
             R"("stopped_early":)" + (stopped_early ? "true" : "false") + "}\n";
    }
    log += R"({"step":31,"epoch":3.1,"lo)";  // torn
    write("trainer_log.jsonl", log);
  }
  void write_settings() const {
    write("train_settings.json", R"({"task": "classify", "model": "models/all-MiniLM-L6-v2",
      "train_file": "data/train \"v2\".csv", "train_examples": 96, "valid_file": "data/valid.csv",
      "valid_examples": 32, "epochs": 3, "max_steps": 0, "learning_rate": 5e-05, "batch_size": 16,
      "seed": 42, "metric_for_best_model": "macro_f1", "early_stopping_patience": 2,
      "command_line": "ftune train --model models/all-MiniLM-L6-v2 --train 'data/train \"v2\".csv'",
      "ftune_version": "0.1.0", "libtorch_version": "1.13.0"})");
  }

  fs::path dir_;
};

TEST_F(RunFiles, ReadsStepsEvaluationsAndTheClosingRecord) {
  write_log(/*finished=*/true);
  const TrainHistory history = read_train_history(run() / "trainer_log.jsonl");
  ASSERT_EQ(history.train_loss.size(), 2u);
  EXPECT_EQ(history.train_loss[1].step, 10);
  EXPECT_DOUBLE_EQ(history.train_loss[1].value, 0.8);
  EXPECT_DOUBLE_EQ(history.learning_rates[0], 5e-05);
  ASSERT_EQ(history.evals.size(), 3u);
  EXPECT_EQ(history.evals[2].step, 30);
  EXPECT_DOUBLE_EQ(*history.evals[2].find("accuracy"), 0.93);
  EXPECT_DOUBLE_EQ(*history.evals[0].find("loss"), 0.7);
  EXPECT_FALSE(history.evals[0].find("eval_loss"));  // names without the prefix
  ASSERT_TRUE(history.summary);
  EXPECT_EQ((*history.summary)["best_step"], 20);
  EXPECT_THROW(read_train_history(run() / "missing.jsonl"), IoError);
}

TEST_F(RunFiles, BestStepIsTheFirstStrictBestEitherWay) {
  write_log(/*finished=*/false);
  const TrainHistory history = read_train_history(run() / "trainer_log.jsonl");
  EXPECT_EQ(find_best_step(history, "macro_f1", true), 20);  // 0.9 at 20 and 30: the first
  EXPECT_EQ(find_best_step(history, "loss", false), 20);
  EXPECT_EQ(find_best_step(history, "accuracy", true), 30);
  EXPECT_EQ(find_best_step(history, "bleu", true), std::nullopt);
}

TEST_F(RunFiles, CurvesTakeTheBestStepAndTheEarlyStopFromTheClosingRecord) {
  write_log(/*finished=*/true, /*stopped_early=*/true);
  const TrainHistory history = read_train_history(run() / "trainer_log.jsonl");
  // The closing record's best_step wins over what the log alone suggests (accuracy's best is 30).
  const LearningCurves curves = make_learning_curves(history, "accuracy", true, "intent");
  EXPECT_EQ(curves.best_step, 20);
  EXPECT_EQ(curves.early_stop_step, 30);
  EXPECT_EQ(curves.last_step, 30);
  ASSERT_EQ(curves.eval_metric.size(), 3u);
  EXPECT_DOUBLE_EQ(curves.eval_metric[1].value, 0.92);
  EXPECT_EQ(curves.eval_loss.size(), 3u);
  EXPECT_EQ(curves.train_loss.size(), 2u);
}

TEST_F(RunFiles, SaysWhyTheRunEnded) {
  write_settings();
  write_log(/*finished=*/false);
  EXPECT_EQ(read_run_facts(run()).stop_reason().rfind("unfinished: ", 0), 0u);
  write_log(/*finished=*/true, /*stopped_early=*/true);
  EXPECT_EQ(read_run_facts(run()).stop_reason(),
            "early stopping: macro_f1 did not improve for 2 evaluations");
  write_log(/*finished=*/true, /*stopped_early=*/false);
  EXPECT_EQ(read_run_facts(run()).stop_reason(), "finished: 3 epochs (30 steps)");
}

TEST_F(RunFiles, ModelCardHasHuggingFaceFrontMatterAndTheTables) {
  write_settings();
  write_log(/*finished=*/true);
  const RunFacts facts = read_run_facts(run());
  EXPECT_EQ(facts.name, "intent");
  EXPECT_EQ(facts.best_step, 20);
  const std::string card = render_model_card(facts);
  EXPECT_EQ(card.rfind("---\nlibrary_name: transformers\nbase_model: \"models/all-MiniLM-L6-v2\"\n"
                       "pipeline_tag: text-classification\ntags:\n- ftune\n- text-classification\n",
                       0),
            0u)
      << card;
  EXPECT_NE(card.find("model-index:\n- name: \"intent\"\n  results:\n  - task:\n"
                      "      type: text-classification\n      name: \"Text Classification\"\n"
                      "    dataset:\n      name: \"valid.csv\"\n      type: \"valid.csv\"\n"
                      "      split: validation\n    metrics:\n"),
            std::string::npos)
      << card;
  EXPECT_NE(card.find("    - type: \"macro_f1\"\n      value: 0.9\n"
                      "      name: \"validation macro_f1\"\n"),
            std::string::npos)
      << card;
  EXPECT_NE(card.find("\n---\n\n# intent\n"), std::string::npos);
  EXPECT_NE(card.find("(96 training examples)"), std::string::npos);
  EXPECT_NE(card.find("step 20 (epoch 2)"), std::string::npos);
  EXPECT_NE(card.find("`valid.csv` (32 examples)"), std::string::npos);
  EXPECT_NE(card.find("| macro_f1 | 0.9000 |"), std::string::npos);
  EXPECT_NE(card.find("- learning_rate: 5e-05\n"), std::string::npos) << card;
  // Training results: the last training loss logged at or before each evaluation.
  EXPECT_NE(card.find("| 10 | 1 | 0.8000 | 0.7000 | 0.5000 | 0.6000 |"), std::string::npos) << card;
  EXPECT_NE(card.find("| 20 (best) | 2 | 0.8000 | 0.4000 | 0.9000 | 0.9200 |"), std::string::npos);
  EXPECT_NE(card.find("```\nftune train --model models/all-MiniLM-L6-v2 --train 'data/train "
                      "\"v2\".csv'\n```"),
            std::string::npos);
  EXPECT_NE(card.find("- ftune 0.1.0\n- LibTorch 1.13.0\n"), std::string::npos);
}

TEST_F(RunFiles, CardWithoutEvaluationsHasEmptyResults) {
  write_settings();
  write("trainer_log.jsonl",
        R"({"step":5,"epoch":1.0,"loss":0.8,"learning_rate":4e-05,"grad_norm":2.0,"elapsed":5.0})"
        "\n");
  const std::string card = render_model_card(read_run_facts(run()));
  EXPECT_NE(card.find("model-index:\n- name: \"intent\"\n  results: []\n---\n"), std::string::npos)
      << card;
  EXPECT_NE(card.find("no validation metrics"), std::string::npos);
}

TEST_F(RunFiles, SummaryNamesTheBestCheckpointAndTheTime) {
  write_settings();
  write_log(/*finished=*/true);
  const std::string summary = format_run_summary(read_run_facts(run()));
  EXPECT_NE(summary.find("ended: finished: 3 epochs (30 steps)\n"), std::string::npos) << summary;
  EXPECT_NE(summary.find("time: 2 min 5 s training, 7.7 samples/s"), std::string::npos) << summary;
  EXPECT_NE(summary.find("best: step 20 (epoch 2), validation loss 0.4000 macro_f1 0.9000 "
                         "accuracy 0.9200\n"),
            std::string::npos)
      << summary;
}

TEST_F(RunFiles, ReportRefusesAFolderThatIsNoRun) {
  EXPECT_THROW(write_run_report(run(), dir_ / "r.html"), IoError);  // no trainer_log.jsonl
  EXPECT_THROW(write_run_report(dir_ / "nothing", dir_ / "r.html"), IoError);
  try {
    write_run_report(run(), dir_ / "r.html");
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("trainer_log.jsonl"), std::string::npos) << e.what();
  }
}

TEST_F(RunFiles, ReportHtmlCarriesTheEvaluationOfBest) {
  write_settings();
  write_log(/*finished=*/true);
  fs::create_directories(run() / "best");
  std::ofstream(run() / "best" / "eval_results.json")
      << R"({"data": "test.csv", "metrics": {"accuracy": 0.75},
             "classification_report": {"macro avg": {"precision": 0.8333, "recall": 0.75,
             "f1-score": 0.7333, "support": 4},
             "neg": {"precision": 1.0, "recall": 0.5, "f1-score": 0.6667,
             "support": 2}, "p<o>s": {"precision": 0.6667, "recall": 1.0, "f1-score": 0.8,
             "support": 2}, "accuracy": 0.75},
             "confusion_matrix": {"labels": ["neg", "p<o>s"], "matrix": [[1, 1], [0, 2]]}})";
  const std::string printed = write_run_report(run(), run() / "report.html");
  EXPECT_NE(printed.find("evaluation: "), std::string::npos) << printed;
  std::ifstream in(run() / "report.html");
  const std::string html((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("<td>p&lt;o&gt;s</td><td>0.6667</td><td>1.0000</td><td>0.8000</td>"
                      "<td>2</td>"),
            std::string::npos)
      << html;
  // Classes first, then accuracy and the averages, whatever the JSON's key order.
  EXPECT_LT(html.find("<td>p&lt;o&gt;s</td>"), html.find("<td>accuracy</td>"));
  EXPECT_LT(html.find("<td>accuracy</td>"), html.find("<td>macro avg</td><td>0.8333</td>"));
  // Settings as written: the learning rate stays 5e-05.
  EXPECT_NE(html.find("<th>learning_rate</th><td>5e-05</td>"), std::string::npos);
  EXPECT_NE(html.find("<title>true neg, predicted p&lt;o&gt;s: 1 (50.0% of the row)</title>"),
            std::string::npos);
  EXPECT_NE(html.find("Learning curves: intent"), std::string::npos);
  EXPECT_NE(html.find("<tr class=\"best\"><td>20 (best)</td>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);  // self-contained, nothing to run or fetch
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));
}

}  // namespace
}  // namespace ftune
