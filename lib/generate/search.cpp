// Greedy and beam search over MarianMTModel, reproducing Hugging Face transformers 4.19:
// greedy_search / beam_search (generation_utils.py), BeamSearchScorer and BeamHypotheses
// (generation_beam_search.py), and the logits processors (generation_logits_process.py).
// Token bookkeeping (histories, hypotheses) lives on the CPU; the model runs on the cache.
#include "lib/generate/search.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include "util/error.h"

namespace ftune {
namespace {

constexpr float kNegativeInfinity = -std::numeric_limits<float>::infinity();
// HF starts every beam but the first of an example at -1e9, so that step one expands beam 0 only.
constexpr float kInactiveBeamScore = -1e9F;

// The logits processors HF 4.19 `_get_logits_processor` builds for our options, in its order.
struct LogitsProcessing {
  int64_t no_repeat_ngram_size = 0;
  std::vector<int64_t> banned_always;  // bad words of one token
  std::vector<std::vector<int64_t>>
      banned_after;  // longer bad words: the last token after the rest
  int64_t min_length = 0;
  int64_t eos_id = 0;
  std::optional<int64_t> forced_eos_id;
  int64_t max_length = 0;
};

void check_token_id(int64_t id, int64_t V, const std::string& what) {
  if (id < 0 || id >= V) {
    throw ConfigError(fmt::format(
        "generating: {} {}: expected a token id in [0, {}), got {}; hint: config.json does not "
        "match the model's vocabulary",
        what,
        id,
        V,
        id));
  }
}

LogitsProcessing make_logits_processing(const MarianConfig& config,
                                        const GenerationOptions& options, int64_t V) {
  LogitsProcessing p;
  p.no_repeat_ngram_size = options.no_repeat_ngram_size;
  p.min_length = options.min_length;
  p.eos_id = config.eos_token_id;
  p.forced_eos_id = config.forced_eos_token_id;
  p.max_length = options.max_length;
  check_token_id(config.eos_token_id, V, "eos_token_id");
  if (p.forced_eos_id) check_token_id(*p.forced_eos_id, V, "forced_eos_token_id");
  for (const auto& words : config.bad_words_ids) {
    if (words.empty()) {
      throw ConfigError(
          "generating: bad_words_ids: expected non-empty lists of token ids, got an empty list; "
          "hint: remove the empty entry from config.json");
    }
    for (int64_t id : words) check_token_id(id, V, "bad_words_ids entry");
    // NoBadWordsLogitsProcessor drops [eos]: banning eos alone would make generation endless.
    if (words.size() == 1 && words[0] == config.eos_token_id) continue;
    if (words.size() == 1) {
      p.banned_always.push_back(words[0]);
    } else {
      p.banned_after.push_back(words);
    }
  }
  return p;
}

// The columns of the scores: the whole vocabulary (column = token id), or a vocabulary shortlist's
// candidates (sorted ids; column j = ids[j]).
struct ScoreColumns {
  const std::vector<int64_t>* ids = nullptr;  // nullptr: the whole vocabulary

