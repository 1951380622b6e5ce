// `ftune pretrain` end to end: the Hugging Face masked-LM training trajectory of
// tests/fixtures/bert-mlm (pre-masked inputs), starting points (MLM, encoder and classifier
// checkpoints, random init), masks redrawn per epoch, exact resume, and MLM -> classifier.
#include <cmath>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lib/io/state_dict.h"
#include "lib/io/weights.h"
#include "models/bert_mlm.h"
#include "tests/app/cli_testing.h"
#include "tests/common/tensor_testing.h"

namespace ftune::testing {
namespace {

const std::string kModel = "tests/fixtures/bert-mlm";
const std::string kClassifier = "tests/fixtures/bert-cls";

class PretrainTest : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    auto inputs = read_json_file(kModel + "/inputs.json");
    std::string pre_masked, corpus;
    for (size_t i = 0; i < inputs["input_ids"].size(); ++i) {
      nlohmann::json line = {{"input_ids", inputs["input_ids"][i]},
                             {"labels", inputs["labels"][i]},
                             {"attention_mask", inputs["attention_mask"][i]}};
      pre_masked += line.dump() + "\n";
      corpus += inputs["texts"][i].get<std::string>() + "\n";
    }
    write_text_file(dir_ / "masked.jsonl", pre_masked);
    write_text_file(dir_ / "corpus.txt", corpus);  // 12 sentences
  }
  CommandResult pretrain(std::vector<std::string> args) {
    args.insert(args.begin(), {"--threads", "1", "pretrain"});
    return run_ftune(args);
  }
  // Python's json writes NaN, which is not JSON: read it as null.
  static nlohmann::json read_json_with_nan(const std::string& path) {
    std::string text = read_text_file(path);
    for (size_t at = text.find("NaN"); at != std::string::npos; at = text.find("NaN", at)) {
      text.replace(at, 3, "null");
    }
    return nlohmann::json::parse(text);
  }
};

