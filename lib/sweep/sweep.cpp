// The sweep's process pool: fork + execve of ftune per trial (stdout and stderr into the trial's
// log), waitpid for whichever ends first, one sweep.jsonl line per ended trial.
#include "lib/sweep/sweep.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/report/charts.h"
#include "lib/report/run_history.h"
#include "lib/schedule/early_stopping.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"

extern char** environ;

namespace ftune {
namespace {

constexpr const char* kSweepLog = "sweep.jsonl";

nlohmann::ordered_json record_to_json(const TrialRecord& r) {
  nlohmann::ordered_json params = nlohmann::ordered_json::object();
  for (const auto& [option, value] : r.params) params[option] = value;
  nlohmann::ordered_json out = {{"trial", r.trial},
                                {"params", params},
                                {"status", r.status},
                                {"exit_code", r.exit_code},
                                {"metric", r.metric},
                                {"best_metric", nullptr},
                                {"best_step", r.best_step},
                                {"steps", r.steps},
                                {"seconds", r.seconds}};
  if (r.best_metric) out["best_metric"] = *r.best_metric;
  if (!r.error.empty()) out["error"] = r.error;
  if (!r.rungs.empty()) {
    nlohmann::ordered_json rungs = nlohmann::ordered_json::array();
    for (const auto& rung : r.rungs) {
      rungs.push_back({{"evaluation", rung.evaluation},
                       {"step", rung.step},
                       {"value", rung.value},
                       {"rank", rung.rank},
                       {"of", rung.of}});
    }
    out["rungs"] = rungs;
  }
  return out;
}

TrialRecord record_from_json(const nlohmann::ordered_json& j) {
  TrialRecord r;
  r.trial = j.at("trial").get<size_t>();
  for (const auto& [option, value] : j.at("params").items()) {
    r.params.emplace_back(option, value.get<std::string>());
  }
  r.status = j.at("status").get<std::string>();
  r.exit_code = j.value("exit_code", 0);
  r.metric = j.value("metric", std::string());
  if (j.contains("best_metric") && j["best_metric"].is_number()) {
    r.best_metric = j["best_metric"].get<double>();
  }
  r.best_step = j.value("best_step", int64_t{0});
  r.steps = j.value("steps", int64_t{0});
  r.seconds = j.value("seconds", 0.0);
  r.error = j.value("error", std::string());
  if (j.contains("rungs") && j["rungs"].is_array()) {
    for (const auto& rung : j["rungs"]) {
      r.rungs.push_back({rung.at("evaluation").get<size_t>(),
                         rung.at("step").get<int64_t>(),
                         rung.at("value").get<double>(),
                         rung.at("rank").get<size_t>(),
                         rung.at("of").get<size_t>()});
    }
  }
  return r;
}

std::string describe_params(const TrialParams& params) {
  std::string out;
  for (const auto& [option, value] : params) out += (out.empty() ? "" : " ") + option + "=" + value;
  return out;
}

// Finished trials of an earlier run of this sweep, checked against the trials drawn now.
std::map<size_t, TrialRecord> read_finished(const std::filesystem::path& file,
                                            const std::vector<TrialParams>& drawn) {
  std::map<size_t, TrialRecord> finished;
  std::ifstream in(file);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    TrialRecord record;
    try {
      record = record_from_json(parse_ordered_json_capped(line, file.string()));
    } catch (const std::exception&) {
      continue;  // a line torn by a kill: that trial runs again
    }
    if (record.trial == 0 || record.trial > drawn.size()) continue;
    if (record.params != drawn[record.trial - 1]) {
      throw ConfigError(fmt::format(
          "resuming the sweep: {}:{}: trial {} ran with {}, but --space and --seed now draw {}; "
          "hint: resume with the same --space, --seed and --trials, or start another "
          "--output-dir",
          file.string(),
          number,
          record.trial,
          describe_params(record.params),
          describe_params(drawn[record.trial - 1])));
    }
    finished[record.trial] = record;
  }
  return finished;
}

// fork + execve of `executable` with `args`, stdout and stderr into `log`; the child's pid.
pid_t spawn(const std::filesystem::path& executable, const std::vector<std::string>& args,
            const std::filesystem::path& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    throw IoError(fmt::format("writing '{}': {}", log.string(), std::strerror(errno)));
  }
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {  // child: only async-signal-safe calls until execve
    ::dup2(fd, STDOUT_FILENO);
    ::dup2(fd, STDERR_FILENO);
    const int in = ::open("/dev/null", O_RDONLY);
    if (in >= 0) ::dup2(in, STDIN_FILENO);
    ::execve(executable.c_str(), argv.data(), environ);
    ::_exit(127);
  }
  const int error = errno;
  ::close(fd);
  if (pid < 0) throw Error(fmt::format("starting a sweep trial: fork: {}", std::strerror(error)));
  return pid;
}

