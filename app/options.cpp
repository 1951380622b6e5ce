// Shared option groups; kept here so every command spells and documents them the same way.
#include "app/options.h"

#include <fmt/format.h>

#include "lib/error.h"

namespace ftune {

void add_text_column_options(CLI::App& sub, TextColumns& columns, bool with_label) {
  sub.add_option("--text-column", columns.text, "column holding the text (default: text)");
  sub.add_option("--text-pair-column", columns.text_pair,
                 "column holding the second text of a pair (default: text_pair when present)");
  if (with_label) {
    sub.add_option("--label-column", columns.label, "column holding the label (default: label)");
  }
}

void add_table_options(CLI::App& sub, TableReadOptions& table) {
  sub.add_option_function<std::string>(
      "--encoding",
      [&table](const std::string& name) {
        auto encoding = parse_text_encoding(name);
        if (!encoding) {
          throw CLI::ValidationError("--encoding",
                                     fmt::format("'{}' is not supported (utf-8 or latin-1)", name));
        }
        table.encoding = *encoding;
      },
      "text encoding of the data file: utf-8 (default) or latin-1");
  sub.add_flag("--skip-bad-rows", table.skip_bad_rows,
               "skip rows that cannot be read (and count them) instead of stopping");
}

CLI::Option_group* add_runtime_options(CLI::App& sub, RuntimeOptions& runtime) {
  auto* group = sub.add_option_group("Hardware and precision");
  group->add_option("--device", runtime.device,
                    "auto (default: the first CUDA GPU when there is one, else the CPU) | cpu | "
                    "cuda | cuda:N");
  group->add_option("--precision", runtime.precision,
                    "fp32 (default) | bf16 | fp16: matrix products in bfloat16/float16 through "
                    "autocast, weights kept in float32; bf16 runs on CPUs and GPUs, fp16 needs "
                    "CUDA (with dynamic loss scaling when training)");
  return group;
}

}  // namespace ftune
