// `ftune train --task ner` end to end (issue #16): train with windows (a sentence longer than
// --max-length), then eval, predict and score agree with one another; the saved folder is a
// BertForTokenClassification; strict IOB2 mode; and the bad inputs, each one error line with
// nothing written. The trajectory against Hugging Face's own loss and the folder in transformers
// are in hf_roundtrip_test.cpp (they need transformers at test time).
#include <algorithm>
#include <cstdio>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"
#include "tests/app/problem_data.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;

const std::string kModel = "tests/fixtures/bert-cls";

class Ner : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    train_ = dir_ / "train.conll";
    valid_ = dir_ / "valid.conll";
    write_ner_data(train_);
    write_ner_data(valid_, /*first=*/8);
  }

  // A high learning rate and 12-token windows (sentence 12 takes three): 3 steps of 8 windows
  // per epoch.
  CommandResult train(const fs::path& out, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "train",
                                     "--task",
                                     "ner",
                                     "--model",
                                     kModel,
                                     "--train",
                                     train_.string(),
                                     "--valid",
                                     valid_.string(),
                                     "--output-dir",
                                     out.string(),
                                     "--max-length",
                                     "12",
                                     "--stride",
                                     "3",
                                     "--batch-size",
                                     "8",
                                     "--learning-rate",
                                     "5e-3",
                                     "--eval-strategy",
                                     "epoch",
                                     "--logging-steps",
                                     "10"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }

  fs::path train_, valid_;  // in dir_, made by SetUp
};

// The lines of `text` from the first one starting with `first` on.
std::string from_line(const std::string& text, const std::string& first) {
  const auto at = text.find("\n" + first);
  return at == std::string::npos ? "" : text.substr(at + 1);
}

