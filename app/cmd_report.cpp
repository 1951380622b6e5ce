// `ftune report`: a finished (or running) training run summarized, and report.html written.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "app/commands.h"
#include "lib/report/html_report.h"

namespace ftune {

Command add_report_command(CLI::App& app) {
  auto run_dir = std::make_shared<std::filesystem::path>();
  auto output = std::make_shared<std::optional<std::filesystem::path>>();
  CLI::App* sub = app.add_subcommand(
      "report",
      "Summarize a training run from its --output-dir: what was trained on what, why it ended\n"
      "(epochs done, early stopping, or unfinished), training time and speed, and the best\n"
      "checkpoint's validation metrics. Writes report.html there: one self-contained page with\n"
      "the learning curves, the best checkpoint's per-class table and confusion matrix (from\n"
      "an `ftune eval` of best/, which writes best/eval_results.json), every evaluation and the\n"
      "hyper-parameters. Reads trainer_log.jsonl and train_settings.json; works while the run\n"
      "goes on.\n"
      "Example:\n"
      "  ftune eval --model runs/intent/best --data test.jsonl\n"
      "  ftune report --run runs/intent    # then open runs/intent/report.html");
  sub->add_option("--run", *run_dir, "the run's folder (ftune train --output-dir)")->required();
  sub->add_option("--output", *output, "where report.html goes (default: RUN/report.html)");
  return {sub, [run_dir, output] {
            const auto html_file = output->value_or(*run_dir / "report.html");
            std::fputs(write_run_report(*run_dir, html_file).c_str(), stdout);
            std::fputs(fmt::format("wrote {}\n", html_file.string()).c_str(), stderr);
          }};
}

}  // namespace ftune
