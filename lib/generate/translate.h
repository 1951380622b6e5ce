// `ftune translate`: a MarianMT model folder over a file of source sentences, one translation per
// row, in input order. Not the search itself (lib/generate/search.h) nor the model
// (models/marian.h).
//
//   TranslateOptions options;
//   options.model_dir = "opus-mt-en-de";
//   options.input = "sources.txt";        // one source per line
//   options.output = "translations.jsonl";
//   options.num_beams = 4;                // unset: config.json's num_beams
//   size_t rows = run_translate(options);
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/generate/search.h"
#include "lib/tensors/device.h"
#include "models/marian.h"

namespace ftune {

struct TranslateOptions {
  std::filesystem::path model_dir;  // config.json, weights, source.spm, target.spm, vocab.json
  std::optional<std::filesystem::path> weights;  // overrides the folder's weights file
  // .txt: one source per line (blank lines are skipped); any other table format (.jsonl, .csv,
  // .tsv; see lib/data/table.h): the "source" column.
  std::filesystem::path input;
  // .txt: one translation per line. .jsonl: {"translation", "ids", "score"} per line: ids = HF
  // generate()'s row (decoder start token first) up to its first eos, without the padding that
  // only its batch caused; score = HF's sequences_scores (null for greedy search).
  std::filesystem::path output;
  // Unset: config.json's num_beams and max_length, as HF generate() does. A max_length from the
  // config is lowered to max_position_embeddings (decoding past the last position could only
  // fail); a larger value given here is an error.
  std::optional<int64_t> num_beams;
  std::optional<int64_t> max_length;
  // min_length, length_penalty, no_repeat_ngram_size and early_stopping; num_beams and
  // max_length in here are replaced by the two fields above.
  GenerationOptions generation;
  // A vocabulary shortlist (lib/generate/shortlist.h): each batch's outputs use only the
  // target tokens it lists for the batch's sources. Unset: the whole vocabulary.
  std::optional<std::filesystem::path> vocab_shortlist;
  size_t batch_size = 16;          // sources per generate() call
  size_t max_source_length = 512;  // sources are cut to this many tokens incl. </s> (at most
                                   // max_position_embeddings)
  RuntimeOptions runtime;          // --device, --precision
};

// The options HF generate() would use: ours where given, else config.json's (max_length at most
// max_position_embeddings; a larger --max-length is an Error).
GenerationOptions resolve_generation_options(const TranslateOptions& options,
                                             const MarianConfig& config);

// One .jsonl output line, as `ftune translate` writes it (and `ftune serve` answers):
// {"translation", "ids" (the generated row up to its first eos), "score" (null for greedy)}.
nlohmann::ordered_json translation_line(const std::string& translation,
                                        const std::vector<int64_t>& sequence,
                                        std::optional<double> score, int64_t eos_id);

// Returns the number of rows translated.
size_t run_translate(const TranslateOptions& options);

}  // namespace ftune
