// Runs the real `ftune` executable for end-to-end tests: exit code, stdout and stderr of one run,
// and a fresh folder per test for its outputs. Not a shell: arguments go to execv as they are.
//
//   auto result = ftune::testing::run_ftune({"inspect", "--model", "tests/fixtures/bert-cls"});
//   EXPECT_EQ(result.exit_code, 0) << result.err;
#pragma once

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FTUNE_BINARY
#error "FTUNE_BINARY (the path of the built ftune executable) must be defined by CMake"
#endif

namespace ftune::testing {

struct CommandResult {
  int exit_code = -1;  // the exit status, or 128 + signal number when the process was killed
  std::string out;
  std::string err;
};

inline std::string read_text_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

inline void write_text_file(const std::filesystem::path& file, const std::string& text) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << text;
  ASSERT_TRUE(out.good()) << "cannot write " << file;
}

// The Marian fixture's sources (tests/fixtures/marian-mt/inputs.json "source_texts"), the first
// `count` of them, one per line into `file`: what `ftune translate --input` reads.
inline void write_marian_sources(const std::filesystem::path& file,
                                 size_t count = std::numeric_limits<size_t>::max()) {
  const auto inputs = nlohmann::json::parse(read_text_file("tests/fixtures/marian-mt/inputs.json"));
  std::string text;
  for (const auto& source : inputs.at("source_texts")) {
    if (count-- == 0) break;
    text += source.get<std::string>() + "\n";
  }
  write_text_file(file, text);
}

// A sequence Hugging Face's generate() returned for a batch, without the <pad> ids (2073 in the
// Marian fixture) it appends to rows that end before the longest: what ftune writes as "ids".
inline std::vector<int64_t> without_batch_padding(const nlohmann::json& sequence, int64_t pad) {
  auto ids = sequence.get<std::vector<int64_t>>();
  while (ids.size() > 1 && ids.back() == pad) ids.pop_back();
  return ids;
}

// One JSON object per non-empty line, keys kept in file order.
// read_json_lines<nlohmann::json>: plain json, comparable with a json parsed elsewhere (an HTTP
// answer).
template <class Json = nlohmann::ordered_json>
std::vector<Json> read_json_lines(const std::filesystem::path& file) {
  std::vector<Json> lines;
  std::istringstream in(read_text_file(file));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(Json::parse(line));
  }
  return lines;
}

// The records of a trainer_log.jsonl that have `key`, in order: "grad_norm" picks the step
// records, "eval_loss" the evaluations.
inline std::vector<nlohmann::ordered_json> records_with(const std::filesystem::path& log,
                                                        const std::string& key) {
  std::vector<nlohmann::ordered_json> found;
  for (auto& record : read_json_lines(log)) {
    if (record.contains(key)) found.push_back(record);
  }
  return found;
}

// The settings of the fixtures' fixed-batch training reference
// (tests/fixtures/generators/fixture_common.train_reference): 6 steps over rows 0-7 and 8-15,
// AdamW at 1e-3 with weight decay 0.01, 2 warmup steps of a linear schedule, clipping at 1, every
// step logged, no evaluation.
inline std::vector<std::string> reference_trajectory_settings() {
  return {"--no-shuffle",
          "--max-steps",
          "6",
          "--batch-size",
          "8",
          "--learning-rate",
          "1e-3",
          "--weight-decay",
          "0.01",
          "--warmup-steps",
          "2",
          "--lr-scheduler",
          "linear",
          "--max-grad-norm",
          "1.0",
          "--logging-steps",
          "1",
          "--eval-strategy",
          "no"};
}

// The "loss" of every step record (those with a grad_norm) of a trainer_log.jsonl, in order.
inline std::vector<double> read_step_losses(const std::filesystem::path& log) {
  std::vector<double> losses;
  for (auto& record : read_json_lines(log)) {
    if (record.contains("grad_norm")) losses.push_back(record["loss"].get<double>());
  }
  return losses;
}

// The "logits" rows of a predictions JSONL file (ftune predict's output).
inline std::vector<std::vector<double>> read_logits(const std::filesystem::path& file) {
  std::vector<std::vector<double>> rows;
  for (auto& line : read_json_lines(file)) {
    rows.push_back(line["logits"].get<std::vector<double>>());
  }
  return rows;
}

// The number after the last "<key> " in printed output ("loss 1.1112" of ftune eval); NaN when
// the key is absent.
inline double printed_number(const std::string& text, const std::string& key) {
  const auto at = text.rfind(key + " ");
  if (at == std::string::npos) return std::numeric_limits<double>::quiet_NaN();
  return std::stod(text.substr(at + key.size() + 1));
}

