// End-to-end tests of `ftune shortlist`: the real binary on the marian-mt fixture's tokenizer and
// Multi30k train lines 0..3999, against the same rule computed in Python
// (tests/fixtures/marian-mt/shortlist/vmap.txt, make_marian_shortlist.py).
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/app/cli_testing.h"
#include "tests/common/tensor_testing.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;
using testing::CliTest;
using testing::describe;
using testing::read_json_file;
using testing::read_text_file;
using testing::run_ftune;
using testing::write_text_file;

const std::string kModel = "tests/fixtures/marian-mt";
const std::string kShortlist = "tests/fixtures/marian-mt/shortlist";

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class ShortlistCommand : public CliTest {};

TEST_F(ShortlistCommand, WritesThePythonReferencesRules) {
  const fs::path output = dir_ / "vmap.txt";
  const std::vector<std::string> args = {"shortlist",
                                         "--model",
                                         kModel,
                                         "--data",
                                         kShortlist + "/train-pairs.jsonl",
                                         "--output",
                                         output.string(),
                                         "--per-source",
                                         "4",
                                         "--always",
                                         "40",
                                         "--min-count",
                                         "3"};
  const auto result = run_ftune(args);
  ASSERT_EQ(result.exit_code, 0) << describe(args) << "\n" << result.err;
  auto want = lines_of(read_text_file(kShortlist + "/vmap.txt"));
  want.resize(read_json_file(kShortlist + "/expected.json").at("generated_lines").get<size_t>());
  const auto got = lines_of(read_text_file(output));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(got[i], want[i]) << "line " << i + 1;
  EXPECT_NE(result.err.find(std::to_string(want.size() - 1) + " rules"), std::string::npos)
      << result.err;
}

TEST_F(ShortlistCommand, ARowWithoutATargetNamesItsLine) {
  const fs::path data = dir_ / "pairs.jsonl";
  write_text_file(
      data, "{\"source\": \"A dog.\", \"target\": \"Ein Hund.\"}\n{\"source\": \"A cat.\"}\n");
  const fs::path output = dir_ / "vmap.txt";
  const auto result = run_ftune(
      {"shortlist", "--model", kModel, "--data", data.string(), "--output", output.string()});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find("line 2"), std::string::npos) << result.err;
  EXPECT_FALSE(fs::exists(output));
}

}  // namespace
}  // namespace ftune
