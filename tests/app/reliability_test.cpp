// Reliability, round two, through the real binary: options out of range, a config size no memory
// holds, a full disk while checkpointing, two runs in one output folder, an output that would
// overwrite an input, a tiny --max-length, translate stopped by a signal, null sources, vocabulary
// ids beyond the model, damaged trainer_state.json, label maps that disagree, resuming with
// another batch or data. Each ends in one `error:` line (exit 1, or 2 for a bad option) and
// leaves nothing half-written.
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/app/cli_testing.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";  // 16 rows: 2 steps of 8
const std::string kMarian = "tests/fixtures/marian-mt";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Names under `dir` (recursively) that a failed or finished run must not leave behind.
std::vector<std::string> leftovers(const fs::path& dir) {
  std::vector<std::string> found;
  if (!fs::exists(dir)) return found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const auto name = entry.path().filename().string();
    if (contains(name, ".tmp-") || contains(name, ".tmp.") || contains(name, ".old-")) {
      found.push_back(entry.path().string());
    }
  }
  return found;
}

void copy_folder(const fs::path& from, const fs::path& to) {
  fs::create_directories(to);
  for (const auto& entry : fs::directory_iterator(from)) {
    fs::copy(entry.path(), to / entry.path().filename());
  }
}

class Reliability : public CliTest {
 protected:
  CommandResult train(const fs::path& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "train",
                                     "--model",
                                     kModel,
                                     "--train",
                                     kTexts,
                                     "--output-dir",
                                     out.string(),
                                     "--eval-strategy",
                                     "no"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }
};

// --- options out of range: exit 2 before any work, the range in words ---

TEST_F(Reliability, NegativeBatchSizeIsAUsageErrorInEveryTrainingCommand) {
  const std::vector<std::vector<std::string>> commands = {
      {"train", "--model", kModel, "--train", kTexts},
      {"pretrain", "--model", kModel, "--train", kTexts},
      {"train", "--task", "translate", "--model", kMarian, "--train", kTexts}};
  for (auto args : commands) {
    args.insert(args.end(), {"--output-dir", (dir_ / "run").string(), "--batch-size", "-1"});
    auto result = run_ftune(args);
    EXPECT_EQ(result.exit_code, 2) << describe(args) << "\n" << result.err;
    EXPECT_TRUE(contains(result.err, "--batch-size: must be >= 1, got -1")) << result.err;
    EXPECT_LT(result.err.size(), 300u) << "a 300-digit range? " << result.err;
    EXPECT_FALSE(fs::exists(dir_ / "run"));
  }
}

TEST_F(Reliability, NonsenseOptimizerValuesAreRejectedWithTheirRange) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--warmup-ratio", "2"}, "--warmup-ratio: must be >= 0 and <= 1, got 2"},
      {{"--warmup-ratio", "nan"}, "--warmup-ratio: must be a finite number, got nan"},
      {{"--adam-beta1", "2"}, "--adam-beta1: must be >= 0 and < 1, got 2"},
      {{"--weight-decay", "-0.1"}, "--weight-decay: must be >= 0, got -0.1"},
      {{"--max-grad-norm", "nan"}, "--max-grad-norm: must be a finite number, got nan"},
      {{"--adam-epsilon", "0"}, "--adam-epsilon: must be > 0, got 0"},
      {{"--learning-rate", "inf"}, "--learning-rate: must be a finite number, got inf"},
      {{"--logging-steps", "0"}, "--logging-steps: must be >= 1, got 0"},
      {{"--seed", "-3"}, "--seed: must be >= 0, got -3"}};
  for (const auto& [extra, message] : cases) {
    auto result = train(dir_ / "run", extra);
    EXPECT_EQ(result.exit_code, 2) << extra[0] << " " << extra[1];
    EXPECT_TRUE(contains(result.err, message)) << result.err;
    EXPECT_FALSE(fs::exists(dir_ / "run"));
  }
}

