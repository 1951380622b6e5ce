// BLEU and chrF as sacreBLEU 2.x computes them by default (see lib/metrics/bleu.h). Every formula
// and every order of floating-point operations follows sacrebleu/metrics/{bleu,chrf,helpers}.py.
// Not here: other tokenizers or smoothing methods, chrF++, lowercasing, significance tests.
#include "lib/metrics/bleu.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "util/error.h"

namespace ftune {
namespace {

constexpr int kMaxNgramOrder = 4;  // sacrebleu/metrics/bleu.py MAX_NGRAM_ORDER
constexpr size_t kCharOrder = 6;   // CHRF.CHAR_ORDER
constexpr int kChrfBeta = 2;       // CHRF.BETA
constexpr char32_t kReplacementChar = 0xFFFD;

// ---- UTF-8 <-> code points (Python strings are sequences of code points) ----

std::u32string decode_utf8(const std::string& text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char lead = s[i];
    int length = 0;
    char32_t cp = 0;
    char32_t min_cp = 0;
    if (lead < 0x80) {
      out.push_back(lead);
      ++i;
      continue;
    } else if ((lead & 0xE0) == 0xC0) {
      length = 2, cp = lead & 0x1F, min_cp = 0x80;
    } else if ((lead & 0xF0) == 0xE0) {
      length = 3, cp = lead & 0x0F, min_cp = 0x800;
    } else if ((lead & 0xF8) == 0xF0) {
      length = 4, cp = lead & 0x07, min_cp = 0x10000;
    }
    bool valid = length > 0 && i + length <= n;
    for (int k = 1; valid && k < length; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) {
        valid = false;
      } else {
        cp = (cp << 6) | (s[i + k] & 0x3F);
      }
    }
    valid = valid && cp >= min_cp && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (valid) {
      out.push_back(cp);
      i += length;
    } else {
      out.push_back(kReplacementChar);
      ++i;
    }
  }
  return out;
}

std::string encode_utf8(const std::u32string& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  return out;
}

// Python's str.isspace(), which str.split() and str.rstrip() use: bidi class WS/B/S or Zs.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Python's str.split() without arguments.
std::vector<std::u32string> split_on_space(const std::u32string& text) {
  std::vector<std::u32string> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_python_space(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && !is_python_space(text[i])) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

std::u32string strip_trailing_space(std::u32string text) {
  while (!text.empty() && is_python_space(text.back())) text.pop_back();
  return text;
}

// Python's str.replace(from, to): non-overlapping, left to right.
std::u32string replace_all(const std::u32string& text, const std::u32string& from,
                           const std::u32string& to) {
  std::u32string out;
  size_t pos = 0;
  for (size_t hit = text.find(from); hit != std::u32string::npos; hit = text.find(from, pos)) {
    out.append(text, pos, hit - pos);
    out += to;
    pos = hit + from.size();
  }
  out.append(text, pos, std::u32string::npos);
  return out;
}

// ---- mteval-v13a tokenizer (sacrebleu/tokenizers/tokenizer_re.py) ----

bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }  // [0-9] is ASCII only
bool is_period_or_comma(char32_t c) { return c == U'.' || c == U','; }

// The class [\{-\~\[-\` -\&\(-\+\:-\@\/]: ASCII punctuation and symbols except ' , - .
bool is_13a_symbol(char32_t c) {
  return (c >= U'{' && c <= U'~') || (c >= U'[' && c <= U'`') || (c >= U' ' && c <= U'&') ||
         (c >= U'(' && c <= U'+') || (c >= U':' && c <= U'@') || c == U'/';
}

// re.sub(r'(A)(B)', ...) for one-character A and B: scan left to right, a match consumes both
// characters, and `emit` writes the replacement for the pair.
template <typename MatchFirst, typename MatchSecond, typename Emit>
std::u32string substitute_pairs(const std::u32string& text, MatchFirst first, MatchSecond second,
                                Emit emit) {
  std::u32string out;
  out.reserve(text.size() * 2);
  size_t i = 0;
  while (i < text.size()) {
    if (i + 1 < text.size() && first(text[i]) && second(text[i + 1])) {
      emit(out, text[i], text[i + 1]);
      i += 2;
    } else {
      out.push_back(text[i]);
      ++i;
    }
  }
  return out;
}

