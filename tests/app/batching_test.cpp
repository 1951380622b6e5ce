// How examples are batched, through the real binary, against the Python reference's numbers:
// --group-by-length (Hugging Face's length-grouped sampler), --eval-batch-size and the eval
// command's --batch-size (a translation eval loss is the batch-size-weighted mean of batch means,
// as HF's evaluation loop computes it), and per-batch (dynamic) padding. With --learning-rate 0
// the weights never change, so every logged loss is a function of the fixture's weights and of
// which examples share a batch alone.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"
#include "tests/common/tensor_testing.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kBert = "tests/fixtures/bert-cls";  // 16 texts; expected.json: HF's logits
// pairs.jsonl = inputs.json's 8 pairs, which the reference truncated to 24 tokens a side.
const std::string kMarian = "tests/fixtures/marian-mt";

// Each fixture example's cross-entropy under HF's logits (expected.json), in file order.
std::vector<double> bert_example_losses() {
  const json expected = read_json_file(kBert + "/expected.json");
  const json inputs = read_json_file(kBert + "/inputs.json");
  std::vector<double> losses;
  for (size_t i = 0; i < expected["logits"].size(); ++i) {
    const auto logits = expected["logits"][i].get<std::vector<double>>();
    const double top = *std::max_element(logits.begin(), logits.end());
    double sum = 0.0;
    for (double z : logits) sum += std::exp(z - top);
    const auto label = inputs["label_ids"][i].get<size_t>();
    losses.push_back(top + std::log(sum) - logits[label]);
  }
  return losses;
}

// Each fixture example's token count (HF's attention mask).
std::vector<size_t> bert_example_lengths() {
  const json inputs = read_json_file(kBert + "/inputs.json");
  std::vector<size_t> lengths;
  for (const auto& mask : inputs["attention_mask"]) {
    const auto values = mask.get<std::vector<int>>();
    lengths.push_back(static_cast<size_t>(std::accumulate(values.begin(), values.end(), 0)));
  }
  return lengths;
}

std::vector<double> eval_losses(const fs::path& log) {
  std::vector<double> losses;
  for (auto& record : read_json_lines(log)) {
    if (record.contains("eval_loss")) losses.push_back(record["eval_loss"].get<double>());
  }
  return losses;
}

