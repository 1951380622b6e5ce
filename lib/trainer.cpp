// The training loop, for any TrainTask (lib/train_task.h). Read run_train top to bottom: prepare
// the task, then per step: set lr -> forward -> backward (accumulate) -> clip -> step -> log ->
// periodic eval -> early-stopping decision -> checkpoint.
#include "lib/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <torch/torch.h>
#include <unistd.h>

#include "lib/batch.h"
#include "lib/batch_order.h"
#include "lib/device.h"
#include "lib/distributed.h"
#include "lib/early_stopping.h"
#include "lib/error.h"
#include "lib/interrupt.h"
#include "lib/loss_scaler.h"
#include "lib/optim.h"
#include "lib/progress.h"
#include "lib/schedule.h"
#include "lib/train_checkpoint.h"
#include "lib/train_log.h"
#include "lib/train_task.h"

namespace ftune {
namespace {

void check_options(const TrainOptions& o) {
  auto fail = [](const std::string& what) { throw Error("checking train options: " + what); };
  if (o.task != "classify" && o.task != "translate" && o.task != "pretrain") {
    fail(fmt::format("--task '{}': expected classify or translate",
                     o.task));  // pretrain: own command
  }
  if (!parse_lr_scheduler(o.lr_scheduler)) {
    fail(
        fmt::format("--lr-scheduler '{}': expected linear, cosine, constant or "
                    "constant_with_warmup",
                    o.lr_scheduler));
  }
  if (o.eval_strategy != "epoch" && o.eval_strategy != "steps" && o.eval_strategy != "no") {
    fail(fmt::format("--eval-strategy '{}': expected epoch, steps or no", o.eval_strategy));
  }
  if (o.eval_strategy != "no" && !o.valid_file) {
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
      const size_t shown = std::min<size_t>(previous.size(), 5);
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

}  // namespace

std::optional<double> EvalMetrics::find(const std::string& name) const {
  if (name == "loss") return loss;
  for (const auto& [key, value] : values) {
    if (key == name) return value;
  }
  return std::nullopt;
}

at::Tensor EvalShard::to_example_order(const at::Tensor& gathered) const {
  if (world_size == 1) return gathered;
  const auto count = static_cast<size_t>(gathered.size(0));
  std::vector<size_t> example;  // gathered row k holds example[k]: rank 0's rows, rank 1's, ...
  for (size_t r = 0; r < static_cast<size_t>(world_size); ++r) {
    for (size_t i = r; i < count; i += static_cast<size_t>(world_size)) example.push_back(i);
  }
  return put_rows_in_example_order(gathered, example);  // (N, F)
}

bool metric_greater_is_better(const std::string& name) {
  return name != "loss" && name != "perplexity";
}

TrainResult run_train(const TrainOptions& o) {
  check_options(o);
  Runtime runtime = resolve_runtime(o.runtime);
  const c10::ScalarType save_dtype = *parse_save_dtype(o.save_dtype);
  // One process per rank under torchrun or --nproc-per-node; a world of one otherwise.
  Distributed dist =
      Distributed::from_environment({o.dist_backend, o.dist_timeout}, runtime.device);
  runtime.device = dist.local_device(runtime.device);  // cuda:LOCAL_RANK
  std::optional<OutputDirLock> output_lock;            // held until run_train returns or throws
  if (dist.is_main()) {
    prepare_output_dir(o.output_dir);
    output_lock.emplace(o.output_dir);
    claim_output_dir(o);
  }
  const auto started = std::chrono::steady_clock::now();

  // Data and model: everything task-specific lives behind TrainTask.
  std::unique_ptr<TrainTask> task;
  try {
    task = o.task == "translate"  ? make_translation_task(o)
           : o.task == "pretrain" ? make_mlm_task(o)
                                  : make_classification_task(o);
  } catch (...) {
    if (output_lock) output_lock->release();
    remove_if_empty(o.output_dir);  // bad data or model: leave no empty output folder behind
    throw;
  }
  auto& model = task->model();
  model.to(runtime.device);  // before the optimizer sees the parameters
  const auto names = task->metric_names();
  // Empty = the task's first metric (macro_f1; bleu with --predict-with-generate), else loss.
  const std::string metric = !o.metric_for_best_model.empty()
                                 ? o.metric_for_best_model
                                 : (names.empty() ? std::string("loss") : names.front());
  if (metric != "loss" && std::find(names.begin(), names.end(), metric) == names.end()) {
    throw Error(
        fmt::format("checking train options: --metric-for-best-model '{}': expected loss{}{}",
                    metric,
                    names.empty() ? "" : ", ",
                    fmt::join(names, ", ")));
  }

  // Steps, schedule, optimizer, early stopping.
  const auto& lengths = task->example_lengths();
  BatchOrderOptions order{o.batch_size, o.shuffle, o.group_by_length, o.seed};
  const auto accumulation = o.gradient_accumulation_steps;
  const int64_t batches_per_epoch =
      count_rank_batches(lengths.size(), o.batch_size, dist.world_size());  // per rank
  const int64_t steps_per_epoch = (batches_per_epoch + accumulation - 1) / accumulation;
  const int64_t total_steps = o.max_steps > 0 ? o.max_steps : steps_per_epoch * o.epochs;
  const int64_t num_epochs = (total_steps + steps_per_epoch - 1) / steps_per_epoch;
  LrSchedule schedule{*parse_lr_scheduler(o.lr_scheduler),
                      o.learning_rate,
                      compute_warmup_steps(o.warmup_steps, o.warmup_ratio, total_steps),
                      total_steps};
  auto optimizer = make_adamw(
      model, {o.learning_rate, o.weight_decay, o.adam_beta1, o.adam_beta2, o.adam_epsilon});
  const auto parameters = model.parameters();
  EarlyStopping stopping(metric,
                         metric_greater_is_better(metric),
                         o.early_stopping_patience,
                         o.early_stopping_threshold);
  LossScalerOptions scaler_options;
  scaler_options.enabled = runtime.precision == Precision::kFp16;  // bf16 needs no scaling
  LossScaler scaler(scaler_options);

  // What a resumed run must share with the checkpoint's for a step to mean the same epoch and
  // the same examples (trainer_state.json's "run"; compared in check_resumed_run).
  nlohmann::json run_record = {{"train_file", o.train_file.string()},
                               {"train_examples", lengths.size()},
                               {"train_batch_size", o.batch_size},
                               {"gradient_accumulation_steps", accumulation},
                               {"world_size", dist.world_size()},
                               {"steps_per_epoch", steps_per_epoch},
                               {"learning_rate", o.learning_rate},
                               {"lr_scheduler", o.lr_scheduler}};

  // Fresh start or resume.
  int64_t global_step = 0;
  torch::manual_seed(o.seed);
  if (o.resume_from_checkpoint) {
    const auto checkpoint = resolve_resume_checkpoint(o.output_dir, *o.resume_from_checkpoint);
    task->load_model_folder_weights(checkpoint);
    const auto state = restore_training_state(checkpoint, *optimizer, runtime.device);
    global_step = state.global_step;
    stopping.restore(state.early_stopping);
    if (scaler.enabled() && state.loss_scaler) scaler.restore(*state.loss_scaler);
    if (state.run) run_record = check_resumed_run(*state.run, run_record);
    fmt::print(stderr, "resuming from {} at step {}\n", checkpoint.string(), global_step);
  }
  dist.broadcast_module(model);       // every rank starts from rank 0's weights
  dist.attach_gradients(parameters);  // and averages its gradients with the others'
  TrainLog log(dist.is_main() ? o.output_dir / "trainer_log.jsonl" : std::filesystem::path(),
               global_step);  // rank 0 alone writes logs, progress and checkpoints
  if (dist.is_main()) {
    if (dist.world_size() > 1) {
      fmt::print(stderr,
                 "distributed: {} ranks, global batch {} ({} x {} ranks x {} accumulation)\n",
                 dist.world_size(),
                 o.batch_size * dist.world_size() * accumulation,
                 o.batch_size,
                 dist.world_size(),
                 accumulation);
    }
    fmt::print(stderr,
               "training: {}, {} steps ({} per epoch), batch {} x {} accumulation, {}, {}, {} "
               "threads\n",
               task->describe(),
               total_steps,
               steps_per_epoch,
               o.batch_size,
               accumulation,
               runtime.device.str(),
               precision_name(runtime.precision),
               at::get_num_threads());
  }

  auto trainer_state = [&](double epoch) {
    nlohmann::json state;
    state["global_step"] = global_step;
    state["epoch"] = epoch;
    state["total_steps"] = total_steps;
    state["run"] = run_record;
    state["early_stopping"] = stopping.to_json();
    if (scaler.enabled()) state["loss_scaler"] = scaler.to_json();
    state["best_model_checkpoint"] =
        stopping.best_value() ? nlohmann::json(fmt::format("checkpoint-{}", stopping.best_step()))
                              : nlohmann::json(nullptr);
    return state;
  };
  ProgressBar progress("train", total_steps, dist.is_main());
  TrainResult result;
  int64_t examples_seen = 0;
  double loss_total = 0.0;
  int64_t loss_steps = 0;

  // Evaluation: each rank its shard, every rank the metrics of the whole set.
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

  // Evaluate, decide, checkpoint: at each eval step/epoch (or each epoch end without eval).
  // --eval-strategy no skips evaluation even when a validation file was given.
  const bool evaluates = o.eval_strategy != "no" && task->has_validation();
  auto evaluate_and_save = [&](double epoch) {
    if (evaluates) {
      EvalMetrics eval;
      {
        AutocastGuard autocast(runtime.device.type(), runtime.precision);
        eval = task->evaluate(shard);
      }
      auto decision = stopping.observe(*eval.find(metric), global_step, epoch);
      result.stopped_early = decision.should_stop;
      if (dist.is_main()) {
        log.write_eval(global_step, epoch, eval.loss, eval.values);
        progress.print_line(decision.log_line);
        if (decision.is_new_best) save_model_folder(o.output_dir, "best", *task, save_dtype);
      }
    }
    result.stopped_early = dist.broadcast_from_main(result.stopped_early);  // stop together
    if (!dist.is_main()) return;
    save_training_checkpoint(o.output_dir, global_step, *task, *optimizer, trainer_state(epoch));
    rotate_checkpoints(o.output_dir, o.save_total_limit, stopping.best_step());
  };

  InterruptGuard interrupt_guard;
  model.train();
  for (int64_t epoch = global_step / steps_per_epoch; epoch < num_epochs; ++epoch) {
    const auto batches =
        make_rank_epoch_batches(lengths, order, epoch, dist.rank(), dist.world_size());
    const int64_t first_step_in_epoch = epoch * steps_per_epoch;
    for (int64_t group = global_step - first_step_in_epoch; group < steps_per_epoch; ++group) {
      if (global_step >= total_steps || result.stopped_early) break;
      const int64_t step = global_step + 1;
      const double lr = schedule.compute_lr(step);
      set_learning_rate(*optimizer, lr);
      optimizer->zero_grad();
      const int64_t first = group * accumulation;
      const int64_t micro_batches = std::min(accumulation, batches_per_epoch - first);
      torch::Tensor step_loss = torch::zeros({}, torch::TensorOptions().device(runtime.device));
      for (int64_t m = 0; m < micro_batches; ++m) {
        const auto& indices = batches[first + m];
        try {
          at::Tensor loss;
          {
            AutocastGuard autocast(runtime.device.type(), runtime.precision);  // forward only
            loss = task->compute_loss(indices) / micro_batches;
          }
          dist.sync_next_backward(m + 1 == micro_batches);  // accumulation: communicate once
          scaler.scale(loss).backward();
          step_loss += loss.detach().to(torch::kFloat);
        } catch (const c10::OutOfMemoryError& e) {
          const std::string what = e.what_without_backtrace();
          throw Error(fmt::format(
              "training: out of memory on {} at step {} with --batch-size {} ({} examples of up "
              "to --max-length tokens): {}; hint: lower --batch-size and raise "
              "--gradient-accumulation-steps to keep the effective batch ({} now), or lower "
              "--max-length; the last checkpoint is intact",
              runtime.device.str(),
              step,
              o.batch_size,
              indices.size(),
              what.substr(0, what.find('\n')),
              static_cast<int64_t>(o.batch_size) * accumulation));
        }
        examples_seen += static_cast<int64_t>(indices.size());
      }
      dist.finish_gradient_sync();  // each gradient is now the mean over the ranks
      // fp16: gradients that overflowed skip this step and lower the loss scale (GradScaler).
      const bool grads_finite = scaler.unscale(parameters);
      double grad_norm = std::numeric_limits<double>::quiet_NaN();
      if (grads_finite) {
        grad_norm = clip_gradients(parameters, o.max_grad_norm);
        optimizer->step();
      }
      scaler.update(grads_finite);
      global_step = step;

      const double loss_value = dist.mean_across_ranks(step_loss.item<double>());
      if (!std::isfinite(loss_value)) {
        throw Error(
            fmt::format("training: the loss is {} at step {}; hint: lower "
                        "--learning-rate, or check the data for broken rows",
                        loss_value,
                        global_step));
      }
      loss_total += loss_value;
      ++loss_steps;
      const double epoch_progress = epoch + static_cast<double>(group + 1) / steps_per_epoch;
      if (global_step % o.logging_steps == 0 || global_step == 1) {
        log.write_step(
            global_step,
            epoch_progress,
            loss_value,
            lr,
            grad_norm,
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      }
      progress.update(global_step, fmt::format("loss {:.4f} lr {:.2e}", loss_value, lr));
      if (o.eval_strategy == "steps" && global_step % o.eval_steps == 0) {
        evaluate_and_save(epoch_progress);
      }
      if (const int signal_number = dist.max_across_ranks(InterruptGuard::pending_signal())) {
        const auto saved =
            dist.is_main()
                ? save_training_checkpoint(
                      o.output_dir, global_step, *task, *optimizer, trainer_state(epoch_progress))
                : o.output_dir / fmt::format("checkpoint-{}", global_step);
        dist.barrier();  // the other ranks exit once rank 0 has saved
        progress.finish();
        throw Interrupted(signal_number,
                          fmt::format("training interrupted by signal {} at step {}; saved {}; "
                                      "hint: continue with --resume-from-checkpoint latest",
                                      signal_number,
                                      global_step,
                                      saved.string()));
      }
    }
    const bool epoch_complete = global_step == first_step_in_epoch + steps_per_epoch;
    if (!result.stopped_early && o.eval_strategy != "steps" &&
        (epoch_complete || global_step >= total_steps)) {
      evaluate_and_save(static_cast<double>(global_step) / steps_per_epoch);
    }
    if (result.stopped_early || global_step >= total_steps) break;
  }
  progress.finish();

  if (dist.is_main()) save_model_folder(o.output_dir, "last", *task, save_dtype);
  result.rank = dist.rank();
  result.global_step = global_step;
  result.metric = metric;
  result.best_metric = stopping.best_value();
  result.best_step = stopping.best_step();
  result.train_runtime =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log.write_summary(global_step,
                    static_cast<double>(global_step) / steps_per_epoch,
                    loss_steps ? loss_total / loss_steps : 0.0,
                    result.train_runtime,
                    dist.sum_across_ranks(examples_seen),
                    loss_steps);
  return result;
}

}  // namespace ftune