// The replacements r'\1 \2 ' and r' \1 \2' of the two-character rules.
void append_pair_spaced_after(std::u32string& out, char32_t first, char32_t second) {
  out += first;
  out += U' ';
  out += second;
  out += U' ';
}

void append_pair_spaced_before(std::u32string& out, char32_t first, char32_t second) {
  out += U' ';
  out += first;
  out += U' ';
  out += second;
}

std::u32string tokenize_13a_u32(std::u32string line) {
  // Tokenizer13a.__call__: the language-independent part.
  line = replace_all(line, U"<skipped>", U"");
  line = replace_all(line, U"-\n", U"");
  line = replace_all(line, U"\n", U" ");
  if (line.find(U'&') != std::u32string::npos) {
    line = replace_all(line, U"&quot;", U"\"");
    line = replace_all(line, U"&amp;", U"&");
    line = replace_all(line, U"&lt;", U"<");
    line = replace_all(line, U"&gt;", U">");
  }
  line = U" " + line + U" ";

  // TokenizerRegexp, rule 1: r' \1 ' around every symbol.
  std::u32string spaced;
  spaced.reserve(line.size() * 2);
  for (char32_t c : line) {
    if (is_13a_symbol(c)) {
      spaced += U' ';
      spaced += c;
      spaced += U' ';
    } else {
      spaced += c;
    }
  }
  const auto not_digit = [](char32_t c) { return !is_digit(c); };
  const auto is_dash = [](char32_t c) { return c == U'-'; };
  // Rule 2: period and comma unless preceded by a digit, r'\1 \2 '.
  spaced = substitute_pairs(spaced, not_digit, is_period_or_comma, append_pair_spaced_after);
  // Rule 3: period and comma unless followed by a digit, r' \1 \2'.
  spaced = substitute_pairs(spaced, is_period_or_comma, not_digit, append_pair_spaced_before);
  // Rule 4: dash preceded by a digit, r'\1 \2 '.
  spaced = substitute_pairs(spaced, is_digit, is_dash, append_pair_spaced_after);
  // ' '.join(line.split())
  std::u32string joined;
  for (const auto& word : split_on_space(spaced)) {
    if (!joined.empty()) joined += U' ';
    joined += word;
  }
  return joined;
}

// ---- BLEU (sacrebleu/metrics/bleu.py) ----

using NgramCounts = std::unordered_map<std::string, int64_t>;

// helpers.extract_all_word_ngrams(line, 1, 4): n-grams keyed by their tokens joined with ' '
// (tokens hold no spaces, so keys of different orders never collide).
NgramCounts count_word_ngrams(const std::string& tokenized, int64_t* length) {
  std::vector<std::string> tokens;
  size_t start = 0;
  while (start < tokenized.size()) {
    size_t end = tokenized.find(' ', start);
    if (end == std::string::npos) end = tokenized.size();
    if (end > start) tokens.push_back(tokenized.substr(start, end - start));
    start = end + 1;
  }
  NgramCounts counts;
  for (size_t n = 1; n <= kMaxNgramOrder; ++n) {
    for (size_t i = 0; i + n <= tokens.size(); ++i) {
      std::string key = tokens[i];
      for (size_t k = 1; k < n; ++k) key += ' ' + tokens[i + k];
      ++counts[key];
    }
  }
  *length = static_cast<int64_t>(tokens.size());
  return counts;
}

int ngram_order(const std::string& key) {
  return 1 + static_cast<int>(std::count(key.begin(), key.end(), ' '));
}

// BLEU._preprocess_segment: tokenizer(sent.rstrip()), no lowercasing.
std::string preprocess_for_bleu(const std::string& sentence) {
  return encode_utf8(tokenize_13a_u32(strip_trailing_space(decode_utf8(sentence))));
}

struct BleuStats {
  int64_t sys_len = 0;
  int64_t ref_len = 0;
  std::array<int64_t, kMaxNgramOrder> correct{};
  std::array<int64_t, kMaxNgramOrder> total{};

