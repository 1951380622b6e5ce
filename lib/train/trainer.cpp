// The training loop, for any TrainTask (lib/train/train_task.h). Read Trainer::run top to bottom:
// per step, train_step (set lr -> forward -> backward, accumulated -> clip -> step -> log), then
// the periodic evaluate_and_save (eval -> early-stopping decision -> best/ -> checkpoint) and a
// checkpoint on SIGINT/SIGTERM. The constructor prepares everything run needs, resume included.
#include "lib/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <unistd.h>

#include "lib/report/model_card.h"
#include "lib/report/run_history.h"
#include "lib/schedule/batch_order.h"
#include "lib/schedule/early_stopping.h"
#include "lib/schedule/schedule.h"
#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "lib/train/checkpoints.h"
#include "lib/train/distributed.h"
#include "lib/train/loss_scaler.h"
#include "lib/train/optim.h"
#include "lib/train/train_log.h"
#include "lib/train/train_task.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/interrupt.h"
#include "util/progress.h"
#include "util/version.h"

namespace ftune {
namespace {

void check_options(const TrainOptions& o) {
  auto fail = [](const std::string& what) { throw Error("checking train options: " + what); };
  if (o.task != "classify" && o.task != "ner" && o.task != "translate" && o.task != "pretrain") {
    fail(fmt::format("--task '{}': expected classify, ner or translate",
                     o.task));  // pretrain: own command
  }
  if (o.task != "classify" && (!o.classify.problem_type.empty() ||
                               !o.classify.class_weights.empty() || o.classify.tune_thresholds)) {
    fail(
        fmt::format("--problem-type and --class-weights apply to --task classify, not {}", o.task));
  }
  if (o.task != "ner" &&
      (o.ner.label_all_tokens || o.ner.stride || o.ner.mode != SeqevalMode::kDefault)) {
    fail(fmt::format("--label-all-tokens, --stride and --seqeval-mode apply to --task ner, not {}",
                     o.task));
  }
  // Not ignored silently: a classifier trained "with label smoothing" would not have had it.
  if (o.task != "translate" &&
      (o.translate.label_smoothing != 0.0 || o.translate.predict_with_generate)) {
    fail(
        fmt::format("--label-smoothing and --predict-with-generate apply to --task translate, "
                    "not {}",
                    o.task));
  }
  if (!parse_lr_scheduler(o.lr_scheduler)) {
    fail(
        fmt::format("--lr-scheduler '{}': expected linear, cosine, constant or "
                    "constant_with_warmup",
                    o.lr_scheduler));
  }
  if (o.report_to != "none" && o.report_to != "tensorboard") {
    fail(fmt::format("--report-to '{}': expected none or tensorboard", o.report_to));
  }
  if (o.eval_strategy != "epoch" && o.eval_strategy != "steps" && o.eval_strategy != "no") {
    fail(fmt::format("--eval-strategy '{}': expected epoch, steps or no", o.eval_strategy));
  }
  if (o.eval_strategy != "no" && !o.inputs.valid_file) {
    fail(
        fmt::format("--eval-strategy {} needs --valid FILE; hint: pass --valid or "
                    "--eval-strategy no",
                    o.eval_strategy));
  }
  if (o.batch_size == 0 || o.gradient_accumulation_steps <= 0 || o.eval_steps <= 0 ||
      o.logging_steps <= 0) {
    fail(
        "--batch-size, --gradient-accumulation-steps, --eval-steps and --logging-steps must be "
        "positive");
  }
  if (o.max_steps <= 0 && o.epochs <= 0) fail("give --epochs > 0 or --max-steps > 0");
  if (o.early_stopping_patience > 0 && o.eval_strategy == "no") {
    fail("--early-stopping-patience needs evaluations; hint: set --eval-strategy epoch or steps");
  }
  if (!parse_save_dtype(o.save_dtype)) {
    fail(fmt::format("--save-dtype '{}': expected float32, bfloat16 or float16", o.save_dtype));
  }
}

// Fails before any training if the output folder cannot be written.
void prepare_output_dir(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  const auto probe = dir / fmt::format(".write-test-{}", ::getpid());
  std::ofstream out(probe);
  if (error || !out) {
    throw IoError(
        fmt::format("preparing output folder '{}': not writable; hint: choose another "
                    "--output-dir",
                    dir.string()));
  }
  out.close();
  std::filesystem::remove(probe);
}

// Under the output folder's lock: a new run refuses a folder holding another run's checkpoints
// (HF's Trainer does too), so that `latest` can never pick a stale run's checkpoint; folders a
// killed run was still writing (checkpoint-N.tmp-<pid>) are incomplete by construction, never
// resumed from, so removed, as are the replaced best/last copies (best.old-<pid>) one left.
void claim_output_dir(const TrainOptions& o) {
  const auto& dir = o.output_dir;
  if (!o.resume_from_checkpoint) {
    const auto previous = find_previous_run(dir);
    if (!previous.empty() && !o.overwrite_output_dir) {
      const size_t shown = std::min<size_t>(previous.size(), 8);
      throw IoError(fmt::format(
          "preparing output folder '{}': it holds another run ({}{}); hint: continue it with "
          "--resume-from-checkpoint latest, start over with --overwrite-output-dir (deletes "
          "those), or choose another --output-dir",
          dir.string(),
          fmt::join(previous.begin(), previous.begin() + static_cast<std::ptrdiff_t>(shown), ", "),
          previous.size() > shown ? fmt::format(", {} more", previous.size() - shown) : ""));
    }
    if (!previous.empty()) remove_previous_run(dir);
  }
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    const bool unfinished =
        name.find(".tmp-") != std::string::npos || name.find(".old-") != std::string::npos;
    if (entry.is_directory() && unfinished) std::filesystem::remove_all(entry.path(), error);
  }
}

// A resumed run against the checkpoint's ("run" of trainer_state.json): a different number of
// training examples or of steps per epoch (batch size, accumulation, ranks) would make the saved
// step land in another epoch on other examples, so it is refused; another learning rate or
// scheduler is a legitimate choice, noted on stderr and recorded. Returns the record to save.
// The types of `saved`'s keys were checked with the rest of trainer_state.json
// (parse_trainer_state).
nlohmann::json check_resumed_run(const nlohmann::json& saved, nlohmann::json now) {
  for (const char* key : {"train_examples", "steps_per_epoch"}) {
    if (saved.contains(key) && saved.at(key) != now.at(key)) {
      throw CheckpointError(fmt::format(
          "resuming: {} was {} in the checkpoint's run, now {} (training data {} -> {}; batch "
          "{} x {} accumulation x {} ranks, was {} x {} x {}); hint: resume with the same "
          "--train file, --batch-size, --gradient-accumulation-steps and ranks, or start a new "
          "run in another --output-dir",
          key,
          saved.at(key).dump(),
          now.at(key).dump(),
          saved.value("train_file", "?"),
          now.at("train_file").get<std::string>(),
          now.at("train_batch_size").dump(),
          now.at("gradient_accumulation_steps").dump(),
          now.at("world_size").dump(),
          saved.value("train_batch_size", nlohmann::json()).dump(),
          saved.value("gradient_accumulation_steps", nlohmann::json()).dump(),
          saved.value("world_size", nlohmann::json()).dump()));
    }
  }
  nlohmann::json changes = saved.value("changed_on_resume", nlohmann::json::array());
  for (const char* key : {"learning_rate", "lr_scheduler", "train_file"}) {
    if (saved.contains(key) && saved.at(key) != now.at(key)) {
      fmt::print(stderr,
                 "note: resuming with {} {} (the checkpoint's run had {})\n",
                 key,
                 now.at(key).dump(),
                 saved.at(key).dump());
      changes.push_back({{"key", key}, {"was", saved.at(key)}, {"now", now.at(key)}});
    }
  }
  if (!changes.empty()) now["changed_on_resume"] = changes;
  return now;
}

void remove_if_empty(const std::filesystem::path& dir) {
  std::error_code error;
  if (std::filesystem::is_empty(dir, error) && !error) std::filesystem::remove(dir, error);
}

std::unique_ptr<TrainTask> make_task(const TrainOptions& o, const TaskContext& context) {
  if (o.task == "translate") return make_translation_task(o.inputs, o.translate, context);
  if (o.task == "ner") return make_token_classification_task(o.inputs, o.ner, context);
  if (o.task == "pretrain") return make_mlm_task(o.inputs, o.pretrain, context);
  return make_classification_task(o.inputs, o.classify, context);
}

// How many steps, per epoch and in all, with this many examples per rank and epoch.
struct StepPlan {
  int64_t batches_per_epoch = 0;  // per rank
  int64_t steps_per_epoch = 0;
  int64_t total_steps = 0;
  int64_t epochs = 0;
};

StepPlan plan_steps(const TrainOptions& o, size_t examples, int world_size) {
  StepPlan plan;
  plan.batches_per_epoch = count_rank_batches(examples, o.batch_size, world_size);
  plan.steps_per_epoch =
      (plan.batches_per_epoch + o.gradient_accumulation_steps - 1) / o.gradient_accumulation_steps;
  plan.total_steps = o.max_steps > 0 ? o.max_steps : plan.steps_per_epoch * o.epochs;
  plan.epochs = (plan.total_steps + plan.steps_per_epoch - 1) / plan.steps_per_epoch;
  return plan;
}

// --metric-for-best-model, checked against the task's names; empty = the task's first metric
// (macro_f1; bleu with --predict-with-generate), else loss.
std::string resolve_metric(const std::string& requested, const std::vector<std::string>& names) {
  const std::string metric =
      !requested.empty() ? requested : (names.empty() ? std::string("loss") : names.front());
  if (metric != "loss" && std::find(names.begin(), names.end(), metric) == names.end()) {
    throw Error(
        fmt::format("checking train options: --metric-for-best-model '{}': expected loss{}{}",
                    metric,
                    names.empty() ? "" : ", ",
                    fmt::join(names, ", ")));
  }
  return metric;
}

// Evaluation in a distributed run: each rank its shard, every rank the metrics of the whole set.
EvalShard make_eval_shard(Distributed& dist) {
  EvalShard shard;
  shard.rank = dist.rank();
  shard.world_size = dist.world_size();
  shard.show_progress = dist.is_main();
  if (dist.world_size() > 1) {
    shard.sum = [&dist](const std::vector<double>& values) {
      return dist.sum_across_ranks(values);
    };
    shard.gather_rows = [&dist](const at::Tensor& rows) { return dist.gather_rows(rows); };
  }
  return shard;
}

class Trainer {
 public:
  explicit Trainer(const TrainOptions& options);
  TrainResult run();