  int64_t token(int64_t column) const { return ids ? (*ids)[static_cast<size_t>(column)] : column; }
  // nullopt for a token outside the candidates (it cannot be predicted: nothing to ban).
  std::optional<int64_t> column(int64_t token) const {
    if (!ids) return token;
    const auto found = std::lower_bound(ids->begin(), ids->end(), token);
    if (found == ids->end() || *found != token) return std::nullopt;
    return static_cast<int64_t>(found - ids->begin());
  }
};

bool ends_with(const std::vector<int64_t>& tokens, const std::vector<int64_t>& words) {
  const size_t prefix = words.size() - 1;  // all of the bad sequence but its last token
  if (prefix > tokens.size()) return false;
  return std::equal(words.begin(),
                    words.begin() + static_cast<std::ptrdiff_t>(prefix),
                    tokens.end() - static_cast<std::ptrdiff_t>(prefix));
}

// Applies the processors in place to `scores` (N, V or the shortlist's k), row i continuing
// `histories[i]` (all of the current length, start token included).
void process_scores(at::Tensor& scores, const std::vector<std::vector<int64_t>>& histories,
                    const LogitsProcessing& p, const ScoreColumns& columns) {
  const auto N = static_cast<int64_t>(histories.size());
  const auto cur_len = static_cast<int64_t>(histories.front().size());
  std::vector<int64_t> rows, banned;  // (row, column) pairs set to -inf
  const auto ban = [&](int64_t row, int64_t token) {
    if (const auto column = columns.column(token)) {
      rows.push_back(row);
      banned.push_back(*column);
    }
  };
  if (p.no_repeat_ngram_size > 0) {
    for (int64_t i = 0; i < N; ++i) {
      for (int64_t token : find_banned_ngram_tokens(histories[i], p.no_repeat_ngram_size)) {
        ban(i, token);
      }
    }
  }
  for (int64_t i = 0; i < N; ++i) {
    for (const auto& words : p.banned_after) {
      if (ends_with(histories[i], words)) ban(i, words.back());
    }
  }
  if (!rows.empty()) {
    auto row_index = torch::tensor(rows, torch::kLong).to(scores.device());
    auto column_index = torch::tensor(banned, torch::kLong).to(scores.device());
    scores.index_put_({row_index, column_index}, kNegativeInfinity);
  }
  std::vector<int64_t> banned_always;
  for (int64_t token : p.banned_always) {
    if (const auto column = columns.column(token)) banned_always.push_back(*column);
  }
  if (!banned_always.empty()) {
    scores.index_fill_(
        1, torch::tensor(banned_always, torch::kLong).to(scores.device()), kNegativeInfinity);
  }
  // generate() puts eos and the forced eos among a shortlist's candidates.
  if (cur_len < p.min_length) scores.select(1, *columns.column(p.eos_id)).fill_(kNegativeInfinity);
  if (p.forced_eos_id && cur_len == p.max_length - 1) {
    scores.fill_(kNegativeInfinity);
    scores.select(1, *columns.column(*p.forced_eos_id)).fill_(0.0);
  }
}

at::Tensor make_index(const std::vector<int64_t>& rows, const at::Device& device) {
  return torch::tensor(rows, torch::kLong).to(device);
}

// What one search decodes against: the whole vocabulary, or a shortlist's candidates.
struct Vocabulary {
  const MarianVocabSubset* subset = nullptr;  // nullptr: the whole vocabulary
  ScoreColumns columns;
};

// Next-token logits (N, V) in float32 for the last tokens (N) of every row; (N, k) over a
// shortlist's candidates.
at::Tensor decode_step(MarianMTModel& model, const std::vector<int64_t>& last_tokens,
                       const at::Tensor& encoder_hidden, const at::Tensor& encoder_mask,
                       MarianCache& cache, const Vocabulary& vocabulary) {
  const auto N = static_cast<int64_t>(last_tokens.size());
  auto input = make_index(last_tokens, encoder_hidden.device()).view({N, 1});  // (N, 1)
  auto logits =
      model->decode(input, encoder_hidden, encoder_mask, &cache, vocabulary.subset);  // (N, 1, V)
  return logits.select(1, -1).to(torch::kFloat);                                      // (N, V)
}

// Rows shorter than the longest are padded with `pad_id`.
std::vector<std::vector<int64_t>> pad_rows(std::vector<std::vector<int64_t>> rows, int64_t pad_id) {
  size_t width = 0;
  for (const auto& row : rows) width = std::max(width, row.size());
  for (auto& row : rows) row.resize(width, pad_id);
  return rows;
}

GenerationResult search_greedy(MarianMTModel& model, const MarianConfig& config,
                               at::Tensor encoder_hidden, at::Tensor encoder_mask,
                               const LogitsProcessing& processing, const Vocabulary& vocabulary) {
  const int64_t B = encoder_hidden.size(0);
  std::vector<std::vector<int64_t>> finished(static_cast<size_t>(B));
  // Rows still generating, their examples and histories (start token included).
  std::vector<int64_t> row_example(static_cast<size_t>(B));
  std::vector<std::vector<int64_t>> histories(static_cast<size_t>(B),
                                              {config.decoder_start_token_id});
  for (int64_t b = 0; b < B; ++b) row_example[static_cast<size_t>(b)] = b;
  MarianCache cache;
  int64_t cur_len = 1;
  while (!histories.empty() && cur_len < processing.max_length) {
    std::vector<int64_t> last_tokens;
    for (const auto& history : histories) last_tokens.push_back(history.back());
    auto scores =
        decode_step(model, last_tokens, encoder_hidden, encoder_mask, cache, vocabulary);  // (N, V)
    process_scores(scores, histories, processing, vocabulary.columns);
    auto next_columns = scores.argmax(-1).cpu();  // (N)
    auto next_column = next_columns.accessor<int64_t, 1>();
    ++cur_len;

    // An example leaves the batch once it emits eos (HF keeps it there, appending pad, which
    // changes no other row).
    std::vector<int64_t> keep;
    for (size_t i = 0; i < histories.size(); ++i) {
      histories[i].push_back(vocabulary.columns.token(next_column[static_cast<int64_t>(i)]));
      if (histories[i].back() == config.eos_token_id) {
        finished[static_cast<size_t>(row_example[i])] = std::move(histories[i]);
      } else {
        keep.push_back(static_cast<int64_t>(i));
      }
    }
    if (keep.size() == histories.size()) continue;
    std::vector<int64_t> kept_examples;
    std::vector<std::vector<int64_t>> kept_histories;
    for (int64_t i : keep) {
      kept_examples.push_back(row_example[static_cast<size_t>(i)]);
      kept_histories.push_back(std::move(histories[static_cast<size_t>(i)]));
    }
    row_example = std::move(kept_examples);
    histories = std::move(kept_histories);
    if (keep.empty()) break;
    auto index = make_index(keep, encoder_hidden.device());
    cache.reorder(index);
    encoder_hidden = encoder_hidden.index_select(0, index);  // (N', T, C)
    encoder_mask = encoder_mask.index_select(0, index);      // (N', T)
  }
  for (size_t i = 0; i < histories.size(); ++i) {
    finished[static_cast<size_t>(row_example[i])] = std::move(histories[i]);
  }
  GenerationResult result;
  result.sequences = pad_rows(std::move(finished), config.pad_token_id);
  return result;
}

// HF's BeamHypotheses: the best num_beams finished hypotheses of one example.
class BeamHypotheses {
 public:
  BeamHypotheses(int64_t num_beams, double length_penalty, bool early_stopping)
      : num_beams_(num_beams), length_penalty_(length_penalty), early_stopping_(early_stopping) {}

