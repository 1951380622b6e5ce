// Checkpoint folders. A folder is complete exactly when its final name exists: everything is
// written into `<name>.tmp-<pid>` first, synced, then renamed.
#include "lib/train/checkpoints.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <regex>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <sys/file.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include "lib/io/weights.h"
#include "lib/tensors/device.h"
#include "models/config_json.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace ftune {
namespace {

constexpr const char* kOptimizerFile = "optimizer.pt";
constexpr const char* kRngFile = "rng_state.pt";

std::filesystem::path temporary_sibling(const std::filesystem::path& target) {
  auto tmp = target;
  tmp += fmt::format(".tmp-{}", ::getpid());
  std::filesystem::remove_all(tmp);
  std::filesystem::create_directories(tmp);
  return tmp;
}

// Runs `write` (filling `tmp`); on any failure removes `tmp` and throws one IoError naming the
// folder being written and the free space, so a full disk leaves neither a half-written folder
// nor a crash, and the folders written before (`target`'s old copy, earlier checkpoints) stay.
template <typename Write>
void write_or_clean_up(const std::filesystem::path& tmp, const std::filesystem::path& target,
                       Write&& write) {
  try {
    write();
    sync_path(tmp);
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove_all(tmp, ignored);
    const std::string what = e.what();
    throw IoError(fmt::format(
        "saving '{}': {}{}",
        target.string(),
        what.substr(0, what.find('\n')),
        what.find(" free on ") == std::string::npos ? "; " + describe_free_space(target) : ""));
  }
}

// torch::save of `value` straight into the file `target` (temporary + fsync + rename), with no
// copy of the archive in memory: the optimizer's state is twice the weights, and building it in a
// string first took three times that at the peak (BERT-base: 4.1 GB against 2.5 GB in the loop).
// PyTorchStreamWriter throws from its destructor when its writer reports a short write, which
// ends the process; so the writer always reports success, and a failed write (disk full) surfaces
// in commit() as an IoError naming the file and the free space.
template <typename Value>
void save_file_atomically(const std::filesystem::path& target, const Value& value) {
  AtomicFileWriter writer(target);
  std::ostream& out = writer.stream();
  torch::save(value, [&out](const void* data, size_t size) -> size_t {
    if (out) out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    return size;
  });
  writer.commit();
}

// Moves a finished temporary folder to `target`, replacing an existing one. Renames within one
// folder need no space; should one fail all the same, the previous `target` is put back.
void install_folder(const std::filesystem::path& tmp, const std::filesystem::path& target) {
  if (std::filesystem::exists(target)) {
    auto old = target;
    old += fmt::format(".old-{}", ::getpid());
    std::filesystem::remove_all(old);
    std::filesystem::rename(target, old);
    std::error_code error;
    std::filesystem::rename(tmp, target, error);
    if (error) {
      const std::string why = error.message();
      std::filesystem::rename(old, target);
      std::filesystem::remove_all(tmp, error);
      throw IoError(fmt::format(
          "saving '{}': cannot move the new copy into place: {}", target.string(), why));
    }
    std::filesystem::remove_all(old);
  } else {
    std::filesystem::rename(tmp, target);
  }
  sync_path(target.parent_path());
}

std::optional<int64_t> checkpoint_step(const std::filesystem::path& path) {
  static const std::regex kPattern("checkpoint-([0-9]+)");
  std::smatch match;
  const std::string name = path.filename().string();
  if (!std::regex_match(name, match, kPattern)) return std::nullopt;
  return std::stoll(match[1].str());
}

std::vector<std::pair<int64_t, std::filesystem::path>> list_checkpoints(
    const std::filesystem::path& output_dir) {
  std::vector<std::pair<int64_t, std::filesystem::path>> found;
  if (!std::filesystem::is_directory(output_dir)) return found;
  for (const auto& entry : std::filesystem::directory_iterator(output_dir)) {
    if (!entry.is_directory()) continue;
    auto step = checkpoint_step(entry.path());
    if (step && std::filesystem::exists(entry.path() / kTrainerStateFile)) {
      found.emplace_back(*step, entry.path());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

std::filesystem::path save_training_checkpoint(const std::filesystem::path& output_dir,
                                               int64_t step, const TrainTask& task,
                                               torch::optim::Optimizer& optimizer,
                                               const nlohmann::json& trainer_state) {
  const auto target = output_dir / fmt::format("checkpoint-{}", step);
  const auto tmp = temporary_sibling(target);
  write_or_clean_up(tmp, target, [&] {
    task.save(tmp, c10::kFloat);  // resuming is exact from float32 only
    save_file_atomically(tmp / kOptimizerFile, optimizer);
    save_file_atomically(tmp / kRngFile, at::detail::getDefaultCPUGenerator().get_state());
    write_file_atomically(tmp / kTrainerStateFile, trainer_state.dump(2) + "\n");
  });
  install_folder(tmp, target);
  return target;
}

void replace_model_folder(const std::filesystem::path& output_dir, const std::string& name,
                          const TrainTask& task, c10::ScalarType save_dtype) {
  const auto target = output_dir / name;
  const auto tmp = temporary_sibling(target);
  write_or_clean_up(tmp, target, [&] { task.save(tmp, save_dtype); });
  install_folder(tmp, target);
}

std::optional<std::filesystem::path> find_latest_checkpoint(
    const std::filesystem::path& output_dir) {
  auto found = list_checkpoints(output_dir);
  if (found.empty()) return std::nullopt;
  return found.back().second;
}

std::filesystem::path resolve_resume_checkpoint(const std::filesystem::path& output_dir,
                                                const std::string& spec) {
  if (spec == "latest") {
    auto latest = find_latest_checkpoint(output_dir);
    if (!latest) {
      throw CheckpointError(fmt::format(
          "resuming: no complete checkpoint-<step> folder in '{}'; hint: check --output-dir, or "
          "start without --resume-from-checkpoint",
          output_dir.string()));
    }
    return *latest;
  }
  std::filesystem::path path(spec);
  if (!std::filesystem::exists(path / kTrainerStateFile)) {
    throw CheckpointError(
        fmt::format("resuming: '{}' is not a complete training checkpoint (no {}); hint: pass a "
                    "checkpoint-<step> folder or 'latest'",
                    spec,
                    kTrainerStateFile));
  }
  return path;
}

TrainerState restore_training_state(const std::filesystem::path& checkpoint,
                                    torch::optim::Optimizer& optimizer, const c10::Device& device) {
  const auto state_file = checkpoint / kTrainerStateFile;
  std::ifstream in(state_file, std::ios::binary);
  if (!in) {
    throw CheckpointError(fmt::format("resuming: file '{}': cannot open it", state_file.string()));
  }
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TrainerState state = parse_trainer_state(text, state_file.string());  // before the slow loads
  try {
    torch::load(optimizer, (checkpoint / kOptimizerFile).string(), device);
    torch::Tensor rng_state;
    torch::load(rng_state, (checkpoint / kRngFile).string());
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(rng_state);
  } catch (const c10::Error& e) {
    throw CheckpointError(fmt::format("resuming from '{}': cannot restore optimizer/RNG state: {}",
                                      checkpoint.string(),
                                      e.what_without_backtrace()));
  }
  return state;
}

void rotate_checkpoints(const std::filesystem::path& output_dir, int64_t limit, int64_t keep_step) {
  if (limit <= 0) return;
  auto found = list_checkpoints(output_dir);
  auto excess = static_cast<int64_t>(found.size()) - limit;
  for (const auto& [step, path] : found) {
    if (excess <= 0) break;
    // The best model's checkpoint and the newest (what a resume needs) always stay, so the
    // limit can be exceeded by one, as in Hugging Face.
    if (step == keep_step || path == found.back().second) continue;
    std::filesystem::remove_all(path);
    --excess;
  }
}

OutputDirLock::OutputDirLock(const std::filesystem::path& dir) : file_(dir / ".ftune.lock") {
  // The holder deletes the lock file when it ends; a run that opened the old file just before
  // then locks a deleted inode, so the lock counts only while the path still names it.
  bool locked = false;
  for (int attempt = 0;; ++attempt) {
    fd_ = ::open(file_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      throw IoError(fmt::format("locking output folder '{}': cannot open '{}': {}",
                                dir.string(),
                                file_.string(),
                                std::strerror(errno)));
    }
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) break;  // held by another run: reported below
    struct stat by_fd {
    }, by_path{};
    if (::fstat(fd_, &by_fd) == 0 && ::stat(file_.c_str(), &by_path) == 0 &&
        by_fd.st_ino == by_path.st_ino && by_fd.st_dev == by_path.st_dev) {
      locked = true;
      break;
    }
    ::close(fd_);
    fd_ = -1;
    if (attempt == 10) {
      throw IoError(
          fmt::format("locking output folder '{}': '{}' keeps changing; hint: is "
                      "another ftune starting there?",
                      dir.string(),
                      file_.string()));
    }
  }
  if (!locked) {
    const int saved = errno;
    char pid[32] = {};
    (void)!::pread(fd_, pid, sizeof pid - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (saved == EWOULDBLOCK) {
      throw IoError(fmt::format(
          "locking output folder '{}': another ftune run (pid {}) is writing there; hint: wait "
          "for it to finish, stop it, or choose another --output-dir",
          dir.string(),
          std::string(pid).empty() ? "unknown" : std::string(pid)));
    }
    throw IoError(
        fmt::format("locking output folder '{}': {}", dir.string(), std::strerror(saved)));
  }
  const std::string pid = std::to_string(::getpid());
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, pid.data(), pid.size(), 0) < 0) {
    // The lock holds without the pid; a second run's message then says "unknown".
  }
}

OutputDirLock::~OutputDirLock() { release(); }

void OutputDirLock::release() {
  if (fd_ < 0) return;
  std::error_code error;
  std::filesystem::remove(file_, error);  // while still locked: no other run is between
  ::close(fd_);
  fd_ = -1;
}

std::vector<std::string> find_previous_run(const std::filesystem::path& output_dir) {
  std::vector<std::string> found;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(output_dir, error)) {
    const std::string name = entry.path().filename().string();
    const bool is_checkpoint = checkpoint_step(entry.path()).has_value();
    if (is_checkpoint || name == "best" || name == "last" || name == "trainer_log.jsonl" ||
        name == "runs" || name == "train_settings.json" || name == "learning_curves.svg" ||
        name == "report.html") {
      found.push_back(name);
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

void remove_previous_run(const std::filesystem::path& output_dir) {
  for (const auto& name : find_previous_run(output_dir)) {
    std::filesystem::remove_all(output_dir / name);
  }
}

}  // namespace ftune
