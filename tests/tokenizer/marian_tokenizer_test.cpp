// Tests for tokenizer/marian_tokenizer: golden cases from transformers 4.19 MarianTokenizer
// (tests/fixtures/marian-mt: inputs.json, expected.json), plus HF's special-case behaviour.
#include "tokenizer/marian_tokenizer.h"

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "tokenizer/tokenizer.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;
using Ids = std::vector<int64_t>;
using Tokens = std::vector<std::string>;

const fs::path kFolder = "tests/fixtures/marian-mt";

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  return nlohmann::json::parse(in);
}

const MarianTokenizer& fixture_tokenizer() {
  static const MarianTokenizer tok = MarianTokenizer::load_from_folder(kFolder.string());
  return tok;
}

// The fixture's padded row, cut where its attention mask ends.
template <typename T>
std::vector<T> unpad(const nlohmann::json& row, const nlohmann::json& mask) {
  std::vector<T> out;
  for (size_t i = 0; i < row.size(); ++i) {
    if (mask[i].get<int>() == 1) out.push_back(row[i].get<T>());
  }
  return out;
}

// Names the first mismatching position, so a failure reads at a glance.
template <typename T>
::testing::AssertionResult same_sequence(const std::vector<T>& expected,
                                         const std::vector<T>& actual) {
  const size_t n = std::min(expected.size(), actual.size());
  for (size_t i = 0; i < n; ++i) {
    if (expected[i] != actual[i]) {
      return ::testing::AssertionFailure() << fmt::format(
                 "first mismatch at index {}: expected {}, got {}\n  expected [{}]\n  actual   "
                 "[{}]",
                 i,
                 expected[i],
                 actual[i],
                 fmt::join(expected, ", "),
                 fmt::join(actual, ", "));
    }
  }
  if (expected.size() != actual.size()) {
    return ::testing::AssertionFailure()
           << fmt::format("length: expected {}, got {}\n  expected [{}]\n  actual   [{}]",
                          expected.size(),
                          actual.size(),
                          fmt::join(expected, ", "),
                          fmt::join(actual, ", "));
  }
  return ::testing::AssertionSuccess();
}

TEST(MarianTokenizer, ReadsSpecialIdsAndVocabularySizeFromTheFolder) {
  const auto& tok = fixture_tokenizer();
  EXPECT_EQ(tok.eos_id(), 0);
  EXPECT_EQ(tok.unk_id(), 1);
  EXPECT_EQ(tok.pad_id(), 2073);
  EXPECT_EQ(tok.vocab_size(), read_json(kFolder / "config.json")["vocab_size"].get<int64_t>());
  EXPECT_TRUE(tok.language_codes().empty());
}

TEST(MarianTokenizer, EncodesFixtureSourcesAsHuggingFaceDoes) {
  const auto inputs = read_json(kFolder / "inputs.json");
  const auto max_length = inputs["max_length"].get<size_t>();
  for (size_t i = 0; i < inputs["source_texts"].size(); ++i) {
    const auto text = inputs["source_texts"][i].get<std::string>();
    const auto ids = fixture_tokenizer().encode_source(text, max_length);
    EXPECT_TRUE(
        same_sequence(unpad<int64_t>(inputs["input_ids"][i], inputs["attention_mask"][i]), ids))
        << "example " << i << ": " << text;
    Tokens tokens;
    for (const int64_t id : ids) tokens.push_back(fixture_tokenizer().id_to_token(id));
    EXPECT_TRUE(same_sequence(
        unpad<std::string>(inputs["source_tokens"][i], inputs["attention_mask"][i]), tokens))
        << "example " << i;
  }
}

TEST(MarianTokenizer, EncodesFixtureTargetsWithTheTargetModelAsHuggingFaceDoes) {
  const auto inputs = read_json(kFolder / "inputs.json");
  const auto max_length = inputs["max_length"].get<size_t>();
  for (size_t i = 0; i < inputs["target_texts"].size(); ++i) {
    const auto text = inputs["target_texts"][i].get<std::string>();
    EXPECT_TRUE(same_sequence(
        unpad<int64_t>(inputs["target_label_ids"][i], inputs["target_attention_mask"][i]),
        fixture_tokenizer().encode_target(text, max_length)))
        << "example " << i << ": " << text;
  }
}

TEST(MarianTokenizer, DecodesGeneratedSequencesAsBatchDecodeDoes) {
  const auto expected = read_json(kFolder / "expected.json");
  for (const char* run : {"greedy", "beam", "beam5_lp0.6_norepeat3"}) {
    const auto& sequences = expected[run]["sequences"];
    for (size_t i = 0; i < sequences.size(); ++i) {
      EXPECT_EQ(fixture_tokenizer().decode(sequences[i].get<Ids>()),
                expected[run]["decoded"][i].get<std::string>())
          << run << " sequence " << i;
    }
  }
}

