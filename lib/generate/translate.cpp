// Batch translation with a MarianMT folder: read sources, tokenize, generate() per batch (in input
// order, each batch padded to its longest source), detokenize, write the output atomically.
#include "lib/generate/translate.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "lib/data/seq2seq_data.h"
#include "lib/data/table.h"
#include "lib/generate/shortlist.h"
#include "lib/io/marian_folder.h"
#include "lib/tensors/collate.h"
#include "lib/tensors/device.h"
#include "models/marian.h"
#include "tokenizer/marian_tokenizer.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/interrupt.h"
#include "util/progress.h"

namespace ftune {
namespace {

bool has_extension(const std::filesystem::path& file, const std::string& extension) {
  std::string actual = file.extension().string();
  std::transform(actual.begin(), actual.end(), actual.begin(), [](unsigned char c) {
    return static_cast<char>(std::tolower(c));
  });
  return actual == extension;
}

}  // namespace

GenerationOptions resolve_generation_options(const TranslateOptions& options,
                                             const MarianConfig& config) {
  GenerationOptions generation = options.generation;
  generation.num_beams = options.num_beams.value_or(config.num_beams);
  const int64_t limit = config.max_position_embeddings;
  if (options.max_length && *options.max_length > limit) {
    throw Error(fmt::format(
        "translating: --max-length {}: expected at most the model's max_position_embeddings {}; "
        "hint: use --max-length {} or less",
        *options.max_length,
        limit,
        limit));
  }
  generation.max_length = options.max_length.value_or(std::min(config.max_length, limit));
  return generation;
}

namespace {

// The ids of one generated row without the padding that only the rest of its batch caused: up
// to and including the first eos after the start token.
std::vector<int64_t> strip_batch_padding(const std::vector<int64_t>& sequence, int64_t eos_id) {
  auto eos = std::find(sequence.begin() + 1, sequence.end(), eos_id);
  return {sequence.begin(), eos == sequence.end() ? eos : eos + 1};
}

}  // namespace

nlohmann::ordered_json translation_line(const std::string& translation,
                                        const std::vector<int64_t>& sequence,
                                        std::optional<double> score, int64_t eos_id) {
  nlohmann::ordered_json line;  // keys in the documented order
  line["translation"] = translation;
  line["ids"] = strip_batch_padding(sequence, eos_id);
  line["score"] = score ? nlohmann::ordered_json(*score) : nlohmann::ordered_json(nullptr);
  return line;
}

size_t run_translate(const TranslateOptions& options) {
  const bool jsonl_output = has_extension(options.output, ".jsonl");
  if (!jsonl_output && !has_extension(options.output, ".txt")) {
    throw DataError(fmt::format(
        "translating: output '{}': expected a .txt or .jsonl file, got '{}'; hint: name the "
        "output translations.txt (one per line) or translations.jsonl (with ids and scores)",
        options.output.string(),
        options.output.extension().string()));
  }
  if (options.batch_size == 0) {
    throw Error("translating: batch_size: expected at least 1, got 0");
  }
  require_writable_parent(options.output);
  refuse_output_over_input(
      options.output,
      "--output",
      {{"--input", options.input}, {"--weights", options.weights.value_or("")}});
  const Runtime runtime = resolve_runtime(options.runtime);
  MarianBundle bundle = load_marian_folder(options.model_dir, options.weights);
  const std::optional<VocabShortlist> shortlist =
      load_vocab_shortlist(options.vocab_shortlist, bundle);
  quantize_if_asked(*bundle.model, runtime, [&] { return bundle.model->quantize_int8(); });
  pack_onednn_if_chosen(runtime, *bundle.model, [&](int64_t min, bool bf16) {
    return bundle.model->pack_onednn(min, bf16);
  });
  const MarianConfig& config = bundle.config;
  const MarianTokenizer& tokenizer = *bundle.tokenizer;
  MarianMTModel& model = bundle.model;
  const GenerationOptions generation = resolve_generation_options(options, config);

  Table table = read_table(options.input);
  const size_t column = has_extension(options.input, ".txt")
                            ? table.require_column("text")
                            : table.require_column("source", "the input file's source column");
  const size_t max_source_length =
      std::min(options.max_source_length, static_cast<size_t>(config.max_position_embeddings));
  std::vector<std::vector<int64_t>> sources;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    // An empty source (null, missing or blank in JSONL) would be "translated" into whatever the
    // model says for </s> alone (a "." for OPUS-MT): an error, not a silent output line.
    if (is_blank(table.rows[r][column])) {
      throw DataError(fmt::format(
          "translating: '{}' line {}: expected a source text in '{}', got {}; hint: remove the "
          "line or give it a source",
          options.input.string(),
          table.line_numbers[r],
          table.columns[column],
          table.rows[r][column].empty() ? "none (null or missing)" : "only whitespace"));
    }
    sources.push_back(tokenizer.encode_source(table.rows[r][column], max_source_length));
  }

