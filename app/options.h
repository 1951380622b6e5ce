// CLI11 options shared by several subcommands (data columns, encodings).
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

#include "lib/data/table.h"
#include "lib/data/text_dataset.h"
#include "lib/metrics/sequence_labeling.h"
#include "lib/tensors/device.h"

namespace ftune {

void add_text_column_options(CLI::App& sub, TextColumns& columns, bool with_label);
void add_table_options(CLI::App& sub, TableReadOptions& table);
// NER: --stride (window overlap) and --seqeval-mode (default | strict), on `sub` or a group of it.
void add_stride_option(CLI::App& sub, std::optional<size_t>& stride);
void add_seqeval_mode_option(CLI::App& sub, SeqevalMode& mode);
// --device and --precision, in a "Hardware and precision" group (returned, for more options).
CLI::Option_group* add_runtime_options(CLI::App& sub, RuntimeOptions& runtime,
                                       bool with_quantize = false);

// Range checks for numeric options, run on the text before it is converted (so "-1" never wraps
// around into an unsigned option) and on --config values alike. The messages say the range in
// words ("must be >= 1, got -1") rather than CLI11's Range text, which prints unbounded ends as
// 300-digit numbers. NaN and infinities are rejected by all of them.
CLI::Validator at_least(double min);
CLI::Validator greater_than(double min);
// min <= value <= max, or min <= value < max with `max_open`.
CLI::Validator between(double min, double max, bool max_open = false);

// --model: a model folder, or a package folder holding one (lib/io/package_folder.h). Rewrites the
// value to the folder itself and says which folder and files on stderr; several candidates are
// a usage error listing them.
CLI::Validator model_folder();

// The command line as typed (shell-quoted where needed), for train_settings.json and the model
// card: main() remembers it before parsing.
void remember_command_line(int argc, char** argv);
const std::string& command_line();

}  // namespace ftune
