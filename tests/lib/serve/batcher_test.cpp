// DynamicBatcher (lib/serve/batcher.h): budgets, groups, order, the bounded queue, abandoned
// requests and the drain on stop, with a recording run function in place of a model.
#include "lib/serve/batcher.h"

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace ftune {
namespace {

using namespace std::chrono_literals;

struct Text {
  size_t tokens = 0;
  int64_t group = 0;
  std::string name;
};

// Records each batch (names in the order the run saw them) and answers "name!" per input.
struct Recorder {
  std::mutex mutex;
  std::vector<std::vector<std::string>> batches;
  std::chrono::milliseconds delay{0};

  std::vector<std::string> run(const std::vector<const Text*>& batch) {
    std::this_thread::sleep_for(delay);
    std::vector<std::string> names;
    std::vector<std::string> outputs;
    for (const Text* text : batch) {
      names.push_back(text->name);
      outputs.push_back(text->name + "!");
    }
    std::lock_guard<std::mutex> lock(mutex);
    batches.push_back(names);
    return outputs;
  }
};

BatchLimits limits(size_t budget, std::chrono::microseconds wait, size_t queue = 256) {
  BatchLimits limits;
  limits.max_batch_tokens = budget;
  limits.max_wait = wait;
  limits.max_queued_inputs = queue;
  return limits;
}

TEST(DynamicBatcher, AnswersEachRequestInItsOwnOrderFromLengthSortedBatches) {
  Recorder recorder;
  DynamicBatcher<Text, std::string> batcher(limits(1000, 200ms),
                                            [&](const auto& batch) { return recorder.run(batch); });
  auto first = batcher.submit({{5, 0, "a5"}, {2, 0, "a2"}});
  auto second = batcher.submit({{3, 0, "b3"}});
  const auto a = first.wait_for(10s);
  const auto b = second.wait_for(10s);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(*a, (std::vector<std::string>{"a5!", "a2!"}));
  EXPECT_EQ(*b, (std::vector<std::string>{"b3!"}));
  // One run (both arrived within the wait), shortest first.
  ASSERT_EQ(recorder.batches.size(), 1u);
  EXPECT_EQ(recorder.batches[0], (std::vector<std::string>{"a2", "b3", "a5"}));
}

TEST(DynamicBatcher, KeepsEachBatchWithinTheTokenBudget) {
  Recorder recorder;
  // A long wait: each batch runs because the queue holds a full budget, not because of time.
  DynamicBatcher<Text, std::string> batcher(limits(/*budget=*/20, 10s),
                                            [&](const auto& batch) { return recorder.run(batch); });
  std::vector<Text> texts;
  for (int i = 0; i < 6; ++i) texts.push_back({6, 0, "t" + std::to_string(i)});
  texts.push_back({30, 0, "huge"});  // over the budget: runs alone
  auto all = batcher.submit(texts);
  ASSERT_TRUE(all.wait_for(10s));
  // 6 tokens x 3 texts = 18 <= 20; a fourth would make 24.
  ASSERT_EQ(recorder.batches.size(), 3u);
  EXPECT_EQ(recorder.batches[0], (std::vector<std::string>{"t0", "t1", "t2"}));
  EXPECT_EQ(recorder.batches[1], (std::vector<std::string>{"t3", "t4", "t5"}));
  EXPECT_EQ(recorder.batches[2], (std::vector<std::string>{"huge"}));
}

TEST(DynamicBatcher, NeverMixesGroups) {
  Recorder recorder;
  DynamicBatcher<Text, std::string> batcher(limits(1000, 100ms),
                                            [&](const auto& batch) { return recorder.run(batch); });
  auto beam1 = batcher.submit({{3, 1, "g1a"}, {3, 1, "g1b"}});
  auto beam4 = batcher.submit({{3, 4, "g4a"}});
  auto beam1_again = batcher.submit({{3, 1, "g1c"}});
  ASSERT_TRUE(beam1.wait_for(10s) && beam4.wait_for(10s) && beam1_again.wait_for(10s));
  ASSERT_EQ(recorder.batches.size(), 2u);
  EXPECT_EQ(recorder.batches[0], (std::vector<std::string>{"g1a", "g1b", "g1c"}));
  EXPECT_EQ(recorder.batches[1], (std::vector<std::string>{"g4a"}));
}

TEST(DynamicBatcher, RefusesWhatDoesNotFitTheQueue) {
  Recorder recorder;
  DynamicBatcher<Text, std::string> batcher(limits(1000, 300ms, /*queue=*/3),
                                            [&](const auto& batch) { return recorder.run(batch); });
  auto first = batcher.submit({{1, 0, "a"}, {1, 0, "b"}});
  EXPECT_THROW(batcher.submit({{1, 0, "c"}, {1, 0, "d"}}), QueueFull);
  auto fits = batcher.submit({{1, 0, "c"}});
  EXPECT_EQ(batcher.queued_inputs(), 3u);
  ASSERT_TRUE(first.wait_for(10s) && fits.wait_for(10s));
  EXPECT_EQ(batcher.queued_inputs(), 0u);
}

TEST(DynamicBatcher, DropsInputsOfRequestsNobodyWaitsFor) {
  Recorder recorder;
  DynamicBatcher<Text, std::string> batcher(limits(1000, 300ms),
                                            [&](const auto& batch) { return recorder.run(batch); });
  auto gone = batcher.submit({{1, 0, "gone"}});
  EXPECT_FALSE(gone.wait_for(1ms));  // gives up while the batch still waits
  auto kept = batcher.submit({{1, 0, "kept"}});
  ASSERT_TRUE(kept.wait_for(10s));
  ASSERT_EQ(recorder.batches.size(), 1u);
  EXPECT_EQ(recorder.batches[0], (std::vector<std::string>{"kept"}));
}

TEST(DynamicBatcher, StopRunsWhatIsQueuedThenRefuses) {
  Recorder recorder;
  DynamicBatcher<Text, std::string> batcher(limits(1000, 10s),
                                            [&](const auto& batch) { return recorder.run(batch); });
  auto queued = batcher.submit({{1, 0, "a"}, {1, 0, "b"}});
  batcher.stop();  // does not wait the 10 s
  const auto outputs = queued.wait_for(0ms);
  ASSERT_TRUE(outputs);
  EXPECT_EQ(*outputs, (std::vector<std::string>{"a!", "b!"}));
  EXPECT_THROW(batcher.submit({{1, 0, "late"}}), QueueFull);
}

TEST(DynamicBatcher, AFailedRunFailsItsRequestsOnly) {
  DynamicBatcher<Text, std::string> batcher(limits(1000, 0us), [](const auto& batch) {
    if (batch.front()->name == "bad") throw Error("the model run failed");
    return std::vector<std::string>(batch.size(), "ok");
  });
  auto bad = batcher.submit({{1, 0, "bad"}});
  EXPECT_THROW(bad.wait_for(10s), Error);
  auto good = batcher.submit({{1, 0, "good"}});
  const auto outputs = good.wait_for(10s);
  ASSERT_TRUE(outputs);
  EXPECT_EQ(*outputs, (std::vector<std::string>{"ok"}));
}

}  // namespace
}  // namespace ftune