  // The score divides by the hypothesis length including the decoder start token (HF 4.19).
  void add(const std::vector<int64_t>& tokens, double sum_logprobs) {
    const double score =
        sum_logprobs / std::pow(static_cast<double>(tokens.size()), length_penalty_);
    if (size() < num_beams_ || score > worst_score_) {
      beams_.emplace_back(score, tokens);
      if (size() > num_beams_) {
        // Drop the worst (the first one on ties); the next worst becomes the bar.
        std::vector<std::pair<double, size_t>> ranked;
        for (size_t i = 0; i < beams_.size(); ++i) ranked.emplace_back(beams_[i].first, i);
        std::sort(ranked.begin(), ranked.end());
        beams_.erase(beams_.begin() + static_cast<std::ptrdiff_t>(ranked[0].second));
        worst_score_ = ranked[1].first;
      } else {
        worst_score_ = std::min(score, worst_score_);
      }
    }
  }

  // early_stopping false: done once no beam can still beat the worst kept hypothesis, judging
  // the best current beam as if it ended now at `cur_len`.
  bool is_done(double best_sum_logprobs, int64_t cur_len) const {
    if (size() < num_beams_) return false;
    if (early_stopping_) return true;
    const double best_possible =
        best_sum_logprobs / std::pow(static_cast<double>(cur_len), length_penalty_);
    return worst_score_ >= best_possible;
  }

