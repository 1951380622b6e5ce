// `ftune shortlist`: a vocabulary shortlist (vmap) for `ftune translate --vocab-shortlist`, made
// from parallel text.
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/options.h"
#include "lib/generate/shortlist.h"

namespace ftune {

Command add_shortlist_command(CLI::App& app) {
  auto options = std::make_shared<ShortlistRunOptions>();
  CLI::App* sub = app.add_subcommand(
      "shortlist",
      "Make a vocabulary shortlist for `ftune translate --vocab-shortlist` from parallel text:\n"
      "for each source piece, the target pieces that occur with it most (Dice's coefficient\n"
      "over sentence pairs), plus the most frequent target pieces for every batch. Written in\n"
      "CTranslate2's vmap format ('<source n-gram><TAB><targets>' per line), so CTranslate2\n"
      "reads it too (converter --vocab_mapping). Use the pairs the model was trained on.\n"
      "Example: ftune shortlist --model opus-mt-en-de --data train.jsonl --output vmap.txt");
  sub->add_option("--model", options->model_dir, "MarianMT model folder (its tokenizer files)")
      ->transform(model_folder())
      ->required();
  sub->add_option("--data", options->data, "parallel text: .jsonl/.csv/.tsv (source, target)")
      ->required();
  sub->add_option("--output", options->output, "the shortlist to write (vmap.txt)")->required();
  sub->add_option("--source-column", options->columns.source, "source column (default source)");
  sub->add_option("--target-column", options->columns.target, "target column (default target)");
  sub->add_option("--per-source",
                  options->build.per_source,
                  "target pieces kept per source piece (default 20; more: closer to the full\n"
                  "vocabulary's outputs, slower)")
      ->check(at_least(1));
  sub->add_option("--always",
                  options->build.always,
                  "most frequent target pieces allowed in every batch (default 100)");
  sub->add_option("--min-count",
                  options->build.min_count,
                  "source pieces seen in fewer pairs than this get no rule (default 2)")
      ->check(at_least(1));
  return {sub, [options] {
            const size_t rules = run_shortlist(*options);
            std::fputs(
                fmt::format("wrote {} rules -> {}\n", rules, options->output.string()).c_str(),
                stderr);
          }};
}

}  // namespace ftune
