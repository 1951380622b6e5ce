// The one collate module: each example kind padded as Hugging Face's collators pad it (expected
// tensors written out by hand from DataCollatorWithPadding / DataCollatorForSeq2Seq /
// DataCollatorForLanguageModeling's padding rules).
#include "lib/tensors/collate.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace ftune {
namespace {

at::Tensor rows(std::vector<std::vector<int64_t>> values) {
  std::vector<at::Tensor> out;
  for (auto& row : values) out.push_back(torch::tensor(row, torch::kLong));
  return torch::stack(out);
}

TEST(Collate, ClassificationPadsToTheBatchsLongestWithMaskAndTypes) {
  std::vector<Encoding> encodings(3);
  encodings[0] = {{101, 7, 102}, {0, 0, 0}, {1, 1, 1}};
  encodings[1] = {{101, 8, 9, 102, 10, 102}, {0, 0, 0, 0, 1, 1}, {1, 1, 1, 1, 1, 1}};
  encodings[2] = {{101, 102}, {}, {}};  // no types or mask: zeros and ones
  const Batch batch = collate_batch(encodings, {2, 0, 1}, {2, 0}, /*pad_id=*/5);
  EXPECT_TRUE(batch.input_ids.equal(rows({{101, 102, 5}, {101, 7, 102}})));
  EXPECT_TRUE(batch.attention_mask.equal(rows({{1, 1, 0}, {1, 1, 1}})));
  EXPECT_TRUE(batch.token_type_ids.equal(rows({{0, 0, 0}, {0, 0, 0}})));
  EXPECT_TRUE(batch.labels.equal(torch::tensor({1, 2}, torch::kLong)));

  const Batch pair = collate_batch(encodings, {}, {0, 1}, 0);
  EXPECT_TRUE(pair.token_type_ids.equal(rows({{0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 1, 1}})));
  EXPECT_FALSE(pair.labels.defined());
}

TEST(Collate, TranslationPadsLabelsWithIgnoreIndexAndShiftsThemRight) {
  TranslationExamples examples;
  examples.source_ids = {{4, 5, 0}, {6, 0}};
  examples.label_ids = {{7, 0}, {8, 9, 0}};
  const Seq2SeqBatch batch = collate_seq2seq(examples, {0, 1}, /*pad_id=*/58, /*start=*/58);
  EXPECT_TRUE(batch.input_ids.equal(rows({{4, 5, 0}, {6, 0, 58}})));
  EXPECT_TRUE(batch.attention_mask.equal(rows({{1, 1, 1}, {1, 1, 0}})));
  EXPECT_TRUE(batch.labels.equal(rows({{7, 0, -100}, {8, 9, 0}})));
  // HF shift_tokens_right: start token first, -100 replaced by the pad id.
  EXPECT_TRUE(batch.decoder_input_ids.equal(rows({{58, 7, 0}, {58, 8, 9}})));
}

TEST(Collate, MaskedSequencesPadInputsWithPadAndLabelsWithIgnoreIndex) {
  std::vector<MaskedSequence> sequences = {{{101, 103, 102}, {-100, 2023, -100}},
                                           {{101, 102}, {-100, -100}}};
  const Batch batch = collate_masked(sequences, /*pad_id=*/0);
  EXPECT_TRUE(batch.input_ids.equal(rows({{101, 103, 102}, {101, 102, 0}})));
  EXPECT_TRUE(batch.labels.equal(rows({{-100, 2023, -100}, {-100, -100, -100}})));
  EXPECT_TRUE(batch.attention_mask.equal(rows({{1, 1, 1}, {1, 1, 0}})));
  EXPECT_TRUE(batch.token_type_ids.equal(rows({{0, 0, 0}, {0, 0, 0}})));
}

TEST(Collate, RowsComputedInLengthOrderGoBackToExampleOrder) {
  const auto computed = rows({{30}, {10}, {20}});  // rows of examples 2, 0, 1
  EXPECT_TRUE(put_rows_in_example_order(computed, {2, 0, 1}).equal(rows({{10}, {20}, {30}})));
}

}  // namespace
}  // namespace ftune
