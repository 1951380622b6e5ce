// `ftune train`: fine-tune a BERT-family checkpoint for sequence or token classification, or a
// Marian model for translation.
#include <memory>

#include "app/commands.h"
#include "app/options.h"
#include "app/train_options.h"
#include "lib/train/launcher.h"
#include "lib/train/trainer.h"

namespace ftune {

Command add_train_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  CLI::App* sub = app.add_subcommand(
      "train",
      "Fine-tune a BERT-family checkpoint for text (or sentence-pair) classification, for named "
      "entities (--task ner: CoNLL or JSONL tagged words), or a Marian model for translation "
      "(--task translate), as Hugging Face's Trainer does.\n"
      "Writes DIR/checkpoint-<step>/ (resumable), DIR/best/ and DIR/last/ (model folders that "
      "`ftune predict` and Hugging Face from_pretrained load), DIR/trainer_log.jsonl,\n"
      "DIR/train_settings.json, DIR/learning_curves.svg (after each evaluation) and the model "
      "card\n"
      "DIR/best/README.md; `ftune report --run DIR` summarizes the run in DIR/report.html.\n"
      "Example:\n"
      "  ftune train --model bert-base-uncased --train train.csv --valid valid.csv \\\n"
      "    --output-dir runs/sentiment --epochs 5 --early-stopping-patience 2\n"
      "Every option can also come from `--config FILE` (TOML/INI, keys under a [train] section:\n"
      "  [train]\n  learning-rate = 3e-5\n  early-stopping-patience = 2\n"
      "); flags on the command line win.");

  auto* io = sub->add_option_group("Inputs and outputs");
  io->add_option("--task",
                 o->task,
                 "classify (BERT sequence classification, default), ner (BERT token "
                 "classification: named entities) or translate (Marian seq2seq)");
  io->add_option("--model", o->inputs.model_dir, "Hugging Face model folder to start from")
      ->transform(model_folder())
      ->required();
  io->add_option("--weights", o->inputs.weights, "weights file overriding the folder's own");
  io->add_option("--train",
                 o->inputs.train_file,
                 "training data: .jsonl, .csv or .tsv with a header (ner: CoNLL columns, or "
                 ".jsonl with \"tokens\" and \"tags\")")
      ->required();
  io->add_option("--valid", o->inputs.valid_file, "validation data (same format)");
  io->add_option("--output-dir", o->output_dir, "where checkpoints, best/, last/ and logs go")
      ->required();
  io->add_option("--resume-from-checkpoint",
                 o->resume_from_checkpoint,
                 "continue from a checkpoint-<step> folder, or 'latest' in --output-dir");
  io->add_flag("--overwrite-output-dir",
               o->overwrite_output_dir,
               "start a new run in an --output-dir that holds another run's checkpoint-*/, best/, "
               "last/, trainer_log.jsonl and runs/, deleting them (without it, such a folder is "
               "refused)");
  add_text_column_options(*sub, o->classify.columns, /*with_label=*/true);
  auto* classify = sub->add_option_group("Classification (--task classify)");
  classify
      ->add_option("--problem-type",
                   o->classify.problem_type,
                   "single_label_classification (cross-entropy over the label values), "
                   "multi_label_classification (one sigmoid per label, BCE; each label cell a "
                   "JSON list or 'a|b') or regression (one output, MSE; labels are numbers: eval "
                   "reports MSE, MAE, Pearson, Spearman); default: the model's config.json "
                   "problem_type, else single-label")
      ->check(CLI::IsMember(
          {"single_label_classification", "multi_label_classification", "regression"}));
  classify->add_flag("--tune-thresholds",
                     o->classify.tune_thresholds,
                     "multi-label: after each evaluation, tune each label's decision threshold "
                     "on the validation set (the one that maximizes its F1) and save them in "
                     "config.json's label_thresholds, which eval and predict use (default: 0.5)");
  classify->add_option(
      "--class-weights",
      o->classify.class_weights,
      "weight the cross-entropy per class for imbalanced data: 'balanced' (scikit-learn's "
      "n_samples / (n_classes * count) over the training labels; multi-label: BCE pos_weight "
      "negatives / positives per label) or a JSON file "
      "{\"label\": weight, ...} naming every label; logged, and saved as class_weights.json in "
      "each saved folder");
  auto* ner = sub->add_option_group(
      "Named entities (--task ner)",
      "data: CoNLL columns (the word first, its tag last; a blank line between sentences; "
      "-DOCSTART- skipped) or .jsonl {\"tokens\": [...], \"tags\": [...]}; labels on each "
      "word's first sub-word (Hugging Face run_ner); metrics: seqeval's");
  ner->add_flag("--label-all-tokens",
                o->ner.label_all_tokens,
                "train on every sub-word of a word (its B- tag becoming I- after the first), "
                "run_ner's --label_all_tokens; default: the first sub-word alone");
  add_stride_option(*ner, o->ner.stride);
  add_seqeval_mode_option(*ner, o->ner.mode);
  auto* seq2seq = sub->add_option_group("Translation (--task translate)");
  seq2seq->add_option(
      "--source-column", o->translate.columns.source, "source text column (default source)");
  seq2seq->add_option(
      "--target-column", o->translate.columns.target, "target text column (default target)");
  seq2seq
      ->add_option("--max-target-length",
                   o->translate.max_target_length,
                   "truncate targets to this many tokens including </s> (default 128)")
      ->check(at_least(2));
  seq2seq
      ->add_option("--label-smoothing",
                   o->translate.label_smoothing,
                   "label smoothing of the cross-entropy, PyTorch semantics (default 0)")
      ->check(between(0, 1));
  seq2seq->add_flag("--predict-with-generate",
                    o->translate.predict_with_generate,
                    "decode the validation set at each evaluation and report BLEU and chrF "
                    "(so --metric-for-best-model bleu works)");
  seq2seq
      ->add_option("--generation-num-beams",
                   o->translate.generation_num_beams,
                   "beams for --predict-with-generate (default 1: greedy)")
      ->check(at_least(1));
  seq2seq
      ->add_option("--generation-max-length",
                   o->translate.generation_max_length,
                   "max length for --predict-with-generate, counting the start token (default 128)")
      ->check(at_least(2));
  add_table_options(*sub, o->inputs.table);
  sub->add_option("--max-length",
                  o->inputs.max_length,
                  "truncate inputs to this many tokens (default 128, at most the model's limit)")
      ->check(at_least(1));

  add_trainer_options(*sub,
                      *o,
                      "classify: macro_f1 (default), accuracy, micro_f1, weighted_f1, mcc, "
                      "macro_precision, macro_recall; multi-label: macro_f1 (default), micro_f1, "
                      "weighted_f1, samples_f1, subset_accuracy, hamming_loss (lower is better); "
                      "regression: pearson (default), spearman, "
                      "mse, mae (lower is better); ner: f1 (default; entity-level micro F1), "
                      "precision, recall, accuracy, macro_f1, weighted_f1; translate: bleu "
                      "(default with "
                      "--predict-with-generate), chrf; all: loss (lower is better)");

  auto launch = std::make_shared<LaunchOptions>();
  add_distributed_options(*sub, *launch, o->dist_backend, o->dist_timeout);

  return {sub, [o, launch] {
            if (should_launch(*launch)) return launch_local_ranks(*launch);
            o->command_line = command_line();
            TrainResult result = run_train(*o);
            print_train_result(result, *o);
          }};
}

}  // namespace ftune
