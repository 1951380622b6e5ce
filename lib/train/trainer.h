// `ftune train` and `ftune pretrain`: the trainer's options (each task's own are in
// lib/train/train_task.h) and the run itself (lib/train/trainer.cpp: the loop of one step on one
// screen). Semantics follow Hugging Face's Trainer.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "lib/schedule/early_stopping.h"  // metric_greater_is_better
#include "lib/tensors/device.h"
#include "lib/train/train_task.h"

namespace ftune {

struct TrainOptions {
  std::string task = "classify";  // classify | ner | translate | pretrain (`ftune pretrain`)
  TaskInputs inputs;              // model folder and data, for every task
  ClassifyTaskOptions classify;
  NerTaskOptions ner;
  TranslateTaskOptions translate;
  PretrainTaskOptions pretrain;
  std::filesystem::path output_dir;

  // AdamW and clipping (Trainer defaults).
  double learning_rate = 5e-5;
  double weight_decay = 0.0;
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  double max_grad_norm = 1.0;
  int64_t gradient_accumulation_steps = 1;

  // Schedule and length of training.
  std::string lr_scheduler = "linear";
  int64_t warmup_steps = 0;
  double warmup_ratio = 0.0;
  int64_t epochs = 3;
  int64_t max_steps = 0;  // > 0 overrides epochs
  size_t batch_size = 8;
  size_t eval_batch_size = 0;  // 0 = batch_size
  uint64_t seed = 42;
  bool shuffle = true;
  bool group_by_length = false;

  // Evaluation, early stopping, checkpoints, logging.
  std::string eval_strategy = "epoch";  // epoch | steps | no
  int64_t eval_steps = 500;
  std::string metric_for_best_model;  // empty: macro_f1 (classify), bleu (translate with
                                      // --predict-with-generate), else loss
  int64_t early_stopping_patience = 0;
  double early_stopping_threshold = 0.0;
  int64_t save_total_limit = 0;
  int64_t logging_steps = 50;
  std::string report_to = "none";  // none | tensorboard (events files in output_dir/runs/)
  std::string profile_trace;       // non-empty: every LibTorch op of the loop, as a Chrome trace
  std::optional<std::string> resume_from_checkpoint;  // a checkpoint folder or "latest"
  bool overwrite_output_dir = false;  // a new run may delete a previous run's folders there
  std::string command_line;           // as typed, for train_settings.json and the model card

  // Hardware and precision: --device, --precision (autocast; fp16 adds dynamic loss scaling),
  // and the dtype of the best/ and last/ model folders (checkpoints stay float32 to resume).
  RuntimeOptions runtime;
  std::string save_dtype = "float32";

  // Data parallelism (lib/train/distributed.h), active when the environment names a launch
  // (RANK, WORLD_SIZE, ... as torchrun or `--nproc-per-node` set them).
  std::string dist_backend;     // gloo | nccl; empty: nccl on CUDA, gloo on CPU
  int64_t dist_timeout = 1800;  // seconds a collective may wait for the other ranks
};

struct TrainResult {
  int rank = 0;  // this process's rank in a distributed run; only rank 0 reports
  int64_t global_step = 0;
  bool stopped_early = false;
  std::string metric;  // what --metric-for-best-model resolved to
  std::optional<double> best_metric;
  int64_t best_step = 0;
  double train_runtime = 0.0;
};

TrainResult run_train(const TrainOptions& options);

}  // namespace ftune