  void add(const BleuStats& other) {
    sys_len += other.sys_len;
    ref_len += other.ref_len;
    for (int n = 0; n < kMaxNgramOrder; ++n) {
      correct[n] += other.correct[n];
      total[n] += other.total[n];
    }
  }
};

// BLEU._get_closest_ref_len: the reference length nearest the hypothesis, ties to the shorter.
int64_t find_closest_ref_len(int64_t hyp_len, const std::vector<int64_t>& ref_lens) {
  int64_t closest_diff = -1;
  int64_t closest_len = -1;
  for (int64_t ref_len : ref_lens) {
    const int64_t diff = std::abs(hyp_len - ref_len);
    if (closest_diff == -1 || diff < closest_diff) {
      closest_diff = diff;
      closest_len = ref_len;
    } else if (diff == closest_diff && ref_len < closest_len) {
      closest_len = ref_len;
    }
  }
  return closest_len;
}

// BLEU._extract_reference_info + _compute_segment_statistics for one segment.
BleuStats compute_bleu_segment_stats(const std::string& hypothesis,
                                     const std::vector<const std::string*>& references) {
  NgramCounts ref_ngrams;  // max count of each n-gram over the references
  std::vector<int64_t> ref_lens;
  for (const std::string* reference : references) {
    int64_t ref_len = 0;
    for (const auto& [ngram, count] :
         count_word_ngrams(preprocess_for_bleu(*reference), &ref_len)) {
      int64_t& merged = ref_ngrams[ngram];
      merged = std::max(merged, count);
    }
    ref_lens.push_back(ref_len);
  }
  BleuStats stats;
  const NgramCounts hyp_ngrams = count_word_ngrams(preprocess_for_bleu(hypothesis), &stats.sys_len);
  stats.ref_len = find_closest_ref_len(stats.sys_len, ref_lens);
  for (const auto& [ngram, count] : hyp_ngrams) {
    const int n = ngram_order(ngram) - 1;
    stats.total[n] += count;
    const auto hit = ref_ngrams.find(ngram);
    if (hit != ref_ngrams.end()) stats.correct[n] += std::min(count, hit->second);
  }
  return stats;
}

// utils.my_log: log floored at -9999999999 for zero precisions.
double floored_log(double x) { return x == 0.0 ? -9999999999.0 : std::log(x); }

// BLEU.compute_bleu with smooth_method='exp' (Chen & Cherry 2014, method 3, as in
// mteval-v13a.pl), max_ngram_order 4.
BleuScore compute_bleu_from_stats(const BleuStats& stats, bool effective_order) {
  BleuScore result;
  result.counts.assign(stats.correct.begin(), stats.correct.end());
  result.totals.assign(stats.total.begin(), stats.total.end());
  result.precisions.assign(kMaxNgramOrder, 0.0);
  result.sys_len = stats.sys_len;
  result.ref_len = stats.ref_len;
  result.bp = 1.0;
  if (stats.sys_len < stats.ref_len) {
    result.bp = stats.sys_len > 0 ? std::exp(1.0 - static_cast<double>(stats.ref_len) /
                                                       static_cast<double>(stats.sys_len))
                                  : 0.0;
  }
  if (std::all_of(stats.correct.begin(), stats.correct.end(), [](int64_t c) { return c == 0; })) {
    result.score = 0.0;  // sacreBLEU's early stop (#141)
    return result;
  }
  double smooth_mteval = 1.0;
  int eff_order = kMaxNgramOrder;
  for (int n = 1; n <= kMaxNgramOrder; ++n) {
    const auto correct = static_cast<double>(stats.correct[n - 1]);
    const auto total = static_cast<double>(stats.total[n - 1]);
    if (stats.total[n - 1] == 0) break;
    if (effective_order) eff_order = n;
    if (stats.correct[n - 1] == 0) {
      smooth_mteval *= 2;
      result.precisions[n - 1] = 100.0 / (smooth_mteval * total);
    } else {
      result.precisions[n - 1] = 100.0 * correct / total;
    }
  }
  double log_sum = 0.0;
  for (int n = 0; n < eff_order; ++n) log_sum += floored_log(result.precisions[n]);
  result.score = result.bp * std::exp(log_sum / eff_order);
  return result;
}

