// `ftune tokenize`: text in, WordPiece tokens and ids out, one JSON line per input.
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/options.h"
#include "lib/data/tokenize_file.h"

namespace ftune {

Command add_tokenize_command(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* sub = app.add_subcommand(
      "tokenize",
      "Tokenize text exactly as Hugging Face's BertTokenizer does. Needs only vocab.txt (and "
      "tokenizer_config.json) in the folder.\nInput: .txt (one text per line) or .jsonl (\"text\", "
      "optional \"text_pair\"). Output: {\"tokens\", \"input_ids\", \"token_type_ids\", "
      "\"attention_mask\"} per line.\nExample: ftune tokenize --model my-bert --input "
      "sentences.txt --output ids.jsonl --max-length 128");
  sub->add_option("--model", options->model_dir, "folder with vocab.txt")
      ->transform(model_folder())
      ->required();
  sub->add_option("--input", options->input, "input .txt or .jsonl")->required();
  sub->add_option("--output", options->output, "output .jsonl")->required();
  sub->add_option("--max-length",
                  options->max_length,
                  "truncate to this many tokens including [CLS]/[SEP] (default: no truncation)")
      ->check(at_least(0));
  sub->add_option("--text-column", options->text_column, "JSONL key of the text (default: text)");
  return {sub, [options] {
            const size_t lines = run_tokenize(*options);
            std::fputs(
                fmt::format("tokenized {} lines -> {}\n", lines, options->output.string()).c_str(),
                stderr);
          }};
}

}  // namespace ftune
