// End-to-end tests of `ftune translate`: the real binary on the marian-mt fixture's 8 sources,
// checked against Hugging Face 4.19's batch_decode(generate(...)) in expected.json.
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"
#include "tests/common/tensor_testing.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;
using testing::CliTest;
using testing::describe;
using testing::read_json_file;
using testing::read_json_lines;
using testing::read_text_file;
using testing::run_ftune;
using testing::without_batch_padding;
using testing::write_marian_sources;
using testing::write_text_file;

const std::string kModel = "tests/fixtures/marian-mt";
// The fixture's sources were tokenized with max_length=24 (truncating the sixth).
const std::string kSourceLength = "24";
constexpr int64_t kPad = 2073;  // <pad>: the decoder start token and HF's padding

class Translate : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    expected_ = read_json_file(kModel + "/expected.json");
    sources_ = dir_ / "sources.txt";
    write_marian_sources(sources_);
  }

  // Runs translate with `extra` options into `output` and returns the output's lines.
  std::vector<std::string> translate(const fs::path& output,
                                     const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "translate",
                                     "--model",
                                     kModel,
                                     "--input",
                                     sources_.string(),
                                     "--output",
                                     output.string(),
                                     "--max-length",
                                     "20",
                                     "--max-source-length",
                                     kSourceLength};
    args.insert(args.end(), extra.begin(), extra.end());
    auto result = run_ftune(args);
    EXPECT_EQ(result.exit_code, 0) << describe(args) << "\n" << result.err;
    std::vector<std::string> lines;
    std::istringstream in(read_text_file(output));
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

  std::vector<std::string> expected_decoded(const std::string& run) const {
    return expected_.at(run).at("decoded").get<std::vector<std::string>>();
  }

  nlohmann::json expected_;
  fs::path sources_;
};

TEST_F(Translate, GreedyMatchesHuggingFace) {
  EXPECT_EQ(translate(dir_ / "greedy.txt", {"--beam", "1"}), expected_decoded("greedy"));
}

// Without --beam, config.json's num_beams (4 in the fixture) applies, as in generate().
TEST_F(Translate, BeamCountDefaultsToConfigJsonsNumBeams) {
  EXPECT_EQ(translate(dir_ / "default.txt", {}), expected_decoded("beam"));
  EXPECT_NE(expected_decoded("beam"), expected_decoded("greedy"));  // so the default shows
}

TEST_F(Translate, BeamSearchMatchesHuggingFaceInEveryBatchSize) {
  for (const std::string batch_size : {"8", "3", "1"}) {
    EXPECT_EQ(translate(dir_ / "beam.txt", {"--beam", "4", "--batch-size", batch_size}),
              expected_decoded("beam"))
        << "--batch-size " << batch_size;
  }
}

TEST_F(Translate, BeamOptionsMatchHuggingFace) {
  EXPECT_EQ(translate(dir_ / "beam5.txt",
                      {"--beam",
                       "5",
                       "--length-penalty",
                       "0.6",
                       "--no-repeat-ngram-size",
                       "3",
                       "--batch-size",
                       "3"}),
            expected_decoded("beam5_lp0.6_norepeat3"));
}

TEST_F(Translate, JsonLinesCarryIdsAndScores) {
  const fs::path output = dir_ / "beam.jsonl";
  translate(output, {"--beam", "4", "--batch-size", "3"});
  auto lines = read_json_lines(output);
  const auto& beam = expected_.at("beam");
  ASSERT_EQ(lines.size(), 8U);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i].at("translation").get<std::string>(),
              beam.at("decoded")[i].get<std::string>());
    // HF's row without the trailing padding that only its batch caused.
    auto want = beam.at("sequences")[i].get<std::vector<int64_t>>();
    while (want.size() > 1 && want.back() == kPad) want.pop_back();
    EXPECT_EQ(lines[i].at("ids").get<std::vector<int64_t>>(), want) << "row " << i;
    EXPECT_NEAR(
        lines[i].at("score").get<double>(), beam.at("sequences_scores")[i].get<double>(), 1e-4)
        << "row " << i;
  }

  const fs::path greedy = dir_ / "greedy.jsonl";
  translate(greedy, {"--beam", "1"});
  auto greedy_lines = read_json_lines(greedy);
  ASSERT_EQ(greedy_lines.size(), 8U);
  EXPECT_TRUE(greedy_lines[0].at("score").is_null());
  EXPECT_EQ(greedy_lines[1].at("ids").get<std::vector<int64_t>>().front(), kPad);
  EXPECT_EQ(greedy_lines[1].at("ids").get<std::vector<int64_t>>().back(), 0);
}