TEST_F(Reliability, GenerationOptionsAreCheckedBeforeTraining) {
  for (const auto& [option, value] : std::vector<std::pair<std::string, std::string>>{
           {"--generation-num-beams", "0"}, {"--generation-max-length", "-5"}}) {
    auto result = run_ftune({"train",
                             "--task",
                             "translate",
                             "--model",
                             kMarian,
                             "--train",
                             kMarian + "/pairs.jsonl",
                             "--output-dir",
                             (dir_ / "run").string(),
                             "--predict-with-generate",
                             option,
                             value});
    EXPECT_EQ(result.exit_code, 2) << option << "\n" << result.err;
    EXPECT_TRUE(contains(result.err, option + ": must be >= ")) << result.err;
    EXPECT_FALSE(fs::exists(dir_ / "run"));
  }
}

TEST_F(Reliability, TinyMaxLengthIsRefusedInsteadOfTurningTruncationOff) {
  for (const std::string length : {"1", "2"}) {
    auto result = train(dir_ / "run", {"--max-length", length});
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_TRUE(contains(result.err, "--max-length " + length + ": expected at least 3"))
        << result.err;
    EXPECT_FALSE(fs::exists(dir_ / "run"));
  }
}

TEST_F(Reliability, ConfigSizeBeyondMemoryNamesTheKey) {
  copy_folder(kModel, dir_ / "model");
  auto config = json::parse(read_text_file(dir_ / "model" / "config.json"));
  config["max_position_embeddings"] = int64_t{1000000000000};
  write_text_file(dir_ / "model" / "config.json", config.dump(2));
  auto result = run_ftune({"predict",
                           "--model",
                           (dir_ / "model").string(),
                           "--data",
                           kTexts,
                           "--output",
                           (dir_ / "p.jsonl").string()});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_TRUE(contains(result.err, "key 'max_position_embeddings': expected at most 16777216"))
      << result.err;
  EXPECT_FALSE(contains(result.err, "alloc_cpu")) << result.err;
}

// --- a full disk: the write fails (RLIMIT_FSIZE: EFBIG, as ENOSPC would) ---

