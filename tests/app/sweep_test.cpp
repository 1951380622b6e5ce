// `ftune sweep` end to end on the fixture classifier (issue #24): trials as processes, two at a
// time; a trial that fails (--max-length 1) is recorded and the others go on; sweep.jsonl agrees
// with each trial's own trainer_log.jsonl; best/ is the best trial's best model and best.toml
// trains again with its options; --resume reruns only what sweep.jsonl lacks; bad input stops
// before any trial.
#include <algorithm>
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

class Sweep : public CliTest {
 protected:
  CommandResult sweep(const fs::path& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--threads",
                                     "2",
                                     "sweep",
                                     "--model",
                                     kModel,
                                     "--train",
                                     kTexts,
                                     "--valid",
                                     kTexts,
                                     "--output-dir",
                                     out.string(),
                                     "--epochs",
                                     "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }
  static std::vector<json> records(const fs::path& out) {
    std::vector<json> lines;
    for (const auto& line : read_json_lines(out / "sweep.jsonl")) lines.push_back(line);
    return lines;
  }
};

TEST_F(Sweep, RunsTrialsRecordsFailuresAndKeepsTheBest) {
  const fs::path out = dir_ / "sweep";
  const std::vector<std::string> space = {"--trials",
                                          "5",
                                          "--parallel",
                                          "2",
                                          "--seed",
                                          "7",
                                          "--space",
                                          "learning-rate=loguniform(1e-4,1e-2)",
                                          "--space",
                                          "max-length=[1,64]"};
  auto run = sweep(out, space);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto lines = records(out);
  ASSERT_EQ(lines.size(), 5u);
  size_t failed = 0;
  double best = -1;
  int64_t best_trial = 0;
  for (const auto& r : lines) {
    const int64_t trial = r["trial"];
    const fs::path dir = out / ("trial-" + std::to_string(trial));
    if (r["params"]["max-length"] == "1") {
      ++failed;
      EXPECT_EQ(r["status"], "failed");
      EXPECT_EQ(r["exit_code"], 1);
      EXPECT_NE(r["error"].get<std::string>().find("--max-length 1"), std::string::npos) << r;
      continue;
    }
    EXPECT_EQ(r["status"], "ok") << r;
    // The record is the trial's own closing log record.
    const auto summary = records_with(dir / "trainer_log.jsonl", "train_runtime");
    ASSERT_EQ(summary.size(), 1u);
    EXPECT_EQ(r["best_metric"].get<double>(), summary[0]["best_metric"].get<double>());
    EXPECT_EQ(r["best_step"].get<int64_t>(), summary[0]["best_step"].get<int64_t>());
    // And the trial trained with its drawn options.
    const json settings = json::parse(read_text_file(dir / "train_settings.json"));
    EXPECT_DOUBLE_EQ(settings["learning_rate"].get<double>(),
                     std::stod(r["params"]["learning-rate"].get<std::string>()));
    EXPECT_EQ(settings["max_length"], 64);
    // The best: the highest metric, the lowest trial number among equals (lines are in the
    // order trials ended).
    if (r["best_metric"].get<double>() > best ||
        (r["best_metric"].get<double>() == best && trial < best_trial)) {
      best = r["best_metric"];
      best_trial = trial;
    }
  }
  ASSERT_EQ(failed, 1u) << "seed 7 draws max-length 1 once (trial 3)";
  ASSERT_LT(failed, 5u);
  EXPECT_NE(run.err.find("FAILED"), std::string::npos) << run.err;

  // best/ is the best trial's best model folder; the leaderboard puts it first.
  const fs::path best_dir = out / ("trial-" + std::to_string(best_trial)) / "best";
  EXPECT_EQ(read_text_file(out / "best" / "config.json"), read_text_file(best_dir / "config.json"));
  const std::string first_row = run.out.substr(run.out.find('\n') + 1);
  EXPECT_EQ(first_row.rfind("   1  " + std::string(5 - std::to_string(best_trial).size(), ' ') +
                                std::to_string(best_trial),
                            0),
            0u)
      << run.out;
  EXPECT_TRUE(fs::exists(out / "sweep.svg"));

  // best.toml is a config file `ftune train` takes: the best trial's learning rate again.
  auto again = run_ftune({"--threads",
                          "1",
                          "--config",
                          (out / "best.toml").string(),
                          "train",
                          "--model",
                          kModel,
                          "--train",
                          kTexts,
                          "--valid",
                          kTexts,
                          "--output-dir",
                          (dir_ / "again").string(),
                          "--epochs",
                          "1"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const json best_record = *std::find_if(
      lines.begin(), lines.end(), [&](const json& r) { return r["trial"] == best_trial; });
  const json settings = json::parse(read_text_file(dir_ / "again" / "train_settings.json"));
  EXPECT_DOUBLE_EQ(settings["learning_rate"].get<double>(),
                   std::stod(best_record["params"]["learning-rate"].get<std::string>()));

  // A killed sweep: the last record lost. Without --resume the folder is refused; with it only
  // that trial runs again.
  std::string kept;
  for (size_t i = 0; i + 1 < lines.size(); ++i) kept += lines[i].dump() + "\n";
  write_text_file(out / "sweep.jsonl", kept);
  auto refused = sweep(out, space);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("--resume"), std::string::npos) << refused.err;
  std::vector<std::string> resume_args = space;
  resume_args.push_back("--resume");
  auto resumed = sweep(out, resume_args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resuming the sweep: 4 of 5 trials done"), std::string::npos)
      << resumed.err;
  const int64_t lost = lines.back()["trial"];
  size_t started = 0;
  for (size_t at = resumed.err.find("started:"); at != std::string::npos;
       at = resumed.err.find("started:", at + 1)) {
    ++started;
  }
  EXPECT_EQ(started, 1u) << resumed.err;
  EXPECT_NE(resumed.err.find("trial " + std::to_string(lost) + "/5 started"), std::string::npos);
  EXPECT_EQ(records(out).size(), 5u);

  // Another space against that sweep.jsonl: refused, naming the trial.
  std::vector<std::string> other = resume_args;
  other[7] = "learning-rate=loguniform(1e-3,1e-1)";
  auto mismatch = sweep(out, other);
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_NE(mismatch.err.find("--space and --seed now draw"), std::string::npos) << mismatch.err;
}

// Successive halving, one trial at a time so that every rung compares against the trials
// before: each pruned trial was stopped (SIGTERM, exit 143) before its last epoch, at a rung
// where enough earlier trials had done strictly better at the same evaluation, by their own
// logs; a trial that was not pruned ran every epoch.
TEST_F(Sweep, SuccessiveHalvingStopsTrialsBehindAtARung) {
  const fs::path out = dir_ / "sweep";
  // The texts 3 times: 6 steps an epoch, so that a trial behind at a rung is still running when
  // the sweep (looking every 50 ms) stops it.
  const std::string texts = read_text_file(kTexts);
  const fs::path train = dir_ / "train.jsonl";
  write_text_file(train, texts + texts + texts);
  auto run = run_ftune({"--threads",
                        "2",
                        "sweep",
                        "--model",
                        kModel,
                        "--train",
                        train.string(),
                        "--valid",
                        kTexts,
                        "--output-dir",
                        out.string(),
                        "--epochs",
                        "4",
                        "--trials",
                        "5",
                        "--space",
                        "learning-rate=loguniform(1e-5,1e-1)",
                        "--successive-halving",
                        "2"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto lines = records(out);
  ASSERT_EQ(lines.size(), 5u);
  // eval_macro_f1 of each trial, by evaluation, from its own log.
  auto evals = [&](int64_t trial) {
    std::vector<double> values;
    for (const auto& r : records_with(
             out / ("trial-" + std::to_string(trial)) / "trainer_log.jsonl", "eval_macro_f1")) {
      values.push_back(r["eval_macro_f1"].get<double>());
    }
    return values;
  };
  size_t pruned = 0;
  for (const auto& r : lines) {
    const int64_t trial = r["trial"];
    const auto own = evals(trial);
    if (r["status"] != "pruned") {
      EXPECT_EQ(r["status"], "ok") << r;
      EXPECT_EQ(own.size(), 4u) << r;
      continue;
    }
    ++pruned;
    EXPECT_EQ(r["exit_code"], 143) << r;
    EXPECT_LT(own.size(), 4u) << r;
    const json& rung = r["rungs"].back();
    const size_t evaluation = rung["evaluation"];
    ASSERT_LE(evaluation, own.size());
    const double value = own[evaluation - 1];
    EXPECT_DOUBLE_EQ(rung["value"].get<double>(), value);
    const size_t needed = std::max<size_t>(1, rung["of"].get<size_t>() / 2);
    size_t better = 0;
    for (int64_t earlier = 1; earlier < trial; ++earlier) {
      const auto theirs = evals(earlier);
      if (theirs.size() >= evaluation && theirs[evaluation - 1] > value) ++better;
    }
    EXPECT_GE(better, needed) << r;
    EXPECT_EQ(r["best_metric"].get<double>(), *std::max_element(own.begin(), own.end()));
  }
  EXPECT_GE(pruned, 1u) << run.err;
  EXPECT_LT(pruned, 5u);
  EXPECT_NE(run.out.find(" pruned "), std::string::npos) << run.out;
}

TEST_F(Sweep, BadInputStopsBeforeAnyTrial) {
  auto expect_refused = [&](std::vector<std::string> extra, const std::string& why) {
    const fs::path out = dir_ / "bad";
    auto run = sweep(out, extra);
    EXPECT_NE(run.exit_code, 0) << why;
    EXPECT_NE(run.err.find(why), std::string::npos) << run.err;
    EXPECT_FALSE(fs::exists(out / "trial-1")) << why;
  };
  expect_refused({"--trials", "0", "--space", "learning-rate=[1e-3]"}, "--trials 0");
  expect_refused({"--space", "dropout=[0.1]"}, "expected a train option a sweep can vary");
  expect_refused({"--space", "learning-rate=loguniform(1e-2,1e-4)"}, "expected LOW < HIGH");
  expect_refused({"--space", "epochs=[1]", "--space", "epochs=[2]"}, "epochs is given twice");
  expect_refused({"--space", "epochs=[1,2]"}, "--epochs is both searched");  // --epochs 2 fixed
  expect_refused({}, "--space is required");
  expect_refused({"--space", "learning-rate=[1e-3]", "--successive-halving", "1"},
                 "--successive-halving 1");
}

TEST_F(Sweep, EveryTrialFailingIsAnError) {
  auto run = sweep(dir_ / "sweep", {"--trials", "2", "--space", "max-length=[1,2]"});
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("error: sweep: every trial failed"), std::string::npos) << run.err;
  EXPECT_EQ(records(dir_ / "sweep").size(), 2u);
}

}  // namespace
}  // namespace ftune::testing