// Checks the corpus shape and returns, per segment, pointers to its references.
std::vector<std::vector<const std::string*>> transpose_references(
    const char* metric, size_t num_hypotheses,
    const std::vector<std::vector<std::string>>& references) {
  if (num_hypotheses == 0) {
    throw DataError(fmt::format(
        "computing {}: hypotheses: expected at least one line, got 0; hint: is the eval set "
        "empty?",
        metric));
  }
  if (references.empty()) {
    throw DataError(fmt::format(
        "computing {}: references: expected at least one reference stream, got 0; hint: pass "
        "one stream per reference set, each as long as the hypotheses",
        metric));
  }
  for (size_t k = 0; k < references.size(); ++k) {
    if (references[k].size() != num_hypotheses) {
      throw DataError(fmt::format(
          "computing {}: reference stream {}: expected {} lines (one per hypothesis), got {}; "
          "hint: references are given as streams, references[k][i] for hypothesis i",
          metric,
          k,
          num_hypotheses,
          references[k].size()));
    }
  }
  std::vector<std::vector<const std::string*>> per_segment(num_hypotheses);
  for (size_t i = 0; i < num_hypotheses; ++i) {
    for (const auto& stream : references) per_segment[i].push_back(&stream[i]);
  }
  return per_segment;
}

// ---- chrF (sacrebleu/metrics/chrf.py) ----

using CharNgramCounts = std::unordered_map<std::u32string, int64_t>;
// CHRF._get_match_statistics for one order: [hyp, ref, match] n-gram counts.
struct ChrfOrderStats {
  int64_t hyp = 0;
  int64_t ref = 0;
  int64_t match = 0;
};
using ChrfStats = std::array<ChrfOrderStats, kCharOrder>;

// helpers.extract_all_char_ngrams(line, 6, include_whitespace=False).
std::array<CharNgramCounts, kCharOrder> count_char_ngrams(const std::string& line) {
  std::u32string chars;
  for (const auto& word : split_on_space(decode_utf8(line))) chars += word;
  std::array<CharNgramCounts, kCharOrder> counts;
  for (size_t n = 1; n <= kCharOrder; ++n) {
    for (size_t i = 0; i + n <= chars.size(); ++i) ++counts[n - 1][chars.substr(i, n)];
  }
  return counts;
}

// CHRF._compute_f_score with eps_smoothing=False: the F-beta of precision and recall averaged
// over the orders that have both hypothesis and reference n-grams (sacreBLEU < 2.0 style).
double compute_chrf_f_score(const ChrfStats& stats) {
  const double factor = kChrfBeta * kChrfBeta;
  double avg_prec = 0.0;
  double avg_rec = 0.0;
  int effective_order = 0;
  for (const ChrfOrderStats& order : stats) {
    if (order.hyp > 0 && order.ref > 0) {
      const auto match = static_cast<double>(order.match);
      avg_prec += match / static_cast<double>(order.hyp);
      avg_rec += match / static_cast<double>(order.ref);
      ++effective_order;
    }
  }
  if (effective_order == 0) return 0.0;
  avg_prec /= effective_order;
  avg_rec /= effective_order;
  if (avg_prec + avg_rec == 0.0) return 0.0;
  double score = (1 + factor) * avg_prec * avg_rec;
  score /= (factor * avg_prec) + avg_rec;
  return 100 * score;
}

// CHRF._compute_segment_statistics: the statistics of the reference with the best F score
// (first one on ties).
ChrfStats compute_chrf_segment_stats(const std::string& hypothesis,
                                     const std::vector<const std::string*>& references) {
  const auto hyp_ngrams = count_char_ngrams(hypothesis);
  ChrfStats best{};
  double best_f_score = -1.0;
  for (const std::string* reference : references) {
    const auto ref_ngrams = count_char_ngrams(*reference);
    ChrfStats stats{};
    for (size_t n = 0; n < kCharOrder; ++n) {
      int64_t hyp_count = 0;
      for (const auto& [ngram, count] : hyp_ngrams[n]) {
        hyp_count += count;
        const auto hit = ref_ngrams[n].find(ngram);
        if (hit != ref_ngrams[n].end()) stats[n].match += std::min(count, hit->second);
      }
      for (const auto& entry : ref_ngrams[n]) stats[n].ref += entry.second;
      // No hypothesis n-grams are counted for an order without reference n-grams.
      stats[n].hyp = ref_ngrams[n].empty() ? 0 : hyp_count;
    }
    const double f_score = compute_chrf_f_score(stats);
    if (f_score > best_f_score) {
      best_f_score = f_score;
      best = stats;
    }
  }
  return best;
}

}  // namespace

