// Promises README.md makes that no other test exercised, each through the real binary: the head
// kept or replaced by label2id, integer labels, the closing train_runtime record, macro_f1 as the
// default best metric, both --config forms, --lr-scheduler through the CLI, --save-dtype float16,
// --weights on predict and eval.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lib/io/weights.h"
#include "tests/app/cli_testing.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kModel = "tests/fixtures/bert-cls";  // id2label: balance, transfer, oos
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class ReadmePromises : public CliTest {
 protected:
  CommandResult train(const fs::path& out, const std::string& data,
                      std::vector<std::string> extra) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "train",
                                     "--model",
                                     kModel,
                                     "--train",
                                     data,
                                     "--output-dir",
                                     out.string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }
  // texts.jsonl with each label replaced by `rename(label)`.
  fs::path relabelled(const std::string& name, const std::function<json(const std::string&)>& f) {
    std::string out;
    for (auto& row : read_json_lines(kTexts)) {
      row["label"] = f(row["label"].get<std::string>());
      out += row.dump() + "\n";
    }
    write_text_file(dir_ / name, out);
    return dir_ / name;
  }
};

TEST_F(ReadmePromises, HeadIsKeptForTheSameLabelsAndReplacedForOthers) {
  auto same = train(dir_ / "same", kTexts, {"--max-steps", "1", "--eval-strategy", "no"});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_TRUE(contains(same.err,
                       "classification head kept: the checkpoint's label2id names "
                       "exactly the 3 training labels"))
      << same.err;

  const auto data = relabelled("other.jsonl", [](const std::string& label) {
    return json(label == "oos" ? "other" : label);
  });
  auto other = train(dir_ / "other", data.string(), {"--max-steps", "1", "--eval-strategy", "no"});
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_TRUE(contains(other.err,
                       "new classification head for 3 labels (balance, other, "
                       "transfer): the checkpoint's labels (balance, transfer, oos) "
                       "differ"))
      << other.err;
  const auto config = json::parse(read_text_file(dir_ / "other" / "last" / "config.json"));
  EXPECT_EQ(config["id2label"], json({{"0", "balance"}, {"1", "other"}, {"2", "transfer"}}));
  EXPECT_EQ(config["label2id"], json({{"balance", 0}, {"other", 1}, {"transfer", 2}}));
}

