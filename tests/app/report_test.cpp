// `--report-to tensorboard` (issue #19): the event files in <output-dir>/runs/ read back with the
// real `tensorboard` package (tests/app/read_tensorboard.py, through TensorBoard's own TFRecord
// reader, which checks every CRC, and its EventAccumulator): every number of trainer_log.jsonl
// is there under Hugging Face's tag at its step, and the run's settings as text. Needs the torch2
// build's Python with tensorboard (scripts/install-torch2.sh installs it); skipped elsewhere. What
// needs no Python (the folder, its absence without the flag, --overwrite-output-dir) runs in
// every build.
#include <cmath>
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

class ReportTo : public CliTest {
 protected:
  CommandResult train(const fs::path& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "train",
                                     "--model",
                                     kModel,
                                     "--train",
                                     kTexts,
                                     "--valid",
                                     kTexts,
                                     "--output-dir",
                                     out.string(),
                                     "--epochs",
                                     "2",
                                     "--learning-rate",
                                     "1e-3",
                                     "--logging-steps",
                                     "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }

  static std::vector<fs::path> event_files(const fs::path& runs) {
    std::vector<fs::path> files;
    if (!fs::exists(runs)) return files;
    for (const auto& entry : fs::directory_iterator(runs)) files.push_back(entry.path());
    return files;
  }
};

TEST_F(ReportTo, TensorBoardFolderOnlyWithTheFlagAndOverwriteRemovesIt) {
  ASSERT_EQ(train(dir_ / "plain", {}).exit_code, 0);
  EXPECT_FALSE(fs::exists(dir_ / "plain" / "runs"));
  auto run = train(dir_ / "tb", {"--report-to", "tensorboard"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto first = event_files(dir_ / "tb" / "runs");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].filename().string().rfind("events.out.tfevents.", 0), 0u);
  // A new run over it is refused while runs/ is there, and --overwrite-output-dir deletes it.
  auto refused = train(dir_ / "tb", {"--report-to", "tensorboard"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("runs"), std::string::npos) << refused.err;
  ASSERT_EQ(train(dir_ / "tb", {"--report-to", "tensorboard", "--overwrite-output-dir"}).exit_code,
            0);
  const auto second = event_files(dir_ / "tb" / "runs");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_FALSE(fs::exists(first[0]) && first[0] != second[0]);
  EXPECT_EQ(train(dir_ / "bad", {"--report-to", "wandb"}).exit_code, 2);
}

TEST_F(ReportTo, TensorBoardReadsEveryLoggedNumberAtItsStep) {
  const std::string python = reference_python("tensorboard");
  if (python.empty()) {
    GTEST_SKIP() << "no reference Python with tensorboard; hint: bash scripts/install-torch2.sh";
  }
  auto run = train(dir_ / "run", {"--report-to", "tensorboard"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto [status, out] = capture(python + " tests/app/read_tensorboard.py '" +
                               (dir_ / "run" / "runs").string() + "' 2>&1");
  ASSERT_EQ(status, 0) << out;
  const json read = json::parse(out.substr(out.find('{')));
  const json& scalars = read["scalars"];

  // The value TensorBoard holds for `tag` at `step` (float32, as simple_value stores it).
  auto expect_scalar = [&](const std::string& tag, int64_t step, double want) {
    ASSERT_TRUE(scalars.contains(tag)) << tag << " missing; tags: " << scalars.dump();
    for (const auto& point : scalars[tag]) {
      if (point[0].get<int64_t>() != step) continue;
      EXPECT_NEAR(point[1].get<double>(), want, 1e-6 * std::max(1.0, std::abs(want)))
          << tag << " at step " << step;
      return;
    }
    ADD_FAILURE() << tag << " has no value at step " << step << ": " << scalars[tag].dump();
  };
  size_t expected_scalars = 0;
  for (const auto& record : read_json_lines(dir_ / "run" / "trainer_log.jsonl")) {
    const auto step = record["step"].get<int64_t>();
    for (const auto& [key, value] : record.items()) {
      if (key == "step" || key == "elapsed" || (key == "epoch" && !record.contains("loss"))) {
        continue;  // the epoch is logged once per step record
      }
      if (key == "metric_for_best_model" || key == "best_metric" || key == "best_step" ||
          key == "stopped_early") {
        continue;  // the closing record's outcome, for `ftune report`: not scalars
      }
      const std::string tag = key.rfind("eval_", 0) == 0 ? "eval/" + key.substr(5) : "train/" + key;
      expect_scalar(tag, step, value.get<double>());
      ++expected_scalars;
    }
  }
  size_t got_scalars = 0;
  for (const auto& [tag, points] : scalars.items()) got_scalars += points.size();
  EXPECT_EQ(got_scalars, expected_scalars);
  EXPECT_EQ(expected_scalars, 4u * 4 + 2u * 8 + 4u);  // 4 steps, 2 evaluations, the summary

  ASSERT_EQ(read["texts"]["args"].size(), 1u);
  const std::string args = read["texts"]["args"][0].get<std::string>();
  EXPECT_NE(args.find("\"learning_rate\": 0.001"), std::string::npos) << args;
  EXPECT_NE(args.find("\"metric_for_best_model\": \"macro_f1\""), std::string::npos) << args;
  // Every record passed TensorBoard's CRC checks: file version, 36 scalars, 1 text.
  ASSERT_EQ(read["records"].size(), 1u);
  EXPECT_EQ(read["records"].begin().value(), 1 + 36 + 1);
}

}  // namespace
}  // namespace ftune::testing
