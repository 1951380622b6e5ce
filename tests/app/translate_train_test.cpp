// `ftune train --task translate` and `ftune eval --task translate` end to end: the Hugging Face
// training trajectory of tests/fixtures/marian-mt (label smoothing 0.1), the trained model's
// per-example losses, and a saved folder that `ftune translate` loads.
#include <cmath>
#include <cstdio>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"
#include "tests/common/tensor_testing.h"

namespace ftune::testing {
namespace {

const std::string kModel = "tests/fixtures/marian-mt";
const std::string kPairs = "tests/fixtures/marian-mt/pairs.jsonl";

std::string fmt_loss(double loss) {
  char text[32];
  std::snprintf(text, sizeof text, "loss %.4f", loss);
  return text;
}

class TranslateTrain : public CliTest {
 protected:
  CommandResult train_like_the_fixture(const std::filesystem::path& out) {
    return run_ftune({"--threads",
                      "1",
                      "train",
                      "--task",
                      "translate",
                      "--model",
                      kModel,
                      "--train",
                      kPairs,
                      "--output-dir",
                      out.string(),
                      "--no-shuffle",
                      "--max-steps",
                      "6",
                      "--batch-size",
                      "4",
                      "--learning-rate",
                      "1e-3",
                      "--weight-decay",
                      "0.01",
                      "--warmup-steps",
                      "2",
                      "--lr-scheduler",
                      "linear",
                      "--max-grad-norm",
                      "1.0",
                      "--logging-steps",
                      "1",
                      "--label-smoothing",
                      "0.1",
                      "--max-length",
                      "24",
                      "--max-target-length",
                      "24",
                      "--eval-strategy",
                      "no"});
  }
};

TEST_F(TranslateTrain, ReproducesHuggingFaceTrajectoryWithLabelSmoothing) {
  auto result = train_like_the_fixture(dir_ / "run");
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto expected = read_json_file(kModel + "/train_expected.json");
  const auto steps = records_with(dir_ / "run" / "trainer_log.jsonl", "grad_norm");
  ASSERT_EQ(steps.size(), 6u);
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& want = expected["steps"][i];
    for (const auto& [ours, theirs] : {std::pair{"loss", "loss"}, {"grad_norm", "grad_norm"}}) {
      const double value = want[theirs].get<double>();
      EXPECT_NEAR(steps[i][ours].get<double>(), value, 1e-5 * std::abs(value))
          << ours << " at step " << i + 1;
    }
    EXPECT_NEAR(steps[i]["learning_rate"].get<double>(), want["lr"].get<double>(), 1e-12);
  }
}

TEST_F(TranslateTrain, TrainedFolderHasTheReferenceLossesAndTranslates) {
  ASSERT_EQ(train_like_the_fixture(dir_ / "run").exit_code, 0);
  auto expected = read_json_file(kModel + "/train_expected.json");
  auto inputs = read_json_file(kModel + "/inputs.json");
  // Token-weighted mean of the per-example losses = the batch's mean token loss.
  double weighted = 0.0;
  int64_t tokens = 0;
  for (size_t i = 0; i < inputs["labels"].size(); ++i) {
    int64_t n = 0;
    for (const auto& id : inputs["labels"][i]) n += id.get<int64_t>() != -100;
    weighted += expected["final_per_example_loss"][i].get<double>() * n;
    tokens += n;
  }
  auto eval = run_ftune({"--threads",
                         "1",
                         "eval",
                         "--task",
                         "translate",
                         "--model",
                         (dir_ / "run" / "last").string(),
                         "--data",
                         kPairs,
                         "--batch-size",
                         "8",
                         "--max-length",
                         "24",
                         "--max-target-length",
                         "24"});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_NE(eval.out.find(fmt_loss(weighted / tokens)), std::string::npos)
      << eval.out << " expected loss " << weighted / tokens;
  EXPECT_NE(eval.out.find("BLEU|nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0"),
            std::string::npos)
      << eval.out;
  EXPECT_NE(eval.out.find("chrF2|nrefs:1"), std::string::npos) << eval.out;

  write_text_file(dir_ / "src.txt", "A man sleeping in a green room on a couch.\n");
  auto translate = run_ftune({"--threads",
                              "1",
                              "translate",
                              "--model",
                              (dir_ / "run" / "last").string(),
                              "--input",
                              (dir_ / "src.txt").string(),
                              "--output",
                              (dir_ / "out.txt").string()});
  ASSERT_EQ(translate.exit_code, 0) << translate.err;
  EXPECT_FALSE(read_text_file(dir_ / "out.txt").empty());
}

// --predict-with-generate reports eval_bleu and eval_chrf, makes bleu the best-model metric, and
// its BLEU is the one `ftune score` (sacreBLEU's, tests/app/eval_score_test) gives the same
// checkpoint's greedy translations of the validation sources.
TEST_F(TranslateTrain, PredictWithGenerateReportsBleuAndChrfAndSelectsOnBleu) {
  auto result = run_ftune({"--threads",
                           "1",
                           "train",
                           "--task",
                           "translate",
                           "--model",
                           kModel,
                           "--train",
                           kPairs,
                           "--valid",
                           kPairs,
                           "--output-dir",
                           (dir_ / "run").string(),
                           "--max-steps",
                           "2",
                           "--batch-size",
                           "4",
                           "--learning-rate",
                           "1e-3",
                           "--eval-strategy",
                           "steps",
                           "--eval-steps",
                           "2",
                           "--predict-with-generate",
                           "--max-length",
                           "24",
                           "--generation-max-length",
                           "24"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("| eval bleu "), std::string::npos) << result.err;
  nlohmann::ordered_json eval;
  for (auto& record : read_json_lines(dir_ / "run" / "trainer_log.jsonl")) {
    if (record.contains("eval_loss")) eval = record;
  }
  ASSERT_TRUE(eval.contains("eval_bleu")) << eval.dump();
  ASSERT_TRUE(eval.contains("eval_chrf")) << eval.dump();
  const auto state =
      nlohmann::json::parse(read_text_file(dir_ / "run" / "checkpoint-2" / "trainer_state.json"));
  EXPECT_EQ(state["early_stopping"]["metric"], "bleu");

  std::string sources, targets;
  for (auto& row : read_json_lines(kPairs)) {
    sources += row["source"].get<std::string>() + "\n";
    targets += row["target"].get<std::string>() + "\n";
  }
  write_text_file(dir_ / "sources.txt", sources);
  write_text_file(dir_ / "targets.txt", targets);
  auto translated = run_ftune({"translate",
                               "--model",
                               (dir_ / "run" / "checkpoint-2").string(),
                               "--input",
                               (dir_ / "sources.txt").string(),
                               "--output",
                               (dir_ / "hyp.txt").string(),
                               "--beam",
                               "1",
                               "--max-length",
                               "24",
                               "--max-source-length",
                               "24"});
  ASSERT_EQ(translated.exit_code, 0) << translated.err;
  auto scored = run_ftune({"score",
                           "--task",
                           "translate",
                           "--references",
                           (dir_ / "targets.txt").string(),
                           "--predictions",
                           (dir_ / "hyp.txt").string(),
                           "--report-json",
                           (dir_ / "score.json").string()});
  ASSERT_EQ(scored.exit_code, 0) << scored.err;
  const auto score = nlohmann::json::parse(read_text_file(dir_ / "score.json"));
  EXPECT_NEAR(eval["eval_bleu"].get<double>(), score["bleu"]["score"].get<double>(), 1e-9);
  EXPECT_NEAR(eval["eval_chrf"].get<double>(), score["chrf"]["score"].get<double>(), 1e-9);
}

TEST_F(TranslateTrain, EmptyTargetNamesFileAndLine) {
  write_text_file(dir_ / "pairs.jsonl",
                  "{\"source\": \"A dog runs.\", \"target\": \"Ein Hund rennt.\"}\n"
                  "{\"source\": \"A cat sleeps.\", \"target\": \"\"}\n");
  auto result = run_ftune({"train",
                           "--task",
                           "translate",
                           "--model",
                           kModel,
                           "--train",
                           (dir_ / "pairs.jsonl").string(),
                           "--output-dir",
                           (dir_ / "run").string(),
                           "--eval-strategy",
                           "no"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("pairs.jsonl"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("line 2"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("'target'"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace ftune::testing
