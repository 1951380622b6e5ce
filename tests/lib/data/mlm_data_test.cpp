// Masked-LM data: Hugging Face's masking rules (rates within binomial bounds, special tokens and
// padding never chosen, the 80/10/10 split, whole words), and reading text, gzip, JSON Lines,
// packed and pre-masked files.
#include "lib/data/mlm_data.h"

#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "util/error.h"

namespace ftune {
namespace {

const std::string kFixture = "tests/fixtures/bert-mlm";

const WordPieceTokenizer& fixture_tokenizer() {
  static const WordPieceTokenizer tokenizer = WordPieceTokenizer::load_from_folder(kFixture);
  return tokenizer;
}

// |count - n p| <= 6 standard deviations of Binomial(n, p).
::testing::AssertionResult within_binomial_bounds(int64_t count, int64_t n, double p) {
  const double mean = static_cast<double>(n) * p;
  const double sd = std::sqrt(static_cast<double>(n) * p * (1.0 - p));
  if (std::abs(static_cast<double>(count) - mean) <= 6.0 * sd) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << count << " of " << n << " is outside " << mean << " +- "
                                       << 6.0 * sd << " (p = " << p << ")";
}

class MlmDataFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/ftune_mlm_data_test.XXXXXX";
    ASSERT_NE(::mkdtemp(name), nullptr);
    dir_ = name;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ / name, std::ios::binary) << content;
    return dir_ / name;
  }
  std::filesystem::path dir_;
};

TEST(MlmMasking, SpecialIdsAreExactlyTheFixtureSpecialTokensMask) {
  const auto vocab = make_masking_vocab(fixture_tokenizer());
  std::ifstream in(kFixture + "/inputs.json");
  auto inputs = nlohmann::json::parse(in);
  const auto ids = inputs["original_input_ids"].get<std::vector<std::vector<int32_t>>>();
  const auto want = inputs["special_tokens_mask"].get<std::vector<std::vector<int>>>();
  for (size_t e = 0; e < ids.size(); ++e) {
    for (size_t t = 0; t < ids[e].size(); ++t) {
      EXPECT_EQ(vocab.is_special[ids[e][t]], want[e][t] == 1)
          << "example " << e << " position " << t;
    }
  }
  EXPECT_EQ(vocab.mask_id, 103);
  EXPECT_EQ(vocab.vocab_size, 30522);
}

TEST(MlmMasking, RatesAndTheEightyTenTenSplitAreHuggingFacesWithinBinomialBounds) {
  const auto& tokenizer = fixture_tokenizer();
  const auto vocab = make_masking_vocab(tokenizer);
  std::vector<int32_t> ids = {static_cast<int32_t>(tokenizer.cls_id())};
  for (int32_t id = 2000; id < 2200; ++id) ids.push_back(id);
  ids.push_back(static_cast<int32_t>(tokenizer.sep_id()));
  ids.push_back(static_cast<int32_t>(tokenizer.unk_id()));
  for (int i = 0; i < 10; ++i) ids.push_back(static_cast<int32_t>(tokenizer.pad_id()));

  MaskRng rng(1234);
  int64_t maskable = 0, chosen = 0, to_mask = 0, to_random = 0, kept = 0;
  std::set<int64_t> random_ids;
  for (int draw = 0; draw < 500; ++draw) {
    auto masked = mask_tokens(ids, vocab, {0.15, false}, rng);
    ASSERT_EQ(masked.input_ids.size(), ids.size());
    for (size_t t = 0; t < ids.size(); ++t) {
      if (vocab.is_special[ids[t]]) {
        ASSERT_EQ(masked.labels[t], -100) << "special token at position " << t << " was chosen";
        ASSERT_EQ(masked.input_ids[t], ids[t]);
        continue;
      }
      ++maskable;
      if (masked.labels[t] == -100) {
        ASSERT_EQ(masked.input_ids[t], ids[t]) << "an unchosen token changed";
        continue;
      }
      ++chosen;
      ASSERT_EQ(masked.labels[t], ids[t]);
      if (masked.input_ids[t] == vocab.mask_id) {
        ++to_mask;
      } else if (masked.input_ids[t] == ids[t]) {
        ++kept;
      } else {
        ++to_random;
        random_ids.insert(masked.input_ids[t]);
      }
    }
  }
  EXPECT_EQ(maskable, 500 * 200);
  EXPECT_TRUE(within_binomial_bounds(chosen, maskable, 0.15));
  // A random replacement equals the original or [MASK] with probability 2/30522 (ignored here).
  EXPECT_TRUE(within_binomial_bounds(to_mask, chosen, 0.8));
  EXPECT_TRUE(within_binomial_bounds(to_random, chosen, 0.1));
  EXPECT_TRUE(within_binomial_bounds(kept, chosen, 0.1));
  EXPECT_GT(random_ids.size(), 0.9 * static_cast<double>(to_random));  // spread over the vocab
}