TEST_F(Translate, ReadsJsonLinesSources) {
  auto inputs = read_json_file(kModel + "/inputs.json");
  std::string text;
  for (const auto& source : inputs.at("source_texts")) {
    text += nlohmann::json{{"source", source}}.dump() + "\n";
  }
  sources_ = dir_ / "sources.jsonl";
  write_text_file(sources_, text);
  EXPECT_EQ(translate(dir_ / "greedy.txt", {"--beam", "1"}), expected_decoded("greedy"));
}

TEST_F(Translate, RejectsAnUnknownOutputFormat) {
  std::vector<std::string> args = {"translate",
                                   "--model",
                                   kModel,
                                   "--input",
                                   sources_.string(),
                                   "--output",
                                   (dir_ / "out.csv").string()};
  auto result = run_ftune(args);
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find(".jsonl"), std::string::npos) << result.err;
}

// --vocab-shortlist: HF generate() with every logit outside the batch's candidates set to -inf
// (tests/fixtures/marian-mt/shortlist); the eight sources are one batch, as recorded there.
TEST_F(Translate, VocabShortlistMatchesHuggingFaceWithOtherTokensMasked) {
  const auto cases = read_json_file(kModel + "/shortlist/expected.json").at("cases");
  for (const std::string run : {"greedy", "beam"}) {
    const auto& want = cases.at(run);
    const fs::path output = dir_ / (run + ".jsonl");
    translate(output,
              {"--beam",
               std::to_string(want.at("num_beams").get<int64_t>()),
               "--batch-size",
               "8",
               "--vocab-shortlist",
               kModel + "/shortlist/vmap.txt"});
    const auto lines = read_json_lines(output);
    ASSERT_EQ(lines.size(), 8U) << run;
    for (size_t i = 0; i < lines.size(); ++i) {
      EXPECT_EQ(lines[i].at("ids").get<std::vector<int64_t>>(),
                without_batch_padding(want.at("sequences")[i], kPad))
          << run << " row " << i;
      if (want.contains("sequences_scores")) {
        EXPECT_NEAR(
            lines[i].at("score").get<double>(), want.at("sequences_scores")[i].get<double>(), 1e-4)
            << run << " row " << i;
      }
    }
  }
}

// `ftune eval --task translate --vocab-shortlist`: the BLEU that sacreBLEU gives HF's shortlisted
// greedy outputs of the eight pairs (one batch), not the full vocabulary's.
TEST_F(Translate, EvalWithAShortlistScoresTheShortlistedOutputs) {
  const auto expected = read_json_file(kModel + "/shortlist/expected.json");
  const std::string bleu = expected.at("bleu_greedy").get<std::string>();
  ASSERT_NE(bleu, expected.at("bleu_greedy_full_vocabulary").get<std::string>());
  const std::vector<std::string> args = {"--threads",
                                         "1",
                                         "eval",
                                         "--task",
                                         "translate",
                                         "--model",
                                         kModel,
                                         "--data",
                                         kModel + "/pairs.jsonl",
                                         "--batch-size",
                                         "8",
                                         "--max-length",
                                         kSourceLength,
                                         "--generation-max-length",
                                         "20",
                                         "--vocab-shortlist",
                                         kModel + "/shortlist/vmap.txt"};
  const auto result = run_ftune(args);
  ASSERT_EQ(result.exit_code, 0) << describe(args) << "\n" << result.err;
  EXPECT_NE(result.out.find(bleu + "\n"), std::string::npos) << result.out << "\nwant " << bleu;
}

TEST_F(Translate, ABadShortlistNamesItsFileAndLine) {
  const fs::path vmap = dir_ / "vmap.txt";
  write_text_file(vmap, "\t▁der\n▁man ▁Mann\n");
  const fs::path output = dir_ / "out.txt";
  std::vector<std::string> args = {"translate",
                                   "--model",
                                   kModel,
                                   "--input",
                                   sources_.string(),
                                   "--output",
                                   output.string(),
                                   "--vocab-shortlist",
                                   vmap.string()};
  auto result = run_ftune(args);
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find(vmap.string() + "' line 2"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(output));
}

TEST_F(Translate, HelpShowsAnExample) {
  auto result = run_ftune({"translate", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_NE(result.out.find("Example: ftune translate"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace ftune
