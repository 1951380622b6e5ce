// trainer_state.json checks (lib/schedule/trainer_state.h): each key a resume reads has the type
// that lib/train/trainer.cpp wrote, so that nothing later fails with a bare nlohmann type error.
#include "lib/schedule/trainer_state.h"

#include <fmt/format.h>

#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace {

constexpr const char* kHint = "hint: the checkpoint is damaged; resume from another checkpoint";

[[noreturn]] void fail_key(const std::string& path, const std::string& key, const char* expected,
                           const nlohmann::json* value) {
  throw CheckpointError(fmt::format("resuming: file '{}': key '{}': expected {}, got {}; {}",
                                    path,
                                    key,
                                    expected,
                                    value ? quote_json_value(*value) : "nothing",
                                    kHint));
}

const nlohmann::json* find_key(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

bool is_count(const nlohmann::json* value) {
  return value && value->is_number_integer() && value->get<int64_t>() >= 0;
}

}  // namespace

TrainerState parse_trainer_state(std::string_view text, const std::string& path) {
  nlohmann::json json;
  try {
    json = parse_json_capped(text, path);
  } catch (const JsonError& e) {
    throw CheckpointError(fmt::format("resuming: {}; {}", e.what(), kHint));
  }
  if (!json.is_object()) {
    throw CheckpointError(fmt::format(
        "resuming: file '{}': expected a JSON object, got {}; {}", path, json.type_name(), kHint));
  }
  TrainerState state;
  const auto* step = find_key(json, "global_step");
  if (!is_count(step)) fail_key(path, "global_step", "a non-negative integer", step);
  state.global_step = step->get<int64_t>();

  // EarlyStopping::restore: best_value null or a number, best_step and stalls counts (optional).
  const auto* stopping = find_key(json, "early_stopping");
  if (!stopping || !stopping->is_object()) {
    fail_key(path, "early_stopping", "an object", stopping);
  }
  if (const auto* best = find_key(*stopping, "best_value"); best && !best->is_null()) {
    if (!best->is_number()) fail_key(path, "best_value", "a number or null", best);
  }
  for (const char* key : {"best_step", "stalls"}) {
    const auto* count = find_key(*stopping, key);
    if (count && !is_count(count)) fail_key(path, key, "a non-negative integer", count);
  }
  state.early_stopping = *stopping;

  if (const auto* scaler = find_key(json, "loss_scaler"); scaler && !scaler->is_null()) {
    if (!scaler->is_object()) fail_key(path, "loss_scaler", "an object", scaler);
    state.loss_scaler = *scaler;
  }
  // The run's shape, compared with the resuming run's by lib/train/trainer.cpp (check_resumed_run).
  if (const auto* run = find_key(json, "run"); run && !run->is_null()) {
    if (!run->is_object()) fail_key(path, "run", "an object", run);
    for (const char* key : {"train_file", "lr_scheduler"}) {
      const auto* value = find_key(*run, key);
      if (value && !value->is_string())
        fail_key(path, std::string("run.") + key, "a string", value);
    }
    for (const char* key : {"train_examples",
                            "steps_per_epoch",
                            "train_batch_size",
                            "gradient_accumulation_steps",
                            "world_size"}) {
      const auto* value = find_key(*run, key);
      if (value && !is_count(value)) {
        fail_key(path, std::string("run.") + key, "a non-negative integer", value);
      }
    }
    if (const auto* rate = find_key(*run, "learning_rate"); rate && !rate->is_number()) {
      fail_key(path, "run.learning_rate", "a number", rate);
    }
    if (const auto* changes = find_key(*run, "changed_on_resume");
        changes && !changes->is_array()) {
      fail_key(path, "run.changed_on_resume", "an array", changes);
    }
    state.run = *run;
  }
  return state;
}

}  // namespace ftune