  InferenceScope inference(*model, runtime);
  // A signal stops between batches; unwinding then removes the unfinished temporary output. The
  // guard and the path a second signal unlinks come first: no moment in which the temporary
  // exists but a signal would end the process without removing it.
  InterruptGuard interrupt_guard("stopping after this batch; the output is not written");
  interrupt_guard.remove_on_immediate_exit(
      AtomicFileWriter::temporary_for(options.output).string());
  AtomicFileWriter writer(options.output);
  ProgressBar progress("translate", static_cast<int64_t>(sources.size()));
  size_t candidate_total = 0, batches = 0;  // the shortlist's candidates per batch, for stderr
  for (size_t start = 0; start < sources.size(); start += options.batch_size) {
    if (const int signal_number = InterruptGuard::pending_signal()) {
      progress.finish();
      throw Interrupted(signal_number,
                        fmt::format("translation interrupted by signal {} after {} of {} sources; "
                                    "'{}' was not written",
                                    signal_number,
                                    start,
                                    sources.size(),
                                    options.output.string()));
    }
    const size_t end = std::min(sources.size(), start + options.batch_size);
    std::vector<size_t> indices(end - start);
    std::iota(indices.begin(), indices.end(), start);
    auto [input_ids, attention_mask] = collate_sources(sources, indices, tokenizer.pad_id());
    std::vector<int64_t> candidates;
    if (shortlist) {
      candidates = shortlist->candidates({sources.begin() + static_cast<std::ptrdiff_t>(start),
                                          sources.begin() + static_cast<std::ptrdiff_t>(end)});
      candidate_total += candidates.size();
      ++batches;
    }
    GenerationResult result = generate(model,
                                       config,
                                       to_device(input_ids, runtime.device),
                                       to_device(attention_mask, runtime.device),
                                       generation,
                                       candidates);
    for (size_t k = 0; k < result.sequences.size(); ++k) {
      const std::string translation = tokenizer.decode(result.sequences[k]);
      if (!jsonl_output) {
        writer.stream() << translation << '\n';
        continue;
      }
      const auto line = translation_line(
          translation,
          result.sequences[k],
          result.scores.empty() ? std::nullopt : std::optional<double>(result.scores[k]),
          config.eos_token_id);
      writer.stream() << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                      << '\n';
    }
    progress.update(static_cast<int64_t>(end));
  }
  progress.finish();
  writer.commit();
  if (shortlist && batches > 0) {
    std::fputs(fmt::format("vocabulary shortlist '{}': {} rules, {} candidates per batch on "
                           "average of {} tokens{}\n",
                           options.vocab_shortlist->string(),
                           shortlist->rules(),
                           candidate_total / batches,
                           config.decoder_vocab_size,
                           shortlist->skipped_tokens() == 0
                               ? std::string()
                               : fmt::format(" ({} pieces not in vocab.json skipped)",
                                             shortlist->skipped_tokens()))
                   .c_str(),
               stderr);
  }
  return sources.size();
}

}  // namespace ftune
