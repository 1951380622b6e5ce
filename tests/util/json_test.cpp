// util/json: the depth-capped parse and the bounded quote every JSON reader of ftune uses.
#include "util/json.h"

#include <string>

#include <gtest/gtest.h>

namespace ftune {
namespace {

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(ParseJsonCapped, ParsesUpToTheCapAndRejectsOneLevelMore) {
  EXPECT_EQ(parse_json_capped(nested(64), "ok.json").dump(), nested(64));
  try {
    parse_json_capped(nested(65), "deep.json");
    FAIL() << "no JsonError";
  } catch (const JsonError& e) {
    EXPECT_EQ(e.kind, JsonError::Kind::kTooDeep);
    EXPECT_STREQ(e.what(),
                 "file 'deep.json': expected JSON nested at most 64 levels, got deeper nesting");
  }
}

TEST(ParseJsonCapped, RejectsAHundredThousandLevelsWithoutRecursing) {
  const std::string text = "{\"a\": " + nested(100'000) + "}";
  EXPECT_THROW(parse_ordered_json_capped(text, "vocab.json"), JsonError);
  EXPECT_THROW(parse_json_capped(text, "x", /*max_depth=*/3), JsonError);
  EXPECT_NO_THROW(parse_json_capped("{\"a\": [[1]]}", "x", /*max_depth=*/3));
}

TEST(ParseJsonCapped, BracketsInsideStringsDoNotCount) {
  const std::string text = "{\"a\": \"" + nested(1000) + "\"}";
  EXPECT_EQ(parse_json_capped(text, "x")["a"], nested(1000));
}

TEST(ParseJsonCapped, SyntaxErrorsAndHugeNumbersAreJsonErrorsNamingTheFile) {
  try {
    parse_json_capped("{\"a\": tru}", "bad.json");
    FAIL() << "no JsonError";
  } catch (const JsonError& e) {
    EXPECT_EQ(e.kind, JsonError::Kind::kInvalid);
    EXPECT_GT(e.byte, 0U);
    EXPECT_NE(std::string(e.what()).find("file 'bad.json' at byte"), std::string::npos) << e.what();
    EXPECT_EQ(e.got.rfind("invalid JSON (syntax error", 0), 0U) << e.got;
  }
  try {
    parse_json_capped("[1e999]", "big.json");
    FAIL() << "no JsonError";
  } catch (const JsonError& e) {
    EXPECT_EQ(e.got, "invalid JSON (number overflow parsing '1e999')");
    EXPECT_EQ(e.byte, 0U);
  }
}

TEST(QuoteJsonValue, ShortValuesAreCompactJsonLikeDump) {
  const auto value = nlohmann::json::parse(R"({"a": [1, 2.5, "x\"y"], "b": null, "c": {}})");
  EXPECT_EQ(quote_json_value(value), value.dump());
  EXPECT_EQ(quote_json_value(nlohmann::json("[UNK]")), "\"[UNK]\"");
  EXPECT_EQ(quote_json_value(nlohmann::ordered_json::parse(R"({"z": 1, "a": []})")),
            R"({"z":1,"a":[]})");
}

TEST(QuoteJsonValue, LongAndDeepValuesAreCutToMaxChars) {
  const std::string quoted = quote_json_value(nlohmann::json(std::string(1'000'000, 'x')));
  EXPECT_EQ(quoted, "\"" + std::string(76, 'x') + "...");
  // Built without parsing: deeper than the parse cap, as a value made in code could be.
  nlohmann::json deep = nlohmann::json::array();
  nlohmann::json* inner = &deep;
  for (int i = 0; i < 100'000; ++i) {
    inner->push_back(nlohmann::json::array());
    inner = &inner->back();
  }
  EXPECT_EQ(quote_json_value(deep, 10), "[[[[[[[...");
  EXPECT_EQ(quote_json_value(nlohmann::json::array({1, 2, 3}), 5), "[1...");
}

TEST(QuoteJsonValue, CutsOnlyBetweenUtf8CharactersAndReplacesInvalidBytes) {
  const std::string quoted = quote_json_value(nlohmann::json(std::string(50, '\xC3') + "\xA9"), 20);
  EXPECT_EQ(quoted.substr(quoted.size() - 3), "...");
  EXPECT_EQ(quote_json_value(nlohmann::json("caf\xC3\xA9")), "\"caf\xC3\xA9\"");
  EXPECT_EQ(quote_json_value(nlohmann::json("a\xFF")), "\"a\xEF\xBF\xBD\"");
}

}  // namespace
}  // namespace ftune
