// `ftune sweep`: random search over train options, each trial an `ftune train` process.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <fmt/format.h>

#include "app/commands.h"
#include "app/options.h"
#include "lib/sweep/sweep.h"

namespace ftune {

Command add_sweep_command(CLI::App& app) {
  auto options = std::make_shared<SweepOptions>();
  auto inputs = std::make_shared<std::vector<std::string>>(3);
  auto spaces = std::make_shared<std::vector<std::string>>();
  CLI::App* sub = app.add_subcommand(
      "sweep",
      "Search hyper-parameters: draw --trials settings from the --space distributions (random\n"
      "search, reproducible from --seed) and fine-tune one model per setting, each as its own\n"
      "`ftune train` process (a failed trial is recorded, the sweep goes on), --parallel at a\n"
      "time with the threads split between them. Options this command does not know go to every\n"
      "trial's `ftune train` (e.g. --epochs 3 --early-stopping-patience 2).\n"
      "Writes DIR/trial-<n>/ (a run folder) and DIR/trial-<n>.log per trial, DIR/sweep.jsonl (one\n"
      "line per finished trial: options, best metric, steps, seconds, status), and at the end\n"
      "DIR/best/ (the best trial's best model), DIR/best.toml (its options, for `ftune --config\n"
      "best.toml train ...`) and DIR/sweep.svg; prints the leaderboard. A killed sweep continues\n"
      "with --resume (finished trials are not rerun). --successive-halving 3 stops trials that\n"
      "fall behind the others at their 1st, 3rd, 9th ... evaluation (ASHA).\n"
      "Space: OPTION=loguniform(LOW,HIGH), OPTION=uniform(LOW,HIGH) or OPTION=[A,B,...] for\n"
      "learning-rate, weight-decay, warmup-ratio, warmup-steps, epochs, batch-size,\n"
      "gradient-accumulation-steps, max-length, seed, label-smoothing, max-grad-norm,\n"
      "lr-scheduler.\n"
      "Example:\n"
      "  ftune sweep --model bert-base-uncased --train train.csv --valid valid.csv \\\n"
      "    --output-dir sweeps/intent --trials 8 --parallel 2 \\\n"
      "    --space \"learning-rate=loguniform(1e-5,1e-3)\" --space \"batch-size=[16,32]\" \\\n"
      "    --epochs 4 --early-stopping-patience 2");
  sub->add_option("--model", (*inputs)[0], "model folder to start every trial from")->required();
  sub->add_option("--train", (*inputs)[1], "training data")->required();
  sub->add_option("--valid", (*inputs)[2], "validation data: the metric trials are ranked by")
      ->required();
  sub->add_option("--output-dir", options->output_dir, "the sweep's folder")->required();
  sub->add_option("--space", *spaces, "OPTION=DISTRIBUTION, once per option searched")->required();
  sub->add_option("--trials", options->trials, "settings to try (default 8)");
  sub->add_option("--parallel", options->parallel, "trials at a time (default 1)");
  sub->add_option("--seed", options->seed, "seed of the draws (default 42)");
  sub->add_flag("--resume", options->resume, "continue the sweep in --output-dir");
  sub->add_option("--successive-halving",
                  options->halving,
                  "ETA: stop a trial at its 1st, ETA-th, ETA^2-th ... evaluation unless its metric "
                  "is in the top 1/ETA of the values the trials reached there so far (ASHA); "
                  "pruned trials keep their best model; default 0: off");
  sub->allow_extras();
  return {sub, [sub, options, inputs, spaces] {
            for (const auto& text : *spaces) options->space.push_back(parse_param_space(text));
            options->train_args = {
                "--model", (*inputs)[0], "--train", (*inputs)[1], "--valid", (*inputs)[2]};
            for (const auto& extra : sub->remaining()) options->train_args.push_back(extra);
            options->threads = at::get_num_threads();  // --threads, else every core
            const auto records = run_sweep(*options);
            std::fputs(format_leaderboard(records).c_str(), stdout);
            std::fputs(fmt::format("best: {}, {}\n",
                                   (options->output_dir / "best").string(),
                                   (options->output_dir / "best.toml").string())
                           .c_str(),
                       stderr);
          }};
}

}  // namespace ftune