 private:
  void resume();
  void print_plan() const;
  // One optimizer step over the accumulation group `group` of this epoch's `batches`.
  void train_step(const std::vector<std::vector<size_t>>& batches, int64_t group, double epoch);
  at::Tensor forward_backward(const std::vector<size_t>& indices, int64_t micro_batches);
  void evaluate_and_save(double epoch);
  void checkpoint_if_interrupted(double epoch);
  nlohmann::json trainer_state(double epoch) const;
  // train_settings.json, and what --report-to tensorboard shows as the run's "args" text.
  nlohmann::ordered_json run_settings() const;
  // learning_curves.svg from trainer_log.jsonl as it stands (rank 0); the early stop is marked
  // once the closing record says so.
  void write_learning_curves() const;
  TrainResult finish();

  const TrainOptions& o_;
  Runtime runtime_;
  c10::ScalarType save_dtype_;
  Distributed dist_;
  std::optional<OutputDirLock> output_lock_;  // rank 0; held until the trainer is gone
  std::chrono::steady_clock::time_point started_;
  std::unique_ptr<TrainTask> task_;
  std::string metric_;
  StepPlan plan_;
  LrSchedule schedule_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<at::Tensor> parameters_;
  std::optional<EarlyStopping> stopping_;
  LossScaler scaler_;
  nlohmann::json run_record_;
  int64_t global_step_ = 0;
  std::optional<TrainLog> log_;
  std::optional<ProgressBar> progress_;
  EvalShard shard_;
  TrainResult result_;
  int64_t examples_seen_ = 0;
  double loss_total_ = 0.0;
  int64_t loss_steps_ = 0;
};

}  // namespace

