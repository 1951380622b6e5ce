// ftune's entry point: parses the command line, sets the thread count, runs one subcommand and
// turns any error into one `error: ...` line. Exit codes: 0 ok, 1 error, 2 usage error.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <malloc.h>
#include <torch/torch.h>

#include "app/commands.h"
#include "app/options.h"
#include "util/interrupt.h"
#include "util/version.h"

namespace {

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

int run_command(const ftune::Command& command, int threads) {
  try {
    const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    // Ranks sharing a machine (LOCAL_WORLD_SIZE: torchrun, --nproc-per-node) split its cores.
    const char* local_world_size = std::getenv("LOCAL_WORLD_SIZE");
    const int ranks_here = local_world_size ? std::max(1, std::atoi(local_world_size)) : 1;
    at::set_num_threads(threads > 0 ? threads : std::max(1, cores / ranks_here));
    command.run();
    return 0;
  } catch (const ftune::Interrupted& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 128 + e.signal_number();
  } catch (const c10::OutOfMemoryError& e) {
    // Training names its batch itself (lib/train/trainer.cpp); this is eval, predict or translate.
    std::fprintf(stderr,
                 "error: out of device memory: %s\nhint: lower --batch-size (eval, predict, "
                 "translate) or --max-length\n",
                 first_line(e.what_without_backtrace()).c_str());
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "error: %s\n", e.what_without_backtrace());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
  }
  return kExitError;
}

// glibc hands every freed block above 128 KiB straight back to the kernel, so each training or
// decoding step page-faults its activations in again (8-30% of a step in bench/phases.py).
// Keeping blocks up to 32 MiB in the heap, and trimming it only beyond 1 GiB of free space,
// made a mini-BERT training step 12% faster for 4% more peak memory (bench/README.md).
void keep_freed_memory_for_reuse() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory_for_reuse();
  CLI::App app{
      "ftune: fine-tune Transformer checkpoints (Hugging Face model folders, TorchScript) with "
      "LibTorch.\nRun `ftune <command> --help` for a command's options and examples.",
      "ftune"};
  app.set_version_flag("--version", std::string("ftune ") + ftune::kFtuneVersion);
  ftune::remember_command_line(argc, argv);
  app.require_subcommand(1);
  // One config file for every command: TOML/INI with a section per command ([train] ...).
  app.set_config(
      "--config", "", "read options from a TOML/INI file, a [command] section each; flags win");
  int threads = 0;
  app.add_option("--threads",
                 threads,
                 "CPU threads for LibTorch (default: all cores, split between the ranks of a "
                 "distributed run; LibTorch's own default is 1)")
      ->check(ftune::at_least(0));
  std::vector<ftune::Command> commands = {
      ftune::add_train_command(app),
      ftune::add_inspect_command(app),
      ftune::add_tokenize_command(app),
      ftune::add_predict_command(app),
      ftune::add_eval_command(app),
      ftune::add_score_command(app),
      ftune::add_translate_command(app),
      ftune::add_shortlist_command(app),
      ftune::add_pretrain_command(app),
      ftune::add_report_command(app),
      ftune::add_sweep_command(app),
      ftune::add_serve_command(app),
      ftune::add_export_command(app),
  };

  for (auto& command : commands) {
    // Global options (--threads, --config) may follow the command; not for one that keeps the
    // options it does not know (sweep: they go to each trial's `ftune train`).
    if (!command.app->get_allow_extras()) command.app->fallthrough();
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help, --version
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 reports an unknown command as a missing one; name the word the user typed instead.
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--threads" || arg == "--config") {
        ++i;
        continue;
      }
      if (arg.empty() || arg[0] == '-') continue;
      std::string names;
      bool known = false;
      for (const auto& command : commands) {
        names += (names.empty() ? "" : ", ") + command.app->get_name();
        known = known || command.app->get_name() == arg;
      }
      if (!known) {
        std::fprintf(stderr,
                     "error: unknown command '%s'; commands: %s (see ftune --help)\n",
                     arg.c_str(),
                     names.c_str());
        return kExitUsage;
      }
      break;
    }
    app.exit(e);
    return kExitUsage;
  }
  for (const auto& command : commands) {
    if (command.app->parsed()) return run_command(command, threads);
  }
  return kExitUsage;
}
