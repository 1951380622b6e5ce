// `ftune` end to end on a CUDA device: training in fp32, bf16 and fp16 (loss scaler) with best/
// replaced several times and an exact resume; eval, predict and translate equal to the CPU within
// tolerance; NCCL in a world of one and Gloo carrying CUDA tensors for 2 ranks on one GPU. Every
// test skips without CUDA (the CPU suite lists them as skipped); scripts/gpu-check.sh requires
// that none skips on a GPU host.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include "tests/app/cli_testing.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";  // 16 examples, 3 labels
const std::string kMarian = "tests/fixtures/marian-mt";

class Cuda : public CliTest {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) {
      GTEST_SKIP() << "no CUDA device (torch::cuda::is_available() is false)";
    }
    CliTest::SetUp();
  }

  CommandResult train(const fs::path& out, const std::string& precision,
                      std::vector<std::string> extra) {
    std::vector<std::string> args = {"train",      "--model",
                                     kModel,       "--train",
                                     kTexts,       "--valid",
                                     kTexts,       "--output-dir",
                                     out.string(), "--device",
                                     "cuda",       "--precision",
                                     precision,    "--batch-size",
                                     "4",          "--learning-rate",
                                     "1e-3",       "--metric-for-best-model",
                                     "loss",       "--logging-steps",
                                     "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }

  // Every `"key"` value of the records of a trainer_log.jsonl that have it, in order.
  static std::vector<double> values_of(const fs::path& log, const std::string& key) {
    std::vector<double> values;
    for (auto& record : read_json_lines(log)) {
      if (record.contains(key)) values.push_back(record[key].get<double>());
    }
    return values;
  }

  static size_t count(const std::string& text, const std::string& needle) {
    size_t n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  }

  // Names in `dir` that a finished run must not leave: *.tmp-*, *.old-*.
  static std::vector<std::string> leftovers(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const auto name = entry.path().filename().string();
      if (name.find(".tmp-") != std::string::npos || name.find(".old-") != std::string::npos) {
        names.push_back(name);
      }
    }
    return names;
  }
};

// Three epochs, each a new best (the loss on the training file falls), so best/ is replaced
// twice; then the run resumed from epoch 1's checkpoint ends where the uninterrupted run ended.
class CudaTrain : public Cuda, public ::testing::WithParamInterface<std::string> {};

