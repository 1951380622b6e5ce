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

// The labels as numbers (--problem-type regression): each a finite decimal number as Python's
// float() reads it ("3.8", "-1e-2", " 4 "). DataError naming file:line and the value otherwise.
std::vector<double> numeric_labels(const TextExamples& examples);

// The labels as sets (--problem-type multi_label_classification): each cell a JSON list of
// labels (["joy", "optimism"], as a .jsonl list reads; [] for none) or labels separated by '|'
// ("joy|optimism", spaces around each trimmed). DataError naming file:line and the cell for a
// broken list or an empty label. Each set is sorted, without repeats.
std::vector<std::vector<std::string>> label_sets(const TextExamples& examples);

// `text` as a finite number (surrounding spaces and tabs allowed); nothing for anything else,
// including nan, inf and hexadecimal.
std::optional<double> parse_number(const std::string& text);

}  // namespace ftune