TEST(MlmMasking, SameSeedSameMasksOtherSeedOtherMasks) {
  const auto vocab = make_masking_vocab(fixture_tokenizer());
  std::vector<int32_t> ids = {101};
  for (int32_t id = 3000; id < 3100; ++id) ids.push_back(id);
  ids.push_back(102);
  MaskRng a(7), b(7), c(8);
  auto first = mask_tokens(ids, vocab, {0.15, false}, a);
  auto again = mask_tokens(ids, vocab, {0.15, false}, b);
  EXPECT_EQ(first.labels, again.labels);
  EXPECT_EQ(first.input_ids, again.input_ids);
  EXPECT_NE(first.labels, mask_tokens(ids, vocab, {0.15, false}, c).labels);
}

TEST(MlmMasking, WholeWordMaskingChoosesCompleteWordsWithinTheBudget) {
  const auto& tokenizer = fixture_tokenizer();
  const auto vocab = make_masking_vocab(tokenizer);
  auto encoding = tokenizer.encode(
      "the unaffable tokenizer splits antidisestablishmentarianism and embeddings into "
      "wordpieces while preprocessing hyperparameters",
      std::nullopt,
      0);
  std::vector<int32_t> ids(encoding.input_ids.begin(), encoding.input_ids.end());
  // Words: a token and its following "##" pieces.
  std::vector<std::vector<size_t>> words;
  for (size_t t = 1; t + 1 < ids.size(); ++t) {
    if (vocab.is_continuation[ids[t]]) {
      words.back().push_back(t);
    } else {
      words.push_back({t});
    }
  }
  size_t multi_piece = 0;
  for (const auto& word : words) multi_piece += word.size() > 1;
  ASSERT_GE(multi_piece, 4u) << "the test text should have words of several pieces";
  const auto budget = static_cast<size_t>(std::nearbyint(ids.size() * 0.15));

  MaskRng rng(99);
  std::map<size_t, int> times_chosen;  // by word index
  for (int draw = 0; draw < 400; ++draw) {
    auto masked = mask_tokens(ids, vocab, {0.15, true}, rng);
    EXPECT_EQ(masked.labels.front(), -100);
    EXPECT_EQ(masked.labels.back(), -100);
    size_t covered = 0;
    for (size_t w = 0; w < words.size(); ++w) {
      size_t labelled = 0;
      for (size_t t : words[w]) labelled += masked.labels[t] != -100;
      ASSERT_TRUE(labelled == 0 || labelled == words[w].size())
          << "word " << w << " partly chosen (" << labelled << " of " << words[w].size() << ")";
      if (labelled) ++times_chosen[w];
      covered += labelled;
    }
    EXPECT_GE(covered, 1u);
    EXPECT_LE(covered, budget);
  }
  for (size_t w = 0; w < words.size(); ++w) {
    if (words[w].size() <= budget) {
      EXPECT_GT(times_chosen[w], 0) << "word " << w << " is never chosen";
    } else {  // it would overshoot the budget: HF skips it
      EXPECT_EQ(times_chosen[w], 0) << "word " << w << " of " << words[w].size() << " pieces";
    }
  }
}

TEST_F(MlmDataFiles, TextLinesBecomeTruncatedSequencesAndBlankLinesAreSkipped) {
  auto file =
      write("corpus.txt", "\xEF\xBB\xBFHello world.\r\n\n   \nA second line, a bit longer.\n");
  auto data = read_mlm_text(file, fixture_tokenizer(), {/*max_length=*/6, /*pack=*/false});
  ASSERT_EQ(data.sequences.size(), 2u);
  EXPECT_EQ(data.lines_read, 2);
  auto first = fixture_tokenizer().encode("Hello world.", std::nullopt, 6).input_ids;
  EXPECT_EQ(std::vector<int64_t>(data.sequences[0].begin(), data.sequences[0].end()), first);
  EXPECT_EQ(data.sequences[1].size(), 6u);
  EXPECT_EQ(data.sequences[1].back(), fixture_tokenizer().sep_id());
  EXPECT_TRUE(data.labels.empty());
}

