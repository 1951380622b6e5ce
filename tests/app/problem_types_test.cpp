// `ftune train --class-weights` and `--problem-type regression|multi_label_classification` end to
// end (issue #16): the
// class-weighted training trajectory against PyTorch's weighted cross-entropy
// (tests/fixtures/bert-cls/train_class_weights_expected.json, make_problem_types.py); the
// weights logged and saved; regression and multi-label through train, eval, predict and score;
// and the bad inputs, each one error line with nothing written. The regression and multi-label
// trajectories against Hugging Face's own losses are in hf_roundtrip_test.cpp (they need
// transformers at test time).
#include <cmath>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"
#include "tests/app/problem_data.h"
#include "tests/common/tensor_testing.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";

class ProblemTypes : public CliTest {
 protected:
  CommandResult train(const fs::path& data, const fs::path& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "train",
                                     "--model",
                                     kModel,
                                     "--train",
                                     data.string(),
                                     "--output-dir",
                                     out.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }
};

TEST_F(ProblemTypes, BalancedClassWeightsReproducePyTorchsWeightedCrossEntropyTrajectory) {
  auto settings = reference_trajectory_settings();
  settings.insert(settings.end(), {"--class-weights", "balanced"});
  auto result = train(kTexts, dir_ / "run", settings);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto expected = read_json_file(kModel + "/train_class_weights_expected.json");
  const auto steps = records_with(dir_ / "run" / "trainer_log.jsonl", "grad_norm");
  ASSERT_EQ(steps.size(), 6u);
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& want = expected["steps"][i];
    EXPECT_NEAR(steps[i]["loss"].get<double>(),
                want["loss"].get<double>(),
                1e-5 * std::abs(want["loss"].get<double>()))
        << "step " << i + 1;
    EXPECT_NEAR(steps[i]["grad_norm"].get<double>(),
                want["grad_norm"].get<double>(),
                1e-5 * std::abs(want["grad_norm"].get<double>()))
        << "step " << i + 1;
  }
  // Logged, and saved in the format --class-weights FILE reads.
  EXPECT_NE(result.err.find("class weights (balanced): balance=0.8889 transfer=1.0667 oos=1.0667"),
            std::string::npos)
      << result.err;
  const auto saved = read_json_file((dir_ / "run" / "last" / "class_weights.json").string());
  for (const auto& [label, weight] : expected["class_weights"].items()) {
    EXPECT_NEAR(saved[label].get<double>(), weight.get<double>(), 1e-15) << label;
  }
  // The same weights from that file give the same run.
  auto settings_file = reference_trajectory_settings();
  settings_file.insert(
      settings_file.end(),
      {"--class-weights", (dir_ / "run" / "last" / "class_weights.json").string()});
  auto again = train(kTexts, dir_ / "again", settings_file);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const auto again_steps = records_with(dir_ / "again" / "trainer_log.jsonl", "grad_norm");
  ASSERT_EQ(again_steps.size(), 6u);
  EXPECT_EQ(again_steps.back()["loss"], steps.back()["loss"]);
}