// The last "error:" line of a trial's log, for the record of a failed trial.
std::string last_error_line(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::string line, found;
  while (std::getline(in, line)) {
    if (line.rfind("error:", 0) == 0) found = line;
  }
  return found;
}

void finish_record(TrialRecord& record, const std::filesystem::path& trial_dir, int status) {
  record.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  const auto log = trial_dir / kTrainLogFile;
  if (std::filesystem::exists(log)) {
    const TrainHistory history = read_train_history(log);
    if (history.summary) {
      const auto& summary = *history.summary;
      record.metric = summary.value("metric_for_best_model", std::string());
      if (summary.contains("best_metric") && summary["best_metric"].is_number()) {
        record.best_metric = summary["best_metric"].get<double>();
      }
      if (summary.contains("best_step") && summary["best_step"].is_number_integer()) {
        record.best_step = summary["best_step"].get<int64_t>();
      }
      record.steps = summary.value("step", int64_t{0});
    }
  }
  record.status = record.exit_code == 0 && record.best_metric ? "ok" : "failed";
}

// A pruned trial has no closing record: its best evaluation so far, from the log.
void finish_pruned_record(TrialRecord& record, const std::filesystem::path& trial_dir,
                          const std::string& metric) {
  record.status = "pruned";
  record.metric = metric;
  const auto log = trial_dir / kTrainLogFile;
  if (!std::filesystem::exists(log)) return;
  const TrainHistory history = read_train_history(log);
  const bool greater = metric_greater_is_better(metric);
  if (const auto step = find_best_step(history, metric, greater)) {
    record.best_step = *step;
    for (const auto& eval : history.evals) {
      if (eval.step == *step) record.best_metric = eval.find(metric);
    }
  }
  if (!history.evals.empty()) record.steps = history.evals.back().step;
}

// Successive halving's book: the values seen at each rung, and whether a new one is kept.
class Rungs {
 public:
  explicit Rungs(size_t eta) : eta_(eta) {}
  size_t eta() const { return eta_; }
  // The evaluation count of rung k: eta^k.
  size_t evaluation(size_t k) const {
    size_t n = 1;
    for (size_t i = 0; i < k; ++i) n *= eta_;
    return n;
  }
  // Records `value` at rung k; its rank (1 = best) among the values recorded there.
  std::pair<size_t, size_t> add(size_t k, double value, bool greater_is_better) {
    auto& values = values_[k];
    values.push_back(value);
    size_t better = 0;
    for (const double other : values) {
      if (greater_is_better ? other > value : other < value) ++better;
    }
    return {better + 1, values.size()};
  }
  // The top 1/eta of `of` values (at least one) go on.
  bool keeps(size_t rank, size_t of) const { return rank <= std::max<size_t>(1, of / eta_); }

 private:
  size_t eta_;
  std::map<size_t, std::vector<double>> values_;
};

// The rungs `history` has reached beyond `record.rungs`, added to the book; false when the
// last one says stop. A rung at the trial's last step (`total_steps`; 0: unknown) only records:
// the trial has nothing left to stop.
bool advance_rungs(TrialRecord& record, const TrainHistory& history, const std::string& metric,
                   int64_t total_steps, Rungs& book) {
  const bool greater = metric_greater_is_better(metric);
  while (true) {
    const size_t k = record.rungs.size();
    const size_t evaluation = book.evaluation(k);
    if (history.evals.size() < evaluation) return true;
    const auto& eval = history.evals[evaluation - 1];
    const auto value = eval.find(metric);
    if (!value) return true;
    const auto [rank, of] = book.add(k, *value, greater);
    record.rungs.push_back({evaluation, eval.step, *value, rank, of});
    const bool last = total_steps > 0 && eval.step >= total_steps;
    if (!last && !book.keeps(rank, of)) return false;
  }
}