TEST_P(CudaTrain, ReplacesBestTwiceAndResumesExactly) {
  const std::string precision = GetParam();
  auto full = train(dir_ / "full", precision, {"--epochs", "3"});
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_EQ(count(full.err, "| new best"), 3u) << full.err;
  EXPECT_TRUE(fs::exists(dir_ / "full" / "best" / "model.safetensors"));
  EXPECT_EQ(leftovers(dir_ / "full"), std::vector<std::string>{});
  const auto losses = values_of(dir_ / "full" / "trainer_log.jsonl", "eval_loss");
  ASSERT_EQ(losses.size(), 3u);
  EXPECT_LT(losses[2], losses[0]) << "training on the GPU did not lower the loss";

  auto part = train(dir_ / "part", precision, {"--epochs", "3"});
  ASSERT_EQ(part.exit_code, 0) << part.err;
  fs::remove_all(dir_ / "part" / "checkpoint-8");
  fs::remove_all(dir_ / "part" / "checkpoint-12");
  fs::remove_all(dir_ / "part" / "last");
  auto resumed =
      train(dir_ / "part", precision, {"--epochs", "3", "--resume-from-checkpoint", "latest"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("at step 4"), std::string::npos) << resumed.err;
  // CUDA kernels (atomics in backward) need not be bitwise repeatable: equal within 1e-4.
  const auto full_steps = values_of(dir_ / "full" / "trainer_log.jsonl", "grad_norm");
  const auto part_steps = values_of(dir_ / "part" / "trainer_log.jsonl", "grad_norm");
  ASSERT_EQ(part_steps.size(), full_steps.size());
  for (size_t i = 0; i < full_steps.size(); ++i) {
    EXPECT_NEAR(part_steps[i], full_steps[i], 1e-4 * std::max(1.0, full_steps[i])) << "step " << i;
  }
  if (precision == "fp16") {
    auto state = nlohmann::json::parse(
        read_text_file(dir_ / "full" / "checkpoint-12" / "trainer_state.json"));
    EXPECT_TRUE(state.contains("loss_scaler")) << "no loss-scaler state saved";
  }
}

INSTANTIATE_TEST_SUITE_P(Precisions, CudaTrain, ::testing::Values("fp32", "bf16", "fp16"));

TEST_F(Cuda, PredictAndEvalEqualTheCpuWithin1e4) {
  auto on = [&](const std::string& device) {
    auto result = run_ftune({"predict",
                             "--model",
                             kModel,
                             "--data",
                             kTexts,
                             "--output",
                             (dir_ / (device + ".jsonl")).string(),
                             "--device",
                             device});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return read_logits(dir_ / (device + ".jsonl"));
  };
  const auto cpu = on("cpu");
  const auto cuda = on("cuda");
  ASSERT_EQ(cuda.size(), cpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) {
    ASSERT_EQ(cuda[i].size(), cpu[i].size());
    for (size_t j = 0; j < cpu[i].size(); ++j) {
      EXPECT_NEAR(cuda[i][j], cpu[i][j], 1e-4) << "example " << i << " logit " << j;
    }
  }
  auto eval = [&](const std::string& device) {
    const auto report = dir_ / ("eval-" + device + ".json");
    auto result = run_ftune({"eval",
                             "--model",
                             kModel,
                             "--data",
                             kTexts,
                             "--report-json",
                             report.string(),
                             "--device",
                             device});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return nlohmann::json::parse(read_text_file(report));
  };
  const auto cpu_report = eval("cpu");
  const auto cuda_report = eval("cuda");
  EXPECT_EQ(cuda_report["classification_report"]["accuracy"],
            cpu_report["classification_report"]["accuracy"]);
  EXPECT_NEAR(cuda_report["metrics"]["loss"].get<double>(),
              cpu_report["metrics"]["loss"].get<double>(),
              1e-4);
}

TEST_F(Cuda, TranslateBeamFourEqualsTheCpu) {
  write_marian_sources(dir_ / "sources.txt");
  auto on = [&](const std::string& device) {
    const auto out = dir_ / (device + ".txt");
    auto result = run_ftune({"translate",
                             "--model",
                             kMarian,
                             "--input",
                             (dir_ / "sources.txt").string(),
                             "--output",
                             out.string(),
                             "--beam",
                             "4",
                             "--device",
                             device});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return read_text_file(out);
  };
  const auto cpu = on("cpu");
  EXPECT_FALSE(cpu.empty());
  EXPECT_EQ(on("cuda"), cpu);
}

// A world of one with NCCL (the group is made because the backend is named), then 2 ranks sharing
// one GPU over Gloo, whose collectives then carry CUDA tensors: both train to the end.
TEST_F(Cuda, NcclWorldOfOneAndGlooTwoRanksOnOneGpuTrain) {
  auto nccl = train(
      dir_ / "nccl", "fp32", {"--epochs", "1", "--nproc-per-node", "1", "--dist-backend", "nccl"});
  if (nccl.err.find("this LibTorch build has no NCCL") != std::string::npos) {
    ADD_FAILURE() << "a CUDA LibTorch built without --dist-backend nccl (FTUNE_NCCL): " << nccl.err;
  }
  ASSERT_EQ(nccl.exit_code, 0) << nccl.err;
  EXPECT_TRUE(fs::exists(dir_ / "nccl" / "last" / "model.safetensors"));

  auto gloo = train(
      dir_ / "gloo", "fp32", {"--epochs", "2", "--nproc-per-node", "2", "--dist-backend", "gloo"});
  ASSERT_EQ(gloo.exit_code, 0) << gloo.err;
  EXPECT_TRUE(fs::exists(dir_ / "gloo" / "best" / "model.safetensors"));
  EXPECT_EQ(values_of(dir_ / "gloo" / "trainer_log.jsonl", "eval_loss").size(), 2u);
}

}  // namespace
}  // namespace ftune::testing
