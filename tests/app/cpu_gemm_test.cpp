// `--cpu-gemm` (issue #18): translate, eval and serve run float32 Linear layers through oneDNN's
// packed GEMM where this LibTorch has it (the torch2 build): by default (auto) those of 512 x 512
// weights and more, with `onednn` all of them. The translations are the BLAS path's (ids equal,
// scores to 1e-5), and combinations that cannot run are refused.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;

const std::string kMarian = "tests/fixtures/marian-mt";

class CpuGemm : public CliTest {
 protected:
  // Six fixture sources (beam 4, so the beam search's scores are compared too).
  CommandResult translate(const std::string& gemm, const fs::path& out) {
    const fs::path sources = dir_ / "sources.txt";
    const auto inputs = nlohmann::json::parse(read_text_file(kMarian + "/inputs.json"));
    std::string text;
    for (const auto& source : inputs["source_texts"]) text += source.get<std::string>() + "\n";
    write_text_file(sources, text);
    return run_ftune({"--threads",
                      "1",
                      "translate",
                      "--model",
                      kMarian,
                      "--input",
                      sources.string(),
                      "--output",
                      out.string(),
                      "--beam",
                      "4",
                      "--cpu-gemm",
                      gemm});
  }
};

TEST_F(CpuGemm, TranslateOnOnednnGivesTheBlasTranslations) {
  const auto blas = translate("blas", dir_ / "blas.jsonl");
  ASSERT_EQ(blas.exit_code, 0) << blas.err;
  EXPECT_EQ(blas.err.find("oneDNN:"), std::string::npos) << blas.err;
  const auto onednn = translate("onednn", dir_ / "onednn.jsonl");
  if (onednn.exit_code != 0) {  // Debian's LibTorch 1.13: refused, and auto stays on BLAS
    EXPECT_NE(onednn.err.find("this LibTorch has no oneDNN linear"), std::string::npos)
        << onednn.err;
    const auto automatic = translate("auto", dir_ / "auto.jsonl");
    ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
    EXPECT_EQ(automatic.err.find("oneDNN:"), std::string::npos) << automatic.err;
    EXPECT_EQ(read_text_file(dir_ / "auto.jsonl"), read_text_file(dir_ / "blas.jsonl"));
    GTEST_SKIP() << "this LibTorch has no oneDNN linear; --cpu-gemm onednn refused as it should";
  }
  // The fixture: 2 encoder layers x 6 Linear, 2 decoder layers x 10, the tied lm_head.
  EXPECT_NE(onednn.err.find("oneDNN: 33 Linear layers packed"), std::string::npos) << onednn.err;
  // auto leaves this 64-wide model on BLAS (oneDNN was 1.5-2.5x slower for it): no layer has
  // 512 x 512 weights, nothing packed, the BLAS run's output byte for byte.
  const auto automatic = translate("auto", dir_ / "auto.jsonl");
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  EXPECT_EQ(automatic.err.find("oneDNN:"), std::string::npos) << automatic.err;
  EXPECT_EQ(read_text_file(dir_ / "auto.jsonl"), read_text_file(dir_ / "blas.jsonl"));
  const auto expected = read_json_lines(dir_ / "blas.jsonl");
  const auto actual = read_json_lines(dir_ / "onednn.jsonl");
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i]["ids"], expected[i]["ids"]) << "source " << i;
    const double want = expected[i]["score"].get<double>();
    EXPECT_NEAR(actual[i]["score"].get<double>(), want, 1e-5 * std::abs(want)) << "source " << i;
  }
}

TEST_F(CpuGemm, RefusesWhatOnednnCannotRun) {
  // translate with these flags, refused before it reads its input.
  auto translate_with = [&](const std::vector<std::string>& flags) {
    std::vector<std::string> args = {"translate",
                                     "--model",
                                     kMarian,
                                     "--input",
                                     kMarian + "/inputs.json",
                                     "--output",
                                     (dir_ / "t.txt").string()};
    args.insert(args.end(), flags.begin(), flags.end());
    return run_ftune(args);
  };
  const auto int8 = translate_with({"--quantize", "int8", "--cpu-gemm", "onednn"});
  EXPECT_EQ(int8.exit_code, 1);
  EXPECT_NE(int8.err.find("--cpu-gemm onednn with --device auto --precision fp32 --quantize int8"),
            std::string::npos)
      << int8.err;
  // A BERT classifier does not use it: refused rather than ignored (on Debian's LibTorch the
  // refusal is that there is no oneDNN linear at all).
  const auto bert = run_ftune({"predict",
                               "--model",
                               "tests/fixtures/bert-cls",
                               "--data",
                               "tests/fixtures/bert-cls/texts.jsonl",
                               "--output",
                               (dir_ / "p.jsonl").string(),
                               "--cpu-gemm",
                               "onednn"});
  EXPECT_EQ(bert.exit_code, 1) << bert.err;
  EXPECT_TRUE(bert.err.find("a BERT classifier runs on BLAS") != std::string::npos ||
              bert.err.find("this LibTorch has no oneDNN linear") != std::string::npos)
      << bert.err;
  const auto unknown = translate_with({"--cpu-gemm", "fast"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
  const auto train = run_ftune({"train",
                                "--model",
                                kMarian,
                                "--task",
                                "translate",
                                "--train",
                                kMarian + "/pairs.jsonl",
                                "--output-dir",
                                (dir_ / "run").string(),
                                "--cpu-gemm",
                                "onednn"});
  EXPECT_EQ(train.exit_code, 2) << "train must not take --cpu-gemm: " << train.err;
}

}  // namespace
}  // namespace ftune::testing
