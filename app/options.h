// CLI11 options shared by several subcommands (data columns, encodings).
#pragma once

#include <CLI/CLI.hpp>

#include "lib/device.h"
#include "lib/table.h"
#include "lib/text_dataset.h"

namespace ftune {

void add_text_column_options(CLI::App& sub, TextColumns& columns, bool with_label);
void add_table_options(CLI::App& sub, TableReadOptions& table);
// --device and --precision, in a "Hardware and precision" group (returned, for more options).
CLI::Option_group* add_runtime_options(CLI::App& sub, RuntimeOptions& runtime);

}  // namespace ftune
