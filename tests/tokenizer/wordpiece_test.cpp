// Tests for tokenizer/wordpiece: golden cases from transformers 4.19 BertTokenizer on three real
// vocabularies (tests/fixtures/wordpiece), plus unit tests on a tiny vocabulary. Not a benchmark.
#include "tokenizer/wordpiece.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace ftune {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = "tests/fixtures/wordpiece";

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A fresh folder per test, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ =
        fs::temp_directory_path() / fmt::format("ftune_wordpiece_{}_{}", info->name(), ::getpid());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

// "" when equal, else where and how the two sequences first differ.
template <typename T>
std::string describe_first_mismatch(const std::vector<T>& got, const std::vector<T>& want) {
  size_t n = std::min(got.size(), want.size());
  for (size_t i = 0; i < n; ++i) {
    if (got[i] != want[i]) {
      return fmt::format(
          "first difference at position {}: got '{}', expected '{}'", i, got[i], want[i]);
    }
  }
  if (got.size() != want.size()) {
    return fmt::format("length differs: got {}, expected {} (equal up to position {})",
                       got.size(),
                       want.size(),
                       n);
  }
  return "";
}

// Every case of cases.json: tokenize, convert_tokens_to_ids and encode must equal HF's output.
void expect_matches_cases(const std::string& vocab_name) {
  const fs::path folder = kFixtures / vocab_name;
  auto tokenizer = WordPieceTokenizer::load_from_folder(folder.string());
  auto fixture = nlohmann::json::parse(read_bytes(folder / "cases.json"));
  ASSERT_EQ(fixture["do_lower_case"].get<bool>(), tokenizer.options().do_lower_case);
  const auto& cases = fixture["cases"];
  ASSERT_GT(cases.size(), 0u);
  int failures = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const auto text = c["text"].get<std::string>();
    const auto tokens = tokenizer.tokenize(text);
    const auto ids = tokenizer.convert_tokens_to_ids(tokens);
    const auto input_ids = tokenizer.encode(text, std::nullopt, 0).input_ids;
    const std::array<std::pair<const char*, std::string>, 3> checks = {
        {{"tokens", describe_first_mismatch(tokens, c["tokens"].get<std::vector<std::string>>())},
         {"ids", describe_first_mismatch(ids, c["ids"].get<std::vector<int64_t>>())},
         {"input_ids",
          describe_first_mismatch(input_ids, c["input_ids"].get<std::vector<int64_t>>())}}};
    for (const auto& [what, mismatch] : checks) {
      if (mismatch.empty()) continue;
      ++failures;
      ADD_FAILURE() << vocab_name << " case " << i << " (" << c["origin"].get<std::string>() << ") "
                    << what << ": " << mismatch << "\n  text: " << nlohmann::json(text).dump();
    }
  }
  EXPECT_EQ(failures, 0) << "of " << cases.size() << " cases";
}

TEST(WordPiece, MatchesHuggingFaceOnEveryBertBaseUncasedCase) {
  expect_matches_cases("bert-base-uncased");
}

TEST(WordPiece, MatchesHuggingFaceOnEveryBertBaseCasedCase) {
  expect_matches_cases("bert-base-cased");
}

TEST(WordPiece, MatchesHuggingFaceOnEveryBertBaseChineseCase) {
  expect_matches_cases("bert-base-chinese");
}

// A folder as current save_pretrained writes a fast tokenizer, without vocab.txt: the vocabulary
// and normalizer come from tokenizer.json, and every case equals BertTokenizerFast's
// (tests/fixtures/generators/make_wordpiece_fast.py).
TEST(WordPiece, ReadsTokenizerJsonWithoutVocabTxtAndMatchesBertTokenizerFast) {
  ASSERT_FALSE(fs::exists(kFixtures / "bert-base-uncased-fast" / "vocab.txt"));
  expect_matches_cases("bert-base-uncased-fast");
}

