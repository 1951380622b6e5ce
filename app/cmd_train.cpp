// `ftune train`: fine-tune a BERT-family checkpoint for sequence classification.
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/options.h"
#include "lib/trainer.h"

namespace ftune {

Command add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* sub = app.add_subcommand(
      "train",
      "Fine-tune a BERT-family checkpoint for text (or sentence-pair) classification, or a Marian "
      "model for translation (--task translate), as Hugging Face's Trainer does.\n"
      "Writes DIR/checkpoint-<step>/ (resumable), DIR/best/ and DIR/last/ (model folders that "
      "`ftune predict` and Hugging Face from_pretrained load) and DIR/trainer_log.jsonl.\n"
      "Example:\n"
      "  ftune train --model bert-base-uncased --train train.csv --valid valid.csv \\\n"
      "    --output-dir runs/sentiment --epochs 5 --early-stopping-patience 2\n"
      "Every option can also come from `--config FILE` (TOML/INI, keys under a [train] section:\n"
      "  [train]\n  learning-rate = 3e-5\n  early-stopping-patience = 2\n"
      "); flags on the command line win.");

  auto* io = sub->add_option_group("Inputs and outputs");
  io->add_option("--task", o->task,
                 "classify (BERT sequence classification, default) or translate (Marian seq2seq)");
  io->add_option("--model", o->model_dir, "Hugging Face model folder to start from")->required();
  io->add_option("--weights", o->weights, "weights file overriding the folder's own");
  io->add_option("--train", o->train_file, "training data: .jsonl, .csv or .tsv with a header")
      ->required();
  io->add_option("--valid", o->valid_file, "validation data (same format)");
  io->add_option("--output-dir", o->output_dir, "where checkpoints, best/, last/ and logs go")
      ->required();
  io->add_option("--resume-from-checkpoint", o->resume_from_checkpoint,
                 "continue from a checkpoint-<step> folder, or 'latest' in --output-dir");
  add_text_column_options(*sub, o->columns, /*with_label=*/true);
  auto* seq2seq = sub->add_option_group("Translation (--task translate)");
  seq2seq->add_option("--source-column", o->source_column, "source text column (default source)");
  seq2seq->add_option("--target-column", o->target_column, "target text column (default target)");
  seq2seq->add_option("--max-target-length", o->max_target_length,
                      "truncate targets to this many tokens including </s> (default 128)");
  seq2seq->add_option("--label-smoothing", o->label_smoothing,
                      "label smoothing of the cross-entropy, PyTorch semantics (default 0)");
  seq2seq->add_flag("--predict-with-generate", o->predict_with_generate,
                    "decode the validation set at each evaluation and report BLEU and chrF "
                    "(so --metric-for-best-model bleu works)");
  seq2seq->add_option("--generation-num-beams", o->generation_num_beams,
                      "beams for --predict-with-generate (default 1: greedy)");
  seq2seq->add_option("--generation-max-length", o->generation_max_length,
                      "max length for --predict-with-generate, counting the start token (default 128)");
  add_table_options(*sub, o->table);
  sub->add_option("--max-length", o->max_length,
                  "truncate inputs to this many tokens (default 128, at most the model's limit)")
      ->check(CLI::PositiveNumber);

  auto* opt = sub->add_option_group("Optimization");
  opt->add_option("--learning-rate", o->learning_rate, "peak learning rate (default 5e-5)");
  opt->add_option("--weight-decay", o->weight_decay,
                  "AdamW weight decay, not applied to biases and LayerNorm weights (default 0)");
  opt->add_option("--adam-beta1", o->adam_beta1, "default 0.9");
  opt->add_option("--adam-beta2", o->adam_beta2, "default 0.999");
  opt->add_option("--adam-epsilon", o->adam_epsilon, "default 1e-8");
  opt->add_option("--max-grad-norm", o->max_grad_norm, "clip the gradient norm (0 = off; default 1)");
  opt->add_option("--gradient-accumulation-steps", o->gradient_accumulation_steps,
                  "batches per optimizer step (default 1)");
  opt->add_option("--lr-scheduler", o->lr_scheduler,
                  "linear | cosine | constant | constant_with_warmup (default linear)");
  opt->add_option("--warmup-steps", o->warmup_steps, "linear warmup steps (step 1 runs at lr 0)");
  opt->add_option("--warmup-ratio", o->warmup_ratio,
                  "warmup as a fraction of all steps (used when --warmup-steps is 0)");
  opt->add_option("--epochs", o->epochs, "passes over the training data (default 3)");
  opt->add_option("--max-steps", o->max_steps, "stop after this many optimizer steps (overrides --epochs)");
  opt->add_option("--batch-size", o->batch_size, "training batch size (default 8)");
  opt->add_option("--eval-batch-size", o->eval_batch_size, "evaluation batch size (default: --batch-size)");
  opt->add_option("--seed", o->seed, "seed for shuffling, dropout and new heads (default 42)");
  opt->add_flag("!--no-shuffle", o->shuffle, "keep file order: batches of consecutive rows");
  opt->add_flag("--group-by-length", o->group_by_length,
                "batch examples of similar length together (less padding)");

  auto* eval = sub->add_option_group("Evaluation, early stopping, checkpoints");
  eval->add_option("--eval-strategy", o->eval_strategy, "epoch | steps | no (default epoch)");
  eval->add_option("--eval-steps", o->eval_steps, "evaluate every N steps with --eval-strategy steps");
  eval->add_option("--metric-for-best-model", o->metric_for_best_model,
                   "classify: macro_f1 (default), accuracy, micro_f1, weighted_f1, mcc, "
                   "macro_precision, macro_recall; translate: bleu (default with "
                   "--predict-with-generate), chrf; both: loss (lower is better)");
  eval->add_option("--early-stopping-patience", o->early_stopping_patience,
                   "stop after N evaluations without improvement (0 = off)");
  eval->add_option("--early-stopping-threshold", o->early_stopping_threshold,
                   "an improvement must exceed this to reset the patience (default 0)");
  eval->add_option("--save-total-limit", o->save_total_limit,
                   "keep at most N checkpoint folders (the best and the newest always stay; 0 = all)");
  eval->add_option("--logging-steps", o->logging_steps, "log every N steps (default 50)");

  return {sub, [o] {
            TrainResult result = run_train(*o);
            std::string best = result.best_metric
                                   ? fmt::format(", best {} {:.4f} at step {}",
                                                 result.metric, *result.best_metric,
                                                 result.best_step)
                                   : "";
            std::fputs(fmt::format("trained {} steps in {:.1f} s{}{} -> {}\n", result.global_step,
                                   result.train_runtime, best,
                                   result.stopped_early ? " (stopped early)" : "",
                                   o->output_dir.string())
                           .c_str(),
                       stderr);
          }};
}

}  // namespace ftune
