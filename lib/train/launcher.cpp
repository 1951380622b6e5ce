// The single-machine launcher: fork + execve of /proc/self/exe once per local rank, then a
// polling wait. Ranks share the launcher's process group, so a terminal's Ctrl-C reaches each of
// them directly (each saves through its InterruptGuard); SIGTERM sent to the launcher alone is
// forwarded.
#include "lib/train/launcher.h"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/train/distributed.h"
#include "util/error.h"
#include "util/interrupt.h"

extern char** environ;

namespace ftune {
namespace {

// After the first failure, how long the other ranks may take to notice and exit by themselves.
constexpr auto kGracePeriod = std::chrono::seconds(15);
constexpr int kDefaultMasterPort = 29500;  // torchrun's

const std::set<std::string> kLauncherFlags = {
    "--nproc-per-node", "--nnodes", "--node-rank", "--master-addr", "--master-port"};

std::atomic<int> g_signal{0};

void remember_signal(int signal_number) { g_signal = signal_number; }

// This process's argv, as the kernel recorded it.
std::vector<std::string> read_own_command_line() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  std::string arg;
  for (char c : text) {
    if (c == '\0') {
      args.push_back(arg);
      arg.clear();
    } else {
      arg += c;
    }
  }
  if (args.empty()) throw Error("launching ranks: cannot read /proc/self/cmdline");
  return args;
}

std::vector<std::string> strip_launcher_flags(const std::vector<std::string>& args) {
  std::vector<std::string> kept;
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& arg = args[i];
    const auto eq = arg.find('=');
    if (kLauncherFlags.count(arg.substr(0, eq)) > 0) {
      if (eq == std::string::npos) ++i;  // "--flag value"
      continue;
    }
    kept.push_back(arg);
  }
  return kept;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return fmt::format("was killed by signal {}", WTERMSIG(status));
  return "stopped";
}

// This process's environment minus what the launcher sets for each rank.
std::vector<std::string> inherited_environment() {
  const std::set<std::string> overridden = {"RANK=",
                                            "LOCAL_RANK=",
                                            "WORLD_SIZE=",
                                            "LOCAL_WORLD_SIZE=",
                                            "GROUP_RANK=",
                                            "MASTER_ADDR=",
                                            "MASTER_PORT=",
                                            "TORCHELASTIC_USE_AGENT_STORE="};
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (overridden.count(entry.substr(0, entry.find('=') + 1)) == 0) env.push_back(entry);
  }
  return env;
}

// torchrun's variables for one local rank.
std::vector<std::string> rank_environment(std::vector<std::string> env, const LaunchOptions& o,
                                          int local_rank, int port, bool agent_store) {
  env.push_back(fmt::format("RANK={}", o.node_rank * o.nproc_per_node + local_rank));
  env.push_back(fmt::format("LOCAL_RANK={}", local_rank));
  env.push_back(fmt::format("WORLD_SIZE={}", o.nnodes * o.nproc_per_node));
  env.push_back(fmt::format("LOCAL_WORLD_SIZE={}", o.nproc_per_node));
  env.push_back(fmt::format("GROUP_RANK={}", o.node_rank));
  env.push_back(fmt::format("MASTER_ADDR={}", o.master_addr));
  env.push_back(fmt::format("MASTER_PORT={}", port));
  if (agent_store) env.push_back("TORCHELASTIC_USE_AGENT_STORE=True");
  return env;
}

// The signal handlers this process had before the launcher's; the children get them back.
struct SavedHandlers {
  struct sigaction interrupt {};
  struct sigaction terminate {};
};