class Batching : public CliTest {
 protected:
  CommandResult train_bert(const fs::path& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "train",
                                     "--model",
                                     kBert,
                                     "--train",
                                     kBert + "/texts.jsonl",
                                     "--output-dir",
                                     out.string(),
                                     "--epochs",
                                     "1",
                                     "--batch-size",
                                     "4",
                                     "--learning-rate",
                                     "0",
                                     "--logging-steps",
                                     "1",
                                     "--eval-strategy",
                                     "no"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }
  CommandResult train_marian(const fs::path& out, std::vector<std::string> extra) {
    std::vector<std::string> args = {"--threads",
                                     "1",
                                     "train",
                                     "--task",
                                     "translate",
                                     "--model",
                                     kMarian,
                                     "--train",
                                     kMarian + "/pairs.jsonl",
                                     "--valid",
                                     kMarian + "/pairs.jsonl",
                                     "--output-dir",
                                     out.string(),
                                     "--max-steps",
                                     "1",
                                     "--learning-rate",
                                     "0",
                                     "--max-length",
                                     "24",
                                     "--max-target-length",
                                     "24"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }
};

// HF's LengthGroupedSampler with 16 examples and batches of 4: one megabatch, sorted longest
// first, cut into 4 batches. The fixture's lengths tie across the cuts after the 4th and 12th
// (13 13 | 13 and 10 | 10 10), so which tied example lands in batch 1 or 2 depends on the shuffle;
// the 8 longest as a set (steps 1 + 2) and the 8 shortest (steps 3 + 4) do not.
TEST_F(Batching, GroupByLengthPutsTheEightLongestExamplesInTheFirstTwoBatches) {
  auto losses = bert_example_losses();
  const auto lengths = bert_example_lengths();
  ASSERT_EQ(losses.size(), 16u);
  std::vector<size_t> order(losses.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(
      order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  ASSERT_GT(lengths[order[7]], lengths[order[8]]);  // the halves are fixed despite the ties
  double longest_half = 0.0, shortest_half = 0.0;
  for (size_t k = 0; k < 8; ++k) longest_half += losses[order[k]] / 4.0;  // two batch means
  for (size_t k = 8; k < 16; ++k) shortest_half += losses[order[k]] / 4.0;

  auto grouped = train_bert(dir_ / "grouped", {"--group-by-length"});
  ASSERT_EQ(grouped.exit_code, 0) << grouped.err;
  const auto steps = read_step_losses(dir_ / "grouped" / "trainer_log.jsonl");
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_NEAR(steps[0] + steps[1], longest_half, 1e-5);
  EXPECT_NEAR(steps[2] + steps[3], shortest_half, 1e-5);

  // The same seed without grouping mixes lengths: the check above can tell the two apart.
  auto shuffled = train_bert(dir_ / "shuffled", {});
  ASSERT_EQ(shuffled.exit_code, 0) << shuffled.err;
  const auto mixed = read_step_losses(dir_ / "shuffled" / "trainer_log.jsonl");
  ASSERT_EQ(mixed.size(), 4u);
  EXPECT_GT(std::abs(mixed[0] + mixed[1] - longest_half), 1e-3);
}

// Per-batch padding: a batch's rows are padded to its own longest, and the logits of a row do not
// depend on its batch mates, so batches of 1 and of 16 both give HF's logits (computed with
// padding to 32) at 1e-5.
TEST_F(Batching, PredictLogitsAreTheReferencesWhateverTheBatchSize) {
  const json expected = read_json_file(kBert + "/expected.json");
  for (const char* batch : {"1", "5", "16"}) {
    const auto out = dir_ / (std::string("predictions-") + batch + ".jsonl");
    auto result = run_ftune({"--threads",
                             "1",
                             "predict",
                             "--model",
                             kBert,
                             "--data",
                             kBert + "/texts.jsonl",
                             "--output",
                             out.string(),
                             "--batch-size",
                             batch});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    const auto rows = read_json_lines(out);
    ASSERT_EQ(rows.size(), expected["logits"].size());
    for (size_t i = 0; i < rows.size(); ++i) {
      for (size_t j = 0; j < 3; ++j) {
        const double want = expected["logits"][i][j].get<double>();
        EXPECT_NEAR(rows[i]["logits"][j].get<double>(), want, 1e-5 * std::max(1.0, std::abs(want)))
            << "batch " << batch << " row " << i;
      }
    }
  }
}

// HF's evaluation loop averages batch mean losses weighted by batch size. One batch of all 8
// pairs gives the token-level mean over the set (expected.json "loss"); batches of one give the
// mean of the per-example means ("per_example_loss"): the two differ by 0.27 here.
TEST_F(Batching, EvalBatchSizeSetsHowTheTranslationEvalLossIsAveraged) {
  const json expected = read_json_file(kMarian + "/expected.json");
  const double whole_set = expected["loss"].get<double>();
  const auto per_example = expected["per_example_loss"].get<std::vector<double>>();
  const double mean_of_examples =
      std::accumulate(per_example.begin(), per_example.end(), 0.0) / per_example.size();
  ASSERT_GT(std::abs(whole_set - mean_of_examples), 0.1);

  auto by_default = train_marian(dir_ / "default", {"--batch-size", "8"});
  ASSERT_EQ(by_default.exit_code, 0) << by_default.err;
  auto ones = train_marian(dir_ / "ones", {"--batch-size", "8", "--eval-batch-size", "1"});
  ASSERT_EQ(ones.exit_code, 0) << ones.err;
  const auto default_loss = eval_losses(dir_ / "default" / "trainer_log.jsonl");
  const auto ones_loss = eval_losses(dir_ / "ones" / "trainer_log.jsonl");
  ASSERT_EQ(default_loss.size(), 1u);
  ASSERT_EQ(ones_loss.size(), 1u);
  EXPECT_NEAR(default_loss[0], whole_set, 1e-5 * whole_set);  // --eval-batch-size = --batch-size
  EXPECT_NEAR(ones_loss[0], mean_of_examples, 1e-5 * mean_of_examples);

  // `ftune eval --task translate --batch-size` averages the same way.
  for (auto [batch, want] : {std::pair<const char*, double>{"8", whole_set},
                             std::pair<const char*, double>{"1", mean_of_examples}}) {
    auto result = run_ftune({"--threads",
                             "1",
                             "eval",
                             "--task",
                             "translate",
                             "--model",
                             kMarian,
                             "--data",
                             kMarian + "/pairs.jsonl",
                             "--batch-size",
                             batch,
                             "--max-length",
                             "24",
                             "--max-target-length",
                             "24"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_NEAR(printed_number(result.out, "loss"), want, 1e-4) << "batch " << batch << result.out;
  }
}

}  // namespace
}  // namespace ftune::testing