TEST(MarianTokenizer, TruncatesFromTheRightAndKeepsEosLast) {
  const auto& tok = fixture_tokenizer();
  const std::string text = "A man sleeping in a green room on a couch.";
  const Ids full = tok.encode_source(text);
  ASSERT_EQ(full.size(), 12u);
  EXPECT_EQ(tok.encode_source(text, 12), full);
  EXPECT_EQ(tok.encode_source(text, 100), full);
  EXPECT_EQ(tok.encode_source(text, 5), (Ids{full[0], full[1], full[2], full[3], tok.eos_id()}));
  EXPECT_EQ(tok.encode_source(text, 2), (Ids{full[0], tok.eos_id()}));
  EXPECT_EQ(tok.encode_source("", 1), (Ids{tok.eos_id()}));
}

TEST(MarianTokenizer, RejectsMaxLengthWithNoRoomForTextAndEos) {
  EXPECT_THROW(fixture_tokenizer().encode_source("A man", 1), TokenizerError);
  EXPECT_THROW(fixture_tokenizer().encode_source("A man", 0), TokenizerError);
}

TEST(MarianTokenizer, KeepsSpecialTokenWrittenInTextWholeAndStripsSpacesAroundIt) {
  const auto& tok = fixture_tokenizer();
  EXPECT_EQ(tok.tokenize_source("A man  </s>  sleeping"),
            (Tokens{"▁A", "▁man", "</s>", "▁sleeping"}));
  EXPECT_EQ(tok.tokenize_source("A man<pad></s>"), (Tokens{"▁A", "▁man", "<pad>", "</s>"}));
  EXPECT_EQ(tok.encode_source("A man</s>"), (Ids{5, 10, tok.eos_id(), tok.eos_id()}));
}

TEST(MarianTokenizer, TurnsLeadingLanguageCodeIntoItsOwnToken) {
  const auto& tok = fixture_tokenizer();
  EXPECT_EQ(tok.tokenize_source(">>de<< A man"), (Tokens{">>de<<", "▁A", "▁man"}));
  // This fixture's vocab.json has no language codes, so the code maps to <unk>.
  EXPECT_EQ(tok.encode_source(">>de<< A man"), (Ids{tok.unk_id(), 5, 10, tok.eos_id()}));
}

TEST(MarianTokenizer, DeletesLanguageCodeThatDoesNotLeadTheText) {
  EXPECT_EQ(fixture_tokenizer().tokenize_source("A >>de<< man"), (Tokens{"▁A", "▁man"}));
}

// HF's pattern is re.compile(">>.+<<"): greedy, so it runs to the last "<<" on the line.
TEST(MarianTokenizer, MatchesLanguageCodeGreedilyUpToTheLastCloserOnTheLine) {
  const auto& tok = fixture_tokenizer();
  EXPECT_EQ(tok.tokenize_source(">>de<< A man <<"), (Tokens{">>de<< A man <<"}));
  // "." in the pattern stops at a newline; and it needs at least one character between >> and <<
  // (spm_encode --model=source.spm gives "▁ >><< ▁A" for ">><< A").
  // The rest, " A\nman <<", as SentencePiece 0.2.3's Python encode(out_type=str) gives it with
  // source.spm (its nmt_nfkc normalization turns the newline into a space).
  EXPECT_EQ(tok.tokenize_source(">>de<< A\nman <<"), (Tokens{">>de<<", "▁A", "▁man", "▁", "<<"}));
  EXPECT_EQ(tok.tokenize_source(">><< A"), (Tokens{"▁", ">><<", "▁A"}));
}

TEST(MarianTokenizer, DecodesWithTheTargetModelAndDropsSpecialTokensIncludingUnk) {
  const auto& tok = fixture_tokenizer();
  const Ids ids = {tok.pad_id(), 1000, tok.unk_id(), 1003, tok.eos_id(), tok.pad_id()};
  EXPECT_EQ(tok.decode(ids), "Ein Mann");
}

// spm_decode --input_format=piece on "<pad> ▁Ein <unk> ▁Mann </s>": <pad> is no target.spm piece
// (kept verbatim), <unk> becomes " ⁇ ", </s> is a control piece (dropped).
TEST(MarianTokenizer, KeepsSpecialTokensWhenAskedAsSentencePieceDecodesThem) {
  const auto& tok = fixture_tokenizer();
  const Ids ids = {tok.pad_id(), 1000, tok.unk_id(), 1003, tok.eos_id()};
  EXPECT_EQ(tok.decode(ids, /*skip_special_tokens=*/false), "<pad> Ein ⁇  Mann");
}

// As in HF 4.19 (without use_source_tokenizer=True): pieces that target.spm lacks stay verbatim.
TEST(MarianTokenizer, DecodesSourceIdsWithTheTargetModelLeavingSourceOnlyPiecesVerbatim) {
  const auto& tok = fixture_tokenizer();
  EXPECT_EQ(tok.decode(tok.encode_source("A man sleeping on a couch.")),
            "A▁man▁sleeping▁on▁a▁couch.");
}

