// Option groups shared by `ftune train` and `ftune pretrain`; defaults are TrainOptions' (Hugging
// Face Trainer's).
#include "app/train_options.h"

#include <cstdio>

#include <fmt/format.h>

#include "app/options.h"

namespace ftune {

void add_trainer_options(CLI::App& sub, TrainOptions& o, const std::string& metric_help) {
  auto* opt = sub.add_option_group("Optimization");
  opt->add_option("--learning-rate", o.learning_rate, "peak learning rate (default 5e-5)")
      ->check(at_least(0));
  opt->add_option("--weight-decay",
                  o.weight_decay,
                  "AdamW weight decay, not applied to biases and LayerNorm weights (default 0)")
      ->check(at_least(0));
  opt->add_option("--adam-beta1", o.adam_beta1, "default 0.9")
      ->check(between(0, 1, /*max_open=*/true));
  opt->add_option("--adam-beta2", o.adam_beta2, "default 0.999")
      ->check(between(0, 1, /*max_open=*/true));
  opt->add_option("--adam-epsilon", o.adam_epsilon, "default 1e-8")->check(greater_than(0));
  opt->add_option("--max-grad-norm", o.max_grad_norm, "clip the gradient norm (0 = off; default 1)")
      ->check(at_least(0));
  opt->add_option("--gradient-accumulation-steps",
                  o.gradient_accumulation_steps,
                  "batches per optimizer step (default 1)")
      ->check(at_least(1));
  opt->add_option("--lr-scheduler",
                  o.lr_scheduler,
                  "linear | cosine | constant | constant_with_warmup (default linear)");
  opt->add_option("--warmup-steps", o.warmup_steps, "linear warmup steps (step 1 runs at lr 0)")
      ->check(at_least(0));
  opt->add_option("--warmup-ratio",
                  o.warmup_ratio,
                  "warmup as a fraction of all steps (used when --warmup-steps is 0)")
      ->check(between(0, 1));
  opt->add_option("--epochs", o.epochs, "passes over the training data (default 3)")
      ->check(at_least(0));
  opt->add_option(
         "--max-steps", o.max_steps, "stop after this many optimizer steps (overrides --epochs)")
      ->check(at_least(0));
  opt->add_option("--batch-size", o.batch_size, "training batch size (default 8)")
      ->check(at_least(1));
  opt->add_option(
         "--eval-batch-size", o.eval_batch_size, "evaluation batch size (default: --batch-size)")
      ->check(at_least(1));
  opt->add_option("--seed", o.seed, "seed for shuffling, dropout and new heads (default 42)")
      ->check(at_least(0));
  opt->add_flag("!--no-shuffle", o.shuffle, "keep file order: batches of consecutive rows");
  opt->add_flag("--group-by-length",
                o.group_by_length,
                "batch examples of similar length together (less padding)");

  auto* hardware = add_runtime_options(sub, o.runtime);
  hardware->add_option("--save-dtype",
                       o.save_dtype,
                       "dtype of the best/ and last/ model folders: float32 (default) | bfloat16 "
                       "| float16 (half the size; checkpoint-<step>/ folders stay float32 so that "
                       "resuming is exact)");

  auto* eval = sub.add_option_group("Evaluation, early stopping, checkpoints");
  eval->add_option("--eval-strategy", o.eval_strategy, "epoch | steps | no (default epoch)");
  eval->add_option(
          "--eval-steps", o.eval_steps, "evaluate every N steps with --eval-strategy steps")
      ->check(at_least(1));
  eval->add_option("--metric-for-best-model", o.metric_for_best_model, metric_help);
  eval->add_option("--early-stopping-patience",
                   o.early_stopping_patience,
                   "stop after N evaluations without improvement (0 = off)")
      ->check(at_least(0));
  eval->add_option("--early-stopping-threshold",
                   o.early_stopping_threshold,
                   "an improvement must exceed this to reset the patience (default 0)")
      ->check(at_least(0));
  eval->add_option(
          "--save-total-limit",
          o.save_total_limit,
          "keep at most N checkpoint folders (the best and the newest always stay; 0 = all)")
      ->check(at_least(0));
  eval->add_option("--logging-steps", o.logging_steps, "log every N steps (default 50)")
      ->check(at_least(1));
  eval->add_option("--report-to",
                   o.report_to,
                   "none (default) or tensorboard: also write the logged numbers as TensorBoard "
                   "events in <output-dir>/runs/ (train/loss, train/learning_rate, "
                   "train/grad_norm, eval/<metric>, ...; the run's settings as text), for "
                   "`tensorboard --logdir <output-dir>/runs`")
      ->check(CLI::IsMember({"none", "tensorboard"}));
  eval->add_option("--profile-trace",
                   o.profile_trace,
                   "write every LibTorch operation of the training loop (forward, backward) "
                   "with its start and duration to FILE, a Chrome trace for "
                   "chrome://tracing or ui.perfetto.dev; bench/ops.py sums two of them by "
                   "operation (e.g. --threads 1 against 2). Slows the run: for a few steps");
}

void add_distributed_options(CLI::App& sub, LaunchOptions& launch, std::string& backend,
                             int64_t& timeout_seconds) {
  auto* group = sub.add_option_group(
      "Distributed", "data parallelism; torchrun's environment (RANK, WORLD_SIZE, ...) also works");
  group
      ->add_option("--nproc-per-node",
                   launch.nproc_per_node,
                   "start this many ranks on this machine (one per GPU, or split the cores)")
      ->check(at_least(1));
  group->add_option("--nnodes", launch.nnodes, "machines taking part (default 1)")
      ->check(at_least(1));
  group->add_option("--node-rank", launch.node_rank, "this machine's index, 0..nnodes-1")
      ->check(at_least(0));
  group->add_option("--master-addr",
                    launch.master_addr,
                    "address of node 0, where rank 0 serves the rendezvous (default 127.0.0.1)");
  group
      ->add_option("--master-port",
                   launch.master_port,
                   "its port (default: a free port with one node, else 29500)")
      ->check(between(0, 65535));
  group->add_option("--dist-backend", backend, "gloo | nccl (default: nccl on CUDA, gloo on CPU)");
  group
      ->add_option("--dist-timeout",
                   timeout_seconds,
                   "seconds a collective waits for the other ranks before failing (default 1800)")
      ->check(at_least(1));
}

void print_train_result(const TrainResult& result, const TrainOptions& o) {
  if (result.rank != 0) return;
  std::string best =
      result.best_metric
          ? fmt::format(
                ", best {} {:.4f} at step {}", result.metric, *result.best_metric, result.best_step)
          : "";
  std::fputs(fmt::format("trained {} steps in {:.1f} s{}{} -> {}\n",
                         result.global_step,
                         result.train_runtime,
                         best,
                         result.stopped_early ? " (stopped early)" : "",
                         o.output_dir.string())
                 .c_str(),
             stderr);
}

}  // namespace ftune