TEST_F(PretrainTest, ReproducesHuggingFaceTrajectoryAndFinalWeightsWithPreMaskedInputs) {
  const auto run = dir_ / "run";
  auto result = pretrain({"--model",         kModel,
                          "--train",         (dir_ / "masked.jsonl").string(),
                          "--pre-masked",    "--output-dir",
                          run.string(),      "--no-shuffle",
                          "--max-steps",     "6",
                          "--batch-size",    "4",
                          "--learning-rate", "1e-3",
                          "--weight-decay",  "0.01",
                          "--warmup-steps",  "2",
                          "--lr-scheduler",  "linear",
                          "--max-grad-norm", "1.0",
                          "--logging-steps", "1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto expected = read_json_with_nan(kModel + "/train_expected.json");
  auto steps = records_with(run / "trainer_log.jsonl", "grad_norm");
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

  // The saved model: HF keys, tied tensors stored once, and the final weights and loss.
  const auto last = run / "last";
  auto config = BertConfig::read((last / "config.json").string());
  auto saved = read_weights(last / "model.safetensors");
  EXPECT_EQ(saved.count("cls.predictions.decoder.weight"), 0u);
  EXPECT_EQ(saved.count("cls.predictions.decoder.bias"), 0u);
  EXPECT_EQ(saved.count("cls.predictions.bias"), 1u);
  EXPECT_EQ(saved.count("bert.embeddings.word_embeddings.weight"), 1u);
  EXPECT_EQ(saved.count("bert.pooler.dense.weight"), 0u);
  BertForMaskedLM model(config);
  load_state_dict(*model, drop_bert_mlm_tied_aliases(saved, config), LoadPolicy{}, "last");
  model->eval();
  torch::NoGradGuard no_grad;
  const auto& embeddings = model->bert->embeddings->word_embeddings->weight;
  for (const auto& [row, values] : expected["final_tied_embedding_rows_first8"].items()) {
    EXPECT_TRUE(tensors_close(
        embeddings[std::stoll(row)].slice(0, 0, 8), json_to_tensor(values), 1e-4, 1e-6))
        << "embedding row " << row;
  }
  EXPECT_TRUE(tensors_close(model->cls->predictions->bias.slice(0, 0, 8),
                            json_to_tensor(expected["final_mlm_bias_first8"]),
                            1e-4,
                            1e-6));
  auto inputs = read_json_file(kModel + "/inputs.json");
  auto ids = json_to_tensor(inputs["input_ids"], torch::kLong);
  auto mask = json_to_tensor(inputs["attention_mask"], torch::kLong);
  auto types = json_to_tensor(inputs["token_type_ids"], torch::kLong);
  auto labels = json_to_tensor(inputs["labels"], torch::kLong);
  EXPECT_NEAR(model->compute_loss(ids, mask, types, labels).item<double>(),
              expected["final_loss_all_examples"].get<double>(),
              1e-5 * expected["final_loss_all_examples"].get<double>());
  const auto first = (labels[0].ne(kIgnoreLabel)).nonzero()[0][0].item<int64_t>();
  auto logits = model(ids.slice(0, 0, 1), mask.slice(0, 0, 1), types.slice(0, 0, 1));  // (1, T, V)
  EXPECT_NEAR(logits[0][first][labels[0][first].item<int64_t>()].item<double>(),
              expected["final_label_logit_first_masked_example0"].get<double>(),
              1e-4);
}

TEST_F(PretrainTest, ClassifierFromAnMlmCheckpointReportsTheDroppedHeadAndFreshPooler) {
  auto result = run_ftune({"--threads",
                           "1",
                           "train",
                           "--model",
                           kModel,
                           "--train",
                           kClassifier + "/texts.jsonl",
                           "--output-dir",
                           (dir_ / "cls").string(),
                           "--eval-strategy",
                           "no",
                           "--max-steps",
                           "1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("dropped (not used by this model) (5)"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("cls.predictions.transform.dense.weight"), std::string::npos)
      << result.err;
  EXPECT_NE(result.err.find("initialized fresh"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("bert.pooler.dense.weight"), std::string::npos) << result.err;
}

TEST_F(PretrainTest, StartsFromAClassifierCheckpointWithAFreshHeadAndTheResultFineTunes) {
  const auto run = dir_ / "run";
  auto result = pretrain({"--model",
                          kClassifier,
                          "--train",
                          (dir_ / "corpus.txt").string(),
                          "--output-dir",
                          run.string(),
                          "--max-steps",
                          "2",
                          "--batch-size",
                          "4"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("initialized fresh (5)"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("cls.predictions.bias"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("classifier.weight"), std::string::npos) << result.err;  // dropped
  auto config = nlohmann::json::parse(read_text_file(run / "last" / "config.json"));
  EXPECT_EQ(config["architectures"], nlohmann::json({"BertForMaskedLM"}));
  EXPECT_FALSE(config.contains("id2label")) << config.dump();
  auto fine_tune = run_ftune({"--threads",
                              "1",
                              "train",
                              "--model",
                              (run / "last").string(),
                              "--train",
                              kClassifier + "/texts.jsonl",
                              "--output-dir",
                              (dir_ / "cls").string(),
                              "--eval-strategy",
                              "no",
                              "--max-steps",
                              "1"});
  EXPECT_EQ(fine_tune.exit_code, 0) << fine_tune.err;
}

TEST_F(PretrainTest, TwoRanksShardTheValidationSetAndReportTheWholeSetsLoss) {
  // lr 0: the weights never move, so the evaluation must be the same however it is split (the
  // 12 pre-masked rows: 6 per rank, each rank summing its own masked positions).
  std::vector<double> losses;
  for (const char* ranks : {"1", "2"}) {
    const auto run = dir_ / (std::string("ranks-") + ranks);
    auto result = pretrain({"--model",
                            kModel,
                            "--train",
                            (dir_ / "masked.jsonl").string(),
                            "--valid",
                            (dir_ / "masked.jsonl").string(),
                            "--pre-masked",
                            "--output-dir",
                            run.string(),
                            "--max-steps",
                            "1",
                            "--batch-size",
                            "2",
                            "--learning-rate",
                            "0",
                            "--nproc-per-node",
                            ranks});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    auto evals = records_with(run / "trainer_log.jsonl", "eval_loss");
    ASSERT_EQ(evals.size(), 1u);
    losses.push_back(evals[0]["eval_loss"].get<double>());
  }
  EXPECT_NEAR(losses[1], losses[0], 1e-6 * std::abs(losses[0]));
}

TEST_F(PretrainTest, MasksAreRedrawnEachEpochAndTheValidationMasksStayFixed) {
  const auto run = dir_ / "run";
  auto result = pretrain({"--model",
                          kModel,
                          "--train",
                          (dir_ / "corpus.txt").string(),
                          "--valid",
                          (dir_ / "corpus.txt").string(),
                          "--output-dir",
                          run.string(),
                          "--epochs",
                          "2",
                          "--batch-size",
                          "4",
                          "--learning-rate",
                          "0",
                          "--no-shuffle",
                          "--logging-steps",
                          "1"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto steps = records_with(run / "trainer_log.jsonl", "grad_norm");
  ASSERT_EQ(steps.size(), 6u);
  // Same batch, same weights (lr 0), another epoch: only the masks differ.
  EXPECT_NE(steps[0]["loss"].get<double>(), steps[3]["loss"].get<double>());
  auto evals = records_with(run / "trainer_log.jsonl", "eval_loss");
  ASSERT_EQ(evals.size(), 2u);
  EXPECT_EQ(evals[0]["eval_loss"].get<double>(), evals[1]["eval_loss"].get<double>());
  EXPECT_NEAR(evals[0]["eval_perplexity"].get<double>(),
              std::exp(evals[0]["eval_loss"].get<double>()),
              1e-6);
  EXPECT_NE(result.err.find("best loss"), std::string::npos) << result.err;  // the default metric
}

TEST_F(PretrainTest, ResumedRunEndsExactlyWhereTheUninterruptedRunEnds) {
  auto run = [&](const std::filesystem::path& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--model",
                                     kModel,
                                     "--train",
                                     (dir_ / "corpus.txt").string(),
                                     "--output-dir",
                                     out.string(),
                                     "--epochs",
                                     "3",
                                     "--batch-size",
                                     "4",
                                     "--learning-rate",
                                     "1e-3",
                                     "--logging-steps",
                                     "1",
                                     "--whole-word-masking"};
    args.insert(args.end(), extra.begin(), extra.end());
    return pretrain(args);
  };
  auto full = run(dir_ / "full", {});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  auto part = run(dir_ / "part", {});
  ASSERT_EQ(part.exit_code, 0) << part.err;
  // Interrupted after epoch 1: only checkpoint-3 survives.
  std::filesystem::remove_all(dir_ / "part" / "checkpoint-6");
  std::filesystem::remove_all(dir_ / "part" / "checkpoint-9");
  std::filesystem::remove_all(dir_ / "part" / "last");
  auto resumed = run(dir_ / "part", {"--resume-from-checkpoint", "latest"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("at step 3"), std::string::npos) << resumed.err;
  EXPECT_EQ(read_text_file(dir_ / "part" / "last" / "model.safetensors"),
            read_text_file(dir_ / "full" / "last" / "model.safetensors"));
  EXPECT_EQ(read_step_losses(dir_ / "part" / "trainer_log.jsonl"),
            read_step_losses(dir_ / "full" / "trainer_log.jsonl"));
}

TEST_F(PretrainTest, RandomInitFromAConfigNeedsATokenizerAndStartsNearUniformLoss) {
  const std::vector<std::string> base = {"--model-config",
                                         kModel + "/config.json",
                                         "--train",
                                         (dir_ / "corpus.txt").string(),
                                         "--output-dir",
                                         (dir_ / "run").string(),
                                         "--max-steps",
                                         "1",
                                         "--logging-steps",
                                         "1",
                                         "--pack",
                                         "--max-length",
                                         "16"};
  auto without = pretrain(base);
  EXPECT_EQ(without.exit_code, 2) << without.err;
  EXPECT_NE(without.err.find("--tokenizer"), std::string::npos) << without.err;
  auto args = base;
  args.insert(args.end(), {"--tokenizer", kModel});
  auto result = pretrain(args);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto steps = records_with(dir_ / "run" / "trainer_log.jsonl", "grad_norm");
  ASSERT_EQ(steps.size(), 1u);
  EXPECT_NEAR(steps[0]["loss"].get<double>(), std::log(30522.0), 0.5);  // ~uniform predictions
}

TEST_F(PretrainTest, ModelAndModelConfigAreOneOrTheOther) {
  const std::vector<std::string> common = {
      "--train", (dir_ / "corpus.txt").string(), "--output-dir", (dir_ / "run").string()};
  auto neither = pretrain(common);
  EXPECT_EQ(neither.exit_code, 2) << neither.err;
  auto both = common;
  both.insert(
      both.end(),
      {"--model", kModel, "--model-config", kModel + "/config.json", "--tokenizer", kModel});
  auto result = pretrain(both);
  EXPECT_EQ(result.exit_code, 2) << result.err;
}

TEST_F(PretrainTest, TextWithoutTextKeyNamesFileAndLine) {
  write_text_file(dir_ / "bad.jsonl", "{\"text\": \"fine\"}\n{\"sentence\": \"oops\"}\n");
  auto result = pretrain({"--model",
                          kModel,
                          "--train",
                          (dir_ / "bad.jsonl").string(),
                          "--output-dir",
                          (dir_ / "run").string()});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("bad.jsonl"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("line 2"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace ftune::testing