TEST(WordPiece, RejectsATokenizerJsonThatIsNotWordPiece) {
  const std::string bpe = R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})";
  WordPieceOptions options;
  try {
    read_tokenizer_json_vocab(bpe, "dir/tokenizer.json", options);
    FAIL() << "a BPE tokenizer.json was accepted";
  } catch (const TokenizerError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'dir/tokenizer.json'"), std::string::npos) << what;
    EXPECT_NE(what.find("model type \"BPE\": expected WordPiece"), std::string::npos) << what;
  }
  const std::string gap = R"({"model": {"type": "WordPiece", "vocab": {"[PAD]": 0, "x": 2}}})";
  EXPECT_THROW(read_tokenizer_json_vocab(gap, "t.json", options), TokenizerError);
  const std::string twice = R"({"model": {"type": "WordPiece", "vocab": {"a": 0, "b": 0}}})";
  EXPECT_THROW(read_tokenizer_json_vocab(twice, "t.json", options), TokenizerError);
  EXPECT_THROW(read_tokenizer_json_vocab("[1, 2]", "t.json", options), TokenizerError);
}

// ids: 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 [MASK] 5 un 6 ##aff 7 ##able 8 ! 9 the 10 cat 11 sat
// 12 i 13 ##̇ 14 a 15 ##b 16 - 17 cafe 18 café
WordPieceTokenizer make_tiny_tokenizer(WordPieceOptions options = {}) {
  return WordPieceTokenizer({"[PAD]",
                             "[UNK]",
                             "[CLS]",
                             "[SEP]",
                             "[MASK]",
                             "un",
                             "##aff",
                             "##able",
                             "!",
                             "the",
                             "cat",
                             "sat",
                             "i",
                             "##\u0307",
                             "a",
                             "##b",
                             "-",
                             "cafe",
                             "caf\u00e9"},
                            std::move(options));
}

using Tokens = std::vector<std::string>;
using Ids = std::vector<int64_t>;

TEST(WordPiece, SplitsUnknownWordIntoSubwords) {
  EXPECT_EQ(make_tiny_tokenizer().tokenize("UnAffable!"), (Tokens{"un", "##aff", "##able", "!"}));
}

TEST(WordPiece, ReplacesWordWithUnmatchablePieceByUnk) {
  EXPECT_EQ(make_tiny_tokenizer().tokenize("the unaffx cat"), (Tokens{"the", "[UNK]", "cat"}));
}

TEST(WordPiece, ReplacesWordLongerThanMaxInputCharsByUnk) {
  WordPieceOptions options;
  options.max_input_chars_per_word = 4;
  auto tokenizer = make_tiny_tokenizer(options);
  EXPECT_EQ(tokenizer.tokenize("unaff"), (Tokens{"[UNK]"}));
  EXPECT_EQ(tokenizer.tokenize("abbb"), (Tokens{"a", "##b", "##b", "##b"}));
}

TEST(WordPiece, KeepsLiteralSpecialTokensWholeAndCaseSensitive) {
  EXPECT_EQ(make_tiny_tokenizer().tokenize("the[MASK]cat [mask]"),
            (Tokens{"the", "[MASK]", "cat", "[UNK]", "[UNK]", "[UNK]"}));
}

TEST(WordPiece, KeepsNeverSplitWordsWholeWithoutWordPiece) {
  WordPieceOptions options;
  options.never_split = {"a-b", "zzz"};
  auto tokenizer = make_tiny_tokenizer(options);
  EXPECT_EQ(tokenizer.tokenize("a-b zzz a-ab"), (Tokens{"a-b", "zzz", "a", "-", "a", "##b"}));
  EXPECT_EQ(tokenizer.convert_tokens_to_ids({"a-b"}), (Ids{tokenizer.unk_id()}));
}