TEST_F(ProblemTypes, AWeightsFileMissingALabelIsOneErrorAndWritesNothing) {
  write_text_file(dir_ / "weights.json", R"({"balance": 2.0, "oos": 1.0})");
  auto result =
      train(kTexts,
            dir_ / "run",
            {"--class-weights", (dir_ / "weights.json").string(), "--eval-strategy", "no"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("error: reading class weights '" + (dir_ / "weights.json").string() +
                            "': no weight for label 'transfer'"),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(fs::exists(dir_ / "run" / "trainer_log.jsonl"));
  EXPECT_FALSE(fs::exists(dir_ / "run" / "last"));
}

TEST_F(ProblemTypes, RegressionTrainsEvaluatesPredictsAndScores) {
  write_regression_data(dir_ / "train.jsonl");
  auto trained = train(dir_ / "train.jsonl",
                       dir_ / "run",
                       {"--problem-type",
                        "regression",
                        "--valid",
                        (dir_ / "train.jsonl").string(),
                        "--epochs",
                        "2",
                        "--learning-rate",
                        "1e-3"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_NE(trained.err.find("16 examples, regression"), std::string::npos) << trained.err;
  EXPECT_NE(trained.err.find("eval pearson"), std::string::npos) << trained.err;
  const auto config = read_json_file((dir_ / "run" / "best" / "config.json").string());
  EXPECT_EQ(config["problem_type"], "regression");
  EXPECT_EQ(config["id2label"], (nlohmann::json{{"0", "LABEL_0"}}));

  auto predicted = run_ftune({"predict",
                              "--model",
                              (dir_ / "run" / "best").string(),
                              "--data",
                              (dir_ / "train.jsonl").string(),
                              "--output",
                              (dir_ / "p.jsonl").string()});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  const auto rows = read_json_lines(dir_ / "p.jsonl");
  const auto data = read_json_lines(dir_ / "train.jsonl");
  ASSERT_EQ(rows.size(), 16u);
  // The MSE and MAE of the predicted scores, computed here, are what eval reports.
  double squared = 0.0, absolute = 0.0;
  std::string scores, references;
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i]["logits"].size(), 1u);
    EXPECT_EQ(rows[i]["score"], rows[i]["logits"][0]);
    const double error = data[i]["label"].get<double>() - rows[i]["score"].get<double>();
    squared += error * error;
    absolute += std::abs(error);
    scores += rows[i]["score"].dump() + "\n";
    references += data[i]["label"].dump() + "\n";
  }
  auto evaluated = run_ftune({"eval",
                              "--model",
                              (dir_ / "run" / "best").string(),
                              "--data",
                              (dir_ / "train.jsonl").string(),
                              "--report-json",
                              (dir_ / "report.json").string()});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  const auto report = read_json_file((dir_ / "report.json").string())["metrics"];
  EXPECT_NEAR(report["mse"].get<double>(), squared / 16, 1e-6);
  EXPECT_NEAR(report["mae"].get<double>(), absolute / 16, 1e-6);
  EXPECT_NEAR(report["loss"].get<double>(), squared / 16, 1e-5);
  EXPECT_EQ(report["count"], 16);
  EXPECT_NE(evaluated.out.find("pearson "), std::string::npos) << evaluated.out;
  EXPECT_NE(evaluated.err.find("evaluated 16 rows"), std::string::npos) << evaluated.err;

  // score on the same numbers gives eval's correlations.
  write_text_file(dir_ / "scores.txt", scores);
  write_text_file(dir_ / "references.txt", references);
  auto scored = run_ftune({"score",
                           "--task",
                           "regression",
                           "--references",
                           (dir_ / "references.txt").string(),
                           "--predictions",
                           (dir_ / "scores.txt").string(),
                           "--report-json",
                           (dir_ / "scored.json").string()});
  ASSERT_EQ(scored.exit_code, 0) << scored.err;
  const auto score_report = read_json_file((dir_ / "scored.json").string())["metrics"];
  for (const char* key : {"pearson", "spearman", "mse", "mae"}) {
    EXPECT_NEAR(score_report[key].get<double>(), report[key].get<double>(), 1e-6) << key;
  }
}

class ProblemTypeResume : public ProblemTypes, public ::testing::WithParamInterface<std::string> {};

// Regression, and multi-label with balanced positive weights: a run resumed from its epoch-1
// checkpoint ends with the uninterrupted run's evaluations and weights, bit for bit.
TEST_P(ProblemTypeResume, ResumingEndsWhereTheUninterruptedRunEnds) {
  const auto data = dir_ / "train.jsonl";
  std::vector<std::string> settings = {"--problem-type",
                                       GetParam(),
                                       "--valid",
                                       data.string(),
                                       "--epochs",
                                       "3",
                                       "--learning-rate",
                                       "1e-3",
                                       "--save-total-limit",
                                       "0"};
  if (GetParam() == "regression") {
    write_regression_data(data);
  } else {
    write_multi_label_data(data);
    settings.insert(settings.end(), {"--class-weights", "balanced"});
  }
  ASSERT_EQ(train(data, dir_ / "full", settings).exit_code, 0);
  ASSERT_EQ(train(data, dir_ / "part", settings).exit_code, 0);
  for (const char* name : {"checkpoint-4", "checkpoint-6", "last"}) {  // 2 steps per epoch
    ASSERT_TRUE(fs::exists(dir_ / "part" / name)) << name;
    fs::remove_all(dir_ / "part" / name);
  }
  settings.insert(settings.end(), {"--resume-from-checkpoint", "latest"});
  auto resumed = train(data, dir_ / "part", settings);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("at step 2"), std::string::npos) << resumed.err;
  const auto full = records_with(dir_ / "full" / "trainer_log.jsonl", "eval_loss");
  const auto part = records_with(dir_ / "part" / "trainer_log.jsonl", "eval_loss");
  ASSERT_EQ(full.size(), 3u);
  ASSERT_EQ(part.size(), 3u);
  for (size_t i = 0; i < full.size(); ++i) EXPECT_EQ(part[i]["eval_loss"], full[i]["eval_loss"]);
  EXPECT_EQ(read_text_file(dir_ / "part" / "last" / "model.safetensors"),
            read_text_file(dir_ / "full" / "last" / "model.safetensors"));
}

