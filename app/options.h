// CLI11 options shared by several subcommands (data columns, encodings).
#pragma once

#include <CLI/CLI.hpp>

#include "lib/table.h"
#include "lib/text_dataset.h"

namespace ftune {

void add_text_column_options(CLI::App& sub, TextColumns& columns, bool with_label);
void add_table_options(CLI::App& sub, TableReadOptions& table);

}  // namespace ftune