namespace {

Trainer::Trainer(const TrainOptions& options)
    : o_(options),
      runtime_((check_options(options), resolve_runtime(options.runtime))),
      save_dtype_(*parse_save_dtype(options.save_dtype)),
      // One process per rank under torchrun or --nproc-per-node; a world of one otherwise.
      dist_(Distributed::from_environment({options.dist_backend, options.dist_timeout},
                                          runtime_.device)) {
  runtime_.device = dist_.local_device(runtime_.device);  // cuda:LOCAL_RANK
  if (dist_.is_main()) {
    prepare_output_dir(o_.output_dir);
    output_lock_.emplace(o_.output_dir);
    claim_output_dir(o_);
  }
  started_ = std::chrono::steady_clock::now();

  // Data and model: everything task-specific lives behind TrainTask.
  try {
    task_ = make_task(
        o_, {runtime_.device, o_.seed, o_.eval_batch_size ? o_.eval_batch_size : o_.batch_size});
  } catch (...) {
    if (output_lock_) output_lock_->release();
    remove_if_empty(o_.output_dir);  // bad data or model: leave no empty output folder behind
    throw;
  }
  auto& model = task_->model();
  model.to(runtime_.device);  // before the optimizer sees the parameters
  metric_ = resolve_metric(o_.metric_for_best_model, task_->metric_names());

  // Steps, schedule, optimizer, early stopping, loss scaling (fp16 only; bf16 needs none).
  const size_t examples = task_->example_lengths().size();
  plan_ = plan_steps(o_, examples, dist_.world_size());
  schedule_ = {*parse_lr_scheduler(o_.lr_scheduler),
               o_.learning_rate,
               compute_warmup_steps(o_.warmup_steps, o_.warmup_ratio, plan_.total_steps),
               plan_.total_steps};
  optimizer_ = make_adamw(
      model, {o_.learning_rate, o_.weight_decay, o_.adam_beta1, o_.adam_beta2, o_.adam_epsilon});
  parameters_ = model.parameters();
  stopping_.emplace(metric_,
                    metric_greater_is_better(metric_),
                    o_.early_stopping_patience,
                    o_.early_stopping_threshold);
  LossScalerOptions scaler_options;
  scaler_options.enabled = runtime_.precision == Precision::kFp16;
  scaler_ = LossScaler(scaler_options);

  // What a resumed run must share with the checkpoint's for a step to mean the same epoch and
  // the same examples (trainer_state.json's "run"; compared in check_resumed_run).
  run_record_ = {{"train_file", o_.inputs.train_file.string()},
                 {"train_examples", examples},
                 {"train_batch_size", o_.batch_size},
                 {"gradient_accumulation_steps", o_.gradient_accumulation_steps},
                 {"world_size", dist_.world_size()},
                 {"steps_per_epoch", plan_.steps_per_epoch},
                 {"learning_rate", o_.learning_rate},
                 {"lr_scheduler", o_.lr_scheduler}};

  torch::manual_seed(o_.seed);
  if (o_.resume_from_checkpoint) resume();
  dist_.broadcast_module(model);        // every rank starts from rank 0's weights
  dist_.attach_gradients(parameters_);  // and averages its gradients with the others'
  // Rank 0 alone writes logs, progress and checkpoints.
  std::optional<std::filesystem::path> events_dir;
  if (o_.report_to == "tensorboard") events_dir = o_.output_dir / "runs";
  log_.emplace(dist_.is_main() ? o_.output_dir / "trainer_log.jsonl" : std::filesystem::path(),
               global_step_,
               events_dir);
  if (dist_.is_main()) {
    const auto settings = run_settings();
    write_file_atomically(o_.output_dir / kTrainSettingsFile, settings.dump(2) + "\n");
    log_->write_settings(settings.dump(2), global_step_);
    print_plan();
  }
  progress_.emplace("train", plan_.total_steps, dist_.is_main());
  shard_ = make_eval_shard(dist_);
}

void Trainer::resume() {
  const auto checkpoint = resolve_resume_checkpoint(o_.output_dir, *o_.resume_from_checkpoint);
  task_->load_weights(checkpoint);
  const auto state = restore_training_state(checkpoint, *optimizer_, runtime_.device);
  global_step_ = state.global_step;
  stopping_->restore(state.early_stopping);
  if (scaler_.enabled() && state.loss_scaler) scaler_.restore(*state.loss_scaler);
  if (state.run) run_record_ = check_resumed_run(*state.run, run_record_);
  fmt::print(stderr, "resuming from {} at step {}\n", checkpoint.string(), global_step_);
}

void Trainer::print_plan() const {
  const auto accumulation = o_.gradient_accumulation_steps;
  if (dist_.world_size() > 1) {
    fmt::print(stderr,
               "distributed: {} ranks, global batch {} ({} x {} ranks x {} accumulation)\n",
               dist_.world_size(),
               o_.batch_size * dist_.world_size() * accumulation,
               o_.batch_size,
               dist_.world_size(),
               accumulation);
  }
  fmt::print(stderr,
             "training: {}, {} steps ({} per epoch), batch {} x {} accumulation, {}, {}, {} "
             "threads\n",
             task_->describe(),
             plan_.total_steps,
             plan_.steps_per_epoch,
             o_.batch_size,
             accumulation,
             runtime_.device.str(),
             precision_name(runtime_.precision),
             at::get_num_threads());
}

TrainResult Trainer::run() {
  InterruptGuard interrupt_guard;
  // LibTorch's profiler records the ops of this thread (autograd runs CPU backward here too) and
  // writes the trace when it goes out of scope, after the final checkpoint.
  std::optional<torch::autograd::profiler::RecordProfile> profile;
  if (!o_.profile_trace.empty()) {
    if (!std::ofstream(o_.profile_trace)) {
      throw Error(fmt::format("--profile-trace: cannot write '{}'; hint: does its folder exist?",
                              o_.profile_trace));
    }
    profile.emplace(o_.profile_trace);
  }
  task_->model().train();
  for (int64_t epoch = global_step_ / plan_.steps_per_epoch; epoch < plan_.epochs; ++epoch) {
    const auto batches =
        make_rank_epoch_batches(task_->example_lengths(),
                                {o_.batch_size, o_.shuffle, o_.group_by_length, o_.seed},
                                epoch,
                                dist_.rank(),
                                dist_.world_size());
    const int64_t first_step_in_epoch = epoch * plan_.steps_per_epoch;
    for (int64_t group = global_step_ - first_step_in_epoch; group < plan_.steps_per_epoch;
         ++group) {
      if (global_step_ >= plan_.total_steps || result_.stopped_early) break;
      const double epoch_progress = epoch + static_cast<double>(group + 1) / plan_.steps_per_epoch;
      train_step(batches, group, epoch_progress);
      if (o_.eval_strategy == "steps" && global_step_ % o_.eval_steps == 0) {
        evaluate_and_save(epoch_progress);
      }
      checkpoint_if_interrupted(epoch_progress);
    }
    // Without --eval-strategy steps: evaluate (or just checkpoint) at each epoch's end.
    const bool epoch_complete = global_step_ == first_step_in_epoch + plan_.steps_per_epoch;
    if (!result_.stopped_early && o_.eval_strategy != "steps" &&
        (epoch_complete || global_step_ >= plan_.total_steps)) {
      evaluate_and_save(static_cast<double>(global_step_) / plan_.steps_per_epoch);
    }
    if (result_.stopped_early || global_step_ >= plan_.total_steps) break;
  }
  return finish();
}

void Trainer::train_step(const std::vector<std::vector<size_t>>& batches, int64_t group,
                         double epoch) {
  const int64_t step = global_step_ + 1;
  const double lr = schedule_.compute_lr(step);
  set_learning_rate(*optimizer_, lr);
  clear_gradients(*optimizer_);
  const int64_t first = group * o_.gradient_accumulation_steps;
  const int64_t micro_batches =
      std::min(o_.gradient_accumulation_steps, plan_.batches_per_epoch - first);
  at::Tensor step_loss = torch::zeros({}, torch::TensorOptions().device(runtime_.device));
  for (int64_t m = 0; m < micro_batches; ++m) {
    dist_.sync_next_backward(m + 1 == micro_batches);  // accumulation: communicate once
    step_loss += forward_backward(batches[first + m], micro_batches);
  }
  dist_.finish_gradient_sync();  // each gradient is now the mean over the ranks
  // fp16: gradients that overflowed skip this step and lower the loss scale (GradScaler).
  const bool grads_finite = scaler_.unscale(parameters_);
  double grad_norm = std::numeric_limits<double>::quiet_NaN();
  if (grads_finite) {
    grad_norm = clip_gradients(parameters_, o_.max_grad_norm);
    optimizer_->step();
  }
  scaler_.update(grads_finite);
  global_step_ = step;

  const double loss = dist_.mean_across_ranks(step_loss.item<double>());
  if (!std::isfinite(loss)) {
    throw Error(
        fmt::format("training: the loss is {} at step {}; hint: lower --learning-rate, or check "
                    "the data for broken rows",
                    loss,
                    global_step_));
  }
  loss_total_ += loss;
  ++loss_steps_;
  if (global_step_ % o_.logging_steps == 0 || global_step_ == 1) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    log_->write_step(global_step_, epoch, loss, lr, grad_norm, elapsed);
  }
  progress_->update(global_step_, fmt::format("loss {:.4f} lr {:.2e}", loss, lr));
}

