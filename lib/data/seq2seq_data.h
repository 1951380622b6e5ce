// Parallel text for translation: (source, target) rows read from a table file, tokenized with
// Marian's source/target SentencePiece models (batches: lib/tensors/collate.h).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lib/data/table.h"
#include "tokenizer/marian_tokenizer.h"

namespace ftune {

struct PairColumns {
  std::string source = "source";
  std::string target = "target";
};

struct TranslationExamples {
  std::filesystem::path file;
  std::vector<std::string> sources;
  std::vector<std::string> targets;
  std::vector<std::vector<int64_t>> source_ids;  // pieces + </s>
  std::vector<std::vector<int64_t>> label_ids;   // target pieces + </s>
  std::vector<int64_t> line_numbers;
};

// Reads .jsonl/.tsv/.csv with the two columns; an empty source or target is a DataError naming
// file:line (skipped and counted with skip_bad_rows).
TranslationExamples read_translation_examples(const std::filesystem::path& file,
                                              const PairColumns& columns,
                                              const MarianTokenizer& tokenizer,
                                              size_t max_source_length, size_t max_target_length,
                                              const TableReadOptions& table_options);

}  // namespace ftune
