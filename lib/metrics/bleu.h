// Corpus BLEU, corpus chrF and sentence BLEU exactly as sacreBLEU 2.x computes them with its
// defaults (13a tokenizer, exp smoothing, chrF2 with char_order 6). Not a general sacreBLEU port:
// no other tokenizers, smoothing methods, lowercasing, chrF++ or bootstrap resampling.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ftune {

// The sacreBLEU release whose output these functions reproduce; it ends every signature.
inline constexpr const char* kSacrebleuVersion = "2.6.0";

// sacreBLEU's BLEUScore: score in [0, 100], n-gram match counts and totals for n = 1..4.
struct BleuScore {
  double score = 0.0;
  std::vector<int64_t> counts;     // clipped n-gram matches, n = 1..4
  std::vector<int64_t> totals;     // hypothesis n-grams, n = 1..4
  std::vector<double> precisions;  // percent, n = 1..4
  double bp = 0.0;                 // brevity penalty
  int64_t sys_len = 0;
  int64_t ref_len = 0;

  // sacreBLEU's str(score), e.g.
  // "BLEU = 34.12 70.1/45.2/30.0/20.1 (BP = 1.000 ratio = 1.012 hyp_len = 245 ref_len = 242)".
  std::string format() const;
  // e.g. "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0".
  std::string signature;
};

// sacreBLEU's CHRFScore for chrF2 (beta 2, character 6-grams, no word n-grams).
struct ChrfScore {
  double score = 0.0;
  // sacreBLEU's str(score), e.g. "chrF2 = 34.42".
  std::string format() const;
  // e.g. "nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:2.6.0".
  std::string signature;
};

// Example, two reference sets for three sentences:
//   std::vector<std::string> hyps = {"a b c", "d e", "f"};
//   std::vector<std::vector<std::string>> refs = {{"a b c", "d", "f g"}, {"a c", "d e", "f"}};
//   fmt::print("{}\n", compute_corpus_bleu(hyps, refs).format());
// references holds one stream per reference set, each as long as hypotheses; throws DataError
// when there are no hypotheses, no reference streams, or a stream of another length.
// Text is UTF-8; an invalid byte is read as U+FFFD.
BleuScore compute_corpus_bleu(const std::vector<std::string>& hypotheses,
                              const std::vector<std::vector<std::string>>& references);
ChrfScore compute_corpus_chrf(const std::vector<std::string>& hypotheses,
                              const std::vector<std::vector<std::string>>& references);

// sacreBLEU's BLEU(effective_order=True).sentence_score(hypothesis, references).score: one
// segment, one or more references; throws DataError when references is empty.
double compute_sentence_bleu(const std::string& hypothesis,
                             const std::vector<std::string>& references);

// The mteval-v13a tokenization sacreBLEU applies before BLEU (sacrebleu/tokenizers/
// tokenizer_13a.py + tokenizer_re.py): "Hello, world." -> "Hello , world ." but "3.5" and
// "1,000" stay whole. Tokens come back separated by single spaces.
std::string tokenize_13a(const std::string& line);

}  // namespace ftune