// Best first; ok and pruned trials (with a metric) before failed ones; the trial number breaks
// ties.
std::vector<TrialRecord> ranked(std::vector<TrialRecord> records) {
  std::stable_sort(records.begin(), records.end(), [](const TrialRecord& a, const TrialRecord& b) {
    const bool a_ok = a.status != "failed" && a.best_metric;
    const bool b_ok = b.status != "failed" && b.best_metric;
    if (a_ok != b_ok) return a_ok;
    if (!a_ok) return a.trial < b.trial;
    if (*a.best_metric == *b.best_metric) return a.trial < b.trial;
    return metric_greater_is_better(a.metric) ? *a.best_metric > *b.best_metric
                                              : *a.best_metric < *b.best_metric;
  });
  return records;
}

void write_best(const SweepOptions& o, const TrialRecord& best, size_t total) {
  const auto source = o.output_dir / fmt::format("trial-{}", best.trial) / "best";
  const auto target = o.output_dir / "best";
  if (std::filesystem::exists(source)) {
    auto staging = o.output_dir / fmt::format("best.tmp-{}", ::getpid());
    std::filesystem::remove_all(staging);
    std::filesystem::copy(source, staging, std::filesystem::copy_options::recursive);
    std::filesystem::remove_all(target);
    std::filesystem::rename(staging, target);
  }
  std::string toml = fmt::format(
      "# ftune sweep: the best of {} trials, trial {} ({} {:.4f} at step {}).\n"
      "# ftune --config best.toml train --model ... --train ... (the options below, flags win)\n"
      "[train]\n",
      total,
      best.trial,
      best.metric,
      *best.best_metric,
      best.best_step);
  for (const auto& [option, value] : best.params) {
    const bool text = option == "lr-scheduler";
    toml += fmt::format("{} = {}\n", option, text ? "\"" + value + "\"" : value);
  }
  write_file_atomically(o.output_dir / "best.toml", toml);
}

}  // namespace

