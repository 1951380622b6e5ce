// Distributed helpers without a process group: DistributedSampler-style sharding of the epoch's
// batches, and the torchrun environment contract.
#include "lib/train/distributed.h"

#include <algorithm>
#include <map>

#include <gtest/gtest.h>

namespace ftune {
namespace {

std::vector<size_t> flatten(const std::vector<std::vector<size_t>>& batches) {
  std::vector<size_t> all;
  for (const auto& b : batches) all.insert(all.end(), b.begin(), b.end());
  return all;
}

TEST(RankEpochBatches, WithOneRankEqualEpochBatches) {
  std::vector<size_t> lengths = {5, 9, 2, 7, 7, 1, 3, 8, 4, 6, 2};
  for (bool shuffle : {false, true}) {
    for (bool group : {false, true}) {
      BatchOrderOptions options{3, shuffle, group, 7};
      EXPECT_EQ(make_rank_epoch_batches(lengths, options, 2, 0, 1),
                make_epoch_batches(lengths, options, 2));
    }
  }
}

TEST(RankEpochBatches, WithoutShuffleTwoRanksSplitEachGlobalBatch) {
  std::vector<size_t> lengths(16, 5);
  BatchOrderOptions options{4, /*shuffle=*/false, false, 42};
  auto rank0 = make_rank_epoch_batches(lengths, options, 0, 0, 2);
  auto rank1 = make_rank_epoch_batches(lengths, options, 0, 1, 2);
  ASSERT_EQ(rank0.size(), 2u);
  EXPECT_EQ(rank0[0], (std::vector<size_t>{0, 2, 4, 6}));
  EXPECT_EQ(rank1[0], (std::vector<size_t>{1, 3, 5, 7}));
  EXPECT_EQ(rank1[1], (std::vector<size_t>{9, 11, 13, 15}));
}

TEST(RankEpochBatches, ShuffledRanksTogetherSeeEveryExampleOncePerEpoch) {
  std::vector<size_t> lengths(40, 5);
  BatchOrderOptions options{3, /*shuffle=*/true, false, 42};
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    auto seen = flatten(make_rank_epoch_batches(lengths, options, epoch, 0, 2));
    auto rank1 = flatten(make_rank_epoch_batches(lengths, options, epoch, 1, 2));
    seen.insert(seen.end(), rank1.begin(), rank1.end());
    std::sort(seen.begin(), seen.end());
    std::vector<size_t> all(40);
    for (size_t i = 0; i < all.size(); ++i) all[i] = i;
    EXPECT_EQ(seen, all) << "epoch " << epoch;
  }
  EXPECT_NE(make_rank_epoch_batches(lengths, options, 0, 0, 2),
            make_rank_epoch_batches(lengths, options, 1, 0, 2));
}

TEST(RankEpochBatches, PadsSoEveryRankGetsTheSameBatches) {
  std::vector<size_t> lengths(10, 5);  // 10 examples, 3 ranks: 4 each, 2 repeated
  BatchOrderOptions options{3, /*shuffle=*/true, false, 1};
  std::vector<size_t> seen;
  for (int rank = 0; rank < 3; ++rank) {
    auto batches = make_rank_epoch_batches(lengths, options, 0, rank, 3);
    ASSERT_EQ(batches.size(), 2u);
    EXPECT_EQ(batches[0].size(), 3u);
    EXPECT_EQ(batches[1].size(), 1u);
    EXPECT_EQ(static_cast<int64_t>(batches.size()), count_rank_batches(10, 3, 3));
    auto all = flatten(batches);
    seen.insert(seen.end(), all.begin(), all.end());
  }
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_EQ(seen.size(), 10u);
}

TEST(DistributedEnv, AbsentWithoutWorldSize) {
  EXPECT_FALSE(parse_distributed_env({{"RANK", "0"}}).has_value());
}

TEST(DistributedEnv, ReadsTorchrunVariables) {
  auto env = parse_distributed_env({{"RANK", "3"},
                                    {"WORLD_SIZE", "4"},
                                    {"LOCAL_RANK", "1"},
                                    {"MASTER_ADDR", "node0"},
                                    {"MASTER_PORT", "29500"},
                                    {"TORCHELASTIC_USE_AGENT_STORE", "True"}});
  ASSERT_TRUE(env.has_value());
  EXPECT_EQ(env->rank, 3);
  EXPECT_EQ(env->local_rank, 1);
  EXPECT_EQ(env->master_addr, "node0");
  EXPECT_TRUE(env->external_store);
}

TEST(DistributedEnv, NamesTheMissingOrBadVariable) {
  try {
    parse_distributed_env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "x"}});
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("MASTER_PORT is not set; hint:"), std::string::npos)
        << e.what();
  }
  try {
    parse_distributed_env(
        {{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "x"}, {"MASTER_PORT", "1"}});
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("RANK 2 with WORLD_SIZE 2"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ftune
