// Interruptions: SIGTERM/SIGINT during training save a resumable checkpoint and exit 128 + signal;
// resuming from it ends exactly where the uninterrupted run ends.
#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/app/cli_testing.h"

namespace ftune::testing {
namespace {

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";

std::vector<std::string> train_args(const std::filesystem::path& out,
                                    const std::string& eval_strategy = "no") {
  return {"--threads",
          "1",
          "train",
          "--model",
          kModel,
          "--train",
          kTexts,
          "--output-dir",
          out.string(),
          "--batch-size",
          "1",
          "--epochs",
          "15",
          "--learning-rate",
          "1e-3",
          "--logging-steps",
          "1",
          "--eval-strategy",
          eval_strategy};
}

size_t count_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  return static_cast<size_t>(
      std::count(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>(), '\n'));
}

// Starts ftune, waits until it has logged `steps` steps, sends `signal_number`, returns the exit
// code (128 + signal when killed by it, as a shell reports).
int interrupt_training(const std::filesystem::path& out, int signal_number, size_t steps,
                       const std::filesystem::path& err = {}) {
  const pid_t child = start_ftune(train_args(out), err);
  const auto log = out / "trainer_log.jsonl";
  wait_until_ready(child,
                   [&] { return std::filesystem::exists(log) && count_lines(log) >= steps; });
  ::kill(child, signal_number);  // a run that ended early is a zombie: no effect, its code counts
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class InterruptTest : public CliTest {};

// The step the run stopped at and the checkpoint it saved, from its last stderr line
// ("training interrupted by signal N at step S; saved PATH; hint: ..."); step -1 when absent.
std::pair<int64_t, std::filesystem::path> parse_interruption(const std::string& err,
                                                             int signal_number) {
  const std::string marker =
      "training interrupted by signal " + std::to_string(signal_number) + " at step ";
  const auto at = err.find(marker);
  if (at == std::string::npos) return {-1, {}};
  const auto step_begin = at + marker.size();
  const int64_t step = std::stoll(err.substr(step_begin));
  const auto saved = err.find("; saved ", step_begin);
  const auto end = err.find("; hint:", saved);
  if (saved == std::string::npos || end == std::string::npos) return {step, {}};
  return {step, err.substr(saved + 8, end - saved - 8)};
}

TEST_F(InterruptTest, SigtermSavesACheckpointAtTheStepReachedAndResumeMatchesTheFullRun) {
  auto full = run_ftune(train_args(dir_ / "full"));
  ASSERT_EQ(full.exit_code, 0) << full.err;

  // 16 examples, batch 1: the epoch-end checkpoints are 16, 32, 48, ...; the signal's
  // checkpoint is the one at the step the run had reached, whatever that is.
  const auto err_file = dir_ / "part.err";
  const int code = interrupt_training(dir_ / "part", SIGTERM, 50, err_file);
  ASSERT_EQ(code, 143);
  const std::string err = read_text_file(err_file);
  EXPECT_NE(err.find("stopping after this step and saving a checkpoint"), std::string::npos) << err;
  const auto [step, saved] = parse_interruption(err, SIGTERM);
  ASSERT_GE(step, 50) << "no interruption line: the signal handler did not run\n" << err;
  EXPECT_EQ(saved.filename().string(), "checkpoint-" + std::to_string(step)) << err;
  ASSERT_TRUE(std::filesystem::exists(saved / "trainer_state.json")) << saved;
  const auto state = nlohmann::json::parse(read_text_file(saved / "trainer_state.json"));
  EXPECT_EQ(state["global_step"].get<int64_t>(), step);

  auto resume_args = train_args(dir_ / "part");
  resume_args.insert(resume_args.end(), {"--resume-from-checkpoint", saved.string()});
  auto resumed = run_ftune(resume_args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("at step " + std::to_string(step)), std::string::npos) << resumed.err;
  EXPECT_EQ(read_text_file(dir_ / "part" / "last" / "model.safetensors"),
            read_text_file(dir_ / "full" / "last" / "model.safetensors"));
}

TEST_F(InterruptTest, SigintSavesACheckpointAndExitsWith130) {
  // Death by an unhandled SIGINT also reads as 130: the saved checkpoint tells them apart.
  const auto err_file = dir_ / "run.err";
  EXPECT_EQ(interrupt_training(dir_ / "run", SIGINT, 5, err_file), 130);
  const std::string err = read_text_file(err_file);
  const auto [step, saved] = parse_interruption(err, SIGINT);
  ASSERT_GE(step, 5) << "no interruption line: the signal handler did not run\n" << err;
  EXPECT_TRUE(std::filesystem::exists(saved / "trainer_state.json")) << err;
}

TEST_F(InterruptTest, SecondSignalExitsAtOnceWithoutSaving) {
  const auto err_file = dir_ / "run.err";
  const pid_t child = start_ftune(train_args(dir_ / "run"), err_file);
  const auto log = dir_ / "run" / "trainer_log.jsonl";
  wait_until_ready(child, [&] { return std::filesystem::exists(log) && count_lines(log) >= 5; });
  // Two signals sent back to back may merge into one; the second goes once the first was seen
  // (its note is on stderr), while the run is still finishing its step and writing a checkpoint.
  ::kill(child, SIGINT);
  wait_until_ready(
      child,
      [&] {
        return read_text_file(err_file).find("stopping after this step") != std::string::npos;
      },
      std::chrono::milliseconds(1));
  ::kill(child, SIGINT);
  int status = 0;
  ::waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << "status " << status;
  const std::string err = read_text_file(err_file);
  EXPECT_NE(err.find("second signal, exiting without saving"), std::string::npos) << err;
  EXPECT_EQ(parse_interruption(err, SIGINT).first, -1) << err;
}

TEST_F(InterruptTest, KillNineAtAnyMomentLeavesLatestLoadable) {
  // Checkpoints at every step; SIGKILL lands at different points of the writes each round.
  for (int round = 0; round < 6; ++round) {
    const auto out = dir_ / ("run" + std::to_string(round));
    auto args = train_args(out, "steps");
    args.insert(args.end(), {"--eval-steps", "1", "--valid", kTexts, "--save-total-limit", "2"});
    const pid_t child = start_ftune(args);
    const auto log = out / "trainer_log.jsonl";
    wait_until_ready(
        child,
        [&] { return std::filesystem::exists(log) && count_lines(log) >= 4; },
        std::chrono::milliseconds(2));
    std::this_thread::sleep_for(std::chrono::milliseconds(7 * round));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);

    auto resume = train_args(out, "steps");
    resume.insert(resume.end(),
                  {"--eval-steps",
                   "1",
                   "--valid",
                   kTexts,
                   "--save-total-limit",
                   "2",
                   "--resume-from-checkpoint",
                   "latest",
                   "--max-steps",
                   "12"});
    auto result = run_ftune(resume);
    // "latest" is a complete checkpoint: the run resumes from it (or, if SIGKILL came before the
    // first checkpoint was complete, says there is none) and never fails on a half-written one.
    if (result.exit_code != 0) {
      EXPECT_NE(result.err.find("no complete checkpoint"), std::string::npos)
          << "round " << round << ": " << result.err;
    } else {
      EXPECT_NE(result.err.find("resuming from"), std::string::npos) << result.err;
    }
  }
}

TEST_F(InterruptTest, NonFiniteLossStopsNamingTheStepWithAHint) {
  auto result = run_ftune({"--threads",
                           "1",
                           "train",
                           "--model",
                           kModel,
                           "--train",
                           kTexts,
                           "--output-dir",
                           (dir_ / "run").string(),
                           "--eval-strategy",
                           "no",
                           "--learning-rate",
                           "1e30",
                           "--max-grad-norm",
                           "0"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("nan at step"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("hint: lower --learning-rate"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace ftune::testing
