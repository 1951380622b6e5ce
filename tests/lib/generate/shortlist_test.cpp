// Tests for lib/generate/shortlist.h: the vmap file read with the marian-mt fixture's vocabulary,
// a batch's candidates against those computed in Python (tests/fixtures/marian-mt/shortlist,
// make_marian_shortlist.py), literal n-gram cases, and the errors a bad file gets.
#include "lib/generate/shortlist.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/common/tensor_testing.h"
#include "util/error.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;
using testing::read_json_file;

const std::string kModel = "tests/fixtures/marian-mt";
const std::string kShortlist = "tests/fixtures/marian-mt/shortlist";

const MarianTokenizer& tokenizer() {
  static const MarianTokenizer loaded = MarianTokenizer::load_from_folder(kModel);
  return loaded;
}

// The fixture's sources without their padding, as translate passes them.
std::vector<std::vector<int64_t>> fixture_sources(const std::vector<int64_t>& rows) {
  const auto inputs = read_json_file(kModel + "/inputs.json");
  std::vector<std::vector<int64_t>> sources;
  for (int64_t row : rows) {
    const auto ids = inputs.at("input_ids")[row].get<std::vector<int64_t>>();
    const auto mask = inputs.at("attention_mask")[row].get<std::vector<int64_t>>();
    sources.emplace_back();
    for (size_t i = 0; i < ids.size(); ++i) {
      if (mask[i] != 0) sources.back().push_back(ids[i]);
    }
  }
  return sources;
}

class ShortlistFile : public ::testing::Test {
 protected:
  fs::path write(const std::string& text) {
    const fs::path file =
        fs::temp_directory_path() /
        ("ftune-shortlist-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".txt");
    std::ofstream(file, std::ios::binary) << text;
    files_.push_back(file);
    return file;
  }
  void TearDown() override {
    for (const auto& file : files_) fs::remove(file);
  }
  int64_t id(const std::string& piece) const { return tokenizer().token_to_id(piece); }

  std::vector<fs::path> files_;
};

TEST(Shortlist, CandidatesMatchThePythonReference) {
  const auto shortlist = VocabShortlist::load(kShortlist + "/vmap.txt", tokenizer());
  const auto expected = read_json_file(kShortlist + "/expected.json");
  const int64_t eos = tokenizer().eos_id();
  for (const std::string run : {"greedy", "greedy_source0"}) {
    const auto& record = expected.at("cases").at(run);
    auto candidates = shortlist.candidates(fixture_sources(record.at("rows")));
    // The reference lists eos too, which generate() adds.
    candidates.insert(std::lower_bound(candidates.begin(), candidates.end(), eos), eos);
    candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
    EXPECT_EQ(candidates, record.at("candidates").get<std::vector<int64_t>>()) << run;
  }
  // One source alone gets fewer candidates than the batch of eight.
  EXPECT_LT(expected.at("cases").at("greedy_source0").at("candidates").size(),
            expected.at("cases").at("greedy").at("candidates").size());
  // The fixture's last two lines name pieces vocab.json lacks: one source, one target.
  EXPECT_EQ(shortlist.skipped_tokens(), 2U);
  EXPECT_EQ(shortlist.longest_ngram(), 2U);
}

TEST_F(ShortlistFile, BigramsMatchOnlyConsecutivePieces) {
  const auto shortlist =
      VocabShortlist::load(write("\t▁der\n▁A ▁man\t▁Mann\n▁man\t▁man\r\n\n"), tokenizer());
  EXPECT_EQ(shortlist.rules(), 3U);
  const int64_t a = id("▁A"), man = id("▁man"), dog = id("▁dog");
  auto sorted = [](std::vector<int64_t> ids) {
    std::sort(ids.begin(), ids.end());
    return ids;
  };
  const std::vector<int64_t> always = sorted({tokenizer().unk_id(), id("▁der")});
  EXPECT_EQ(shortlist.candidates({{a, dog, tokenizer().eos_id()}}), always);
  EXPECT_EQ(shortlist.candidates({{a, dog, man}}),
            sorted({tokenizer().unk_id(), id("▁der"), id("▁man")}));
  EXPECT_EQ(shortlist.candidates({{dog}, {a, man}}),
            sorted({tokenizer().unk_id(), id("▁der"), id("▁man"), id("▁Mann")}));
}

// Windows editors: CRLF line ends and a UTF-8 byte-order mark before the first line.
TEST_F(ShortlistFile, AByteOrderMarkAndCarriageReturnsAreIgnored) {
  const auto shortlist =
      VocabShortlist::load(write("\xEF\xBB\xBF\t▁der\r\n▁man\t▁Mann\r\n"), tokenizer());
  EXPECT_EQ(shortlist.skipped_tokens(), 0U);
  std::vector<int64_t> want = {tokenizer().unk_id(), id("▁der"), id("▁Mann")};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(shortlist.candidates({{id("▁man")}}), want);
}

TEST_F(ShortlistFile, ALineWithoutATabNamesItsLine) {
  const fs::path file = write("\t▁der\n▁man ▁Mann\n");
  try {
    VocabShortlist::load(file, tokenizer());
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(file.string() + "' line 2"), std::string::npos) << message;
    EXPECT_NE(message.find("TAB"), std::string::npos) << message;
  }
}

TEST_F(ShortlistFile, AnotherModelsPiecesAreAnError) {
  try {
    VocabShortlist::load(write("\t▁no-such-piece\n▁dog\tzzz-not-a-piece\n"), tokenizer());
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("none in 2 rules"), std::string::npos) << e.what();
  }
  EXPECT_THROW(VocabShortlist::load(write(""), tokenizer()), DataError);
}

TEST(Shortlist, AMissingFileIsAnIoError) {
  EXPECT_THROW(VocabShortlist::load("tests/fixtures/no-such-vmap.txt", tokenizer()), IoError);
}

}  // namespace
}  // namespace ftune
