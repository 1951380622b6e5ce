// Shared option groups; kept here so every command spells and documents them the same way.
#include "app/options.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>

#include <fmt/format.h>

#include "lib/io/package_folder.h"
#include "util/error.h"

namespace ftune {

void add_text_column_options(CLI::App& sub, TextColumns& columns, bool with_label) {
  sub.add_option("--text-column", columns.text, "column holding the text (default: text)");
  sub.add_option("--text-pair-column",
                 columns.text_pair,
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
  sub.add_flag("--skip-bad-rows",
               table.skip_bad_rows,
               "skip rows that cannot be read (and count them) instead of stopping");
}

void add_stride_option(CLI::App& sub, std::optional<size_t>& stride) {
  sub.add_option("--stride",
                 stride,
                 "ner: a sentence longer than --max-length is cut into windows that share this "
                 "many sub-words with the next (default 32, at most half a window); each word "
                 "takes its tag from the window where it has the most context");
}

void add_seqeval_mode_option(CLI::App& sub, SeqevalMode& mode) {
  sub.add_option_function<std::string>(
         "--seqeval-mode",
         [&mode](const std::string& name) {
           mode = name == "strict" ? SeqevalMode::kStrictIob2 : SeqevalMode::kDefault;
         },
         "ner: how entities are counted: default (seqeval's default, the conlleval rules: an I- "
         "with no B- before it starts an entity) or strict (seqeval's mode='strict', "
         "scheme=IOB2: only B- starts one; tags other than B-, I-, O are an error)")
      ->check(CLI::IsMember({"default", "strict"}));
}

CLI::Option_group* add_runtime_options(CLI::App& sub, RuntimeOptions& runtime, bool with_quantize) {
  auto* group = sub.add_option_group("Hardware and precision");
  group->add_option("--device",
                    runtime.device,
                    "auto (default: the first CUDA GPU when there is one, else the CPU) | cpu | "
                    "cuda | cuda:N");
  group->add_option("--precision",
                    runtime.precision,
                    std::string("fp32 (default) | bf16 | fp16: matrix products in "
                                "bfloat16/float16 through autocast, weights kept in float32; bf16 "
                                "runs on CPUs and GPUs, fp16 needs CUDA (with dynamic loss "
                                "scaling when training)") +
                        (with_quantize ? ". On a CPU with native bfloat16 (AVX512-BF16, AMX) the "
                                         "Debian build packs the Linear layers as bfloat16 on "
                                         "libdnnl instead (about 1.8x float32 for OPUS-MT)"
                                       : ""));
  if (with_quantize) {
    group
        ->add_option("--quantize",
                     runtime.quantize,
                     "none (default) | int8: Linear layers with int8 weights on the CPU (dynamic "
                     "quantization as PyTorch's quantize_dynamic; faster, slightly other numbers)")
        ->check(CLI::IsMember({"none", "int8"}));
    group
        ->add_option("--cpu-gemm",
                     runtime.cpu_gemm,
                     "auto (default) | onednn | blas: float32 matrix products on the CPU through "
                     "oneDNN with weights packed once, or the BLAS sgemm; the same outputs to "
                     "~1e-6. auto: the Debian build (libdnnl) packs every layer; the torch2 build "
                     "(LibTorch's oneDNN) MarianMT weights of 512 x 512 and more, BERT none. "
                     "OPUS-MT-sized translation ran 2-3x faster")
        ->check(CLI::IsMember({"auto", "onednn", "blas"}));
  }
  return group;
}

namespace {

// `%g` keeps 1e-08 and 2 readable; integers print without a fraction.
std::string show(double value) { return fmt::format("{:g}", value); }

// A validator whose check gets the parsed, finite number and returns "" or what is wrong.
CLI::Validator number_check(std::string description, std::function<std::string(double)> check) {
  return CLI::Validator(
      [check](std::string& text) -> std::string {
        char* end = nullptr;
        const double value = std::strtod(text.c_str(), &end);
        if (text.empty() || end == text.c_str() || *end != '\0') {
          return fmt::format("expected a number, got '{}'", text);
        }
        if (!std::isfinite(value)) return fmt::format("must be a finite number, got {}", text);
        std::string problem = check(value);
        return problem.empty() ? problem : fmt::format("{}, got {}", problem, text);
      },
      std::move(description));
}

}  // namespace

CLI::Validator at_least(double min) {
  const auto words = fmt::format("must be >= {}", show(min));
  return number_check(fmt::format("NUMBER >= {}", show(min)),
                      [min, words](double v) { return v >= min ? "" : words; });
}

CLI::Validator greater_than(double min) {
  const auto words = fmt::format("must be > {}", show(min));
  return number_check(fmt::format("NUMBER > {}", show(min)),
                      [min, words](double v) { return v > min ? "" : words; });
}

CLI::Validator between(double min, double max, bool max_open) {
  const auto words =
      fmt::format("must be >= {} and {} {}", show(min), max_open ? "<" : "<=", show(max));
  return number_check(
      fmt::format("NUMBER in [{}, {}{}", show(min), show(max), max_open ? ")" : "]"),
      [=](double v) { return v >= min && (max_open ? v < max : v <= max) ? "" : words; });
}

CLI::Validator model_folder() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        try {
          const FoundModelFolder found = find_model_folder(value);
          if (found.note.empty()) return "";
          std::fprintf(stderr, "%s\n", found.note.c_str());
          value = found.path.string();
          return "";
        } catch (const ConfigError& e) {
          return e.what();
        }
      },
      "FOLDER");
}

namespace {
std::string remembered_command_line;
}  // namespace

void remember_command_line(int argc, char** argv) {
  std::string line;
  for (int i = 0; i < argc; ++i) {
    std::string arg = i == 0 ? "ftune" : argv[i];  // not the binary's path on this machine
    const bool plain = !arg.empty() && arg.find_first_not_of(
                                           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                           "0123456789-_./=:,+@%") == std::string::npos;
    if (!plain) {
      std::string quoted = "'";
      for (const char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
      arg = quoted + "'";
    }
    line += (i ? " " : "") + arg;
  }
  remembered_command_line = line;
}

const std::string& command_line() { return remembered_command_line; }

}  // namespace ftune