TEST_F(Reliability, WriteFailureWhileCheckpointingLeavesTheLastCheckpointAndBestIntact) {
  // Epoch 1 is saved whole; then every file is capped below optimizer.pt's size (Adam's two
  // moments: twice the weights), so epoch 2's checkpoint fails while writing it.
  auto first = run_ftune({"--threads",
                          "1",
                          "train",
                          "--model",
                          kModel,
                          "--train",
                          kTexts,
                          "--valid",
                          kTexts,
                          "--output-dir",
                          (dir_ / "run").string(),
                          "--epochs",
                          "1",
                          "--learning-rate",
                          "1e-3",
                          "--metric-for-best-model",
                          "loss"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const auto best_weights = read_text_file(dir_ / "run" / "best" / "model.safetensors");
  const auto checkpoint_optimizer = read_text_file(dir_ / "run" / "checkpoint-2" / "optimizer.pt");
  const auto weights_size = fs::file_size(dir_ / "run" / "best" / "model.safetensors");

  auto result = run_ftune({"--threads",
                           "1",
                           "train",
                           "--model",
                           kModel,
                           "--train",
                           kTexts,
                           "--valid",
                           kTexts,
                           "--output-dir",
                           (dir_ / "run").string(),
                           "--epochs",
                           "3",
                           "--learning-rate",
                           "1e-3",
                           "--metric-for-best-model",
                           "loss",
                           "--resume-from-checkpoint",
                           "latest"},
                          weights_size + weights_size / 2);
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_TRUE(contains(result.err, "error: saving '")) << result.err;
  EXPECT_TRUE(contains(result.err, "checkpoint-4")) << result.err;
  EXPECT_TRUE(contains(result.err, "optimizer.pt': write failed")) << result.err;
  EXPECT_TRUE(contains(result.err, " MB free on ")) << result.err;
  EXPECT_FALSE(contains(result.err, "terminate called")) << result.err;
  EXPECT_EQ(leftovers(dir_ / "run"), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(dir_ / "run" / "checkpoint-4"));
  EXPECT_EQ(read_text_file(dir_ / "run" / "checkpoint-2" / "optimizer.pt"), checkpoint_optimizer);
  // best/ holds a complete model: epoch 1's, or epoch 2's if that one was written whole.
  const auto best_now = read_text_file(dir_ / "run" / "best" / "model.safetensors");
  EXPECT_EQ(best_now.size(), best_weights.size());
}

// --- one writer per output folder ---

TEST_F(Reliability, SecondRunIntoAFolderInUseIsRefusedNamingTheHolder) {
  fs::create_directories(dir_ / "run");
  // Hold the lock as a running ftune would (flock on .ftune.lock, pid inside).
  const int fd = ::open((dir_ / "run" / ".ftune.lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  ASSERT_EQ(::write(fd, "4242", 4), 4);
  auto refused = train(dir_ / "run", {});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_TRUE(contains(refused.err, "another ftune run (pid 4242) is writing there"))
      << refused.err;
  EXPECT_FALSE(fs::exists(dir_ / "run" / "last"));
  ::close(fd);  // what the kernel does when the holder dies, kill -9 included
  auto after = train(dir_ / "run", {});
  EXPECT_EQ(after.exit_code, 0) << after.err;
}

TEST_F(Reliability, NewRunIntoAnotherRunsFolderNeedsOverwriteOrResume) {
  ASSERT_EQ(train(dir_ / "run", {"--epochs", "1"}).exit_code, 0);
  auto refused = train(dir_ / "run", {"--epochs", "2"});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_TRUE(contains(refused.err,
                       "it holds another run (checkpoint-2, last, learning_curves.svg, "
                       "train_settings.json, trainer_log.jsonl)"))
      << refused.err;
  EXPECT_TRUE(fs::exists(dir_ / "run" / "last" / "README.md"));  // no evaluation: no best/
  EXPECT_TRUE(contains(refused.err, "--overwrite-output-dir")) << refused.err;
  EXPECT_FALSE(fs::exists(dir_ / "run" / "checkpoint-4"));

  auto resumed = train(dir_ / "run", {"--epochs", "2", "--resume-from-checkpoint", "latest"});
  EXPECT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_TRUE(fs::exists(dir_ / "run" / "checkpoint-4"));

  auto overwritten = train(dir_ / "run", {"--epochs", "1", "--overwrite-output-dir"});
  EXPECT_EQ(overwritten.exit_code, 0) << overwritten.err;
  EXPECT_FALSE(fs::exists(dir_ / "run" / "checkpoint-4")) << "the old run's checkpoint stayed";
  EXPECT_TRUE(fs::exists(dir_ / "run" / "checkpoint-2"));
  for (const auto& record : read_json_lines(dir_ / "run" / "trainer_log.jsonl")) {
    EXPECT_LE(record["step"].get<int64_t>(), 2) << "the old run's log stayed: " << record.dump();
  }
}

// --- outputs that would destroy an input ---

TEST_F(Reliability, OutputThatIsAnInputIsRefusedAndTheInputKept) {
  write_text_file(dir_ / "v.jsonl", read_text_file(kTexts));
  const auto data = (dir_ / "v.jsonl").string();
  fs::create_symlink(dir_ / "v.jsonl", dir_ / "link.jsonl");
  const std::vector<std::vector<std::string>> commands = {
      {"predict", "--model", kModel, "--data", data, "--output", data},
      {"predict", "--model", kModel, "--data", data, "--output", (dir_ / "link.jsonl").string()},
      {"predict", "--model", kModel, "--data", data, "--output", (dir_ / "." / "v.jsonl").string()},
      {"eval", "--model", kModel, "--data", data, "--report-json", data},
      {"translate", "--model", kMarian, "--input", data, "--output", data},
      {"score",
       "--task",
       "classify",
       "--references",
       data,
       "--predictions",
       data,
       "--report-json",
       data}};
  for (const auto& args : commands) {
    auto result = run_ftune(args);
    EXPECT_EQ(result.exit_code, 1) << describe(args) << "\n" << result.err;
    EXPECT_TRUE(contains(result.err, "is the same file as")) << result.err;
    EXPECT_EQ(read_text_file(dir_ / "v.jsonl"), read_text_file(kTexts)) << describe(args);
  }
}

// --- translate ---

TEST_F(Reliability, NullOrMissingSourceInTranslateJsonlNamesTheLine) {
  write_text_file(dir_ / "in.jsonl",
                  "{\"source\": \"A man is sleeping.\"}\n{\"source\": null}\n{\"other\": 1}\n");
  auto result = run_ftune({"translate",
                           "--model",
                           kMarian,
                           "--input",
                           (dir_ / "in.jsonl").string(),
                           "--output",
                           (dir_ / "out.txt").string()});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_TRUE(contains(result.err,
                       "in.jsonl' line 2: expected a source text in 'source', got "
                       "none (null or missing)"))
      << result.err;
  EXPECT_FALSE(fs::exists(dir_ / "out.txt"));
}

// Many sources, one per batch, so the signal lands while batches remain.
class TranslateSignal : public Reliability {
 protected:
  pid_t start_translate() {
    std::string lines;
    for (int i = 0; i < 400; ++i) lines += "A man in a blue shirt is standing on a ladder.\n";
    write_text_file(dir_ / "in.txt", lines);
    args_ = {FTUNE_BINARY,
             "--threads",
             "1",
             "translate",
             "--model",
             kMarian,
             "--input",
             (dir_ / "in.txt").string(),
             "--output",
             (dir_ / "out.txt").string(),
             "--batch-size",
             "1",
             "--beam",
             "4"};
    const pid_t pid = ::fork();
    if (pid == 0) {
      std::vector<char*> argv;
      for (auto& arg : args_) argv.push_back(arg.data());
      argv.push_back(nullptr);
      const int null_fd = ::open("/dev/null", O_WRONLY);
      ::dup2(null_fd, STDERR_FILENO);
      ::dup2(null_fd, STDOUT_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    // The temporary output exists once translating has begun.
    const auto temporary = dir_ / ("out.txt.tmp." + std::to_string(pid));
    wait_until_ready(pid, [&] { return fs::exists(temporary); });
    EXPECT_TRUE(fs::exists(temporary)) << "translate never started writing";
    return pid;
  }
  static int wait_for(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  std::vector<std::string> args_;
};

TEST_F(TranslateSignal, SigtermStopsBetweenBatchesAndRemovesTheTemporary) {
  const pid_t pid = start_translate();
  ::kill(pid, SIGTERM);
  EXPECT_EQ(wait_for(pid), 143);
  EXPECT_EQ(leftovers(dir_), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(dir_ / "out.txt"));
}

TEST_F(TranslateSignal, SecondSignalExitsAtOnceAndStillRemovesTheTemporary) {
  const pid_t pid = start_translate();
  ::kill(pid, SIGINT);
  ::kill(pid, SIGINT);
  EXPECT_EQ(wait_for(pid), 130);
  EXPECT_EQ(leftovers(dir_), std::vector<std::string>{});
  EXPECT_FALSE(fs::exists(dir_ / "out.txt"));
}

// --- files that do not fit together ---

TEST_F(Reliability, VocabularyLongerThanTheModelsIsRefusedAtLoad) {
  copy_folder(kModel, dir_ / "model");
  const auto config = json::parse(read_text_file(dir_ / "model" / "config.json"));
  std::string vocab = read_text_file(dir_ / "model" / "vocab.txt");
  vocab += "[extra1]\n[extra2]\n";
  write_text_file(dir_ / "model" / "vocab.txt", vocab);
  write_text_file(dir_ / "corpus.txt", "a line of text\nanother line of text\n");
  for (const std::string command : {"predict", "eval", "train", "pretrain"}) {
    std::vector<std::string> args = {command, "--model", (dir_ / "model").string()};
    if (command == "pretrain") {
      args.insert(args.end(),
                  {"--train",
                   (dir_ / "corpus.txt").string(),
                   "--output-dir",
                   (dir_ / "mlm").string(),
                   "--eval-strategy",
                   "no"});
    } else if (command == "train") {
      args.insert(
          args.end(),
          {"--train", kTexts, "--output-dir", (dir_ / "run").string(), "--eval-strategy", "no"});
    } else {
      args.insert(args.end(), {"--data", kTexts});
      if (command == "predict") args.insert(args.end(), {"--output", (dir_ / "p.jsonl").string()});
    }
    auto result = run_ftune(args);
    EXPECT_EQ(result.exit_code, 1) << command << "\n" << result.err;
    EXPECT_TRUE(contains(result.err, "vocab.txt'")) << result.err;
    EXPECT_TRUE(contains(
        result.err,
        fmt::format("config.json's vocab_size is {}", config["vocab_size"].get<int64_t>())))
        << result.err;
    EXPECT_FALSE(contains(result.err, "index out of range")) << result.err;
  }
}

TEST_F(Reliability, MarianVocabularyIdOutsideTheModelNamesTheId) {
  for (const int64_t id : {int64_t{999999}, int64_t{-7}}) {
    copy_folder(kMarian, dir_ / "model");
    auto vocab = json::parse(read_text_file(dir_ / "model" / "vocab.json"));
    vocab["zzz_new_token"] = id;
    write_text_file(dir_ / "model" / "vocab.json", vocab.dump());
    write_text_file(dir_ / "in.txt", "A man is sleeping.\n");
    auto result = run_ftune({"translate",
                             "--model",
                             (dir_ / "model").string(),
                             "--input",
                             (dir_ / "in.txt").string(),
                             "--output",
                             (dir_ / "o.txt").string()});
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_TRUE(contains(result.err, "vocab.json': token id " + std::to_string(id))) << result.err;
    fs::remove_all(dir_ / "model");
  }
}

TEST_F(Reliability, ModelWithoutLabelsAtEvalSaysSo) {
  copy_folder(kModel, dir_ / "model");
  auto config = json::parse(read_text_file(dir_ / "model" / "config.json"));
  config.erase("id2label");
  config.erase("label2id");
  write_text_file(dir_ / "model" / "config.json", config.dump(2));
  auto result = run_ftune({"eval", "--model", (dir_ / "model").string(), "--data", kTexts});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_TRUE(contains(result.err, "config.json has no id2label")) << result.err;
}

TEST_F(Reliability, Label2idContradictingId2labelIsRefused) {
  copy_folder(kModel, dir_ / "model");
  auto config = json::parse(read_text_file(dir_ / "model" / "config.json"));
  const auto first = config["id2label"]["0"].get<std::string>();
  const auto second = config["id2label"]["1"].get<std::string>();
  config["label2id"][first] = 1;
  config["label2id"][second] = 0;
  write_text_file(dir_ / "model" / "config.json", config.dump(2));
  auto result = run_ftune({"predict",
                           "--model",
                           (dir_ / "model").string(),
                           "--data",
                           kTexts,
                           "--output",
                           (dir_ / "p.jsonl").string()});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_TRUE(contains(result.err, "label2id['" + first + "'] is 1, but id2label gives it id 0"))
      << result.err;
}

// --- resuming ---

TEST_F(Reliability, DamagedTrainerStateNamesTheFile) {
  ASSERT_EQ(train(dir_ / "run", {"--epochs", "1"}).exit_code, 0);
  auto state = json::parse(read_text_file(dir_ / "run" / "checkpoint-2" / "trainer_state.json"));
  state["global_step"] = json::array({json::array({2})});
  write_text_file(dir_ / "run" / "checkpoint-2" / "trainer_state.json", state.dump());
  auto result = train(dir_ / "run", {"--epochs", "2", "--resume-from-checkpoint", "latest"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_TRUE(contains(result.err, "checkpoint-2/trainer_state.json': key 'global_step'"))
      << result.err;
  EXPECT_FALSE(contains(result.err, "[json.exception")) << result.err;
}

TEST_F(Reliability, ResumingWithAnotherBatchSizeIsRefusedAnotherLearningRateRecorded) {
  ASSERT_EQ(train(dir_ / "run", {"--epochs", "1", "--batch-size", "8"}).exit_code, 0);
  auto batch = train(dir_ / "run",
                     {"--epochs", "2", "--batch-size", "4", "--resume-from-checkpoint", "latest"});
  EXPECT_EQ(batch.exit_code, 1) << batch.err;
  EXPECT_TRUE(contains(batch.err, "steps_per_epoch was 2 in the checkpoint's run, now 4"))
      << batch.err;
  auto rate = train(dir_ / "run",
                    {"--epochs",
                     "2",
                     "--batch-size",
                     "8",
                     "--learning-rate",
                     "1e-4",
                     "--resume-from-checkpoint",
                     "latest"});
  EXPECT_EQ(rate.exit_code, 0) << rate.err;
  EXPECT_TRUE(contains(rate.err, "note: resuming with learning_rate 0.0001")) << rate.err;
  auto state = json::parse(read_text_file(dir_ / "run" / "checkpoint-4" / "trainer_state.json"));
  ASSERT_TRUE(state["run"].contains("changed_on_resume")) << state.dump(2);
  EXPECT_EQ(state["run"]["changed_on_resume"][0]["key"], "learning_rate");
}

}  // namespace
}  // namespace ftune::testing
