// Batch order: file order without shuffling, seeded and reproducible shuffling, length grouping.
#include "lib/schedule/batch_order.h"

#include <algorithm>
#include <set>

#include <gtest/gtest.h>

namespace ftune {
namespace {

TEST(BatchOrder, NoShuffleKeepsConsecutiveRows) {
  std::vector<size_t> lengths(10, 5);
  BatchOrderOptions options{4, /*shuffle=*/false, false, 42};
  auto batches = make_epoch_batches(lengths, options, 0);
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0], (std::vector<size_t>{0, 1, 2, 3}));
  EXPECT_EQ(batches[2], (std::vector<size_t>{8, 9}));
}

TEST(BatchOrder, ShuffleIsReproducibleAndDiffersPerEpoch) {
  std::vector<size_t> lengths(100, 5);
  BatchOrderOptions options{8, true, false, 42};
  auto a = make_epoch_batches(lengths, options, 0);
  auto b = make_epoch_batches(lengths, options, 0);
  auto c = make_epoch_batches(lengths, options, 1);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<size_t> seen;
  for (const auto& batch : a) seen.insert(seen.end(), batch.begin(), batch.end());
  std::sort(seen.begin(), seen.end());
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], i);
}

TEST(BatchOrder, GroupByLengthPutsSimilarLengthsTogether) {
  std::vector<size_t> lengths;
  for (size_t i = 0; i < 64; ++i) lengths.push_back(i % 2 ? 100 : 3);
  BatchOrderOptions options{8, true, /*group_by_length=*/true, 7};
  auto batches = make_epoch_batches(lengths, options, 0);
  for (const auto& batch : batches) {
    std::set<size_t> distinct;
    for (size_t index : batch) distinct.insert(lengths[index]);
    EXPECT_EQ(distinct.size(), 1u);
  }
}

}  // namespace
}  // namespace ftune
