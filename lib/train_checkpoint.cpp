// Checkpoint folders. A folder is complete exactly when its final name exists: everything is
// written into `<name>.tmp-<pid>` first, synced, then renamed.
#include "lib/train_checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <regex>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "lib/atomic_file.h"
#include "lib/error.h"
#include "lib/device.h"
#include "lib/weights.h"
#include "models/config_json.h"

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

// Moves a finished temporary folder to `target`, replacing an existing one.
void install_folder(const std::filesystem::path& tmp, const std::filesystem::path& target) {
  sync_path(tmp);
  if (std::filesystem::exists(target)) {
    auto old = target;
    old += fmt::format(".old-{}", ::getpid());
    std::filesystem::remove_all(old);
    std::filesystem::rename(target, old);
    std::filesystem::rename(tmp, target);
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
                                               int64_t step,
                                               const TrainTask& task,
                                               torch::optim::Optimizer& optimizer,
                                               const nlohmann::json& trainer_state) {
  const auto target = output_dir / fmt::format("checkpoint-{}", step);
  const auto tmp = temporary_sibling(target);
  task.save_model_folder(tmp);
  torch::save(optimizer, (tmp / kOptimizerFile).string());
  sync_path(tmp / kOptimizerFile);
  torch::Tensor rng_state = at::detail::getDefaultCPUGenerator().get_state();
  torch::save(rng_state, (tmp / kRngFile).string());
  sync_path(tmp / kRngFile);
  write_file_atomically(tmp / kTrainerStateFile, trainer_state.dump(2) + "\n");
  install_folder(tmp, target);
  return target;
}

void save_model_folder(const std::filesystem::path& output_dir,
                       const std::string& name,
                       const TrainTask& task,
                       c10::ScalarType save_dtype) {
  const auto target = output_dir / name;
  const auto tmp = temporary_sibling(target);
  task.save_model_folder(tmp);
  if (save_dtype != c10::kFloat) convert_saved_weights(tmp, save_dtype);
  install_folder(tmp, target);
}

void convert_saved_weights(const std::filesystem::path& model_dir, c10::ScalarType dtype) {
  const auto weights_file = model_dir / "model.safetensors";
  TensorMap tensors = read_weights(weights_file);
  for (auto& [name, tensor] : tensors) {
    if (tensor.is_floating_point()) tensor = tensor.to(dtype);  // a copy: the file can be replaced
  }
  write_weights_safetensors(weights_file, tensors);
  const auto config_file = model_dir / "config.json";
  auto config = config_json::read_file(config_file.string());
  config["torch_dtype"] = torch_dtype_name(dtype);
  write_file_atomically(config_file, config.dump(2) + "\n");
}

std::optional<std::filesystem::path> find_latest_checkpoint(const std::filesystem::path& output_dir) {
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
    throw CheckpointError(fmt::format(
        "resuming: '{}' is not a complete training checkpoint (no {}); hint: pass a "
        "checkpoint-<step> folder or 'latest'",
        spec, kTrainerStateFile));
  }
  return path;
}

TrainerState restore_training_state(const std::filesystem::path& checkpoint,
                                    torch::optim::Optimizer& optimizer,
                                    const c10::Device& device) {
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
                                      checkpoint.string(), e.what_without_backtrace()));
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

}  // namespace ftune
