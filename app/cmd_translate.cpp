// `ftune translate`: translations of every line of a file with a MarianMT (OPUS-MT) folder.
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/options.h"
#include "lib/generate/translate.h"

namespace ftune {

Command add_translate_command(CLI::App& app) {
  auto options = std::make_shared<TranslateOptions>();
  CLI::App* sub = app.add_subcommand(
      "translate",
      "Translate every source of a file with a MarianMT model folder (Hugging Face OPUS-MT\n"
      "layout), greedy or beam search as transformers 4.19 generate() does it.\n"
      "Input: .txt (one source per line) or .jsonl/.csv/.tsv with a \"source\" column.\n"
      "Output: .txt (one translation per line, in input order) or .jsonl\n"
      "({\"translation\", \"ids\", \"score\"}; score = beam score, null for greedy).\n"
      "Example: ftune translate --model opus-mt-en-de --input news.txt --output news.de.txt "
      "--beam 4");
  sub->add_option("--model", options->model_dir, "MarianMT model folder")
      ->transform(model_folder())
      ->required();
  add_runtime_options(*sub, options->runtime, /*with_quantize=*/true);
  sub->add_option("--weights", options->weights, "weights file overriding the folder's own");
  sub->add_option("--input", options->input, "sources: .txt, or .jsonl/.csv/.tsv (\"source\")")
      ->required();
  sub->add_option("--output", options->output, "translations: .txt or .jsonl")->required();
  sub->add_option(
         "--beam", options->num_beams, "beam size; 1 = greedy (default: config.json's num_beams)")
      ->check(at_least(1));
  sub->add_option("--max-length",
                  options->max_length,
                  "longest output in tokens, counting the decoder start token (default: "
                  "config.json's max_length, at most max_position_embeddings)")
      ->check(between(2, 1 << 20));
  sub->add_option(
         "--min-length",
         options->generation.min_length,
         "</s> is banned while the output, counting the decoder start token, is shorter than "
         "this (default 0)")
      ->check(at_least(0));
  sub->add_option("--length-penalty",
                  options->generation.length_penalty,
                  "beam search: score = log-prob / length^F; F > 1 favours longer outputs "
                  "(default 1.0)");
  sub->add_option("--no-repeat-ngram-size",
                  options->generation.no_repeat_ngram_size,
                  "forbid repeating any n-gram of this size (default 0 = off)")
      ->check(at_least(0));
  sub->add_flag("--early-stopping",
                options->generation.early_stopping,
                "beam search: stop a source once it has beam-size finished hypotheses");
  sub->add_option("--vocab-shortlist",
                  options->vocab_shortlist,
                  "only the target tokens this file lists for a batch's source words can be\n"
                  "predicted (CTranslate2's vmap format: '<source n-gram><TAB><targets>' per\n"
                  "line; make one with `ftune shortlist`). Faster (OPUS-MT: about a thousand of\n"
                  "its 54,688 rows per step at 16 sources); changes outputs, off by default");
  sub->add_option("--batch-size", options->batch_size, "sources per batch (default 16)")
      ->check(at_least(1));
  sub->add_option("--max-source-length",
                  options->max_source_length,
                  "cut sources to this many tokens incl. </s> (default 512, at most the model's "
                  "max_position_embeddings)")
      ->check(between(2, 1 << 20));
  return {sub, [options] {
            const size_t rows = run_translate(*options);
            std::fputs(
                fmt::format("translated {} rows -> {}\n", rows, options->output.string()).c_str(),
                stderr);
          }};
}

}  // namespace ftune
