// `ftune pretrain`: masked-language-model (domain-adaptive) pretraining of a BERT checkpoint, or
// of a randomly initialized BERT from a config.json.
#include <memory>

#include "app/commands.h"
#include "app/options.h"
#include "app/train_options.h"
#include "lib/train/launcher.h"
#include "lib/train/trainer.h"

namespace ftune {

Command add_pretrain_command(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  o->task = "pretrain";
  o->metric_for_best_model = "loss";  // early stopping on the validation loss by default
  CLI::App* sub = app.add_subcommand(
      "pretrain",
      "Continue pretraining a BERT checkpoint on your own text with masked language modelling "
      "(Hugging Face's BertForMaskedLM and DataCollatorForLanguageModeling), e.g. before "
      "fine-tuning it with `ftune train`; or pretrain from random weights (--model-config).\n"
      "Writes DIR/checkpoint-<step>/ (resumable), DIR/best/ and DIR/last/ (BertForMaskedLM "
      "folders that `ftune train` and Hugging Face from_pretrained load) and "
      "DIR/trainer_log.jsonl (eval_loss, eval_perplexity).\n"
      "Example:\n"
      "  ftune pretrain --model bert-base-uncased --train corpus.txt.gz --valid held-out.txt \\\n"
      "    --output-dir runs/domain-bert --epochs 3 --pack --whole-word-masking");

  auto* start = sub->add_option_group("Starting point", "exactly one of --model, --model-config");
  start
      ->add_option("--model",
                   o->inputs.model_dir,
                   "Hugging Face BERT folder to start from (an MLM or any BERT encoder "
                   "checkpoint; a missing cls.* head starts fresh)")
      ->transform(model_folder());
  auto* model_config = start->add_option(
      "--model-config",
      o->pretrain.model_config,
      "a BERT config.json to start from random weights instead (needs --tokenizer)");
  start->require_option(1);
  auto* io = sub->add_option_group("Inputs and outputs");
  model_config->needs(io->add_option(
      "--tokenizer", o->pretrain.tokenizer_dir, "folder with vocab.txt (default: --model)"));
  io->add_option("--weights", o->inputs.weights, "weights file overriding the folder's own");
  io->add_option("--train",
                 o->inputs.train_file,
                 "training text: .txt or .jsonl (\"text\"), optionally .gz; one document or "
                 "sentence per line")
      ->required();
  auto* valid = io->add_option(
      "--valid", o->inputs.valid_file, "validation text (same format); masked once, with --seed");
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

  auto* mlm = sub->add_option_group("Masking");
  mlm->add_option("--mlm-probability",
                  o->pretrain.mlm_probability,
                  "share of tokens to predict; of those 80% become [MASK], 10% a random token, "
                  "10% stay (default 0.15)")
      ->check(between(0, 1));
  mlm->add_flag("--whole-word-masking",
                o->pretrain.whole_word_masking,
                "mask all WordPiece pieces of a word together");
  mlm->add_flag("--pack",
                o->pretrain.pack,
                "concatenate the lines and cut them into sequences of --max-length (no padding "
                "waste); otherwise one sequence per line, truncated");
  mlm->add_flag("--pre-masked",
                o->pretrain.pre_masked,
                "--train/--valid are .jsonl with \"input_ids\" and \"labels\" (-100 = not "
                "masked), used as they are");
  sub->add_option("--max-length",
                  o->inputs.max_length,
                  "tokens per sequence including [CLS]/[SEP] (default 128, at most the model's "
                  "limit)")
      ->check(at_least(1));

  add_trainer_options(
      *sub, *o, "loss (default; lower is better) or perplexity (exp(loss), the same order)");

  auto launch = std::make_shared<LaunchOptions>();
  add_distributed_options(*sub, *launch, o->dist_backend, o->dist_timeout);

  return {sub, [o, sub, valid, launch] {
            if (should_launch(*launch)) return launch_local_ranks(*launch);
            // Without validation data there is nothing to evaluate, unless asked for.
            if (valid->count() == 0 && sub->get_option("--eval-strategy")->count() == 0) {
              o->eval_strategy = "no";
            }
            o->command_line = command_line();
            print_train_result(run_train(*o), *o);
          }};
}

}  // namespace ftune
