// Tests for lib/metrics/bleu.h: golden values from sacreBLEU 2.6.0
// (tests/fixtures/metrics/sacrebleu.json) and literal cases whose expectations were produced with
// sacreBLEU 2.6.0 itself.
#include "lib/metrics/bleu.h"

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ftune {
namespace {

constexpr const char* kFixturePath = "tests/fixtures/metrics/sacrebleu.json";
constexpr double kTolerance = 1e-9;

nlohmann::json read_fixture() {
  std::ifstream in(kFixturePath);
  if (!in) {
    ADD_FAILURE() << "cannot open " << kFixturePath << " (tests run from the repo root)";
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(in);
}

std::vector<std::vector<std::string>> take_reference_streams(const nlohmann::json& fixture,
                                                             int count) {
  const auto all = fixture.at("references").get<std::vector<std::vector<std::string>>>();
  return {all.begin(), all.begin() + count};
}

// Compares two vectors of doubles; names the first index off by more than kTolerance.
void expect_all_near(const std::vector<double>& actual, const std::vector<double>& expected,
                     const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  double max_diff = 0.0;
  int first_bad = -1;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double diff = std::abs(actual[i] - expected[i]);
    max_diff = std::max(max_diff, diff);
    if (diff > kTolerance && first_bad < 0) first_bad = static_cast<int>(i);
  }
  EXPECT_LT(first_bad, 0) << what << ": max difference " << max_diff << ", first bad index "
                          << first_bad << " (got " << actual[first_bad] << ", expected "
                          << expected[first_bad] << ")";
}

TEST(CorpusBleu, MatchesSacrebleuForEveryNumberOfReferences) {
  const auto fixture = read_fixture();
  const auto hypotheses = fixture.at("hypotheses").get<std::vector<std::string>>();
  ASSERT_FALSE(fixture.at("cases").empty());
  for (const auto& test_case : fixture.at("cases")) {
    const int num_references = test_case.at("num_references").get<int>();
    SCOPED_TRACE("num_references = " + std::to_string(num_references));
    const auto& expected = test_case.at("bleu");
    const BleuScore bleu =
        compute_corpus_bleu(hypotheses, take_reference_streams(fixture, num_references));
    EXPECT_NEAR(bleu.score, expected.at("score").get<double>(), kTolerance);
    EXPECT_EQ(bleu.counts, expected.at("counts").get<std::vector<int64_t>>());
    EXPECT_EQ(bleu.totals, expected.at("totals").get<std::vector<int64_t>>());
    expect_all_near(
        bleu.precisions, expected.at("precisions").get<std::vector<double>>(), "precisions");
    EXPECT_NEAR(bleu.bp, expected.at("bp").get<double>(), kTolerance);
    EXPECT_EQ(bleu.sys_len, expected.at("sys_len").get<int64_t>());
    EXPECT_EQ(bleu.ref_len, expected.at("ref_len").get<int64_t>());
    EXPECT_EQ(bleu.format(), expected.at("str").get<std::string>());
    EXPECT_EQ(bleu.signature, expected.at("signature").get<std::string>());
  }
}

TEST(CorpusChrf, MatchesSacrebleuForEveryNumberOfReferences) {
  const auto fixture = read_fixture();
  const auto hypotheses = fixture.at("hypotheses").get<std::vector<std::string>>();
  for (const auto& test_case : fixture.at("cases")) {
    const int num_references = test_case.at("num_references").get<int>();
    SCOPED_TRACE("num_references = " + std::to_string(num_references));
    const auto& expected = test_case.at("chrf");
    ASSERT_EQ(expected.at("char_order").get<int>(), 6);
    ASSERT_EQ(expected.at("word_order").get<int>(), 0);
    ASSERT_EQ(expected.at("beta").get<int>(), 2);
    const ChrfScore chrf =
        compute_corpus_chrf(hypotheses, take_reference_streams(fixture, num_references));
    EXPECT_NEAR(chrf.score, expected.at("score").get<double>(), kTolerance);
    EXPECT_EQ(chrf.format(), expected.at("str").get<std::string>());
    EXPECT_EQ(chrf.signature, expected.at("signature").get<std::string>());
  }
}

TEST(SentenceBleu, MatchesSacrebleuEffectiveOrderOnEveryLine) {
  const auto fixture = read_fixture();
  const auto hypotheses = fixture.at("hypotheses").get<std::vector<std::string>>();
  for (const auto& test_case : fixture.at("cases")) {
    const int num_references = test_case.at("num_references").get<int>();
    const auto streams = take_reference_streams(fixture, num_references);
    std::vector<double> scores;
    for (size_t i = 0; i < hypotheses.size(); ++i) {
      std::vector<std::string> references;
      references.reserve(streams.size());
      for (const auto& stream : streams) references.push_back(stream[i]);
      scores.push_back(compute_sentence_bleu(hypotheses[i], references));
    }
    expect_all_near(scores,
                    test_case.at("sentence_bleu_effective_order").get<std::vector<double>>(),
                    "sentence BLEU with " + std::to_string(num_references) + " references");
  }
}

TEST(CorpusBleu, GivesOneHundredForIdenticalHypothesisAndReference) {
  const std::vector<std::string> lines = {"The cat sat on the mat.", "A dog barks at 3.5 cats."};
  const BleuScore bleu = compute_corpus_bleu(lines, {lines});
  EXPECT_NEAR(bleu.score, 100.0, 1e-12);
  EXPECT_EQ(bleu.bp, 1.0);
  EXPECT_EQ(compute_corpus_chrf(lines, {lines}).format(), "chrF2 = 100.00");
  EXPECT_NEAR(compute_sentence_bleu(lines[0], {lines[0]}), 100.0, 1e-12);
}

TEST(CorpusBleu, GivesZeroForEmptyHypothesis) {
  const BleuScore bleu = compute_corpus_bleu({""}, {{"a b"}});
  EXPECT_EQ(bleu.score, 0.0);
  EXPECT_EQ(bleu.bp, 0.0);
  EXPECT_EQ(bleu.format(),
            "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 0.000 ratio = 0.000 hyp_len = 0 ref_len = 2)");
  EXPECT_EQ(compute_corpus_chrf({""}, {{"a b"}}).score, 0.0);
  EXPECT_EQ(compute_sentence_bleu("", {"a b"}), 0.0);
}

TEST(CorpusBleu, PicksClosestReferenceLengthAndTheShorterOnTies) {
  // Hypothesis of 6 tokens, references of 5, 7 and 1: 5 and 7 tie, the shorter wins.
  const BleuScore bleu =
      compute_corpus_bleu({"a b c d e f"}, {{"a b c d e"}, {"a b c d e f g"}, {"x"}});
  EXPECT_EQ(bleu.ref_len, 5);
  EXPECT_EQ(bleu.format(),
            "BLEU = 100.00 100.0/100.0/100.0/100.0 (BP = 1.000 ratio = 1.200 hyp_len = 6 "
            "ref_len = 5)");
  EXPECT_EQ(bleu.signature, "nrefs:3|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0");
}

TEST(CorpusBleu, ScoresZeroWhenAnOrderHasNoNgramsWithoutEffectiveOrder) {
  // sacreBLEU 2.6.0: 3 tokens leave no 4-grams, whose zero precision floors the log.
  const BleuScore bleu = compute_corpus_bleu({"naïve café."}, {{"naive café !"}});
  EXPECT_EQ(bleu.format(),
            "BLEU = 0.00 33.3/25.0/25.0/0.0 (BP = 1.000 ratio = 1.000 hyp_len = 3 ref_len = 3)");
}

TEST(SentenceBleu, UsesOnlyTheOrdersTheHypothesisHas) {
  // sacreBLEU 2.6.0: BLEU(effective_order=True).sentence_score('the cat', ['the cat sat']).
  EXPECT_NEAR(compute_sentence_bleu("the cat", {"the cat sat"}), 60.653065971263366, 1e-12);
}

TEST(CorpusChrf, CountsCharactersAsCodePoints) {
  // sacreBLEU 2.6.0: CHRF().corpus_score(['Straße über Brücke'], [['Strasse über die Brücke']]).
  const ChrfScore chrf = compute_corpus_chrf({"Straße über Brücke"}, {{"Strasse über die Brücke"}});
  EXPECT_NEAR(chrf.score, 43.369760983054775, 1e-12);
  EXPECT_EQ(chrf.format(), "chrF2 = 43.37");
}

TEST(Tokenize13a, SplitsPunctuationFromWords) {
  EXPECT_EQ(tokenize_13a("Hello, world."), "Hello , world .");
  EXPECT_EQ(tokenize_13a("e.g. U.S.A., ok"), "e . g . U . S . A . , ok");
  EXPECT_EQ(tokenize_13a("naïve café."), "naïve café .");
}

TEST(Tokenize13a, KeepsNumbersWholeButSplitsDashAfterDigit) {
  EXPECT_EQ(tokenize_13a("It costs $3.5 or 1,000 dollars."), "It costs $ 3.5 or 1,000 dollars .");
  EXPECT_EQ(tokenize_13a("pages 10-12"), "pages 10 - 12");
}

TEST(Tokenize13a, UnescapesEntitiesAndDropsSkippedMarkers) {
  EXPECT_EQ(tokenize_13a("(see A&amp;B &quot;x&quot;)"), "( see A & B \" x \" )");
  EXPECT_EQ(tokenize_13a("x&amp;quot;y"), "x & quot ; y");
  EXPECT_EQ(tokenize_13a("<skipped>a-\nb\nc"), "ab c");
}

TEST(CorpusBleu, RejectsReferenceStreamOfWrongLength) {
  try {
    compute_corpus_bleu({"a", "b"}, {{"a", "b"}, {"a"}});
    FAIL() << "expected DataError";
  } catch (const DataError& error) {
    EXPECT_NE(std::string(error.what()).find("reference stream 1: expected 2 lines"),
              std::string::npos)
        << error.what();
  }
  EXPECT_THROW(compute_corpus_chrf({"a"}, {}), DataError);
  EXPECT_THROW(compute_sentence_bleu("a", {}), DataError);
}

}  // namespace
}  // namespace ftune
