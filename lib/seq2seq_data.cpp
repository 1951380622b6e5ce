// Reading and batching parallel text.
#include "lib/seq2seq_data.h"

#include <algorithm>

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/error.h"
#include "models/marian.h"

namespace ftune {
namespace {

constexpr int64_t kIgnoreIndex = -100;  // PyTorch cross_entropy's default ignore_index

at::Tensor pad_rows(const std::vector<std::vector<int64_t>>& rows,
                    const std::vector<size_t>& indices,
                    int64_t fill) {
  size_t longest = 0;
  for (size_t i : indices) longest = std::max(longest, rows[i].size());
  auto out = torch::full({static_cast<int64_t>(indices.size()), static_cast<int64_t>(longest)},
                         fill, torch::kLong);  // (B, L)
  auto values = out.accessor<int64_t, 2>();
  for (size_t r = 0; r < indices.size(); ++r) {
    const auto& row = rows[indices[r]];
    for (size_t t = 0; t < row.size(); ++t) values[r][t] = row[t];
  }
  return out;
}

}  // namespace

TranslationExamples read_translation_examples(const std::filesystem::path& file,
                                              const PairColumns& columns,
                                              const MarianTokenizer& tokenizer,
                                              size_t max_source_length,
                                              size_t max_target_length,
                                              const TableReadOptions& table_options) {
  Table table = read_table(file, table_options);
  const size_t source_column = table.require_column(columns.source, "--source-column");
  const size_t target_column = table.require_column(columns.target, "--target-column");
  TranslationExamples examples;
  examples.file = file;
  for (size_t row = 0; row < table.rows.size(); ++row) {
    const auto& source = table.rows[row][source_column];
    const auto& target = table.rows[row][target_column];
    const int64_t line = table.line_numbers[row];
    const bool empty_source = is_blank(source);
    const bool empty_target = is_blank(target);
    if (empty_source || empty_target) {
      if (table_options.skip_bad_rows) continue;
      throw DataError(fmt::format("reading '{}': line {}: column '{}' is empty; hint: fix or "
                                  "remove the row, or pass --skip-bad-rows",
                                  file.string(), line,
                                  empty_source ? columns.source : columns.target));
    }
    examples.sources.push_back(source);
    examples.targets.push_back(target);
    examples.source_ids.push_back(tokenizer.encode_source(source, max_source_length));
    examples.label_ids.push_back(tokenizer.encode_target(target, max_target_length));
    examples.line_numbers.push_back(line);
  }
  if (examples.sources.empty()) {
    throw DataError(fmt::format("reading '{}': no usable rows", file.string()));
  }
  return examples;
}

std::pair<at::Tensor, at::Tensor> collate_sources(const std::vector<std::vector<int64_t>>& ids,
                                                  const std::vector<size_t>& indices,
                                                  int64_t pad_id) {
  auto input_ids = pad_rows(ids, indices, pad_id);  // (B, T)
  auto attention_mask = torch::zeros_like(input_ids);
  auto mask = attention_mask.accessor<int64_t, 2>();
  for (size_t r = 0; r < indices.size(); ++r) {
    for (size_t t = 0; t < ids[indices[r]].size(); ++t) mask[r][t] = 1;
  }
  return {input_ids, attention_mask};
}

Seq2SeqBatch collate_seq2seq(const TranslationExamples& examples,
                             const std::vector<size_t>& indices,
                             int64_t pad_id,
                             int64_t decoder_start_token_id) {
  Seq2SeqBatch batch;
  std::tie(batch.input_ids, batch.attention_mask) =
      collate_sources(examples.source_ids, indices, pad_id);
  batch.labels = pad_rows(examples.label_ids, indices, kIgnoreIndex);  // (B, S)
  batch.decoder_input_ids = shift_tokens_right(batch.labels, pad_id, decoder_start_token_id);
  return batch;
}

}  // namespace ftune
