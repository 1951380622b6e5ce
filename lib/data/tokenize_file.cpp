// Tokenizing a file for inspection or for feeding another tool.
#include "lib/data/tokenize_file.h"

#include <nlohmann/json.hpp>

#include "tokenizer/wordpiece.h"
#include "util/atomic_file.h"

namespace ftune {

size_t run_tokenize(const TokenizeOptions& options) {
  require_writable_parent(options.output);
  refuse_output_over_input(options.output, "--output", {{"--input", options.input}});
  auto tokenizer = WordPieceTokenizer::load_from_folder(options.model_dir.string());
  Table table = read_table(options.input, options.table);
  const size_t text_column = table.require_column(options.text_column, "--text-column");
  const auto pair_column = table.find_column("text_pair");

  AtomicFileWriter writer(options.output);
  for (size_t row = 0; row < table.rows.size(); ++row) {
    const auto& values = table.rows[row];
    std::optional<std::string> pair;
    if (pair_column && !table.is_missing(row, *pair_column)) pair = values[*pair_column];
    Encoding encoding = tokenizer.encode(values[text_column], pair, options.max_length);
    nlohmann::ordered_json line;  // keys in the documented order
    line["tokens"] = tokenizer.tokenize(values[text_column]);
    if (pair) line["pair_tokens"] = tokenizer.tokenize(*pair);
    line["input_ids"] = encoding.input_ids;
    line["token_type_ids"] = encoding.token_type_ids;
    line["attention_mask"] = encoding.attention_mask;
    writer.stream() << line.dump() << '\n';
  }
  writer.commit();
  return table.rows.size();
}

}  // namespace ftune