TEST_F(Ner, TrainsThenEvalPredictAndScoreAgreeOnEveryWord) {
  auto run = train(dir_ / "run", {"--epochs", "15", "--save-total-limit", "1"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("new token classification head for 9 tags"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("16 sentences (18 windows of at most 12 tokens), 9 tags"),
            std::string::npos)
      << run.err;
  const auto evals = records_with(dir_ / "run" / "trainer_log.jsonl", "eval_f1");
  ASSERT_EQ(evals.size(), 15u);
  EXPECT_GT(evals.back()["eval_f1"].get<double>(), 0.5) << evals.back().dump();

  const auto best = dir_ / "run" / "best";
  const auto config = nlohmann::json::parse(read_text_file(best / "config.json"));
  EXPECT_EQ(config["architectures"], nlohmann::json::array({"BertForTokenClassification"}));
  EXPECT_EQ(config["id2label"]["0"], "B-LOC");
  EXPECT_EQ(config["id2label"]["8"], "O");
  EXPECT_FALSE(config.contains("problem_type"));

  // eval on the validation file: the model folder is recognised without --task ner.
  auto eval = run_ftune({"eval",
                         "--model",
                         best.string(),
                         "--data",
                         valid_.string(),
                         "--max-length",
                         "12",
                         "--stride",
                         "3",
                         "--report-json",
                         (dir_ / "report.json").string()});
  ASSERT_EQ(eval.exit_code, 0) << eval.err;
  EXPECT_NE(eval.out.find("   micro avg "), std::string::npos) << eval.out;
  const auto report = nlohmann::json::parse(read_text_file(dir_ / "report.json"));
  EXPECT_EQ(report["mode"], "default");
  double best_f1 = 0.0;
  for (const auto& record : evals) best_f1 = std::max(best_f1, record["eval_f1"].get<double>());
  EXPECT_NEAR(report["metrics"]["f1"].get<double>(), best_f1, 1e-9)
      << "eval on best/ gives the best evaluation's F1";
  char f1_line[32];
  std::snprintf(f1_line, sizeof f1_line, "\nf1 %.4f\n", report["metrics"]["f1"].get<double>());
  EXPECT_NE(eval.out.find(f1_line), std::string::npos) << eval.out;

  // predict: one line per sentence, one tag per word, also for the 20-word sentence.
  const auto predictions = dir_ / "predictions.jsonl";
  auto predict = run_ftune({"predict",
                            "--model",
                            best.string(),
                            "--data",
                            valid_.string(),
                            "--output",
                            predictions.string(),
                            "--max-length",
                            "12",
                            "--stride",
                            "3"});
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  const auto lines = read_json_lines(predictions);
  ASSERT_EQ(lines.size(), 8u);
  for (size_t s = 0; s < lines.size(); ++s) {
    ASSERT_EQ(lines[s]["tokens"].size(), kNerSentences[8 + s].size()) << s;
    EXPECT_EQ(lines[s]["tags"].size(), lines[s]["tokens"].size()) << s;
    EXPECT_EQ(lines[s]["scores"].size(), lines[s]["tokens"].size()) << s;
    EXPECT_EQ(lines[s]["tokens"][0], kNerSentences[8 + s][0].first);
  }

  // score of predict's file against the references: eval's report without the loss line.
  auto score = run_ftune({"score",
                          "--task",
                          "ner",
                          "--references",
                          valid_.string(),
                          "--predictions",
                          predictions.string()});
  ASSERT_EQ(score.exit_code, 0) << score.err;
  EXPECT_EQ(score.out + from_line(eval.out, "loss "), eval.out);
}

TEST_F(Ner, ResumingFromACheckpointEndsWhereTheUninterruptedRunEnds) {
  const std::vector<std::string> settings = {"--epochs", "3", "--save-total-limit", "0"};
  ASSERT_EQ(train(dir_ / "full", settings).exit_code, 0);
  ASSERT_EQ(train(dir_ / "part", settings).exit_code, 0);
  // Back to the end of epoch 1 (3 steps of 8 windows): later checkpoints and last/ gone.
  for (const char* name : {"checkpoint-6", "checkpoint-9", "last"}) {
    ASSERT_TRUE(fs::exists(dir_ / "part" / name)) << name;
    fs::remove_all(dir_ / "part" / name);
  }
  auto settings_resumed = settings;
  settings_resumed.insert(settings_resumed.end(), {"--resume-from-checkpoint", "latest"});
  auto resumed = train(dir_ / "part", settings_resumed);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("at step 3"), std::string::npos) << resumed.err;
  const auto full = records_with(dir_ / "full" / "trainer_log.jsonl", "eval_f1");
  const auto part = records_with(dir_ / "part" / "trainer_log.jsonl", "eval_f1");
  ASSERT_EQ(full.size(), 3u);
  ASSERT_EQ(part.size(), 3u);
  for (size_t i = 0; i < full.size(); ++i) {
    EXPECT_EQ(part[i]["eval_loss"], full[i]["eval_loss"]) << i;
    EXPECT_EQ(part[i]["eval_f1"], full[i]["eval_f1"]) << i;
  }
  EXPECT_EQ(read_text_file(dir_ / "part" / "last" / "model.safetensors"),
            read_text_file(dir_ / "full" / "last" / "model.safetensors"));
}

TEST_F(Ner, ASentenceOfWordsTheTokenizerDropsIsLeftOutOfTrainingAndTaggedOInPredict) {
  // A zero-width space alone: BERT's normalizer removes it, so the window has no labelled
  // sub-word (a batch of only such windows would average the loss over nothing).
  write_text_file(dir_ / "odd.conll", "Paris\tB-LOC\n\n\u200b\tB-LOC\n");
  auto run = run_ftune({"--threads",
                        "1",
                        "train",
                        "--task",
                        "ner",
                        "--model",
                        kModel,
                        "--train",
                        (dir_ / "odd.conll").string(),
                        "--output-dir",
                        (dir_ / "run").string(),
                        "--batch-size",
                        "1",
                        "--no-shuffle",
                        "--eval-strategy",
                        "no"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("1 training windows have no labelled sub-word (left out)"),
            std::string::npos)
      << run.err;
  auto predict = run_ftune({"predict",
                            "--model",
                            (dir_ / "run" / "last").string(),
                            "--data",
                            (dir_ / "odd.conll").string(),
                            "--output",
                            (dir_ / "p.jsonl").string()});
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  const auto lines = read_json_lines(dir_ / "p.jsonl");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["tags"], nlohmann::ordered_json::array({"O"}));
  EXPECT_EQ(lines[1]["scores"], nlohmann::ordered_json::array({0.0}));
}

TEST_F(Ner, StrictModeCountsOnlyEntitiesThatBeginWithB) {
  // An I- with no B- before it: an entity in seqeval's default mode, none in strict IOB2 mode
  // (and not an error in either).
  write_text_file(dir_ / "ref.conll", "Paris\tB-LOC\nis\tO\nnice\tO\n");
  write_text_file(dir_ / "hyp.conll", "Paris\tI-LOC\nis\tO\nnice\tO\n");
  auto loose = run_ftune({"score",
                          "--task",
                          "ner",
                          "--references",
                          (dir_ / "ref.conll").string(),
                          "--predictions",
                          (dir_ / "hyp.conll").string()});
  ASSERT_EQ(loose.exit_code, 0) << loose.err;
  EXPECT_NE(loose.out.find("\nf1 1.0000\n"), std::string::npos) << loose.out;
  auto strict = run_ftune({"score",
                           "--task",
                           "ner",
                           "--seqeval-mode",
                           "strict",
                           "--references",
                           (dir_ / "ref.conll").string(),
                           "--predictions",
                           (dir_ / "hyp.conll").string(),
                           "--report-json",
                           (dir_ / "strict.json").string()});
  ASSERT_EQ(strict.exit_code, 0) << strict.err;
  EXPECT_NE(strict.out.find("\nf1 0.0000\n"), std::string::npos) << strict.out;
  EXPECT_EQ(nlohmann::json::parse(read_text_file(dir_ / "strict.json"))["mode"], "strict");
}

// One error line on stderr, naming `expected`, and nothing on stdout.
void expect_one_error_line(const CommandResult& result, const std::string& expected) {
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(result.err.rfind("error: ", 0), 0u) << result.err;
  EXPECT_EQ(result.err.find('\n'), result.err.size() - 1) << result.err;
  EXPECT_NE(result.err.find(expected), std::string::npos) << result.err;
}

TEST_F(Ner, BadInputsAreOneErrorLineAndWriteNothing) {
  auto run = train(dir_ / "run", {"--max-steps", "2"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto best = (dir_ / "run" / "best").string();

  // A tag outside the model's set at eval time: file, line, tag and word.
  write_text_file(dir_ / "odd.conll", "Paris\tB-LOC\n\nAcme\tB-COMPANY\nsells\tO\n");
  const auto report = dir_ / "report.json";
  expect_one_error_line(
      run_ftune({"eval",
                 "--model",
                 best,
                 "--data",
                 (dir_ / "odd.conll").string(),
                 "--report-json",
                 report.string()}),
      "odd.conll': line 3: tag 'B-COMPANY' of word 'Acme': expected one of the model's tags");
  EXPECT_FALSE(fs::exists(report));

  // A sentence with more tokens than tags: CoNLL (a word without a tag) and JSONL.
  write_text_file(dir_ / "short.conll", "Paris\tB-LOC\nis\nnice\tO\n");
  expect_one_error_line(run_ftune({"train",
                                   "--task",
                                   "ner",
                                   "--model",
                                   kModel,
                                   "--train",
                                   (dir_ / "short.conll").string(),
                                   "--output-dir",
                                   (dir_ / "short-run").string(),
                                   "--eval-strategy",
                                   "no"}),
                        "short.conll': line 2: word 'is' has no tag");
  EXPECT_FALSE(fs::exists(dir_ / "short-run" / "best"));
  write_text_file(dir_ / "short.jsonl",
                  "{\"tokens\": [\"Paris\", \"is\"], \"tags\": [\"B-LOC\"]}\n");
  const auto out = dir_ / "p.jsonl";
  expect_one_error_line(run_ftune({"score",
                                   "--task",
                                   "ner",
                                   "--references",
                                   (dir_ / "short.jsonl").string(),
                                   "--predictions",
                                   valid_.string()}),
                        "short.jsonl': line 1: 2 tokens but 1 tags");

  // Predictions with a sentence of another length than the reference's.
  write_text_file(dir_ / "hyp.conll", "Paris\tB-LOC\n");
  write_text_file(dir_ / "ref.conll", "Paris\tB-LOC\nis\tO\n");
  expect_one_error_line(run_ftune({"score",
                                   "--task",
                                   "ner",
                                   "--references",
                                   (dir_ / "ref.conll").string(),
                                   "--predictions",
                                   (dir_ / "hyp.conll").string()}),
                        "hyp.conll' line 1: expected 2 tags");

  // NER options on another task.
  expect_one_error_line(run_ftune({"train",
                                   "--model",
                                   kModel,
                                   "--train",
                                   kProblemTexts,
                                   "--output-dir",
                                   (dir_ / "cls").string(),
                                   "--label-all-tokens"}),
                        "--label-all-tokens, --stride and --seqeval-mode apply to --task ner");
  // Translation options on a classifier: refused, not ignored.
  expect_one_error_line(run_ftune({"train",
                                   "--model",
                                   kModel,
                                   "--train",
                                   kProblemTexts,
                                   "--output-dir",
                                   (dir_ / "cls").string(),
                                   "--label-smoothing",
                                   "0.1"}),
                        "--label-smoothing and --predict-with-generate apply to --task translate, "
                        "not classify");
  // A --stride that leaves no room: the window holds max_length - 2 sub-words.
  expect_one_error_line(run_ftune({"predict",
                                   "--model",
                                   best,
                                   "--data",
                                   valid_.string(),
                                   "--output",
                                   out.string(),
                                   "--max-length",
                                   "12",
                                   "--stride",
                                   "10"}),
                        "--stride 10: expected less than --max-length - 2 = 10");
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace ftune::testing