// fork + execve of this executable with `args` and `env`; -1 when fork fails.
pid_t start_rank(std::vector<std::string> args, std::vector<std::string> env,
                 const SavedHandlers& handlers) {
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {  // child: only async-signal-safe calls until execve
    ::sigaction(SIGINT, &handlers.interrupt, nullptr);
    ::sigaction(SIGTERM, &handlers.terminate, nullptr);
    ::execve("/proc/self/exe", argv.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

struct RanksOutcome {
  int first_failed = -1;  // global rank; -1 when every rank exited with status 0
  int first_status = 0;
  bool killed = false;  // ranks outlived the grace period after the first failure
};

// Waits for every rank, forwarding SIGTERM; after the first failure, gives the others a grace
// period to fail on their own, then kills them.
RanksOutcome wait_for_ranks(std::vector<pid_t> pids, int first_global_rank) {
  RanksOutcome outcome;
  size_t running = pids.size();
  bool forwarded = false;
  std::chrono::steady_clock::time_point failed_at;
  while (running > 0) {
    if (g_signal == SIGTERM && !forwarded) {
      for (pid_t pid : pids) {
        if (pid > 0) ::kill(pid, SIGTERM);
      }
      forwarded = true;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (size_t r = 0; r < pids.size(); ++r) {
        if (pids[r] != pid) continue;
        pids[r] = -1;
        --running;
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && outcome.first_failed < 0) {
          outcome.first_failed = first_global_rank + static_cast<int>(r);
          outcome.first_status = status;
          failed_at = std::chrono::steady_clock::now();
        }
      }
      continue;
    }
    if (outcome.first_failed >= 0 && !outcome.killed &&
        std::chrono::steady_clock::now() - failed_at > kGracePeriod) {
      for (pid_t p : pids) {
        if (p > 0) ::kill(p, SIGKILL);
      }
      outcome.killed = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return outcome;
}

}  // namespace

bool should_launch(const LaunchOptions& options) {
  return options.nproc_per_node > 0 && std::getenv("RANK") == nullptr;
}

void launch_local_ranks(const LaunchOptions& o) {
  if (o.node_rank >= o.nnodes) {
    throw Error(fmt::format("launching ranks: --node-rank {}: expected 0..{} (--nnodes {})",
                            o.node_rank,
                            o.nnodes - 1,
                            o.nnodes));
  }
  // One machine and no --master-port: the launcher serves the rendezvous itself on a port the
  // kernel picks (no window for another process to take it); the ranks connect as clients.
  std::unique_ptr<LocalStoreServer> store;
  if (o.master_port <= 0 && o.nnodes == 1)
    store = std::make_unique<LocalStoreServer>(o.master_addr);
  const int port = store ? store->port() : o.master_port > 0 ? o.master_port : kDefaultMasterPort;
  const int world_size = o.nnodes * o.nproc_per_node;
  const int first_rank = o.node_rank * o.nproc_per_node;
  const auto args = strip_launcher_flags(read_own_command_line());
  const auto env = inherited_environment();

  struct sigaction action {};
  action.sa_handler = remember_signal;
  sigemptyset(&action.sa_mask);
  SavedHandlers previous;
  ::sigaction(SIGINT, &action, &previous.interrupt);
  ::sigaction(SIGTERM, &action, &previous.terminate);

  std::vector<pid_t> pids;
  for (int local_rank = 0; local_rank < o.nproc_per_node; ++local_rank) {
    const pid_t pid =
        start_rank(args, rank_environment(env, o, local_rank, port, store != nullptr), previous);
    if (pid < 0) {
      const int error = errno;
      for (pid_t started : pids) ::kill(started, SIGKILL);
      throw Error(fmt::format("launching ranks: fork: {}", std::strerror(error)));
    }
    pids.push_back(pid);
  }
  fmt::print(stderr,
             "launcher: started ranks {}..{} of {} (MASTER_ADDR {} MASTER_PORT {})\n",
             first_rank,
             first_rank + o.nproc_per_node - 1,
             world_size,
             o.master_addr,
             port);
  const RanksOutcome outcome = wait_for_ranks(pids, first_rank);
  ::sigaction(SIGINT, &previous.interrupt, nullptr);
  ::sigaction(SIGTERM, &previous.terminate, nullptr);

  if (outcome.first_failed < 0) return;
  if (const int signal_number = g_signal.load()) {
    throw Interrupted(signal_number,
                      fmt::format("launcher: ranks stopped on signal {}; rank 0 saved a checkpoint "
                                  "if it reached the end of a step (see above)",
                                  signal_number));
  }
  throw Error(fmt::format("launching ranks: rank {} {}{}; hint: its error is above",
                          outcome.first_failed,
                          describe_status(outcome.first_status),
                          outcome.killed ? "; the ranks still running after it were killed" : ""));
}

}  // namespace ftune