// The micro-batch's share of the step's loss, backpropagated; returns it detached (float32).
at::Tensor Trainer::forward_backward(const std::vector<size_t>& indices, int64_t micro_batches) {
  try {
    at::Tensor loss;
    {
      AutocastGuard autocast(runtime_.device.type(), runtime_.precision);  // forward only
      loss = task_->compute_loss(indices) / micro_batches;
    }
    scaler_.scale(loss).backward();
    examples_seen_ += static_cast<int64_t>(indices.size());
    return loss.detach().to(torch::kFloat);
  } catch (const c10::OutOfMemoryError& e) {
    const std::string what = e.what_without_backtrace();
    throw Error(fmt::format(
        "training: out of memory on {} at step {} with --batch-size {} ({} examples of up to "
        "--max-length tokens): {}; hint: lower --batch-size and raise "
        "--gradient-accumulation-steps to keep the effective batch ({} now), or lower "
        "--max-length; the last checkpoint is intact",
        runtime_.device.str(),
        global_step_ + 1,
        o_.batch_size,
        indices.size(),
        what.substr(0, what.find('\n')),
        static_cast<int64_t>(o_.batch_size) * o_.gradient_accumulation_steps));
  }
}

// Evaluate, decide, save best/, checkpoint: at each eval step/epoch (or each epoch end without
// eval). --eval-strategy no skips evaluation even when a validation file was given.
void Trainer::evaluate_and_save(double epoch) {
  if (o_.eval_strategy != "no" && task_->has_validation()) {
    EvalMetrics eval;
    {
      AutocastGuard autocast(runtime_.device.type(), runtime_.precision);
      eval = task_->evaluate(shard_);
    }
    auto decision = stopping_->observe(*eval.find(metric_), global_step_, epoch);
    result_.stopped_early = decision.should_stop;
    if (dist_.is_main()) {
      log_->write_eval(global_step_, epoch, eval.loss, eval.values);
      progress_->print_line(decision.log_line);
      if (decision.is_new_best) replace_model_folder(o_.output_dir, "best", *task_, save_dtype_);
      write_learning_curves();
    }
  }
  result_.stopped_early = dist_.broadcast_from_main(result_.stopped_early);  // stop together
  if (!dist_.is_main()) return;
  save_training_checkpoint(o_.output_dir, global_step_, *task_, *optimizer_, trainer_state(epoch));
  rotate_checkpoints(o_.output_dir, o_.save_total_limit, stopping_->best_step());
}

