// Tests for tokenizer/sentencepiece: SentencePiece's own test model (tests/fixtures/spm), with
// expectations taken from Debian's spm_encode / spm_decode 0.1.97 CLI; plus load failures.
#include "tokenizer/sentencepiece.h"

#include <cstdio>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <stdlib.h>

#include "tokenizer/tokenizer.h"

namespace ftune {
namespace {

const std::string kModel = "tests/fixtures/spm/test_model.model";

using Pieces = std::vector<std::string>;
using Ids = std::vector<int>;

const SentencePieceModel& test_model() {
  static const SentencePieceModel model = SentencePieceModel::load(kModel);
  return model;
}

// echo "I saw a girl with a telescope." | spm_encode --model=test_model.model [--output_format=id]
TEST(SentencePiece, EncodesSentenceIntoPiecesAsSpmEncodeDoes) {
  EXPECT_EQ(
      test_model().encode_as_pieces("I saw a girl with a telescope."),
      (Pieces{
          "▁I", "▁saw", "▁a", "▁girl", "▁with", "▁a", "▁", "te", "le", "s", "c", "o", "pe", "."}));
}

TEST(SentencePiece, EncodesSentenceIntoIdsAsSpmEncodeDoes) {
  EXPECT_EQ(test_model().encode_as_ids("I saw a girl with a telescope."),
            (Ids{9, 459, 11, 939, 44, 11, 4, 142, 82, 8, 28, 21, 132, 6}));
}

TEST(SentencePiece, CollapsesLeadingTrailingAndRepeatedWhitespace) {
  EXPECT_EQ(test_model().encode_as_pieces("  leading  and   extra spaces  "),
            (Pieces{"▁", "le", "ad", "ing", "▁and", "▁ex", "t", "r", "a", "▁sp", "a", "ce", "s"}));
}

TEST(SentencePiece, KeepsUnknownCharactersAsPiecesWithTheUnkId) {
  const std::string text = "naïve café ☃ 日本語";
  EXPECT_EQ(test_model().encode_as_pieces(text),
            (Pieces{"▁", "n", "a", "ï", "ve", "▁c", "a", "f", "é", "▁", "☃", "▁", "日本語"}));
  EXPECT_EQ(test_model().encode_as_ids(text), (Ids{4, 24, 19, 0, 125, 78, 19, 57, 0, 4, 0, 4, 0}));
}

TEST(SentencePiece, EncodesEmptyTextAsNothing) {
  EXPECT_TRUE(test_model().encode_as_pieces("").empty());
  EXPECT_TRUE(test_model().encode_as_ids("").empty());
}

TEST(SentencePiece, EncodesExactlyTheGivenStringViewNotUpToNul) {
  const std::string_view text("I saw a girl with a telescope.", 12);
  EXPECT_EQ(test_model().encode_as_ids(text), (Ids{9, 459, 11, 939}));
}

// echo "▁I ▁saw ▁a ▁girl" | spm_decode --model=test_model.model --input_format=piece
TEST(SentencePiece, DecodesPiecesBackToText) {
  EXPECT_EQ(test_model().decode_pieces({"▁I", "▁saw", "▁a", "▁girl"}), "I saw a girl");
  EXPECT_EQ(
      test_model().decode_pieces(test_model().encode_as_pieces("I saw a girl with a telescope.")),
      "I saw a girl with a telescope.");
  EXPECT_EQ(test_model().decode_pieces({}), "");
}

TEST(SentencePiece, DecodesUnknownPieceVerbatimButUnkAsQuestionMarks) {
  EXPECT_EQ(test_model().decode_pieces({"▁I", "▁xyzzy_unknown", "▁girl"}), "I▁xyzzy_unknown girl");
  EXPECT_EQ(test_model().decode_pieces({"<unk>"}), " ⁇ ");
  EXPECT_EQ(test_model().decode_pieces({"<s>", "▁I", "</s>"}), "I");
}

TEST(SentencePiece, ConvertsBetweenPiecesAndIds) {
  EXPECT_EQ(test_model().vocab_size(), 1000);
  EXPECT_EQ(test_model().piece_to_id("▁girl"), 939);
  EXPECT_EQ(test_model().id_to_piece(939), "▁girl");
  EXPECT_EQ(test_model().id_to_piece(0), "<unk>");
  EXPECT_EQ(test_model().piece_to_id("no-such-piece"), 0);
}

TEST(SentencePiece, RejectsIdOutsideTheVocabularyNamingTheModel) {
  for (const int id : {-1, 1000}) {
    try {
      test_model().id_to_piece(id);
      FAIL() << "expected TokenizerError for id " << id;
    } catch (const TokenizerError& e) {
      EXPECT_NE(std::string(e.what()).find(kModel), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::to_string(id)), std::string::npos) << e.what();
    }
  }
}

TEST(SentencePiece, MovedModelKeepsWorkingAndMovedFromOneThrows) {
  SentencePieceModel first = SentencePieceModel::load(kModel);
  SentencePieceModel second = std::move(first);
  EXPECT_EQ(second.piece_to_id("▁girl"), 939);
  EXPECT_EQ(second.path(), kModel);
  EXPECT_THROW(first.vocab_size(), TokenizerError);  // NOLINT(bugprone-use-after-move)

  SentencePieceModel third = SentencePieceModel::load(kModel);
  third = std::move(second);  // frees third's own model
  EXPECT_EQ(third.encode_as_ids("I saw a girl"), (Ids{9, 459, 11, 939}));
}

TEST(SentencePiece, LoadingMissingFileThrowsErrorNamingIt) {
  const std::string path = "tests/fixtures/spm/no_such.model";
  try {
    SentencePieceModel::load(path);
    FAIL() << "expected TokenizerError";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("'" + path + "'"), std::string::npos) << e.what();
  }
}

TEST(SentencePiece, LoadingFileThatIsNoModelThrowsErrorNamingIt) {
  const std::string path = "tests/fixtures/spm/sentencepiece.LICENSE";
  try {
    SentencePieceModel::load(path);
    FAIL() << "expected TokenizerError";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("'" + path + "'"), std::string::npos) << e.what();
  }
}

// The shim is loaded once per process, so this runs in a freshly started copy of the test binary.
TEST(SentencePiece, MissingShimNamedByEnvironmentGivesErrorWithPathAndHint) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        setenv("FTUNE_SPM_SHIM", "/nonexistent/libftune_spm.so", /*overwrite=*/1);
        try {
          SentencePieceModel::load(kModel);
        } catch (const TokenizerError& e) {
          std::fputs(e.what(), stderr);
          std::fflush(stderr);
          std::_Exit(3);
        }
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(3),
      "/nonexistent/libftune_spm.so \\(no such file\\)(.|\n)*hint: build it with 'ninja "
      "ftune_spm'");
}

}  // namespace
}  // namespace ftune
