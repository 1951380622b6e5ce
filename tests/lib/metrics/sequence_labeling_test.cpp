// Tests for lib/metrics/sequence_labeling: seqeval 1.2.2's default mode on the cases of
// tests/fixtures/metrics/seqeval.json (make_problem_types.py): WNUT-17 dev tags with seeded
// corruptions (I- without B-, wrong types, dropped and made-up entities), IOB1, IOBES and
// type-less tags; the entities, the report text and dict, and token accuracy. The cases with
// strict_* keys also in mode="strict", scheme=IOB2.
#include "lib/metrics/sequence_labeling.h"

#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ftune {
namespace {

constexpr double kTolerance = 1e-12;

using Sentences = std::vector<std::vector<std::string>>;

TEST(Seqeval, EntitiesReportAndAccuracyEqualSeqevalOnEveryFixtureCase) {
  std::ifstream in("tests/fixtures/metrics/seqeval.json");
  ASSERT_TRUE(in) << "run from the repository root";
  const auto cases = nlohmann::json::parse(in)["cases"];
  ASSERT_EQ(cases.size(), 5u);
  for (const auto& c : cases) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto y_true = c["y_true"].get<Sentences>();
    const auto y_pred = c["y_pred"].get<Sentences>();
    for (const auto& [side, key] :
         {std::pair{&y_true, "entities_true"}, {&y_pred, "entities_pred"}}) {
      const auto got = get_entities(*side);
      ASSERT_EQ(got.size(), c[key].size()) << key;
      for (size_t i = 0; i < got.size(); ++i) {
        EXPECT_EQ(got[i].type, c[key][i][0].get<std::string>()) << key << " " << i;
        EXPECT_EQ(got[i].begin, c[key][i][1].get<size_t>()) << key << " " << i;
        EXPECT_EQ(got[i].end, c[key][i][2].get<size_t>()) << key << " " << i;
      }
    }
    const auto report = compute_entity_report(y_true, y_pred);
    EXPECT_EQ(format_entity_report(report, 2), c["report_digits2"].get<std::string>());
    EXPECT_EQ(format_entity_report(report, 4), c["report_digits4"].get<std::string>());
    const auto json = entity_report_to_json(report);
    EXPECT_EQ(json.size(), c["report_dict"].size());
    for (const auto& [row, want] : c["report_dict"].items()) {
      ASSERT_TRUE(json.contains(row)) << row;
      for (const char* field : {"precision", "recall", "f1-score", "support"}) {
        EXPECT_NEAR(json[row][field].get<double>(), want[field].get<double>(), kTolerance)
            << row << " " << field;
      }
    }
    EXPECT_NEAR(report.accuracy, c["accuracy"].get<double>(), kTolerance);
  }
}

// The report dict of `json` against seqeval's `want`, row by row.
void expect_report_dict(const nlohmann::json& json, const nlohmann::json& want) {
  EXPECT_EQ(json.size(), want.size());
  for (const auto& [row, cells] : want.items()) {
    ASSERT_TRUE(json.contains(row)) << row;
    for (const char* field : {"precision", "recall", "f1-score", "support"}) {
      EXPECT_NEAR(json[row][field].get<double>(), cells[field].get<double>(), kTolerance)
          << row << " " << field;
    }
  }
}

TEST(Seqeval, StrictIob2EntitiesAndReportEqualSeqevalStrictMode) {
  std::ifstream in("tests/fixtures/metrics/seqeval.json");
  ASSERT_TRUE(in) << "run from the repository root";
  size_t strict_cases = 0;
  const auto fixture = nlohmann::json::parse(in);
  for (const auto& c : fixture["cases"]) {
    if (!c.contains("strict_report_digits2")) continue;
    ++strict_cases;
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto y_true = c["y_true"].get<Sentences>();
    const auto y_pred = c["y_pred"].get<Sentences>();
    for (const auto& [side, key] :
         {std::pair{&y_true, "strict_entities_true"}, {&y_pred, "strict_entities_pred"}}) {
      // seqeval's (sent_id, type, start, end exclusive) in get_entities' layout: the sentences
      // end to end with one "O" after each.
      std::vector<size_t> offsets{0};
      for (const auto& sentence : *side) offsets.push_back(offsets.back() + sentence.size() + 1);
      const auto got = get_entities_strict_iob2(*side);
      ASSERT_EQ(got.size(), c[key].size()) << key;
      for (size_t i = 0; i < got.size(); ++i) {
        const auto& want = c[key][i];
        const size_t base = offsets[want[0].get<size_t>()];
        EXPECT_EQ(got[i],
                  (Entity{want[1].get<std::string>(),
                          base + want[2].get<size_t>(),
                          base + want[3].get<size_t>() - 1}))
            << key << " " << i;
      }
    }
    const auto report = compute_entity_report(y_true, y_pred, SeqevalMode::kStrictIob2);
    EXPECT_EQ(format_entity_report(report, 2), c["strict_report_digits2"].get<std::string>());
    EXPECT_EQ(format_entity_report(report, 4), c["strict_report_digits4"].get<std::string>());
    expect_report_dict(entity_report_to_json(report), c["strict_report_dict"]);
  }
  EXPECT_EQ(strict_cases, 3u);
}

TEST(Seqeval, StrictModeRefusesATagOutsideIob2NamingIt) {
  try {
    get_entities_strict_iob2({{"O", "B-PER"}, {"S-LOC", "O"}});
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("sentence 2 token 1: tag 'S-LOC'"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(get_entities_strict_iob2({{""}}), DataError);
  // The default mode reads IOBES and so takes the same tag.
  EXPECT_EQ(get_entities({{"S-LOC"}}).size(), 1u);
}

TEST(Seqeval, AnIWithoutABStartsAnEntityAsSeqevalReadsIt) {
  const auto entities = get_entities({{"O", "I-PER", "I-PER", "O", "B-LOC"}});
  ASSERT_EQ(entities.size(), 2u);
  EXPECT_EQ(entities[0], (Entity{"PER", 1, 2}));
  EXPECT_EQ(entities[1], (Entity{"LOC", 4, 4}));
}

TEST(Seqeval, RefusesSentencesOfDifferentLengths) {
  EXPECT_THROW(compute_entity_report({{"O", "B-PER"}}, {{"O"}}), DataError);
  EXPECT_THROW(compute_entity_report({{"O"}}, {}), DataError);
  EXPECT_THROW(compute_entity_report({{}}, {{}}), DataError);
}

}  // namespace
}  // namespace ftune