TEST_F(ReadmePromises, IntegerLabelsTrainAndComeBackAsTheirText) {
  const auto data = relabelled("ints.jsonl", [](const std::string& label) {
    return json(label == "balance" ? 0 : label == "transfer" ? 1 : 2);
  });
  auto result = train(dir_ / "run", data.string(), {"--max-steps", "1", "--eval-strategy", "no"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto config = json::parse(read_text_file(dir_ / "run" / "last" / "config.json"));
  EXPECT_EQ(config["id2label"], json({{"0", "0"}, {"1", "1"}, {"2", "2"}}));
  auto predict = run_ftune({"predict",
                            "--model",
                            (dir_ / "run" / "last").string(),
                            "--data",
                            data.string(),
                            "--output",
                            (dir_ / "p.jsonl").string()});
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  for (const auto& line : read_json_lines(dir_ / "p.jsonl")) {
    const auto label = line["label"].get<std::string>();
    EXPECT_TRUE(label == "0" || label == "1" || label == "2") << line.dump();
  }
}

TEST_F(ReadmePromises, LastLogRecordIsTheRunSummaryAndMacroF1IsTheDefaultMetric) {
  auto result = train(dir_ / "run", kTexts, {"--valid", kTexts, "--epochs", "2"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.err, "epoch 1 step 2 | eval macro_f1 ")) << result.err;
  EXPECT_TRUE(contains(result.err, ", best macro_f1 ")) << result.err;
  const auto records = read_json_lines(dir_ / "run" / "trainer_log.jsonl");
  ASSERT_FALSE(records.empty());
  const auto& last = records.back();
  for (const char* key :
       {"train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss"}) {
    EXPECT_TRUE(last.contains(key)) << key << " missing from " << last.dump();
  }
  EXPECT_EQ(last["step"], 4);
  // 32 samples (16 x 2 epochs) over the runtime.
  EXPECT_NEAR(last["train_samples_per_second"].get<double>() * last["train_runtime"].get<double>(),
              32.0,
              0.1);
  const auto state =
      json::parse(read_text_file(dir_ / "run" / "checkpoint-4" / "trainer_state.json"));
  EXPECT_EQ(state["early_stopping"]["metric"], "macro_f1") << state.dump();
}

TEST_F(ReadmePromises, ConfigFileWorksBeforeAndAfterTheCommand) {
  write_text_file(dir_ / "train.toml",
                  "[train]\nmax-steps = 2\nlearning-rate = 0.25\nlogging-steps = 1\n"
                  "eval-strategy = \"no\"\n");
  const auto config = (dir_ / "train.toml").string();
  auto before = run_ftune({"--threads",
                           "1",
                           "--config",
                           config,
                           "train",
                           "--model",
                           kModel,
                           "--train",
                           kTexts,
                           "--output-dir",
                           (dir_ / "before").string()});
  auto after = run_ftune({"--threads",
                          "1",
                          "train",
                          "--config",
                          config,
                          "--model",
                          kModel,
                          "--train",
                          kTexts,
                          "--output-dir",
                          (dir_ / "after").string()});
  for (const auto& [name, result] : {std::pair{"before", before}, {"after", after}}) {
    ASSERT_EQ(result.exit_code, 0) << name << "\n" << result.err;
    const auto steps = records_with(dir_ / name / "trainer_log.jsonl", "grad_norm");
    ASSERT_EQ(steps.size(), 2u) << name;
    // linear decay from 0.25 over 2 steps without warmup: step 1 at the peak, step 2 at half.
    EXPECT_NEAR(steps[0]["learning_rate"].get<double>(), 0.25, 1e-12) << name;
    EXPECT_NEAR(steps[1]["learning_rate"].get<double>(), 0.125, 1e-12) << name;
  }
}

TEST_F(ReadmePromises, CosineSchedulerWithWarmupThroughTheCli) {
  auto result = train(dir_ / "run",
                      kTexts,
                      {"--max-steps",
                       "6",
                       "--batch-size",
                       "8",
                       "--learning-rate",
                       "1e-3",
                       "--lr-scheduler",
                       "cosine",
                       "--warmup-steps",
                       "2",
                       "--logging-steps",
                       "1",
                       "--eval-strategy",
                       "no"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto steps = records_with(dir_ / "run" / "trainer_log.jsonl", "grad_norm");
  ASSERT_EQ(steps.size(), 6u);
  // transformers' get_cosine_schedule_with_warmup(warmup 2, total 6), at steps 1..6 (the rate an
  // optimizer step uses is the scheduler's value before that step): 0, 0.5, 1, then
  // 0.5 * (1 + cos(pi * k / 4)) for k = 1..3.
  const std::vector<double> expected = {
      0.0, 0.5e-3, 1e-3, 0.8535533905932737e-3, 0.5e-3, 0.14644660940672627e-3};
  for (size_t i = 0; i < steps.size(); ++i) {
    EXPECT_NEAR(steps[i]["learning_rate"].get<double>(), expected[i], 1e-15) << "step " << i + 1;
  }
}

TEST_F(ReadmePromises, SaveDtypeFloat16WritesHalfPrecisionFolders) {
  auto result = train(dir_ / "run",
                      kTexts,
                      {"--max-steps", "1", "--eval-strategy", "no", "--save-dtype", "float16"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto config = json::parse(read_text_file(dir_ / "run" / "last" / "config.json"));
  EXPECT_EQ(config["torch_dtype"], "float16");
  for (const auto& [name, tensor] : read_weights(dir_ / "run" / "last" / "model.safetensors")) {
    if (tensor.is_floating_point()) {
      EXPECT_EQ(tensor.scalar_type(), at::kHalf) << name;
    }
  }
  auto predict = run_ftune({"predict",
                            "--model",
                            (dir_ / "run" / "last").string(),
                            "--data",
                            kTexts,
                            "--output",
                            (dir_ / "p.jsonl").string()});
  EXPECT_EQ(predict.exit_code, 0) << predict.err;
}

TEST_F(ReadmePromises, WeightsOptionOverridesTheFolderOnPredictEvalAndTrain) {
  // The fixture folder's own weights are model.safetensors; pytorch_model.bin holds the same
  // tensors and a trained copy holds others.
  auto trained = train(dir_ / "run",
                       kTexts,
                       {"--max-steps", "2", "--learning-rate", "1e-2", "--eval-strategy", "no"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  auto logits_with = [&](const std::vector<std::string>& extra, const std::string& name) {
    std::vector<std::string> args = {
        "predict", "--model", kModel, "--data", kTexts, "--output", (dir_ / name).string()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto result = run_ftune(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return read_logits(dir_ / name);
  };
  const auto own = logits_with({}, "own.jsonl");
  const auto bin = logits_with({"--weights", kModel + "/pytorch_model.bin"}, "bin.jsonl");
  const auto other = logits_with(
      {"--weights", (dir_ / "run" / "last" / "model.safetensors").string()}, "other.jsonl");
  ASSERT_EQ(own.size(), bin.size());
  ASSERT_EQ(own.size(), other.size());
  double moved = 0.0;
  for (size_t i = 0; i < own.size(); ++i) {
    for (size_t k = 0; k < own[i].size(); ++k) {
      EXPECT_NEAR(bin[i][k], own[i][k], 1e-6) << "row " << i;
      moved = std::max(moved, std::abs(other[i][k] - own[i][k]));
    }
  }
  EXPECT_GT(moved, 1e-3) << "--weights did not replace the folder's weights";

  // eval --weights reports the loss of those weights, not the folder's ("loss X" with 4
  // decimals), and train --weights starts from them: at learning rate 0 with one batch of all 16
  // examples, step 1's loss is that same loss.
  const std::string other_weights = (dir_ / "run" / "last" / "model.safetensors").string();
  auto eval_loss = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"eval", "--model", kModel, "--data", kTexts};
    args.insert(args.end(), extra.begin(), extra.end());
    auto result = run_ftune(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return printed_number(result.out, "loss");
  };
  const double folder_loss = eval_loss({});
  const double other_loss = eval_loss({"--weights", other_weights});
  EXPECT_GT(std::abs(other_loss - folder_loss), 1e-3) << "eval --weights used the folder's";
  auto started = train(dir_ / "from-other",
                       kTexts,
                       {"--weights",
                        other_weights,
                        "--learning-rate",
                        "0",
                        "--max-steps",
                        "1",
                        "--batch-size",
                        "16",
                        "--eval-strategy",
                        "no"});
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const auto steps = read_step_losses(dir_ / "from-other" / "trainer_log.jsonl");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_NEAR(steps[0], other_loss, 1e-4) << "train --weights did not start from them";
}

// Sentence pairs (text + text_pair, token_type_ids 1 on the second segment) against Hugging
// Face's logits for the same model and pairs (tests/fixtures/generators/make_bert_cls_pairs.py),
// through predict, eval and a short training run that predicts again.
TEST_F(ReadmePromises, SentencePairsMatchHuggingFaceThroughPredictEvalAndTrain) {
  const std::string pairs = kModel + "/pairs.jsonl";
  const auto expected = json::parse(read_text_file(kModel + "/pairs_expected.json"));
  bool second_segment = false;
  for (const auto& row : expected["token_type_ids"]) {
    for (const auto& type : row) second_segment |= type.get<int>() == 1;
  }
  ASSERT_TRUE(second_segment) << "the fixture must exercise token_type_ids 1";

  auto predict = run_ftune({"predict",
                            "--model",
                            kModel,
                            "--data",
                            pairs,
                            "--max-length",
                            "32",
                            "--output",
                            (dir_ / "p.jsonl").string()});
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  const auto lines = read_json_lines(dir_ / "p.jsonl");
  ASSERT_EQ(lines.size(), expected["logits"].size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const auto got = lines[i]["logits"].get<std::vector<double>>();
    const auto want = expected["logits"][i].get<std::vector<double>>();
    ASSERT_EQ(got.size(), want.size());
    for (size_t k = 0; k < got.size(); ++k) {
      EXPECT_NEAR(got[k], want[k], 1e-5 * std::abs(want[k]) + 1e-6) << "pair " << i;
    }
  }
  auto tokenized = run_ftune({"tokenize",
                              "--model",
                              kModel,
                              "--input",
                              pairs,
                              "--max-length",
                              "32",
                              "--output",
                              (dir_ / "ids.jsonl").string()});
  ASSERT_EQ(tokenized.exit_code, 0) << tokenized.err;
  const auto ids = read_json_lines(dir_ / "ids.jsonl");
  ASSERT_EQ(ids.size(), expected["input_ids"].size());
  for (size_t i = 0; i < ids.size(); ++i) {
    using Ids = std::vector<int64_t>;
    EXPECT_EQ(ids[i]["input_ids"].get<Ids>(), expected["input_ids"][i].get<Ids>()) << "pair " << i;
    EXPECT_EQ(ids[i]["token_type_ids"].get<Ids>(), expected["token_type_ids"][i].get<Ids>())
        << "pair " << i;
  }

  const auto report = dir_ / "eval.json";
  auto eval = run_ftune({"eval",
                         "--model",
                         kModel,
                         "--data",
                         pairs,
                         "--max-length",
                         "32",
                         "--report-json",
                         report.string()});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  const auto written = json::parse(read_text_file(report));
  EXPECT_NEAR(written["metrics"]["loss"].get<double>(),
              expected["loss"].get<double>(),
              1e-5 * expected["loss"].get<double>());

  auto trained = train(
      dir_ / "run", pairs, {"--max-steps", "2", "--max-length", "32", "--eval-strategy", "no"});
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  auto again = run_ftune({"predict",
                          "--model",
                          (dir_ / "run" / "last").string(),
                          "--data",
                          pairs,
                          "--output",
                          (dir_ / "p2.jsonl").string()});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(read_json_lines(dir_ / "p2.jsonl").size(), lines.size());
}

}  // namespace
}  // namespace ftune::testing
