// Labelled (or unlabelled) text examples for sequence classification, read from a table file
// and tokenized: the bridge between lib/data/table.h and lib/tensors/collate.h. No tensors here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lib/data/table.h"
#include "tokenizer/wordpiece.h"

namespace ftune {

struct TextColumns {
  std::string text = "text";
  std::optional<std::string> text_pair;  // used when given, or when a "text_pair" column exists
  std::string label = "label";
};

struct TextExamples {
  std::filesystem::path file;
  std::vector<Encoding> encodings;
  std::vector<std::string> labels;    // raw label text; empty when not read
  std::vector<int64_t> line_numbers;  // 1-based line of each example in `file`
  bool has_pairs = false;
  int64_t skipped_rows = 0;
};

// Reads and tokenizes `file`. With `read_labels`, the label column is required. An empty text is
// a DataError naming file:line (or is skipped and counted with skip_bad_rows).
TextExamples read_text_examples(const std::filesystem::path& file, const TextColumns& columns,
                                const WordPieceTokenizer& tokenizer, size_t max_length,
                                bool read_labels, const TableReadOptions& table_options = {});

}  // namespace ftune