  // The highest score; among equal scores the one added last (Python's stable sort + pop()).
  const std::pair<double, std::vector<int64_t>>& best() const {
    size_t best_index = 0;
    for (size_t i = 1; i < beams_.size(); ++i) {
      if (beams_[i].first >= beams_[best_index].first) best_index = i;
    }
    return beams_[best_index];
  }

  int64_t size() const { return static_cast<int64_t>(beams_.size()); }

 private:
  int64_t num_beams_;
  double length_penalty_;
  bool early_stopping_;
  std::vector<std::pair<double, std::vector<int64_t>>> beams_;
  double worst_score_ = 1e9;
};

// The k largest values of each row of `scores` (N, V) and their columns, largest first; among
// equal values the lower column first. torch::topk on the CPU sorts a partial copy of every row
// (2.8 ms for OPUS-MT's 64 x 58k beam scores at 2 threads); this keeps the k best in a small
// array while reading each row once, and takes CUDA tensors to torch::topk. Numbers are copied,
// never recomputed: the values are those of `scores`.
std::pair<at::Tensor, at::Tensor> top_k_per_row(const at::Tensor& scores, int64_t k) {
  const int64_t N = scores.size(0);
  const int64_t V = scores.size(1);
  if (!scores.device().is_cpu() || scores.scalar_type() != at::kFloat || k > V) {
    auto top = scores.topk(k, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
    return {std::get<0>(top), std::get<1>(top)};
  }
  const at::Tensor rows = scores.contiguous();
  auto values = at::empty({N, k}, rows.options());
  auto columns = at::empty({N, k}, rows.options().dtype(at::kLong));
  const float* data = rows.data_ptr<float>();
  float* out_values = values.data_ptr<float>();
  int64_t* out_columns = columns.data_ptr<int64_t>();
  // Descending order with NaN above everything, as torch::topk ranks it.
  const auto above = [](float a, float b) { return std::isnan(a) ? !std::isnan(b) : a > b; };
  at::parallel_for(0, N, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const float* row = data + n * V;
      float* best = out_values + n * k;  // kept sorted, best first
      int64_t* where = out_columns + n * k;
      int64_t kept = 0;
      for (int64_t v = 0; v < V; ++v) {
        const float x = row[v];
        if (kept == k && !above(x, best[k - 1])) continue;
        int64_t slot = kept == k ? k - 1 : kept++;
        for (; slot > 0 && above(x, best[slot - 1]); --slot) {  // the later of equals goes after
          best[slot] = best[slot - 1];
          where[slot] = where[slot - 1];
        }
        best[slot] = x;
        where[slot] = v;
      }
    }
  });
  return {values, columns};
}

// Beam search's candidates: per example, the 2K best (beam, token) pairs by HF's score
// log_softmax(logits) (processed) + beam score, best first, as (A, 2K) scores and ids
// beam * V + token. HF takes the log-softmax of every row (A*K x V), adds the beam scores and
// ranks all K*V per example; the same 2K are among each row's 2K best logits (within a row the
// log-softmax is the logits minus one number), so this ranks each row's logits, then only those
// 2K*K per example: four passes over the full scores fewer (OPUS-MT's 58k vocabulary at batch 16,
// beam 4, these steps alone on LibTorch 1.13 at 2 threads: 18 -> 5 ms). The processors' bans (-inf)
// are the same before or after the shift; the step that forces eos sets a score of 0, so it takes
// HF's way.
std::pair<at::Tensor, at::Tensor> select_beam_candidates(
    at::Tensor& logits, const std::vector<std::vector<int64_t>>& histories,
    const std::vector<float>& beam_scores, const LogitsProcessing& processing,
    const ScoreColumns& columns, int64_t A, int64_t K) {
  const int64_t V = logits.size(1);
  const auto cur_len = static_cast<int64_t>(histories.front().size());
  const bool forces_eos = processing.forced_eos_id && cur_len == processing.max_length - 1;
  const auto beam_offsets =
      torch::tensor(beam_scores, torch::kFloat).to(logits.device()).unsqueeze(1);  // (A*K, 1)
  if (forces_eos || 2 * K > V) {
    auto scores = torch::log_softmax(logits, -1);  // (A*K, V)
    process_scores(scores, histories, processing, columns);
    scores = scores + beam_offsets;
    auto top = scores.view({A, K * V}).topk(2 * K, /*dim=*/1, /*largest=*/true, /*sorted=*/true);
    return {std::get<0>(top), std::get<1>(top)};
  }
  const auto normalizer = torch::logsumexp(logits, -1, /*keepdim=*/true);  // (A*K, 1)
  process_scores(logits, histories, processing, columns);
  auto [row_values, row_tokens] = top_k_per_row(logits, 2 * K);      // (A*K, 2K)
  const auto row_scores = (row_values - normalizer) + beam_offsets;  // (A*K, 2K)
  const auto row_ids =  // beam * V + token, beam within the example
      row_tokens +
      (torch::arange(A * K, row_scores.options().dtype(torch::kLong)) % K * V).unsqueeze(1);
  auto top = row_scores.view({A, K * 2 * K})
                 .topk(2 * K,
                       /*dim=*/1,
                       /*largest=*/true,
                       /*sorted=*/true);  // (A, 2K)
  return {std::get<0>(top), row_ids.view({A, K * 2 * K}).gather(1, std::get<1>(top))};
}

GenerationResult search_beams(MarianMTModel& model, const MarianConfig& config,
                              const at::Tensor& encoder_hidden_by_example,
                              const at::Tensor& encoder_mask_by_example,
                              const GenerationOptions& options, const LogitsProcessing& processing,
                              const Vocabulary& vocabulary) {
  const int64_t B = encoder_hidden_by_example.size(0);
  const int64_t K = options.num_beams;
  auto encoder_hidden = encoder_hidden_by_example.repeat_interleave(K, 0);  // (B*K, T, C)
  auto encoder_mask = encoder_mask_by_example.repeat_interleave(K, 0);      // (B*K, T)
  const auto device = encoder_hidden.device();

  std::vector<BeamHypotheses> hypotheses(
      static_cast<size_t>(B), BeamHypotheses(K, options.length_penalty, options.early_stopping));
  // Active examples; rows a*K .. a*K+K-1 are the beams of active[a].
  std::vector<int64_t> active(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) active[static_cast<size_t>(b)] = b;
  std::vector<std::vector<int64_t>> histories(static_cast<size_t>(B * K),
                                              {config.decoder_start_token_id});
  std::vector<float> beam_scores(static_cast<size_t>(B * K), 0.0F);
  for (size_t row = 0; row < beam_scores.size(); ++row) {
    if (row % static_cast<size_t>(K) != 0) beam_scores[row] = kInactiveBeamScore;
  }
  MarianCache cache;
  int64_t cur_len = 1;
  while (true) {
    const auto A = static_cast<int64_t>(active.size());
    std::vector<int64_t> last_tokens;
    for (const auto& history : histories) last_tokens.push_back(history.back());
    auto logits = decode_step(
        model, last_tokens, encoder_hidden, encoder_mask, cache, vocabulary);  // (A*K, V)
    // MarianMTModel.adjust_logits_during_generation: pad can never be predicted, even before
    // log_softmax (so it takes no probability mass).
    if (const auto pad = vocabulary.columns.column(config.pad_token_id)) {
      logits.select(1, *pad).fill_(kNegativeInfinity);
    }
    auto [top_candidate_scores, top_candidate_ids] = select_beam_candidates(
        logits, histories, beam_scores, processing, vocabulary.columns, A, K);
    const int64_t V = logits.size(1);              // the vocabulary's or the shortlist's
    auto top_scores = top_candidate_scores.cpu();  // (A, 2K)
    auto top_ids = top_candidate_ids.cpu();        // (A, 2K)
    auto top_score = top_scores.accessor<float, 2>();
    auto top_id = top_ids.accessor<int64_t, 2>();

    // BeamSearchScorer.process: per example, candidates best first; eos ends a hypothesis (when
    // among the first K), anything else continues a beam, until K beams continue.
    std::vector<int64_t> kept_examples, source_rows, next_tokens;
    std::vector<float> next_scores;
    for (int64_t a = 0; a < A; ++a) {
      const int64_t example = active[static_cast<size_t>(a)];
      auto& example_hypotheses = hypotheses[static_cast<size_t>(example)];
      std::vector<int64_t> rows, tokens;
      std::vector<float> candidate_scores;
      for (int64_t rank = 0; rank < 2 * K && static_cast<int64_t>(rows.size()) < K; ++rank) {
        const int64_t row = a * K + top_id[a][rank] / V;
        const int64_t token = vocabulary.columns.token(top_id[a][rank] % V);
        if (token == config.eos_token_id) {
          if (rank >= K) continue;
          example_hypotheses.add(histories[static_cast<size_t>(row)], top_score[a][rank]);
        } else {
          rows.push_back(row);
          tokens.push_back(token);
          candidate_scores.push_back(top_score[a][rank]);
        }
      }
      if (static_cast<int64_t>(rows.size()) < K) {
        throw Error(fmt::format(
            "generating: example {}: expected {} beams to continue, got {}; hint: too many "
            "tokens are banned (bad_words_ids, no_repeat_ngram_size) for this many beams",
            example,
            K,
            rows.size()));
      }
      const double best_candidate = top_score[a][0];  // topk is sorted: the row's maximum
      if (example_hypotheses.is_done(best_candidate, cur_len)) continue;
      kept_examples.push_back(example);
      source_rows.insert(source_rows.end(), rows.begin(), rows.end());
      next_tokens.insert(next_tokens.end(), tokens.begin(), tokens.end());
      next_scores.insert(next_scores.end(), candidate_scores.begin(), candidate_scores.end());
    }
    ++cur_len;
    if (kept_examples.empty()) break;  // every example is done

    std::vector<std::vector<int64_t>> next_histories;
    for (size_t k = 0; k < source_rows.size(); ++k) {
      next_histories.push_back(histories[static_cast<size_t>(source_rows[k])]);
      next_histories.back().push_back(next_tokens[k]);
    }
    // Beams take their rows from beams of the same example, whose encoder rows (and cross-
    // attention keys and values) are equal: those move only when examples leave.
    if (kept_examples.size() != active.size()) {
      auto index = make_index(source_rows, device);
      cache.reorder(index);
      encoder_hidden = encoder_hidden.index_select(0, index);  // (A'*K, T, C)
      encoder_mask = encoder_mask.index_select(0, index);      // (A'*K, T)
    } else {
      cache.reorder_self_attention(source_rows);  // only the beams that change hypothesis
    }
    active = std::move(kept_examples);
    histories = std::move(next_histories);
    beam_scores = std::move(next_scores);
    if (cur_len >= options.max_length) {
      // BeamSearchScorer.finalize: unfinished examples offer every beam as it stands.
      for (size_t row = 0; row < histories.size(); ++row) {
        hypotheses[static_cast<size_t>(active[row / static_cast<size_t>(K)])].add(histories[row],
                                                                                  beam_scores[row]);
      }
      break;
    }
  }

  // The best hypothesis per example; eos after it unless it fills max_length, padding to the
  // longest + 1 (at most max_length), as finalize() lays them out.
  GenerationResult result;
  size_t longest = 0;
  for (const auto& example_hypotheses : hypotheses) {
    longest = std::max(longest, example_hypotheses.best().second.size());
  }
  const size_t width = std::min(longest + 1, static_cast<size_t>(options.max_length));
  for (const auto& example_hypotheses : hypotheses) {
    const auto& [score, tokens] = example_hypotheses.best();
    std::vector<int64_t> sequence = tokens;
    if (sequence.size() < static_cast<size_t>(options.max_length)) {
      sequence.push_back(config.eos_token_id);
    }
    sequence.resize(width, config.pad_token_id);
    result.sequences.push_back(std::move(sequence));
    result.scores.push_back(static_cast<float>(score));  // HF keeps them in a float32 tensor
  }
  return result;
}

void check_options(const GenerationOptions& options) {
  auto fail = [](const std::string& what) { throw Error(fmt::format("generating: {}", what)); };
  if (options.num_beams < 1) {
    fail(fmt::format("num_beams: expected at least 1, got {}", options.num_beams));
  }
  if (options.max_length < 2) {
    fail(fmt::format("max_length: expected at least 2 (it counts the decoder start token), got {}",
                     options.max_length));
  }
  if (options.min_length < 0) {
    fail(fmt::format("min_length: expected 0 or more, got {}", options.min_length));
  }
  if (options.no_repeat_ngram_size < 0) {
    fail(fmt::format("no_repeat_ngram_size: expected 0 (off) or more, got {}",
                     options.no_repeat_ngram_size));
  }
  if (!std::isfinite(options.length_penalty)) {
    fail(fmt::format("length_penalty: expected a finite number, got {}", options.length_penalty));
  }
}

}  // namespace

