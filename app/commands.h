// One function per subcommand: each adds its CLI11 subcommand with an options struct and returns
// what to run once parsing succeeded (one lib/ call). Nothing else lives in app/.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace ftune {

struct Command {
  CLI::App* app = nullptr;
  std::function<void()> run;
};

Command add_train_command(CLI::App& app);
Command add_inspect_command(CLI::App& app);
Command add_tokenize_command(CLI::App& app);
Command add_predict_command(CLI::App& app);
Command add_eval_command(CLI::App& app);
Command add_score_command(CLI::App& app);
Command add_translate_command(CLI::App& app);
Command add_shortlist_command(CLI::App& app);
Command add_pretrain_command(CLI::App& app);
Command add_report_command(CLI::App& app);
Command add_sweep_command(CLI::App& app);
Command add_serve_command(CLI::App& app);
Command add_export_command(CLI::App& app);

}  // namespace ftune
