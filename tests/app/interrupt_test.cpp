// Interruptions: SIGTERM/SIGINT during training save a resumable checkpoint and exit 128 + signal;
// resuming from it ends exactly where the uninterrupted run ends.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include <gtest/gtest.h>

#include "tests/app/cli_testing.h"

namespace ftune::testing {
namespace {

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";

std::vector<std::string> train_args(const std::filesystem::path& out,
                                    const std::string& eval_strategy = "no") {
  return {"--threads", "1", "train", "--model", kModel, "--train", kTexts, "--output-dir",
          out.string(), "--batch-size", "1", "--epochs", "15", "--learning-rate", "1e-3",
          "--logging-steps", "1", "--eval-strategy", eval_strategy};
}

size_t count_lines(const std::filesystem::path& file) {
  std::ifstream in(file);
  return static_cast<size_t>(std::count(std::istreambuf_iterator<char>(in),
                                        std::istreambuf_iterator<char>(), '\n'));
}

// Starts ftune in the background with its output discarded; returns its pid.
pid_t start_ftune(std::vector<std::string> args) {
  std::string binary = FTUNE_BINARY;
  std::vector<char*> argv = {binary.data()};
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t child = ::fork();
  if (child == 0) {
    const int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, STDERR_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  return child;
}

// Starts ftune, waits until it has logged `steps` steps, sends `signal_number`, returns the exit
// code (128 + signal when killed by it, as a shell reports).
int interrupt_training(const std::filesystem::path& out, int signal_number, size_t steps) {
  const pid_t child = start_ftune(train_args(out));
  const auto log = out / "trainer_log.jsonl";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline &&
         (!std::filesystem::exists(log) || count_lines(log) < steps)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ::kill(child, signal_number);
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

class InterruptTest : public CliTest {};

TEST_F(InterruptTest, SigtermSavesACheckpointAndResumeMatchesTheUninterruptedRun) {
  auto full = run_ftune(train_args(dir_ / "full"));
  ASSERT_EQ(full.exit_code, 0) << full.err;

  const int code = interrupt_training(dir_ / "part", SIGTERM, 50);
  ASSERT_EQ(code, 143);
  std::optional<std::filesystem::path> checkpoint;
  for (const auto& entry : std::filesystem::directory_iterator(dir_ / "part")) {
    if (entry.path().filename().string().rfind("checkpoint-", 0) == 0) checkpoint = entry.path();
  }
  ASSERT_TRUE(checkpoint.has_value()) << "no checkpoint written on SIGTERM";
  EXPECT_TRUE(std::filesystem::exists(*checkpoint / "trainer_state.json"));

  auto resume_args = train_args(dir_ / "part");
  resume_args.insert(resume_args.end(), {"--resume-from-checkpoint", "latest"});
  auto resumed = run_ftune(resume_args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(read_text_file(dir_ / "part" / "last" / "model.safetensors"),
            read_text_file(dir_ / "full" / "last" / "model.safetensors"));
}

TEST_F(InterruptTest, SigintExitsWith130) {
  EXPECT_EQ(interrupt_training(dir_ / "run", SIGINT, 5), 130);
}

TEST_F(InterruptTest, KillNineAtAnyMomentLeavesLatestLoadable) {
  // Checkpoints at every step; SIGKILL lands at different points of the writes each round.
  for (int round = 0; round < 6; ++round) {
    const auto out = dir_ / ("run" + std::to_string(round));
    auto args = train_args(out, "steps");
    args.insert(args.end(), {"--eval-steps", "1", "--valid", kTexts, "--save-total-limit", "2"});
    const pid_t child = start_ftune(args);
    const auto log = out / "trainer_log.jsonl";
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline &&
           (!std::filesystem::exists(log) || count_lines(log) < 4)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(7 * round));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);

    auto resume = train_args(out, "steps");
    resume.insert(resume.end(), {"--eval-steps", "1", "--valid", kTexts, "--save-total-limit",
                                 "2", "--resume-from-checkpoint", "latest", "--max-steps", "12"});
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
  auto result = run_ftune({"--threads", "1", "train", "--model", kModel, "--train", kTexts,
                           "--output-dir", (dir_ / "run").string(), "--eval-strategy", "no",
                           "--learning-rate", "1e30", "--max-grad-norm", "0"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("nan at step"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("hint: lower --learning-rate"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace ftune::testing