std::vector<int64_t> find_banned_ngram_tokens(const std::vector<int64_t>& tokens,
                                              int64_t ngram_size) {
  std::vector<int64_t> banned;
  const auto L = static_cast<int64_t>(tokens.size());
  if (ngram_size <= 0 || L + 1 < ngram_size) return banned;
  const int64_t prefix = ngram_size - 1;  // the last `prefix` tokens are the n-gram's start
  for (int64_t start = 0; start + ngram_size <= L; ++start) {
    bool matches = true;
    for (int64_t j = 0; j < prefix && matches; ++j) {
      matches =
          tokens[static_cast<size_t>(start + j)] == tokens[static_cast<size_t>(L - prefix + j)];
    }
    if (matches) banned.push_back(tokens[static_cast<size_t>(start + prefix)]);
  }
  return banned;
}

GenerationResult generate(MarianMTModel& model, const MarianConfig& config,
                          const at::Tensor& input_ids, const at::Tensor& attention_mask,
                          const GenerationOptions& options,
                          const std::vector<int64_t>& candidates) {
  check_options(options);
  TORCH_CHECK(input_ids.dim() == 2 && input_ids.sizes() == attention_mask.sizes(),
              "generate: input_ids and attention_mask must both be (B, T), got ",
              input_ids.sizes(),
              " and ",
              attention_mask.sizes());
  if (input_ids.size(0) == 0) return {};
  const int64_t V = config.decoder_vocab_size;
  check_token_id(config.pad_token_id, V, "pad_token_id");
  check_token_id(config.decoder_start_token_id, V, "decoder_start_token_id");
  const LogitsProcessing processing = make_logits_processing(config, options, V);
  std::optional<MarianVocabSubset> subset;
  Vocabulary vocabulary;
  if (!candidates.empty()) {
    std::vector<int64_t> ids = candidates;
    for (int64_t id : ids) check_token_id(id, V, "vocabulary shortlist candidate");
    // Without eos among them no output could end before max_length.
    ids.push_back(config.eos_token_id);
    if (processing.forced_eos_id) ids.push_back(*processing.forced_eos_id);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    subset = model->restrict_vocab(std::move(ids));
    vocabulary.subset = &*subset;
    vocabulary.columns.ids = &subset->ids;
  }
  auto encoder_hidden = model->encode(input_ids, attention_mask);  // (B, T, C)
  if (options.num_beams == 1) {
    return search_greedy(model, config, encoder_hidden, attention_mask, processing, vocabulary);
  }
  return search_beams(
      model, config, encoder_hidden, attention_mask, options, processing, vocabulary);
}

}  // namespace ftune
