// `--cpu-gemm` (issue #18): translate, eval, predict and serve run float32 Linear layers through
// oneDNN's packed GEMM: in the Debian build libdnnl (auto: every layer), in the torch2 build
// LibTorch's oneDNN ops (auto: MarianMT weights of 512 x 512 and more; onednn: all, BERT too).
// The translations are the BLAS path's (ids equal, scores to 1e-5), the predictions too (logits
// to 1e-5), and combinations that cannot run are refused.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/linear.h"
#include "tests/app/cli_testing.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;

const std::string kMarian = "tests/fixtures/marian-mt";

class CpuGemm : public CliTest {
 protected:
  // Six fixture sources (beam 4, so the beam search's scores are compared too).
  CommandResult translate(const std::string& gemm, const fs::path& out,
                          const std::string& precision = "fp32") {
    const fs::path sources = dir_ / "sources.txt";
    write_marian_sources(sources);
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
                      gemm,
                      "--precision",
                      precision});
  }
};

// Same ids as the BLAS run, beam scores within 1e-5 relative.
void expect_same_translations(const fs::path& actual_file, const fs::path& expected_file) {
  const auto expected = read_json_lines(expected_file);
  const auto actual = read_json_lines(actual_file);
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i]["ids"], expected[i]["ids"]) << "source " << i;
    const double want = expected[i]["score"].get<double>();
    EXPECT_NEAR(actual[i]["score"].get<double>(), want, 1e-5 * std::abs(want)) << "source " << i;
  }
}

TEST_F(CpuGemm, TranslateOnOnednnGivesTheBlasTranslations) {
  ASSERT_TRUE(onednn_linear_available()) << "both builds have oneDNN (libdnnl or LibTorch's)";
  const auto blas = translate("blas", dir_ / "blas.jsonl");
  ASSERT_EQ(blas.exit_code, 0) << blas.err;
  EXPECT_EQ(blas.err.find("oneDNN:"), std::string::npos) << blas.err;
  const auto onednn = translate("onednn", dir_ / "onednn.jsonl");
  ASSERT_EQ(onednn.exit_code, 0) << onednn.err;
  // The fixture: 2 encoder layers x 6 Linear, 2 decoder layers x 10, the tied lm_head.
  EXPECT_NE(onednn.err.find("oneDNN: 33 Linear layers packed (float32, " + onednn_linear_engine()),
            std::string::npos)
      << onednn.err;
  expect_same_translations(dir_ / "onednn.jsonl", dir_ / "blas.jsonl");
  const auto automatic = translate("auto", dir_ / "auto.jsonl");
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  if (onednn_linear_is_libdnnl()) {
    // libdnnl's few microseconds a call: auto packs even this 64-wide model's layers.
    EXPECT_NE(automatic.err.find("oneDNN: 33 Linear layers packed"), std::string::npos)
        << automatic.err;
    expect_same_translations(dir_ / "auto.jsonl", dir_ / "blas.jsonl");
  } else {
    // LibTorch's ops: auto leaves this 64-wide model on BLAS (oneDNN was 1.5-2.5x slower for
    // it): no layer has 512 x 512 weights, nothing packed, the BLAS run's output byte for byte.
    EXPECT_EQ(automatic.err.find("oneDNN:"), std::string::npos) << automatic.err;
    EXPECT_EQ(read_text_file(dir_ / "auto.jsonl"), read_text_file(dir_ / "blas.jsonl"));
  }
}

// --precision bf16 on a CPU with native bfloat16 products (libdnnl): the layers are packed as
// bfloat16 instead of running under autocast; the fixture's beam-4 translations stay float32's
// (ids equal here; scores within 1e-2: bfloat16 rounds to 3 significant digits) but are not
// float32's numbers.
TEST_F(CpuGemm, TranslateInBf16PacksBfloat16Layers) {
  if (!onednn_linear_bf16_available()) {
    GTEST_SKIP() << "no libdnnl with native bfloat16 on this CPU: --precision bf16 uses autocast";
  }
  const auto fp32 = translate("auto", dir_ / "fp32.jsonl");
  ASSERT_EQ(fp32.exit_code, 0) << fp32.err;
  const auto bf16 = translate("auto", dir_ / "bf16.jsonl", "bf16");
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err;
  EXPECT_NE(bf16.err.find("oneDNN: 33 Linear layers packed (bfloat16 products, float32 sums, "),
            std::string::npos)
      << bf16.err;
  const auto expected = read_json_lines(dir_ / "fp32.jsonl");
  const auto actual = read_json_lines(dir_ / "bf16.jsonl");
  ASSERT_EQ(actual.size(), expected.size());
  bool any_score_differs = false;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(actual[i]["ids"], expected[i]["ids"]) << "source " << i;
    const double want = expected[i]["score"].get<double>();
    const double got = actual[i]["score"].get<double>();
    EXPECT_NEAR(got, want, 1e-2 * std::abs(want)) << "source " << i;
    any_score_differs = any_score_differs || std::abs(got - want) > 1e-5 * std::abs(want);
  }
  EXPECT_TRUE(any_score_differs) << "bf16 gave float32's scores: were the products float32?";
}

// A BERT classifier on oneDNN predicts what it predicts on BLAS (logits within 1e-5); auto packs
// it in the Debian build (libdnnl), and leaves it on BLAS with LibTorch's ops.
TEST_F(CpuGemm, PredictOnOnednnGivesTheBlasLogits) {
  auto predict = [&](const std::string& gemm) {
    return run_ftune({"--threads",
                      "1",
                      "predict",
                      "--model",
                      "tests/fixtures/bert-cls",
                      "--data",
                      "tests/fixtures/bert-cls/texts.jsonl",
                      "--output",
                      (dir_ / (gemm + ".jsonl")).string(),
                      "--cpu-gemm",
                      gemm});
  };
  const auto blas = predict("blas");
  ASSERT_EQ(blas.exit_code, 0) << blas.err;
  EXPECT_EQ(blas.err.find("oneDNN:"), std::string::npos) << blas.err;
  const auto onednn = predict("onednn");
  ASSERT_EQ(onednn.exit_code, 0) << onednn.err;
  // 2 layers x (query, key, value, attention output, intermediate, output), pooler, classifier.
  EXPECT_NE(onednn.err.find("oneDNN: 14 Linear layers packed"), std::string::npos) << onednn.err;
  const auto automatic = predict("auto");
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  EXPECT_EQ(automatic.err.find("oneDNN: 14 Linear layers packed") != std::string::npos,
            onednn_linear_is_libdnnl())
      << automatic.err;
  const auto expected = read_json_lines(dir_ / "blas.jsonl");
  for (const std::string gemm : {"onednn", "auto"}) {
    const auto actual = read_json_lines(dir_ / (gemm + ".jsonl"));
    ASSERT_EQ(actual.size(), expected.size()) << gemm;
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(actual[i]["label"], expected[i]["label"]) << gemm << " row " << i;
      const auto want = expected[i]["logits"].get<std::vector<double>>();
      const auto got = actual[i]["logits"].get<std::vector<double>>();
      ASSERT_EQ(got.size(), want.size());
      for (size_t j = 0; j < want.size(); ++j) {
        EXPECT_NEAR(got[j], want[j], 1e-5 * std::max(1.0, std::abs(want[j])))
            << gemm << " row " << i << " logit " << j;
      }
    }
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