void Trainer::checkpoint_if_interrupted(double epoch) {
  const int signal_number = dist_.max_across_ranks(InterruptGuard::pending_signal());
  if (!signal_number) return;
  const auto saved =
      dist_.is_main() ? save_training_checkpoint(
                            o_.output_dir, global_step_, *task_, *optimizer_, trainer_state(epoch))
                      : o_.output_dir / fmt::format("checkpoint-{}", global_step_);
  dist_.barrier();  // the other ranks exit once rank 0 has saved
  progress_->finish();
  throw Interrupted(signal_number,
                    fmt::format("training interrupted by signal {} at step {}; saved {}; hint: "
                                "continue with --resume-from-checkpoint latest",
                                signal_number,
                                global_step_,
                                saved.string()));
}

nlohmann::ordered_json Trainer::run_settings() const {
  auto optional_path = [](const std::optional<std::filesystem::path>& path) {
    return path ? nlohmann::ordered_json(path->string()) : nlohmann::ordered_json();
  };
  return {{"task", o_.task},
          {"model", o_.inputs.model_dir.string()},
          {"train_file", o_.inputs.train_file.string()},
          {"train_examples", task_->example_lengths().size()},
          {"train_data", task_->describe()},
          {"valid_file", optional_path(o_.inputs.valid_file)},
          {"valid_examples", task_->validation_size()},
          {"output_dir", o_.output_dir.string()},
          {"epochs", o_.epochs},
          {"max_steps", o_.max_steps},
          {"total_steps", plan_.total_steps},
          {"batch_size", o_.batch_size},
          {"gradient_accumulation_steps", o_.gradient_accumulation_steps},
          {"world_size", dist_.world_size()},
          {"learning_rate", o_.learning_rate},
          {"lr_scheduler", o_.lr_scheduler},
          {"warmup_steps", o_.warmup_steps},
          {"warmup_ratio", o_.warmup_ratio},
          {"weight_decay", o_.weight_decay},
          {"max_grad_norm", o_.max_grad_norm},
          {"seed", o_.seed},
          {"max_length", o_.inputs.max_length},
          {"metric_for_best_model", metric_},
          {"early_stopping_patience", o_.early_stopping_patience},
          {"device", runtime_.device.str()},
          {"precision", o_.runtime.precision},
          {"resumed_at_step", global_step_},
          {"command_line", o_.command_line},
          {"ftune_version", kFtuneVersion},
          {"libtorch_version", TORCH_VERSION}};
}

