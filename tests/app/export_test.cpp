// `ftune export --format torchscript` (issue #17): the module Python's torch.jit.load runs and
// ftune loads back give transformers' logits (expected.json); a token classifier's export tags
// as the folder does; what cannot be exported is refused with one error line.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"
#include "tests/app/problem_data.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";
const std::string kExpected = "tests/fixtures/bert-cls/expected.json";
const std::string kScript = "tests/app/hf_roundtrip.py";
constexpr double kRtol = 1e-5;
constexpr double kAtol = 1e-6;

void expect_logits_near(const std::vector<std::vector<double>>& got,
                        const std::vector<std::vector<double>>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(got[i].size(), want[i].size()) << what;
    for (size_t j = 0; j < want[i].size(); ++j) {
      EXPECT_NEAR(got[i][j], want[i][j], kAtol + kRtol * std::abs(want[i][j]))
          << what << ": text " << i << " logit " << j;
    }
  }
}

class Export : public CliTest {};

// ftune reads the export as a model folder (by the folder or by model.pt) with transformers'
// logits for the fixture texts.
TEST_F(Export, FtuneLoadsTheModuleBackWithTransformersLogits) {
  const fs::path out = dir_ / "exported";
  auto exported = run_ftune({"export", "--model", kModel, "--output", out.string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_NE(exported.err.find("exported the sequence classifier (41 tensors)"), std::string::npos)
      << exported.err;
  for (const char* name : {"model.pt", "config.json", "vocab.txt"}) {
    EXPECT_TRUE(fs::exists(out / name)) << name;
  }
  const auto reference =
      json::parse(read_text_file(kExpected))["logits"].get<std::vector<std::vector<double>>>();
  for (const fs::path& model : {out, out / "model.pt"}) {
    const fs::path predictions = dir_ / "predictions.jsonl";
    auto predicted = run_ftune({"--threads",
                                "1",
                                "predict",
                                "--model",
                                model.string(),
                                "--data",
                                kTexts,
                                "--output",
                                predictions.string()});
    ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
    expect_logits_near(read_logits(predictions), reference, "ftune on " + model.string());
  }
  auto inspected = run_ftune({"inspect", "--model", out.string()});
  ASSERT_EQ(inspected.exit_code, 0) << inspected.err;
  EXPECT_NE(inspected.out.find("bert.encoder.layer.1.attention.self.query.weight"),
            std::string::npos)
      << inspected.out;
}

// Python with torch alone (torch.jit.load, no transformers model class) gets transformers'
// logits from the file.
TEST_F(Export, PythonTorchJitLoadRunsIt) {
  const std::string python = reference_python("transformers");
  if (python.empty()) {
    GTEST_SKIP() << "needs the reference Python with torch and transformers (the torch2 build)";
  }
  const fs::path out = dir_ / "exported";
  auto exported = run_ftune({"export", "--model", kModel, "--output", out.string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  const auto [status, text] = capture(python + " " + kScript + " torchscript-logits '" +
                                      out.string() + "' " + kTexts + " 2>&1");
  ASSERT_EQ(status, 0) << text;
  const auto logits =
      json::parse(text.substr(text.find('{')))["logits"].get<std::vector<std::vector<double>>>();
  const auto reference =
      json::parse(read_text_file(kExpected))["logits"].get<std::vector<std::vector<double>>>();
  expect_logits_near(logits, reference, "torch.jit.load");
}

// A token classifier exports with logits per position; its export tags every word as the
// folder itself does.
TEST_F(Export, TokenClassifierExportTagsAsTheFolder) {
  const fs::path train = dir_ / "train.conll";  // written by train_small_ner_model
  auto trained = train_small_ner_model(dir_, kModel);
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const fs::path out = dir_ / "exported";
  auto exported =
      run_ftune({"export", "--model", (dir_ / "run" / "last").string(), "--output", out.string()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_NE(exported.err.find("token classifier"), std::string::npos) << exported.err;
  std::vector<std::vector<json>> tagged;
  for (const fs::path& model : {dir_ / "run" / "last", out}) {
    const fs::path predictions = dir_ / (model.filename().string() + ".jsonl");
    auto predicted = run_ftune({"--threads",
                                "1",
                                "predict",
                                "--model",
                                model.string(),
                                "--data",
                                train.string(),
                                "--output",
                                predictions.string(),
                                "--max-length",
                                "12"});
    ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
    tagged.push_back(read_json_lines<json>(predictions));
  }
  ASSERT_EQ(tagged[0].size(), kNerSentences.size());
  ASSERT_EQ(tagged[1].size(), tagged[0].size());
  for (size_t s = 0; s < tagged[0].size(); ++s) {
    EXPECT_EQ(tagged[1][s]["tags"], tagged[0][s]["tags"]) << s;
  }
}

TEST_F(Export, RefusesWhatItCannotExport) {
  auto marian = run_ftune(
      {"export", "--model", "tests/fixtures/marian-mt", "--output", (dir_ / "m").string()});
  EXPECT_EQ(marian.exit_code, 1);
  EXPECT_NE(marian.err.find("is a MarianMT model"), std::string::npos) << marian.err;
  EXPECT_FALSE(fs::exists(dir_ / "m" / "model.pt"));
  const fs::path file = dir_ / "a-file";
  write_text_file(file, "x");
  auto onto_file = run_ftune({"export", "--model", kModel, "--output", file.string()});
  EXPECT_EQ(onto_file.exit_code, 1);
  EXPECT_NE(onto_file.err.find("expected a folder"), std::string::npos) << onto_file.err;
  auto format = run_ftune(
      {"export", "--model", kModel, "--output", (dir_ / "o").string(), "--format", "onnx"});
  EXPECT_EQ(format.exit_code, 2) << format.err;
}

}  // namespace
}  // namespace ftune::testing