TEST(MarianTokenizer, DecodesIdOutsideVocabularyAsUnkSurfaceEvenWhenSkippingSpecials) {
  EXPECT_EQ(fixture_tokenizer().decode({1000, 999999}), "Ein ⁇ ");
}

TEST(MarianTokenizer, CleansUpSpaceBeforePunctuationUnlessAskedNotTo) {
  const auto& tok = fixture_tokenizer();
  const Ids ids = {tok.token_to_id("▁Hund"), tok.token_to_id("▁"), tok.token_to_id(".")};
  EXPECT_EQ(tok.decode(ids), "Hund.");
  EXPECT_EQ(tok.decode(ids, /*skip_special_tokens=*/true, /*clean_up_tokenization_spaces=*/false),
            "Hund .");
  EXPECT_EQ(tok.decode({}), "");
}

TEST(MarianTokenizer, LoadingFolderWithoutSourceSpmThrowsErrorNamingIt) {
  try {
    MarianTokenizer::load_from_folder("tests/fixtures/spm");
    FAIL() << "expected TokenizerError";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("tests/fixtures/spm/source.spm"), std::string::npos)
        << e.what();
  }
}

// A fresh folder per test holding the fixture's .spm files, removed at the end of the test.
class MarianTempFolder {
 public:
  MarianTempFolder() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / fmt::format("ftune_marian_{}_{}", info->name(), ::getpid());
    fs::remove_all(path_);
    fs::create_directories(path_);
    for (const char* name : {"source.spm", "target.spm"})
      fs::copy_file(kFolder / name, path_ / name);
  }
  ~MarianTempFolder() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  MarianTempFolder(const MarianTempFolder&) = delete;
  MarianTempFolder& operator=(const MarianTempFolder&) = delete;

  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name) << text;
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(MarianTokenizer, LoadingVocabWithoutPadTokenThrowsErrorNamingTokenAndFile) {
  const MarianTempFolder folder;
  folder.write("vocab.json", R"({"</s>": 0, "<unk>": 1, "▁A": 2})");
  try {
    MarianTokenizer::load_from_folder(folder.path().string());
    FAIL() << "expected TokenizerError";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("'<pad>'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("vocab.json"), std::string::npos) << e.what();
  }
}

TEST(MarianTokenizer, ReadsSpecialTokensAndLanguageCodesFromTheFolder) {
  const MarianTempFolder folder;
  folder.write("vocab.json",
               R"({"</s>": 0, "<unk>": 1, ">>fr<<": 2, ">>de<<": 3, "[PAD]": 4, "▁A": 5})");
  folder.write("tokenizer_config.json",
               R"({"pad_token": {"content": "[PAD]", "__type": "AddedToken"}})");
  const auto tok = MarianTokenizer::load_from_folder(folder.path().string());
  EXPECT_EQ(tok.pad_id(), 4);
  EXPECT_EQ(tok.vocab_size(), 6);
  EXPECT_EQ(tok.language_codes(), (Tokens{">>fr<<", ">>de<<"}));
  EXPECT_EQ(tok.encode_source(">>de<< A"), (Ids{3, 5, 0}));
  EXPECT_EQ(tok.decode({3, 5, 4, 0}), ">>de<< A");
}

// HF strips whitespace around a plain-string special token, so a language code right after it
// still leads its chunk; an AddedToken with lstrip/rstrip false (the default) strips nothing.
TEST(MarianTokenizer, StripsAroundSpecialTokensOnlyOnTheSidesItsConfigNames) {
  EXPECT_EQ(fixture_tokenizer().tokenize_source("A</s> >>de<< A"),
            (Tokens{"▁A", "</s>", ">>de<<", "▁A"}));
  const MarianTempFolder folder;
  folder.write("vocab.json", R"({"</s>": 0, "<unk>": 1, "<pad>": 2, ">>de<<": 3, "▁A": 4})");
  folder.write("tokenizer_config.json",
               R"({"eos_token": {"content": "</s>", "lstrip": false, "rstrip": false}})");
  const auto tok = MarianTokenizer::load_from_folder(folder.path().string());
  EXPECT_EQ(tok.tokenize_source("A</s> >>de<< A"), (Tokens{"▁A", "</s>", "▁A"}));
}

TEST(MarianTokenizer, RejectsSeparateVocabularies) {
  const MarianTempFolder folder;
  folder.write("vocab.json", R"({"</s>": 0, "<unk>": 1, "<pad>": 2})");
  folder.write("tokenizer_config.json", R"({"separate_vocabs": true})");
  EXPECT_THROW(MarianTokenizer::load_from_folder(folder.path().string()), TokenizerError);
}

}  // namespace
}  // namespace ftune