std::string tokenize_13a(const std::string& line) {
  return encode_utf8(tokenize_13a_u32(decode_utf8(line)));
}

// BLEUScore.__init__ and Score.format in sacrebleu/metrics/{bleu,base}.py.
std::string BleuScore::format() const {
  std::string precision_text;
  for (size_t n = 0; n < precisions.size(); ++n) {
    if (n > 0) precision_text += '/';
    precision_text += fmt::format("{:.1f}", precisions[n]);
  }
  const double ratio =
      ref_len != 0 ? static_cast<double>(sys_len) / static_cast<double>(ref_len) : 0.0;
  return fmt::format("BLEU = {:.2f} {} (BP = {:.3f} ratio = {:.3f} hyp_len = {} ref_len = {})",
                     score,
                     precision_text,
                     bp,
                     ratio,
                     sys_len,
                     ref_len);
}

// CHRFScore: name f'chrF{beta}' + '+' * word_order.
std::string ChrfScore::format() const { return fmt::format("chrF{} = {:.2f}", kChrfBeta, score); }

BleuScore compute_corpus_bleu(const std::vector<std::string>& hypotheses,
                              const std::vector<std::vector<std::string>>& references) {
  const auto per_segment = transpose_references("BLEU", hypotheses.size(), references);
  BleuStats corpus;
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    corpus.add(compute_bleu_segment_stats(hypotheses[i], per_segment[i]));
  }
  BleuScore result = compute_bleu_from_stats(corpus, /*effective_order=*/false);
  // BLEUSignature: keys in sacreBLEU's order, version last.
  result.signature = fmt::format("nrefs:{}|case:mixed|eff:no|tok:13a|smooth:exp|version:{}",
                                 references.size(),
                                 kSacrebleuVersion);
  return result;
}

double compute_sentence_bleu(const std::string& hypothesis,
                             const std::vector<std::string>& references) {
  if (references.empty()) {
    throw DataError(
        "computing sentence BLEU: references: expected at least one reference, got 0; hint: "
        "pass every reference of this sentence");
  }
  std::vector<const std::string*> pointers;
  pointers.reserve(references.size());
  for (const auto& reference : references) pointers.push_back(&reference);
  return compute_bleu_from_stats(compute_bleu_segment_stats(hypothesis, pointers),
                                 /*effective_order=*/true)
      .score;
}

ChrfScore compute_corpus_chrf(const std::vector<std::string>& hypotheses,
                              const std::vector<std::vector<std::string>>& references) {
  const auto per_segment = transpose_references("chrF", hypotheses.size(), references);
  // CHRF._aggregate_and_compute: sum the segment statistics, then one F score.
  ChrfStats corpus{};
  for (size_t i = 0; i < hypotheses.size(); ++i) {
    const ChrfStats stats = compute_chrf_segment_stats(hypotheses[i], per_segment[i]);
    for (size_t n = 0; n < kCharOrder; ++n) {
      corpus[n].hyp += stats[n].hyp;
      corpus[n].ref += stats[n].ref;
      corpus[n].match += stats[n].match;
    }
  }
  ChrfScore result;
  result.score = compute_chrf_f_score(corpus);
  // CHRFSignature: eff:yes means effective-order averaging rather than eps smoothing.
  result.signature = fmt::format("nrefs:{}|case:mixed|eff:yes|nc:{}|nw:0|space:no|version:{}",
                                 references.size(),
                                 kCharOrder,
                                 kSacrebleuVersion);
  return result;
}

}  // namespace ftune