TEST(WordPiece, LowercasesDottedCapitalILikePython) {
  // Python: "\u0130".lower() == "i\u0307"; accent stripping then drops the dot.
  EXPECT_EQ(make_tiny_tokenizer().tokenize("\u0130"), (Tokens{"i"}));
  WordPieceOptions keep_accents;
  keep_accents.strip_accents = false;
  EXPECT_EQ(make_tiny_tokenizer(keep_accents).tokenize("\u0130"), (Tokens{"i", "##\u0307"}));
}

TEST(WordPiece, StripsAccentsOnlyWhenAskedWithoutLowerCasing) {
  WordPieceOptions cased;
  cased.do_lower_case = false;
  EXPECT_EQ(make_tiny_tokenizer(cased).tokenize("caf\u00e9"), (Tokens{"caf\u00e9"}));
  cased.strip_accents = true;
  EXPECT_EQ(make_tiny_tokenizer(cased).tokenize("caf\u00e9"), (Tokens{"cafe"}));
}

TEST(WordPiece, EncodesPairWithTokenTypeIds) {
  auto enc = make_tiny_tokenizer().encode("the cat", std::string("sat!"), 0);
  EXPECT_EQ(enc.input_ids, (Ids{2, 9, 10, 3, 11, 8, 3}));
  EXPECT_EQ(enc.token_type_ids, (Ids{0, 0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(enc.attention_mask, (Ids{1, 1, 1, 1, 1, 1, 1}));
}

TEST(WordPiece, TruncatesLongerSequenceFirstAndPairOnTies) {
  auto tokenizer = make_tiny_tokenizer();
  const std::string first = "the cat sat the cat";  // 5 tokens
  const std::string second = "sat sat sat";         // 3 tokens
  // 11 tokens, 9 allowed: both cuts come off the longer first text.
  EXPECT_EQ(tokenizer.encode(first, second, 9).input_ids, (Ids{2, 9, 10, 11, 3, 11, 11, 11, 3}));
  // 8 allowed: the third cut meets a 3-3 tie and comes off the pair.
  auto enc = tokenizer.encode(first, second, 8);
  EXPECT_EQ(enc.input_ids, (Ids{2, 9, 10, 11, 3, 11, 11, 3}));
  EXPECT_EQ(enc.token_type_ids, (Ids{0, 0, 0, 0, 0, 1, 1, 1}));
}

TEST(WordPiece, TruncatesSingleTextFromTheRight) {
  auto tokenizer = make_tiny_tokenizer();
  EXPECT_EQ(tokenizer.encode("the cat sat", std::nullopt, 4).input_ids, (Ids{2, 9, 10, 3}));
  EXPECT_EQ(tokenizer.encode("the cat sat", std::nullopt, 0).input_ids, (Ids{2, 9, 10, 11, 3}));
}

TEST(WordPiece, MapsUnknownTokensAndIdsToUnk) {
  auto tokenizer = make_tiny_tokenizer();
  EXPECT_EQ(tokenizer.convert_tokens_to_ids({"cat", "dog"}), (Ids{10, 1}));
  EXPECT_EQ(tokenizer.convert_id_to_token(10), "cat");
  EXPECT_EQ(tokenizer.convert_id_to_token(1000), "[UNK]");
  EXPECT_EQ(tokenizer.convert_id_to_token(-1), "[UNK]");
}

TEST(WordPiece, ReportsSpecialTokenIdsOfBertBaseUncased) {
  auto tokenizer = WordPieceTokenizer::load_from_folder((kFixtures / "bert-base-uncased").string());
  EXPECT_EQ(tokenizer.vocab_size(), 30522u);
  EXPECT_EQ(tokenizer.pad_id(), 0);
  EXPECT_EQ(tokenizer.unk_id(), 100);
  EXPECT_EQ(tokenizer.cls_id(), 101);
  EXPECT_EQ(tokenizer.sep_id(), 102);
  EXPECT_EQ(tokenizer.mask_id(), 103);
  // The example of Hugging Face's tokenizer documentation.
  EXPECT_EQ(tokenizer.tokenize("I have a new GPU!"),
            (Tokens{"i", "have", "a", "new", "gp", "##u", "!"}));
}

TEST(WordPiece, RoundTripsThroughSaveAndLoad) {
  TempDir dir;
  WordPieceOptions options;
  options.do_lower_case = false;
  options.strip_accents = true;
  options.never_split = {"a-b"};
  options.max_input_chars_per_word = 7;
  auto saved = make_tiny_tokenizer(options);
  saved.save_to_folder(dir.path().string());
  auto loaded = WordPieceTokenizer::load_from_folder(dir.path().string());
  EXPECT_EQ(loaded.options().do_lower_case, false);
  EXPECT_EQ(loaded.options().strip_accents, std::optional<bool>(true));
  EXPECT_EQ(loaded.options().never_split, (Tokens{"a-b"}));
  EXPECT_EQ(loaded.options().max_input_chars_per_word, 7);
  EXPECT_EQ(loaded.vocab_size(), saved.vocab_size());
  const std::string text = "Caf\u00e9 a-b the[MASK]unaffable";
  EXPECT_EQ(loaded.tokenize(text), saved.tokenize(text));
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().string().find(".tmp"), std::string::npos) << "temp file left behind";
  }
}

TEST(WordPiece, SavesTheSameBytesAsSavePretrained) {
  for (const char* name : {"bert-base-uncased", "bert-base-cased", "bert-base-chinese"}) {
    TempDir dir;
    WordPieceTokenizer::load_from_folder((kFixtures / name).string())
        .save_to_folder(dir.path().string());
    for (const char* file : {"vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}) {
      EXPECT_TRUE(read_bytes(dir.path() / file) == read_bytes(kFixtures / name / file))
          << name << "/" << file << " differs from the save_pretrained output";
    }
  }
}

TEST(WordPiece, ReadsVocabLinesLikePythonReadlines) {
  TempDir dir;
  // "\r\n" and a lone "\r" end lines in Python's text mode; U+2028 does not.
  std::ofstream(dir.path() / "vocab.txt", std::ios::binary)
      << "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\n[MASK]\n\u2028\nx\u2028y";
  auto tokenizer = WordPieceTokenizer::load_from_folder(dir.path().string());
  EXPECT_EQ(tokenizer.vocab_size(), 7u);
  EXPECT_EQ(tokenizer.cls_id(), 2);
  EXPECT_EQ(tokenizer.convert_id_to_token(5), "\u2028");
  EXPECT_EQ(tokenizer.convert_id_to_token(6), "x\u2028y");
  // Python's str.split() treats U+2028 as whitespace, so these tokens are never produced.
  EXPECT_EQ(tokenizer.tokenize("x\u2028y"), (Tokens{"[UNK]", "[UNK]"}));
}

TEST(WordPiece, ThrowsNamingVocabFileWhenMissing) {
  TempDir dir;
  try {
    WordPieceTokenizer::load_from_folder(dir.path().string());
    FAIL() << "expected TokenizerError";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find((dir.path() / "vocab.txt").string()), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("hint:"), std::string::npos) << e.what();
  }
}

TEST(WordPiece, ThrowsNamingSpecialTokenMissingFromVocab) {
  TempDir dir;
  std::ofstream(dir.path() / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
  try {
    WordPieceTokenizer::load_from_folder(dir.path().string());
    FAIL() << "expected TokenizerError";
  } catch (const TokenizerError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("mask_token '[MASK]'"), std::string::npos) << what;
    EXPECT_NE(what.find(dir.path().string()), std::string::npos) << what;
  }
}

TEST(WordPiece, ThrowsNamingConfigFileWithInvalidJson) {
  TempDir dir;
  std::ofstream(dir.path() / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n";
  std::ofstream(dir.path() / "tokenizer_config.json") << "{\"do_lower_case\": tru";
  try {
    WordPieceTokenizer::load_from_folder(dir.path().string());
    FAIL() << "expected TokenizerError";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer_config.json"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ftune