TEST_F(MlmDataFiles, PackingConcatenatesLinesIntoBlocksAndKeepsTheTail) {
  const std::vector<std::string> lines = {
      "one two three", "four five", "six seven eight nine", "ten"};
  std::string text;
  std::vector<int64_t> all;
  for (const auto& line : lines) {
    text += line + "\n";
    auto ids = fixture_tokenizer().encode(line, std::nullopt, 0).input_ids;
    all.insert(all.end(), ids.begin(), ids.end());
  }
  auto data = read_mlm_text(write("c.txt", text), fixture_tokenizer(), {/*max_length=*/4, true});
  std::vector<int64_t> joined;
  for (size_t i = 0; i < data.sequences.size(); ++i) {
    if (i + 1 < data.sequences.size()) {
      EXPECT_EQ(data.sequences[i].size(), 4u);
    }
    joined.insert(joined.end(), data.sequences[i].begin(), data.sequences[i].end());
  }
  EXPECT_EQ(joined, all);
  EXPECT_EQ(data.sequences.size(), (all.size() + 3) / 4);
}

TEST_F(MlmDataFiles, GzipTextAndJsonLinesReadLikePlainText) {
  const std::string text = "Hello world.\nA second line.\n";
  const auto gz = dir_ / "corpus.txt.gz";
  gzFile out = gzopen(gz.c_str(), "wb");
  ASSERT_NE(out, nullptr);
  gzwrite(out, text.data(), static_cast<unsigned>(text.size()));
  gzclose(out);
  auto plain = read_mlm_text(write("corpus.txt", text), fixture_tokenizer(), {32, false});
  auto zipped = read_mlm_text(gz, fixture_tokenizer(), {32, false});
  auto jsonl = read_mlm_text(
      write("corpus.jsonl",
            "{\"text\": \"Hello world.\"}\n{\"text\": \"A second line.\", \"id\": 2}\n"),
      fixture_tokenizer(),
      {32, false});
  EXPECT_EQ(zipped.sequences, plain.sequences);
  EXPECT_EQ(jsonl.sequences, plain.sequences);
}

TEST_F(MlmDataFiles, JsonLineWithoutTextNamesFileAndLine) {
  auto file = write("bad.jsonl", "{\"text\": \"fine\"}\n{\"body\": \"no text key\"}\n");
  try {
    read_mlm_text(file, fixture_tokenizer(), {32, false});
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("bad.jsonl"), std::string::npos) << message;
    EXPECT_NE(message.find("line 2"), std::string::npos) << message;
    EXPECT_NE(message.find("'text'"), std::string::npos) << message;
  }
}

TEST_F(MlmDataFiles, UnsupportedExtensionAndEmptyFileAreErrors) {
  EXPECT_THROW(read_mlm_text(write("c.csv", "text\nhello\n"), fixture_tokenizer(), {32, false}),
               DataError);
  EXPECT_THROW(read_mlm_text(write("c.txt", "\n \n"), fixture_tokenizer(), {32, false}), DataError);
}

TEST_F(MlmDataFiles, PreMaskedLinesDropPaddingAndCheckTheirLabels) {
  auto file = write("pm.jsonl",
                    "{\"input_ids\": [101, 103, 2000, 102, 0, 0], \"labels\": [-100, 7592, -100, "
                    "-100, -100, -100], \"attention_mask\": [1, 1, 1, 1, 0, 0]}\n"
                    "{\"input_ids\": [101, 102], \"labels\": [-100, -100]}\n");
  auto data = read_pre_masked(file, 30522, 32);
  ASSERT_EQ(data.sequences.size(), 2u);
  EXPECT_EQ(data.sequences[0], (std::vector<int32_t>{101, 103, 2000, 102}));
  EXPECT_EQ(data.labels[0], (std::vector<int32_t>{-100, 7592, -100, -100}));
  auto bad = write("bad.jsonl", "{\"input_ids\": [101, 102], \"labels\": [-100]}\n");
  try {
    read_pre_masked(bad, 30522, 32);
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("line 1"), std::string::npos) << e.what();
  }
  auto out_of_vocab =
      write("oov.jsonl", "{\"input_ids\": [101, 40000], \"labels\": [-100, -100]}\n");
  EXPECT_THROW(read_pre_masked(out_of_vocab, 30522, 32), DataError);
}

}  // namespace
}  // namespace ftune