INSTANTIATE_TEST_SUITE_P(ProblemType, ProblemTypeResume,
                         ::testing::Values("regression", "multi_label_classification"));

TEST_F(ProblemTypes, MultiLabelTrainsEvaluatesPredictsAndScores) {
  write_multi_label_data(dir_ / "train.jsonl");
  auto trained = train(dir_ / "train.jsonl",
                       dir_ / "run",
                       {"--problem-type",
                        "multi_label_classification",
                        "--valid",
                        (dir_ / "train.jsonl").string(),
                        "--epochs",
                        "3",
                        "--learning-rate",
                        "1e-2",
                        "--class-weights",
                        "balanced"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  EXPECT_NE(trained.err.find("16 examples, 2 labels (multi-label)"), std::string::npos)
      << trained.err;
  EXPECT_NE(trained.err.find("eval macro_f1"), std::string::npos) << trained.err;
  // pos_weight = negatives / positives: 'action' on 5 of 16 rows (transfer), 'money' on 11
  // (balance and transfer).
  EXPECT_NE(trained.err.find("positive weights (balanced): action=2.2000 money=0.4545"),
            std::string::npos)
      << trained.err;
  const auto config = read_json_file((dir_ / "run" / "best" / "config.json").string());
  EXPECT_EQ(config["problem_type"], "multi_label_classification");
  EXPECT_EQ(config["id2label"], (nlohmann::json{{"0", "action"}, {"1", "money"}}));

  auto predicted = run_ftune({"predict",
                              "--model",
                              (dir_ / "run" / "best").string(),
                              "--data",
                              (dir_ / "train.jsonl").string(),
                              "--output",
                              (dir_ / "p.jsonl").string()});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  const auto rows = read_json_lines(dir_ / "p.jsonl");
  const auto data = read_json_lines(dir_ / "train.jsonl");
  ASSERT_EQ(rows.size(), 16u);
  // Subset accuracy and Hamming loss of the predicted label lists, computed here, are eval's.
  const std::vector<std::string> names = {"action", "money"};
  int exact = 0, wrong = 0;
  std::string predictions, references;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::set<std::string> got;
    for (const auto& name : rows[i]["labels"]) got.insert(name.get<std::string>());
    const auto want = label_set_of(data[i]["label"]);
    for (size_t k = 0; k < names.size(); ++k) {
      // A label is predicted exactly when its sigmoid is at least 0.5.
      EXPECT_EQ(got.count(names[k]) == 1, rows[i]["probs"][k].get<double>() >= 0.5) << i;
      wrong += got.count(names[k]) != want.count(names[k]);
    }
    exact += got == want;
    predictions += nlohmann::json(got).dump() + "\n";
    references += nlohmann::json(want).dump() + "\n";
  }
  auto evaluated = run_ftune({"eval",
                              "--model",
                              (dir_ / "run" / "best").string(),
                              "--data",
                              (dir_ / "train.jsonl").string(),
                              "--report-json",
                              (dir_ / "report.json").string()});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  const auto report = read_json_file((dir_ / "report.json").string());
  EXPECT_DOUBLE_EQ(report["metrics"]["subset_accuracy"].get<double>(), exact / 16.0);
  EXPECT_DOUBLE_EQ(report["metrics"]["hamming_loss"].get<double>(), wrong / 32.0);
  EXPECT_EQ(report["classification_report"]["money"]["support"], 11);
  EXPECT_EQ(report["classification_report"]["action"]["support"], 5);
  EXPECT_NE(evaluated.out.find("samples avg"), std::string::npos) << evaluated.out;

  write_text_file(dir_ / "predictions.txt", predictions);
  write_text_file(dir_ / "references.txt", references);
  auto scored = run_ftune({"score",
                           "--task",
                           "multi-label",
                           "--references",
                           (dir_ / "references.txt").string(),
                           "--predictions",
                           (dir_ / "predictions.txt").string(),
                           "--report-json",
                           (dir_ / "scored.json").string()});
  ASSERT_EQ(scored.exit_code, 0) << scored.err;
  const auto score_report = read_json_file((dir_ / "scored.json").string());
  EXPECT_EQ(score_report["classification_report"], report["classification_report"]);
}

TEST_F(ProblemTypes, TunedThresholdsAreSavedWithTheModelAndDecidePredictAndEval) {
  write_multi_label_data(dir_ / "train.jsonl");
  auto trained = train(dir_ / "train.jsonl",
                       dir_ / "run",
                       {"--problem-type",
                        "multi_label_classification",
                        "--valid",
                        (dir_ / "train.jsonl").string(),
                        "--epochs",
                        "2",
                        "--learning-rate",
                        "1e-3",
                        "--tune-thresholds"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const auto config = read_json_file((dir_ / "run" / "best" / "config.json").string());
  ASSERT_TRUE(config.contains("label_thresholds")) << config.dump();
  const auto& thresholds = config["label_thresholds"];
  ASSERT_EQ(thresholds.size(), 2u);
  auto predicted = run_ftune({"predict",
                              "--model",
                              (dir_ / "run" / "best").string(),
                              "--data",
                              (dir_ / "train.jsonl").string(),
                              "--output",
                              (dir_ / "p.jsonl").string()});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  // Each label is predicted exactly when its probability reaches its saved threshold; with a
  // tuned threshold each label's F1 on this (validation) data is at least the one at 0.5.
  const std::vector<std::string> names = {"action", "money"};
  const auto data = read_json_lines(dir_ / "train.jsonl");
  const auto rows = read_json_lines(dir_ / "p.jsonl");
  for (size_t k = 0; k < names.size(); ++k) {
    const double t = thresholds[names[k]].get<double>();
    int64_t tp = 0, tp_half = 0, positives = 0, chosen = 0, chosen_half = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      const double p = rows[i]["probs"][k].get<float>();
      bool in = false;
      for (const auto& name : rows[i]["labels"]) in = in || name == names[k];
      EXPECT_EQ(in, p >= static_cast<float>(t)) << names[k] << " row " << i;
      const bool truth = label_set_of(data[i]["label"]).count(names[k]) == 1;
      positives += truth;
      chosen += in;
      tp += in && truth;
      chosen_half += p >= 0.5;
      tp_half += p >= 0.5 && truth;
    }
    EXPECT_GE(2.0 * tp / double(positives + chosen),
              2.0 * tp_half / double(std::max<int64_t>(1, positives + chosen_half)))
        << names[k];
  }
  // eval reads the same thresholds: its subset accuracy is predict's.
  auto evaluated = run_ftune({"eval",
                              "--model",
                              (dir_ / "run" / "best").string(),
                              "--data",
                              (dir_ / "train.jsonl").string(),
                              "--report-json",
                              (dir_ / "report.json").string()});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  int exact = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::set<std::string> got;
    for (const auto& name : rows[i]["labels"]) got.insert(name.get<std::string>());
    exact += got == label_set_of(data[i]["label"]);
  }
  EXPECT_DOUBLE_EQ(
      read_json_file((dir_ / "report.json").string())["metrics"]["subset_accuracy"].get<double>(),
      exact / 16.0);
}

TEST_F(ProblemTypes, TuneThresholdsIsRefusedForSingleLabelAndWithoutValidation) {
  auto single = train(kTexts, dir_ / "run", {"--tune-thresholds", "--valid", kTexts});
  EXPECT_EQ(single.exit_code, 1);
  EXPECT_NE(single.err.find("--tune-thresholds: applies to --problem-type "
                            "multi_label_classification"),
            std::string::npos)
      << single.err;
  write_multi_label_data(dir_ / "train.jsonl");
  auto no_valid = train(dir_ / "train.jsonl",
                        dir_ / "run",
                        {"--problem-type",
                         "multi_label_classification",
                         "--tune-thresholds",
                         "--eval-strategy",
                         "no"});
  EXPECT_EQ(no_valid.exit_code, 1);
  EXPECT_NE(no_valid.err.find("--tune-thresholds: tunes on the validation set, and there is none"),
            std::string::npos)
      << no_valid.err;
}

TEST_F(ProblemTypes, AMultiLabelCellWithAnUnknownLabelOrABrokenListNamesFileLineAndValue) {
  write_multi_label_data(dir_ / "train.jsonl");
  write_text_file(dir_ / "valid.csv", "text,label\nhello,money\nbye,money|refund\n");
  auto unknown = train(
      dir_ / "train.jsonl",
      dir_ / "run",
      {"--problem-type", "multi_label_classification", "--valid", (dir_ / "valid.csv").string()});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("label at '" + (dir_ / "valid.csv").string() +
                             "' line 3: expected one of the model's labels ('action', "
                             "'money'), got 'refund'"),
            std::string::npos)
      << unknown.err;
  EXPECT_FALSE(fs::exists(dir_ / "run" / "trainer_log.jsonl"));

  write_text_file(dir_ / "broken.csv", "text,label\nhello,money\nbye,\"[\"\"money\"\", \"\n");
  auto broken = train(dir_ / "broken.csv",
                      dir_ / "run",
                      {"--problem-type", "multi_label_classification", "--eval-strategy", "no"});
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.err.find("line 3: label '[\"money\", ': not a valid JSON list"),
            std::string::npos)
      << broken.err;
}

