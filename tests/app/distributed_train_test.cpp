// Data-parallel `ftune train` on loopback with Gloo: 2 ranks reproduce the 1-process run of the
// same global batch, resume from one checkpoint, and a dead or stalled rank brings the other
// down with an error instead of a hang.
#include <chrono>
#include <sstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/io/weights.h"
#include "lib/train/distributed.h"
#include "tests/app/cli_testing.h"
#include "tests/app/problem_data.h"
#include "tests/common/tensor_testing.h"

extern char** environ;

namespace ftune::testing {
namespace {

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";  // 16 examples

// A rank started by hand with torchrun's environment, its stderr in a file.
struct RankProcess {
  pid_t pid = -1;
  std::filesystem::path err;
};

RankProcess start_rank(const std::vector<std::string>& args, int rank, int world_size, int port,
                       const std::filesystem::path& err) {
  std::vector<std::string> env = {"RANK=" + std::to_string(rank),
                                  "LOCAL_RANK=" + std::to_string(rank),
                                  "WORLD_SIZE=" + std::to_string(world_size),
                                  "LOCAL_WORLD_SIZE=" + std::to_string(world_size),
                                  "MASTER_ADDR=127.0.0.1",
                                  "MASTER_PORT=" + std::to_string(port),
                                  // The test serves the rendezvous (LocalStoreServer, on a port
                                  // bound at once), as torchrun's agent does: ranks are clients.
                                  "TORCHELASTIC_USE_AGENT_STORE=True"};
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  std::vector<std::string> argv_strings = {FTUNE_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv, envp;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  RankProcess process{::fork(), err};
  if (process.pid == 0) {
    ::dup2(err_fd, STDERR_FILENO);
    ::dup2(err_fd, STDOUT_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(err_fd);
  return process;
}

// The exit code (128 + signal when killed), or -1 if still running after `limit`.
int wait_for(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return -1;
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::kill(pid, SIGCONT);
  int status = 0;
  ::waitpid(pid, &status, 0);
}

class DistributedTrainTest : public CliTest {
 protected:
  // The common arguments of a run; `extra` adds batch size, launcher flags etc.
  static std::vector<std::string> train_args(const std::filesystem::path& out,
                                             std::vector<std::string> extra) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "train",
                                     "--model",
                                     kModel,
                                     "--train",
                                     kTexts,
                                     "--output-dir",
                                     out.string(),
                                     "--learning-rate",
                                     "1e-3",
                                     "--weight-decay",
                                     "0.01",
                                     "--warmup-steps",
                                     "1",
                                     "--logging-steps",
                                     "1",
                                     "--dist-timeout",
                                     "60"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  static void expect_same_trajectory(const std::filesystem::path& one,
                                     const std::filesystem::path& two) {
    const auto a = read_json_lines(one / "trainer_log.jsonl");
    const auto b = read_json_lines(two / "trainer_log.jsonl");
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) {
      for (const char* key : {"loss", "grad_norm", "eval_loss", "eval_macro_f1", "eval_accuracy"}) {
        if (!a[i].contains(key)) continue;
        ASSERT_TRUE(b[i].contains(key)) << "record " << i << " has no " << key;
        const double want = a[i][key].get<double>();
        EXPECT_NEAR(b[i][key].get<double>(), want, 1e-5 * std::abs(want))
            << key << " of record " << i << ": " << a[i].dump();
      }
    }
    const auto want = read_weights(one / "last" / "model.safetensors");
    const auto got = read_weights(two / "last" / "model.safetensors");
    ASSERT_EQ(want.size(), got.size());
    for (const auto& [name, tensor] : want) {
      ASSERT_TRUE(got.count(name)) << name;
      // The loss does not depend on a key bias (it adds the same q.b to every score of a row,
      // which the softmax cancels), so its gradient is float rounding noise, different for
      // different batch groupings, and AdamW's normalization turns that noise into steps of up
      // to the learning rate. Those tensors can only agree to lr x steps.
      const bool noise_driven = name.find("attention.self.key.bias") != std::string::npos;
      EXPECT_TRUE(tensors_close(got.at(name), tensor, 1e-5, noise_driven ? 5e-3 : 1e-5)) << name;
    }
  }
};

TEST_F(DistributedTrainTest, TwoRanksOfBatchFourReproduceOneProcessOfBatchEight) {
  const std::vector<std::string> common = {
      "--no-shuffle", "--epochs", "3", "--eval-strategy", "no"};
  auto args_one = train_args(dir_ / "one", common);
  args_one.insert(args_one.end(), {"--batch-size", "8"});
  auto one = run_ftune(args_one);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto args_two = train_args(dir_ / "two", common);
  args_two.insert(args_two.end(), {"--batch-size", "4", "--nproc-per-node", "2"});
  auto two = run_ftune(args_two);
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_NE(two.err.find("distributed: 2 ranks"), std::string::npos) << two.err;
  EXPECT_EQ(read_step_losses(dir_ / "two" / "trainer_log.jsonl").size(), 6u);
  expect_same_trajectory(dir_ / "one", dir_ / "two");
}

TEST_F(DistributedTrainTest, AccumulationAndEvaluationMatchOneProcessToo) {
  // 2 ranks x batch 2 x 2 micro-steps = 8. Evaluation is sharded (8 and 7 rows of an odd-sized
  // validation file) and gathered: the metrics must be those of the whole set.
  const auto valid = dir_ / "valid15.jsonl";
  {
    std::istringstream in(read_text_file(kTexts));
    std::string line, kept;
    for (int i = 0; i < 15 && std::getline(in, line); ++i) kept += line + "\n";
    write_text_file(valid, kept);
  }
  const std::vector<std::string> common = {"--no-shuffle",
                                           "--epochs",
                                           "2",
                                           "--valid",
                                           valid.string(),
                                           "--metric-for-best-model",
                                           "loss"};
  auto args_one = train_args(dir_ / "one", common);
  args_one.insert(args_one.end(), {"--batch-size", "8"});
  auto one = run_ftune(args_one);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto args_two = train_args(dir_ / "two", common);
  args_two.insert(
      args_two.end(),
      {"--batch-size", "2", "--gradient-accumulation-steps", "2", "--nproc-per-node", "2"});
  auto two = run_ftune(args_two);
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_EQ(read_step_losses(dir_ / "two" / "trainer_log.jsonl").size(), 4u);
  expect_same_trajectory(dir_ / "one", dir_ / "two");
  EXPECT_TRUE(std::filesystem::exists(dir_ / "two" / "best" / "model.safetensors"));
}

TEST_F(DistributedTrainTest, NerEvaluationGathersEveryRanksWindowsIntoTheWholeSetsMetrics) {
  // Sub-word windows of 12 tokens: the 7 validation sentences make 9 windows (sentence 12 takes
  // three), so the two ranks evaluate 5 and 4 windows of differing lengths, gathered back into
  // one set: the last evaluation must equal `ftune eval` of the same weights in one process.
  // (The training steps are not compared with one process of twice the batch: the token loss
  // is each rank's mean over its own labelled sub-words, averaged over the ranks, as PyTorch's
  // DDP and Hugging Face's Trainer compute it, not the mean over the whole batch's.)
  write_ner_data(dir_ / "train.conll");
  write_ner_data(dir_ / "valid.conll", /*first=*/9);
  auto two = run_ftune({"--threads",
                        "1",
                        "train",
                        "--task",
                        "ner",
                        "--model",
                        kModel,
                        "--train",
                        (dir_ / "train.conll").string(),
                        "--valid",
                        (dir_ / "valid.conll").string(),
                        "--output-dir",
                        (dir_ / "two").string(),
                        "--max-length",
                        "12",
                        "--stride",
                        "3",
                        "--epochs",
                        "2",
                        "--learning-rate",
                        "5e-3",
                        "--batch-size",
                        "4",
                        "--nproc-per-node",
                        "2",
                        "--dist-timeout",
                        "60"});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  const auto evals = records_with(dir_ / "two" / "trainer_log.jsonl", "eval_f1");
  ASSERT_EQ(evals.size(), 2u);
  auto one = run_ftune({"eval",
                        "--model",
                        (dir_ / "two" / "last").string(),
                        "--data",
                        (dir_ / "valid.conll").string(),
                        "--max-length",
                        "12",
                        "--stride",
                        "3",
                        "--report-json",
                        (dir_ / "report.json").string()});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const auto report = nlohmann::json::parse(read_text_file(dir_ / "report.json"));
  for (const char* key : {"loss", "f1", "precision", "recall", "accuracy"}) {
    const double want = report["metrics"][key].get<double>();
    EXPECT_NEAR(evals.back()[std::string("eval_") + key].get<double>(), want, 1e-6 * std::abs(want))
        << key;
  }
}

class DistributedProblemTypes : public DistributedTrainTest,
                                public ::testing::WithParamInterface<std::string> {};

// Regression and multi-label through two ranks: the same steps as one process of twice the batch
// (their losses are means over examples or cells, so the ranks' mean is the batch's), and an
// evaluation sharded over 8 and 7 rows whose gathered metrics are the whole set's.
TEST_P(DistributedProblemTypes, TwoRanksTrainAndEvaluateAsOneProcess) {
  const auto data = dir_ / "data.jsonl";
  if (GetParam() == "regression") {
    write_regression_data(data);
  } else {
    write_multi_label_data(data);
  }
  const auto valid = dir_ / "valid15.jsonl";
  {
    std::istringstream in(read_text_file(data));
    std::string line, kept;
    for (int i = 0; i < 15 && std::getline(in, line); ++i) kept += line + "\n";
    write_text_file(valid, kept);
  }
  auto args = [&](const std::string& out, std::vector<std::string> extra) {
    std::vector<std::string> all = {"--threads",
                                    "1",
                                    "train",
                                    "--model",
                                    kModel,
                                    "--problem-type",
                                    GetParam(),
                                    "--train",
                                    data.string(),
                                    "--valid",
                                    valid.string(),
                                    "--output-dir",
                                    (dir_ / out).string(),
                                    "--no-shuffle",
                                    "--epochs",
                                    "2",
                                    "--learning-rate",
                                    "1e-3",
                                    "--logging-steps",
                                    "1",
                                    "--metric-for-best-model",
                                    "loss",
                                    "--dist-timeout",
                                    "60"};
    all.insert(all.end(), extra.begin(), extra.end());
    return all;
  };
  auto one = run_ftune(args("one", {"--batch-size", "8"}));
  ASSERT_EQ(one.exit_code, 0) << one.err;
  auto two = run_ftune(args("two", {"--batch-size", "4", "--nproc-per-node", "2"}));
  ASSERT_EQ(two.exit_code, 0) << two.err;
  expect_same_trajectory(dir_ / "one", dir_ / "two");
  const char* metric = GetParam() == "regression" ? "eval_pearson" : "eval_micro_f1";
  const auto a = records_with(dir_ / "one" / "trainer_log.jsonl", metric);
  const auto b = records_with(dir_ / "two" / "trainer_log.jsonl", metric);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_NEAR(b[i][metric].get<double>(), a[i][metric].get<double>(), 1e-5) << metric << i;
  }
}

INSTANTIATE_TEST_SUITE_P(ProblemType, DistributedProblemTypes,
                         ::testing::Values("regression", "multi_label_classification"));

TEST_F(DistributedTrainTest, EveryRankResumesFromTheSameCheckpoint) {
  const std::vector<std::string> common = {
      "--epochs", "3", "--batch-size", "2", "--eval-strategy", "no", "--nproc-per-node", "2"};
  auto full = run_ftune(train_args(dir_ / "full", common));
  ASSERT_EQ(full.exit_code, 0) << full.err;
  auto part = run_ftune(train_args(dir_ / "part", common));
  ASSERT_EQ(part.exit_code, 0) << part.err;
  std::filesystem::remove_all(dir_ / "part" / "checkpoint-8");
  std::filesystem::remove_all(dir_ / "part" / "checkpoint-12");
  std::filesystem::remove_all(dir_ / "part" / "last");
  auto resume_args = train_args(dir_ / "part", common);
  resume_args.insert(resume_args.end(), {"--resume-from-checkpoint", "latest"});
  auto resumed = run_ftune(resume_args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("at step 4"), std::string::npos) << resumed.err;
  EXPECT_EQ(read_step_losses(dir_ / "part" / "trainer_log.jsonl"),
            read_step_losses(dir_ / "full" / "trainer_log.jsonl"));
  EXPECT_EQ(read_text_file(dir_ / "part" / "last" / "model.safetensors"),
            read_text_file(dir_ / "full" / "last" / "model.safetensors"));
}

// Starts 2 ranks of a long run by hand, waits until rank 0 trains, then does `to_rank_1` to
// rank 1; rank 0 must exit non-zero with an error naming itself within `limit`.
void expect_survivor_fails(const std::filesystem::path& dir, int timeout_seconds,
                           int signal_to_rank_1, std::chrono::seconds limit,
                           std::chrono::seconds at_least) {
  LocalStoreServer store("127.0.0.1");  // outlives the ranks below
  const int port = store.port();
  const std::vector<std::string> args = {"--threads",
                                         "1",
                                         "train",
                                         "--model",
                                         kModel,
                                         "--train",
                                         kTexts,
                                         "--output-dir",
                                         (dir / "run").string(),
                                         "--batch-size",
                                         "2",
                                         "--max-steps",
                                         "100000",
                                         "--eval-strategy",
                                         "no",
                                         "--logging-steps",
                                         "1",
                                         "--dist-timeout",
                                         std::to_string(timeout_seconds)};
  auto rank0 = start_rank(args, 0, 2, port, dir / "rank0.err");
  auto rank1 = start_rank(args, 1, 2, port, dir / "rank1.err");
  const auto log = dir / "run" / "trainer_log.jsonl";
  wait_until_ready(
      rank0.pid, [&] { return read_step_losses(log).size() >= 3; }, std::chrono::milliseconds(100));
  ASSERT_GE(read_step_losses(log).size(), 3u) << read_text_file(dir / "rank0.err");
  const auto signalled = std::chrono::steady_clock::now();
  ::kill(rank1.pid, signal_to_rank_1);
  const int exit_code = wait_for(rank0.pid, limit);
  const auto took = std::chrono::steady_clock::now() - signalled;
  kill_and_reap(rank1.pid);
  if (exit_code < 0) kill_and_reap(rank0.pid);
  const std::string err = read_text_file(dir / "rank0.err");
  ASSERT_GE(exit_code, 0) << "rank 0 still running " << limit.count() << " s later:\n" << err;
  EXPECT_NE(exit_code, 0) << err;
  EXPECT_GE(took, at_least) << err;
  EXPECT_NE(err.find("error: distributed training: rank 0:"), std::string::npos) << err;
  EXPECT_NE(err.find("hint:"), std::string::npos) << err;
}

// The upper bounds are the collective timeout plus a minute: what they guard against is a
// survivor that never exits (it would wait forever), and the minute absorbs a loaded machine
// (ctest -j) without letting a hang pass.
constexpr auto kSlack = std::chrono::seconds(60);

TEST_F(DistributedTrainTest, KilledRankMakesTheOtherExitNonZeroWithinTheTimeout) {
  expect_survivor_fails(
      dir_, 20, SIGKILL, std::chrono::seconds(20) + kSlack, std::chrono::seconds(0));
}

TEST_F(DistributedTrainTest, StalledRankMakesTheOtherFailAfterTheCollectiveTimeout) {
  // SIGSTOP keeps rank 1's sockets open: only the collective timeout can end rank 0's wait.
  expect_survivor_fails(
      dir_, 4, SIGSTOP, std::chrono::seconds(4) + kSlack, std::chrono::seconds(3));
}

TEST_F(DistributedTrainTest, LauncherReportsTheFailedRank) {
  // Both ranks fail on the bad column; the launcher names the first and exits non-zero.
  auto result = run_ftune(train_args(
      dir_ / "run", {"--text-column", "nope", "--nproc-per-node", "2", "--eval-strategy", "no"}));
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find("error: launching ranks: rank "), std::string::npos) << result.err;
}

TEST_F(DistributedTrainTest, NcclOnTheCpuFailsBeforeTrainingAndPointsToGloo) {
  // Debian's LibTorch has no NCCL; a CUDA LibTorch has it, but NCCL moves CUDA tensors only.
  auto result = run_ftune(train_args(dir_ / "run",
                                     {"--nproc-per-node",
                                      "1",
                                      "--dist-backend",
                                      "nccl",
                                      "--device",
                                      "cpu",
                                      "--eval-strategy",
                                      "no"}));
  EXPECT_EQ(result.exit_code, 1) << result.err;
  const bool no_nccl = result.err.find("this LibTorch build has no NCCL") != std::string::npos;
  const bool cpu = result.err.find("NCCL moves CUDA tensors only") != std::string::npos;
  EXPECT_TRUE(no_nccl || cpu) << result.err;
  EXPECT_NE(result.err.find("--dist-backend gloo"), std::string::npos) << result.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ / "run" / "trainer_log.jsonl"));
}

}  // namespace
}  // namespace ftune::testing
