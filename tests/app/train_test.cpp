// `ftune train` end to end: the Hugging Face training trajectory of tests/fixtures/bert-cls,
// early stopping, checkpoint rotation, exact resume and bad-data errors.
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"
#include "tests/common/tensor_testing.h"

namespace ftune::testing {
namespace {

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";

class TrainTest : public CliTest {
 protected:
  CommandResult train(const std::filesystem::path& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "train",
                                     "--model",
                                     kModel,
                                     "--train",
                                     kTexts,
                                     "--output-dir",
                                     out.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }
};

TEST_F(TrainTest, ReproducesHuggingFaceTrajectoryAndFinalLogits) {
  auto result = train(dir_ / "run", reference_trajectory_settings());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto expected = read_json_file(kModel + "/train_expected.json");
  auto steps = records_with(dir_ / "run" / "trainer_log.jsonl", "grad_norm");
  ASSERT_EQ(steps.size(), 6u);
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& want = expected["steps"][i];
    EXPECT_EQ(steps[i]["step"].get<int64_t>(), want["step"].get<int64_t>());
    EXPECT_NEAR(steps[i]["loss"].get<double>(),
                want["loss"].get<double>(),
                1e-5 * std::abs(want["loss"].get<double>()))
        << "step " << i + 1;
    EXPECT_NEAR(steps[i]["grad_norm"].get<double>(),
                want["grad_norm"].get<double>(),
                1e-5 * std::abs(want["grad_norm"].get<double>()))
        << "step " << i + 1;
    EXPECT_NEAR(steps[i]["learning_rate"].get<double>(), want["lr"].get<double>(), 1e-12)
        << "step " << i + 1;
  }
  auto predict = run_ftune({"predict",
                            "--model",
                            (dir_ / "run" / "last").string(),
                            "--data",
                            kTexts,
                            "--output",
                            (dir_ / "p.jsonl").string()});
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  const auto logits = read_logits(dir_ / "p.jsonl");
  EXPECT_TRUE(tensors_close(torch::tensor(logits[0]).unsqueeze(0),
                            json_to_tensor(expected["final_logits"][0]).unsqueeze(0),
                            1e-4,
                            1e-6));
  for (size_t i = 0; i < logits.size(); ++i) {
    EXPECT_TRUE(tensors_close(
        torch::tensor(logits[i]), json_to_tensor(expected["final_logits"][i]), 1e-4, 1e-6))
        << "example " << i;
  }
}

TEST_F(TrainTest, ProfileTraceHoldsTheForwardAndBackwardOperations) {
  auto result = train(dir_ / "run",
                      {"--max-steps",
                       "2",
                       "--batch-size",
                       "4",
                       "--eval-strategy",
                       "no",
                       "--profile-trace",
                       (dir_ / "trace.json").string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto trace = read_json_file(dir_ / "trace.json");
  ASSERT_TRUE(trace.is_array());
  std::set<std::string> names;
  for (const auto& event : trace) {
    if (event.value("ph", "") == "X") names.insert(event["name"].get<std::string>());
  }
  EXPECT_EQ(names.count("aten::addmm"), 1u) << "no Linear forward in the trace";
  EXPECT_EQ(names.count("AddmmBackward0"), 1u) << "no Linear backward in the trace";

  auto unwritable = train(dir_ / "run2",
                          {"--max-steps",
                           "1",
                           "--eval-strategy",
                           "no",
                           "--profile-trace",
                           (dir_ / "no-such-folder" / "trace.json").string()});
  EXPECT_EQ(unwritable.exit_code, 1);
  EXPECT_NE(unwritable.err.find("--profile-trace"), std::string::npos) << unwritable.err;
  EXPECT_NE(unwritable.err.find("no-such-folder"), std::string::npos) << unwritable.err;
}

TEST_F(TrainTest, StopsAfterExactlyPatienceStalledEvaluations) {
  // Learning rate 0: every evaluation equals the first, so each one after it is a stall.
  auto result = train(dir_ / "run",
                      {"--valid",
                       kTexts,
                       "--epochs",
                       "10",
                       "--learning-rate",
                       "0",
                       "--early-stopping-patience",
                       "2",
                       "--metric-for-best-model",
                       "loss"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto evals = records_with(dir_ / "run" / "trainer_log.jsonl", "eval_loss");
  ASSERT_EQ(evals.size(), 3u);  // new best, stalled 1/2, stalled 2/2 -> stop
  EXPECT_EQ(evals.back()["step"], 6);
  EXPECT_NE(result.err.find("epoch 1 step 2 | eval loss"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("| new best"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("stalled 2/2 (best"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("(stopped early)"), std::string::npos) << result.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run" / "best" / "model.safetensors"));
}

TEST_F(TrainTest, EvalStrategyNoSkipsEvaluationEvenWithAValidationFile) {
  auto result = train(dir_ / "run", {"--valid", kTexts, "--epochs", "2", "--eval-strategy", "no"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(records_with(dir_ / "run" / "trainer_log.jsonl", "eval_loss").empty());
  EXPECT_EQ(result.err.find("| eval"), std::string::npos) << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "run" / "best"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run" / "last" / "model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run" / "checkpoint-4"));  // 2 epochs x 2 steps
}

TEST_F(TrainTest, EachNewBestReplacesTheBestFolderWithoutLeftovers) {
  // The loss on the training file falls every epoch: three new bests, so best/ is replaced twice
  // (a LibTorch 2.x wheel build once crashed at the first replacement).
  auto result = train(dir_ / "run",
                      {"--valid",
                       kTexts,
                       "--epochs",
                       "3",
                       "--learning-rate",
                       "1e-3",
                       "--metric-for-best-model",
                       "loss"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  size_t new_bests = 0;
  for (auto at = result.err.find("| new best"); at != std::string::npos;
       at = result.err.find("| new best", at + 1)) {
    ++new_bests;
  }
  EXPECT_EQ(new_bests, 3u) << result.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ / "run" / "best" / "model.safetensors"));
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / "run")) {
    const auto name = entry.path().filename().string();
    EXPECT_EQ(name.find(".old-"), std::string::npos) << name;
    EXPECT_EQ(name.find(".tmp-"), std::string::npos) << name;
  }
}

TEST_F(TrainTest, ThresholdTurnsSmallImprovementsIntoStalls) {
  auto result = train(dir_ / "run",
                      {"--valid",
                       kTexts,
                       "--epochs",
                       "10",
                       "--learning-rate",
                       "1e-3",
                       "--early-stopping-patience",
                       "2",
                       "--early-stopping-threshold",
                       "1.0",
                       "--metric-for-best-model",
                       "loss"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto evals = records_with(dir_ / "run" / "trainer_log.jsonl", "eval_loss");
  ASSERT_EQ(evals.size(), 3u);
  EXPECT_LT(evals[2]["eval_loss"].get<double>(), evals[0]["eval_loss"].get<double>());
}

TEST_F(TrainTest, RotationKeepsTheBestAndTheNewestCheckpoint) {
  auto result = train(dir_ / "run",
                      {"--valid",
                       kTexts,
                       "--epochs",
                       "4",
                       "--learning-rate",
                       "0",
                       "--metric-for-best-model",
                       "loss",
                       "--save-total-limit",
                       "1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / "run")) {
    if (entry.path().filename().string().rfind("checkpoint-", 0) == 0) {
      names.push_back(entry.path().filename().string());
    }
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"checkpoint-2", "checkpoint-8"}));
  auto state =
      nlohmann::json::parse(read_text_file(dir_ / "run" / "checkpoint-8" / "trainer_state.json"));
  EXPECT_EQ(state["best_model_checkpoint"], "checkpoint-2");
}

TEST_F(TrainTest, ResumedRunEndsExactlyWhereTheUninterruptedRunEnds) {
  // Dropout on and shuffling on, so the resumed run must restore the RNG and the batch order.
  std::filesystem::create_directories(dir_ / "model");
  for (const auto& entry : std::filesystem::directory_iterator(kModel)) {
    std::filesystem::copy(entry.path(), dir_ / "model" / entry.path().filename());
  }
  auto config = nlohmann::json::parse(read_text_file(dir_ / "model" / "config.json"));
  config["hidden_dropout_prob"] = 0.1;
  config["attention_probs_dropout_prob"] = 0.1;
  write_text_file(dir_ / "model" / "config.json", config.dump(2));
  auto run = [&](const std::filesystem::path& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "train",
                                     "--model",
                                     (dir_ / "model").string(),
                                     "--train",
                                     kTexts,
                                     "--valid",
                                     kTexts,
                                     "--output-dir",
                                     out.string(),
                                     "--epochs",
                                     "3",
                                     "--batch-size",
                                     "4",
                                     "--learning-rate",
                                     "1e-3",
                                     "--logging-steps",
                                     "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  };
  auto full = run(dir_ / "full", {});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  auto part = run(dir_ / "part", {});
  ASSERT_EQ(part.exit_code, 0) << part.err;
  // Interrupted after epoch 1: only checkpoint-4 survives.
  std::filesystem::remove_all(dir_ / "part" / "checkpoint-8");
  std::filesystem::remove_all(dir_ / "part" / "checkpoint-12");
  std::filesystem::remove_all(dir_ / "part" / "last");
  auto resumed = run(dir_ / "part", {"--resume-from-checkpoint", "latest"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("at step 4"), std::string::npos) << resumed.err;
  EXPECT_EQ(read_text_file(dir_ / "part" / "last" / "model.safetensors"),
            read_text_file(dir_ / "full" / "last" / "model.safetensors"));
  EXPECT_EQ(read_step_losses(dir_ / "part" / "trainer_log.jsonl"),
            read_step_losses(dir_ / "full" / "trainer_log.jsonl"));
}

TEST_F(TrainTest, ValidationLabelUnknownToTheModelNamesFileLineAndValue) {
  write_text_file(dir_ / "valid.jsonl",
                  "{\"text\": \"what is my balance\", \"label\": \"balance\"}\n"
                  "{\"text\": \"book a flight\", \"label\": \"travel\"}\n");
  auto result = train(dir_ / "run", {"--valid", (dir_ / "valid.jsonl").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("valid.jsonl"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("line 2"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("travel"), std::string::npos) << result.err;
}

TEST_F(TrainTest, EmptyTextNamesFileAndLine) {
  write_text_file(dir_ / "train.csv", "text,label\nhello there,balance\n\" \",oos\n");
  auto result = run_ftune({"train",
                           "--model",
                           kModel,
                           "--train",
                           (dir_ / "train.csv").string(),
                           "--output-dir",
                           (dir_ / "run").string(),
                           "--eval-strategy",
                           "no"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("train.csv"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("line 3"), std::string::npos) << result.err;
}

TEST_F(TrainTest, ReadsOptionsFromAConfigFileAndFlagsWin) {
  write_text_file(
      dir_ / "train.toml",
      "[train]\nmax-steps = 2\nlearning-rate = 0.5\nlogging-steps = 1\neval-strategy = \"no\"\n");
  auto result = train(
      dir_ / "run",
      {"--config", (dir_ / "train.toml").string(), "--learning-rate", "1e-4", "--no-shuffle"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto steps = records_with(dir_ / "run" / "trainer_log.jsonl", "grad_norm");
  ASSERT_EQ(steps.size(), 2u);
  EXPECT_NEAR(steps[0]["learning_rate"].get<double>(), 1e-4, 1e-15);
}

}  // namespace
}  // namespace ftune::testing