TEST_F(ProblemTypes, ARegressionLabelThatIsNotANumberNamesFileLineAndValue) {
  write_text_file(dir_ / "train.csv", "text,label\nfine,3.5\nnot fine,high\n");
  auto result = train(
      dir_ / "train.csv", dir_ / "run", {"--problem-type", "regression", "--eval-strategy", "no"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("error: reading '" + (dir_ / "train.csv").string() +
                            "': line 3: label: expected a number (--problem-type regression), "
                            "got 'high'"),
            std::string::npos)
      << result.err;
  EXPECT_FALSE(fs::exists(dir_ / "run" / "trainer_log.jsonl"));
}

TEST_F(ProblemTypes, ScoreRegressionNamesTheLineThatIsNotANumber) {
  write_text_file(dir_ / "references.txt", "1\n2\n3\n");
  write_text_file(dir_ / "predictions.txt", "1.5\nnan\n2\n");
  auto result = run_ftune({"score",
                           "--task",
                           "regression",
                           "--references",
                           (dir_ / "references.txt").string(),
                           "--predictions",
                           (dir_ / "predictions.txt").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("line 2: expected a number (--task regression), got 'nan'"),
            std::string::npos)
      << result.err;
}

TEST_F(ProblemTypes, ClassWeightsAreRefusedForRegression) {
  write_regression_data(dir_ / "train.jsonl");
  auto result = train(
      dir_ / "train.jsonl",
      dir_ / "run",
      {"--problem-type", "regression", "--class-weights", "balanced", "--eval-strategy", "no"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("--class-weights: applies to classification"), std::string::npos)
      << result.err;
}

}  // namespace
}  // namespace ftune::testing
