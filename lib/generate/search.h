// Text generation for MarianMT: greedy and beam search with the semantics of Hugging Face
// transformers 4.19 `generate()` (generation_utils.py, generation_beam_search.py,
// generation_logits_process.py), batched and on the KV cache. Not here: sampling, tokenization.
//
//   GenerationOptions options;
//   options.num_beams = 4;
//   GenerationResult result = generate(model, config, input_ids, attention_mask, options);
//   result.sequences[0];  // {decoder_start, tok, tok, ..., eos, pad...} as HF returns it
//   result.scores[0];     // HF's sequences_scores (beam search only)
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "models/marian.h"

namespace ftune {

struct GenerationOptions {
  int64_t num_beams = 1;             // 1: greedy search
  int64_t max_length = 20;           // counts the decoder start token, as in HF
  int64_t min_length = 0;            // eos is banned while the sequence is shorter than this
  double length_penalty = 1.0;       // beam score = sum of log-probs / length ** length_penalty
  int64_t no_repeat_ngram_size = 0;  // 0: off
  bool early_stopping = false;       // beam search: stop an example once num_beams hypotheses end
};

struct GenerationResult {
  // One row per example, exactly as HF's `generate(...).sequences`: the decoder start token first,
  // then the generated tokens and eos; rows shorter than the batch's longest are padded with
  // pad_token_id (beam search: up to min(longest hypothesis + 1, max_length)).
  std::vector<std::vector<int64_t>> sequences;
  // Beam search: HF's `sequences_scores` (sum of the processed token log-probs / length **
  // length_penalty, rounded to float32). Greedy search: empty (HF defines no such score).
  std::vector<double> scores;
};

// Generates for a batch of sources: input_ids and attention_mask are (B, T) int64 on the model's
// device. Logits processors in HF's order: no-repeat n-gram, config.bad_words_ids, min length,
// config.forced_eos_token_id at max_length - 1; beam search also never predicts pad (Marian's
// adjust_logits_during_generation). Finished examples leave the batch, so their decoding stops.
// Call under torch::InferenceMode (or NoGradGuard) with the model in eval mode.
// `candidates` non-empty: a vocabulary shortlist (lib/generate/shortlist.h). Only these target
// ids (and eos, added here) can be predicted: each step projects onto their rows alone, and beam
// search normalizes its log-probs over them. The same outputs as HF generate() with every other
// token's logit set to -inf before the processors and the log-softmax.
GenerationResult generate(MarianMTModel& model, const MarianConfig& config,
                          const at::Tensor& input_ids, const at::Tensor& attention_mask,
                          const GenerationOptions& options,
                          const std::vector<int64_t>& candidates = {});

// The tokens HF's NoRepeatNGramLogitsProcessor bans after `tokens`: every token that followed an
// earlier occurrence of the last ngram_size - 1 tokens (so that no n-gram appears twice).
// Duplicates are possible. Example: ({1, 2, 3, 1, 2}, 3) -> {3}.
std::vector<int64_t> find_banned_ngram_tokens(const std::vector<int64_t>& tokens,
                                              int64_t ngram_size);

}  // namespace ftune