std::vector<TrialRecord> run_sweep(const SweepOptions& o) {
  if (o.trials == 0) {
    throw ConfigError("checking sweep options: --trials 0: expected at least 1 trial");
  }
  if (o.halving == 1) {
    throw ConfigError(
        "checking sweep options: --successive-halving 1: expected 0 (off) or a reduction factor "
        "of at least 2 (3 is usual)");
  }
  if (o.parallel == 0) {
    throw ConfigError("checking sweep options: --parallel 0: expected at least 1");
  }
  check_search_space(o.space);
  for (const auto& arg : o.train_args) {
    for (const auto& param : o.space) {
      if (arg == "--" + param.option || arg.rfind("--" + param.option + "=", 0) == 0) {
        throw ConfigError(fmt::format(
            "checking sweep options: --{} is both searched (--space) and fixed ({}); hint: drop "
            "one of them",
            param.option,
            arg));
      }
    }
    if (arg == "--output-dir" || arg == "--resume-from-checkpoint") {
      throw ConfigError(fmt::format(
          "checking sweep options: {} is the sweep's to set, per trial; hint: the sweep's own "
          "--output-dir holds trial-<n>/",
          arg));
    }
  }
  const std::vector<TrialParams> drawn = draw_trials(o.space, o.trials, o.seed);

  std::filesystem::create_directories(o.output_dir);
  const auto sweep_log = o.output_dir / kSweepLog;
  std::map<size_t, TrialRecord> finished;
  if (std::filesystem::exists(sweep_log)) {
    if (!o.resume) {
      throw IoError(fmt::format(
          "preparing sweep folder '{}': it holds another sweep ({}); hint: continue it with "
          "--resume, or choose another --output-dir",
          o.output_dir.string(),
          kSweepLog));
    }
    finished = read_finished(sweep_log, drawn);
    fmt::print(stderr, "resuming the sweep: {} of {} trials done\n", finished.size(), o.trials);
  }

  const int cores = o.threads > 0
                        ? o.threads
                        : static_cast<int>(std::max(1U, std::thread::hardware_concurrency()));
  const int threads = std::max(1, cores / static_cast<int>(o.parallel));
  std::vector<size_t> pending;
  for (size_t trial = 1; trial <= o.trials; ++trial) {
    if (!finished.count(trial)) pending.push_back(trial);
  }
  std::reverse(pending.begin(), pending.end());  // pop_back takes trial 1 first

  std::ofstream out(sweep_log, std::ios::app);
  if (!out)
    throw IoError(fmt::format("writing '{}': cannot open for appending", sweep_log.string()));
  struct Running {
    size_t trial;
    std::chrono::steady_clock::time_point started;
    TrialRecord record;  // its rungs so far
    bool pruned = false;
    // Read once from its train_settings.json, when that exists.
    std::string metric;
    int64_t total_steps = 0;
    uintmax_t log_size = 0;  // trainer_log.jsonl's size at the last look: unchanged, not reread
  };
  // Successive halving: the finished trials' rung values first (a resumed sweep goes on
  // comparing against them), in trial order.
  Rungs book(o.halving);
  for (const auto& [trial, record] : finished) {
    for (size_t k = 0; k < record.rungs.size(); ++k) {
      book.add(k, record.rungs[k].value, metric_greater_is_better(record.metric));
    }
  }
  std::map<pid_t, Running> running;
  std::vector<TrialRecord> records;
  for (const auto& [trial, record] : finished) records.push_back(record);
  size_t done = finished.size();
  while (!pending.empty() || !running.empty()) {
    while (!pending.empty() && running.size() < o.parallel) {
      const size_t trial = pending.back();
      pending.pop_back();
      const auto dir = o.output_dir / fmt::format("trial-{}", trial);
      // A killed sweep's unfinished trial folder goes before the trial starts, so that no look
      // at its rungs reads the old log.
      std::filesystem::remove_all(dir);
      std::vector<std::string> args = {"ftune", "--threads", std::to_string(threads), "train"};
      args.insert(args.end(), o.train_args.begin(), o.train_args.end());
      args.insert(args.end(), {"--output-dir", dir.string(), "--overwrite-output-dir"});
      for (const auto& [option, value] : drawn[trial - 1]) {
        args.push_back("--" + option);
        args.push_back(value);
      }
      const pid_t pid =
          spawn(o.executable, args, o.output_dir / fmt::format("trial-{}.log", trial));
      running[pid] = {trial, std::chrono::steady_clock::now(), {}, false, "", 0, 0};
      fmt::print(
          stderr, "trial {}/{} started: {}\n", trial, o.trials, describe_params(drawn[trial - 1]));
    }
    int status = 0;
    const bool halving = o.halving > 1;
    const pid_t pid = ::waitpid(-1, &status, halving ? WNOHANG : 0);
    if (pid == 0) {  // all still running: check their rungs, then look again shortly
      for (auto& [child, run] : running) {
        const auto dir = o.output_dir / fmt::format("trial-{}", run.trial);
        if (run.pruned) continue;
        if (run.metric.empty()) {
          const auto settings = read_train_settings(dir);
          run.metric = settings.value("metric_for_best_model", std::string());
          run.total_steps = settings.value("total_steps", int64_t{0});
          if (run.metric.empty()) continue;  // the trial has not started training yet
        }
        std::error_code error;
        const uintmax_t log_size = std::filesystem::file_size(dir / kTrainLogFile, error);
        if (error || log_size == run.log_size) continue;  // nothing new logged
        run.log_size = log_size;
        const std::string& metric = run.metric;
        if (!advance_rungs(run.record,
                           read_train_history(dir / kTrainLogFile),
                           metric,
                           run.total_steps,
                           book)) {
          const auto& rung = run.record.rungs.back();
          fmt::print(stderr,
                     "trial {}/{} pruned at step {}: {} {:.4f} ranks {} of {} at evaluation {}\n",
                     run.trial,
                     o.trials,
                     rung.step,
                     metric,
                     rung.value,
                     rung.rank,
                     rung.of,
                     rung.evaluation);
          ::kill(child, SIGTERM);
          run.pruned = true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw Error(fmt::format("waiting for sweep trials: {}", std::strerror(errno)));
    }
    const auto it = running.find(pid);
    if (it == running.end()) continue;
    TrialRecord record = std::move(it->second.record);
    const bool pruned = it->second.pruned;
    const std::string metric = it->second.metric;
    record.trial = it->second.trial;
    record.params = drawn[record.trial - 1];
    record.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - it->second.started)
            .count();
    running.erase(it);
    const auto trial_dir = o.output_dir / fmt::format("trial-{}", record.trial);
    finish_record(record, trial_dir, status);
    if (pruned) {
      finish_pruned_record(record, trial_dir, metric);  // pruning needed the metric
    } else if (halving && record.status == "ok") {
      // Rungs it passed between two looks: recorded, so later trials compare against them.
      advance_rungs(record, read_train_history(trial_dir / kTrainLogFile), record.metric, 0, book);
    }
    if (record.status == "failed") {
      record.error = last_error_line(o.output_dir / fmt::format("trial-{}.log", record.trial));
    }
    out << record_to_json(record).dump() << '\n';
    out.flush();
    ++done;
    fmt::print(stderr,
               "trial {}/{} {} ({} of {} done): {} -> {}\n",
               record.trial,
               o.trials,
               record.status == "ok"       ? "ended"
               : record.status == "pruned" ? "pruned"
                                           : "FAILED",
               done,
               o.trials,
               describe_params(record.params),
               record.best_metric ? fmt::format("{} {:.4f}", record.metric, *record.best_metric)
                                  : fmt::format("exit {} {}", record.exit_code, record.error));
    records.push_back(record);
  }
  std::sort(records.begin(), records.end(), [](const TrialRecord& a, const TrialRecord& b) {
    return a.trial < b.trial;
  });

  const auto leaders = ranked(records);
  if (leaders.empty() || leaders.front().status == "failed" || !leaders.front().best_metric) {
    throw Error(fmt::format(
        "sweep: every trial failed, so there is no best; trial {}: {}; hint: see {}",
        records.front().trial,
        records.front().error.empty() ? fmt::format("exit {}", records.front().exit_code)
                                      : records.front().error,
        (o.output_dir / fmt::format("trial-{}.log", records.front().trial)).string()));
  }
  {
    write_best(o, leaders.front(), records.size());
    std::vector<CurvePoint> points;
    for (const auto& record : records) {
      if (record.best_metric) {
        points.push_back({static_cast<int64_t>(record.trial), *record.best_metric});
      }
    }
    write_file_atomically(o.output_dir / "sweep.svg",
                          render_trial_metrics(normal_folder(o.output_dir).filename().string(),
                                               leaders.front().metric,
                                               points,
                                               static_cast<int64_t>(leaders.front().trial)));
  }
  return records;
}

std::string format_leaderboard(const std::vector<TrialRecord>& records) {
  const auto leaders = ranked(records);
  std::string out = fmt::format("{:>4}  {:>5}  {:<7}  {:<10}  {:>8}  {:>7}  {}\n",
                                "rank",
                                "trial",
                                "status",
                                "metric",
                                "value",
                                "seconds",
                                "options");
  size_t rank = 0;
  for (const auto& r : leaders) {
    ++rank;
    const bool ranked_trial = r.status != "failed" && r.best_metric;
    out += fmt::format("{:>4}  {:>5}  {:<7}  {:<10}  {:>8}  {:>7.0f}  {}\n",
                       ranked_trial ? std::to_string(rank) : "-",
                       r.trial,
                       r.status,
                       r.metric.empty() ? "-" : r.metric,
                       r.best_metric ? fmt::format("{:.4f}", *r.best_metric) : "-",
                       r.seconds,
                       describe_params(r.params));
  }
  return out;
}

}  // namespace ftune