void Trainer::write_learning_curves() const {
  const TrainHistory history = read_train_history(o_.output_dir / kTrainLogFile);
  LearningCurves curves = make_learning_curves(history,
                                               metric_,
                                               metric_greater_is_better(metric_),
                                               normal_folder(o_.output_dir).filename().string());
  if (stopping_->best_value()) curves.best_step = stopping_->best_step();
  curves.last_step = std::max(curves.last_step, global_step_);
  write_file_atomically(o_.output_dir / kLearningCurvesFile, render_learning_curves(curves));
}

nlohmann::json Trainer::trainer_state(double epoch) const {
  nlohmann::json state;
  state["global_step"] = global_step_;
  state["epoch"] = epoch;
  state["total_steps"] = plan_.total_steps;
  state["run"] = run_record_;
  state["early_stopping"] = stopping_->to_json();
  if (scaler_.enabled()) state["loss_scaler"] = scaler_.to_json();
  state["best_model_checkpoint"] =
      stopping_->best_value() ? nlohmann::json(fmt::format("checkpoint-{}", stopping_->best_step()))
                              : nlohmann::json(nullptr);
  return state;
}

TrainResult Trainer::finish() {
  progress_->finish();
  if (dist_.is_main()) replace_model_folder(o_.output_dir, "last", *task_, save_dtype_);
  result_.rank = dist_.rank();
  result_.global_step = global_step_;
  result_.metric = metric_;
  result_.best_metric = stopping_->best_value();
  result_.best_step = stopping_->best_step();
  result_.train_runtime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  nlohmann::ordered_json outcome = {{"metric_for_best_model", metric_},
                                    {"best_metric", nlohmann::ordered_json(nullptr)},
                                    {"best_step", nlohmann::ordered_json(nullptr)},
                                    {"stopped_early", result_.stopped_early}};
  if (result_.best_metric) {
    outcome["best_metric"] = *result_.best_metric;
    outcome["best_step"] = result_.best_step;
  }
  log_->write_summary(global_step_,
                      static_cast<double>(global_step_) / plan_.steps_per_epoch,
                      loss_steps_ ? loss_total_ / loss_steps_ : 0.0,
                      result_.train_runtime,
                      dist_.sum_across_ranks(examples_seen_),
                      loss_steps_,
                      outcome);
  if (dist_.is_main()) {
    // The pictures and the model card from the complete log: the final learning curves, and
    // README.md in best/ (the folder people share), or last/ when no evaluation made a best/.
    write_learning_curves();
    const auto card_dir = std::filesystem::exists(o_.output_dir / "best") ? o_.output_dir / "best"
                                                                          : o_.output_dir / "last";
    write_model_card(o_.output_dir, card_dir);
  }
  return result_;
}

}  // namespace

TrainResult run_train(const TrainOptions& options) { return Trainer(options).run(); }

}  // namespace ftune