namespace detail {
// An unlinked temporary file the child writes one stream into; read back after it exits.
inline int make_capture_file() {
  char name[] = "/tmp/ftune_cli_capture.XXXXXX";
  const int fd = ::mkstemp(name);
  if (fd >= 0) ::unlink(name);
  return fd;
}

inline std::string read_capture_file(int fd) {
  std::string text;
  ::lseek(fd, 0, SEEK_SET);
  char buffer[4096];
  ssize_t n = 0;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  return text;
}
}  // namespace detail

// Runs FTUNE_BINARY with `args` (fork + execv, so no quoting is needed or done) in the current
// directory, stdin from /dev/null, stdout and stderr captured through temporary files (no pipe
// can fill up and block the child).
// `max_file_bytes` > 0 runs the child under RLIMIT_FSIZE (SIGXFSZ ignored): every write past that
// size fails with EFBIG, as a full disk fails writes with ENOSPC: a real failure of write(2)
// without mounting a small filesystem.
inline CommandResult run_ftune(const std::vector<std::string>& args, rlim_t max_file_bytes = 0) {
  CommandResult result;
  const int out_fd = detail::make_capture_file();
  const int err_fd = detail::make_capture_file();
  if (out_fd < 0 || err_fd < 0) {
    ADD_FAILURE() << "cannot create capture files in /tmp: " << std::strerror(errno);
    return result;
  }
  std::vector<std::string> argv_strings = {FTUNE_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& arg : argv_strings) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid == 0) {  // child: only async-signal-safe calls until execv
    const int in_fd = ::open("/dev/null", O_RDONLY);
    if (in_fd >= 0) ::dup2(in_fd, STDIN_FILENO);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    if (max_file_bytes > 0) {
      ::signal(SIGXFSZ, SIG_IGN);  // kept across execv: the write fails instead of killing
      const struct rlimit limit = {max_file_bytes, max_file_bytes};
      ::setrlimit(RLIMIT_FSIZE, &limit);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (pid < 0) {
    ADD_FAILURE() << "fork failed: " << std::strerror(errno);
    ::close(out_fd);
    ::close(err_fd);
    return result;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.exit_code = 128 + WTERMSIG(status);
  result.out = detail::read_capture_file(out_fd);
  result.err = detail::read_capture_file(err_fd);
  if (result.exit_code == 127 && result.err.empty()) {
    ADD_FAILURE() << "cannot run " << FTUNE_BINARY << " (build the ftune target first)";
  }
  return result;
}

// The command line as a user would type it, for failure messages.
inline std::string describe(const std::vector<std::string>& args) {
  std::string line = "ftune";
  for (const auto& arg : args) line += " " + arg;
  return line;
}

// A test fixture with a fresh empty folder per test (under /tmp), removed afterwards.
// Polls until `ready()` holds (true) or `child` has exited (false; the child is left unreaped for
// the caller's waitpid). No wall-clock deadline: a loaded machine (ctest -j) only makes the wait
// longer, and a hang is ended by the test's ctest TIMEOUT, so a slow run never fails by itself.
inline bool wait_until_ready(pid_t child, const std::function<bool()>& ready,
                             std::chrono::milliseconds poll = std::chrono::milliseconds(5)) {
  while (!ready()) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == child) {
      return false;
    }
    std::this_thread::sleep_for(poll);
  }
  return true;
}

// Starts ftune in the background, its stderr into `err` (or discarded); returns its pid.
inline pid_t start_ftune(std::vector<std::string> args, const std::filesystem::path& err = {}) {
  std::string binary = FTUNE_BINARY;
  std::vector<char*> argv = {binary.data()};
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  const pid_t child = ::fork();
  if (child == 0) {
    const int null_fd = ::open("/dev/null", O_WRONLY);
    const int err_fd =
        err.empty() ? null_fd : ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(err_fd, STDERR_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::execv(binary.c_str(), argv.data());
    ::_exit(127);
  }
  return child;
}

// stdout of a shell `command`, and its exit status (for the reference Python scripts).
inline std::pair<int, std::string> capture(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
  std::string out;
  if (!pipe) return {-1, out};
  char buffer[4096];
  size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe.get())) > 0) out.append(buffer, n);
  const int status = ::pclose(pipe.release());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// The reference Python of the build (FTUNE_REFERENCE_PYTHON: the torch2 build's venv), or "" when
// this build has none or it cannot import `module`.
inline std::string reference_python(const std::string& module) {
#ifdef FTUNE_REFERENCE_PYTHON
  const std::string python = FTUNE_REFERENCE_PYTHON;
  if (capture(python + " -c 'import " + module + "' 2>/dev/null").first == 0) return python;
#endif
  return "";
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/ftune_cli_test.XXXXXX";
    ASSERT_NE(::mkdtemp(name), nullptr) << std::strerror(errno);
    dir_ = name;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::filesystem::path dir_;
};

}  // namespace ftune::testing
