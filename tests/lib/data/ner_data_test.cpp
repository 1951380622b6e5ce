// Tests for lib/data/ner_data: CoNLL and JSONL readers (and their file:line errors), sub-word
// windows, and run_ner's label alignment against tests/fixtures/ner/alignment.json (make_ner.py:
// BertTokenizerFast with is_split_into_words=True on the first 60 WNUT-17 training sentences,
// read here from ../shared/data, and crafted ones).
#include "lib/data/ner_data.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;

const char* const kModel = "assets/models/bert-tiny-ftune";
const char* const kWnutTrain = "../shared/data/wnut17/train.conll";

class NerData : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ftune-ner-data-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // The DataError message of reading `text` as `name`, or "" when it reads.
  std::string read_error(const std::string& name, const std::string& text, bool tags = true) {
    try {
      read_tagged_sentences(write(name, text), tags);
    } catch (const DataError& e) {
      return e.what();
    }
    return "";
  }

  fs::path dir_;
};

TEST_F(NerData, ReadsConllColumnsSkippingDocstartAndWhitespaceOnlySeparators) {
  // CoNLL-2003's four columns (word first, NER tag last), WNUT's tab-separated two, a separator
  // line holding only a tab (as WNUT-17's train file has), CRLF, and no final blank line.
  const auto file = write("a.conll",
                          "-DOCSTART- -X- -X- O\n\nEU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n"
                          "Peter\tB-PER\r\nBlackburn\tI-PER\r\n\t\n  \nBRUSSELS\tB-LOC");
  const auto read = read_tagged_sentences(file, /*read_tags=*/true);
  ASSERT_EQ(read.words.size(), 3u);
  EXPECT_EQ(read.words[0], (std::vector<std::string>{"EU", "rejects"}));
  EXPECT_EQ(read.tags[0], (std::vector<std::string>{"B-ORG", "O"}));
  EXPECT_EQ(read.words[1], (std::vector<std::string>{"Peter", "Blackburn"}));
  EXPECT_EQ(read.tags[1], (std::vector<std::string>{"B-PER", "I-PER"}));
  EXPECT_EQ(read.tags[2], (std::vector<std::string>{"B-LOC"}));
  EXPECT_EQ(read.line_numbers, (std::vector<int64_t>{3, 6, 10}));
  EXPECT_EQ(read.line_of(1, 1), 7);
}

TEST_F(NerData, AWordWithoutATagNamesFileAndLineButPredictReadsWordsAlone) {
  const std::string text = "Peter\tB-PER\nBlackburn\n";
  EXPECT_NE(read_error("a.conll", text).find("a.conll': line 2: word 'Blackburn' has no tag"),
            std::string::npos)
      << read_error("a.conll", text);
  EXPECT_EQ(read_error("a.conll", text, /*tags=*/false), "");
  EXPECT_NE(read_error("empty.conll", "\n\n").find("no sentence"), std::string::npos);
}

TEST_F(NerData, ReadsJsonlTokensWithTagsOrNerTags) {
  const auto file = write("a.jsonl",
                          "{\"tokens\": [\"Peter\", \"runs\"], \"tags\": [\"B-PER\", \"O\"]}\n\n"
                          "{\"tokens\": [\"Paris\"], \"ner_tags\": [\"B-LOC\"]}\n");
  const auto read = read_tagged_sentences(file, true);
  ASSERT_EQ(read.words.size(), 2u);
  EXPECT_EQ(read.tags[1], (std::vector<std::string>{"B-LOC"}));
  EXPECT_EQ(read.line_numbers, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(read.line_of(0, 1), 1);  // a JSONL sentence is one line
}

TEST_F(NerData, JsonlErrorsNameLineAndWhatIsWrong) {
  EXPECT_NE(read_error("a.jsonl", "{\"tokens\": [\"a\", \"b\"], \"tags\": [\"O\"]}\n")
                .find("line 1: 2 tokens but 1 tags"),
            std::string::npos);
  const auto numbers = read_error("a.jsonl",
                                  "{\"tokens\": [\"a\"], \"tags\": [\"O\"]}\n"
                                  "{\"tokens\": [\"a\"], \"ner_tags\": [3]}\n");
  EXPECT_NE(numbers.find("line 2: \"ner_tags\": expected strings, got 3; hint: tags are names"),
            std::string::npos)
      << numbers;
  EXPECT_NE(read_error("a.jsonl", "{\"tokens\": [], \"tags\": []}\n").find("\"tokens\" is empty"),
            std::string::npos);
  EXPECT_NE(read_error("a.jsonl", "{\"tokens\": [\"a\"]}\n").find("line 1: no \"tags\""),
            std::string::npos);
  EXPECT_NE(read_error("a.jsonl", "{\"tokens\": [\"a\"\n").find("line 1: expected valid JSON"),
            std::string::npos);
}

TEST_F(NerData, ATagTheModelDoesNotKnowNamesTheLineOfItsWord) {
  const auto conll = read_tagged_sentences(write("v.conll", "a\tO\n\nb\tO\nParis\tB-CITY\n"), true);
  try {
    map_tag_ids(conll, {"B-LOC", "O"});
    FAIL() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("v.conll': line 4: tag 'B-CITY' of word 'Paris': "
                                         "expected one of the model's tags ('B-LOC', 'O')"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(map_tag_ids(conll, {"B-CITY", "O"}), (std::vector<std::vector<int64_t>>{{1}, {1, 0}}));
}

TEST(NerLabels, BToIMapsEachBeginTagToItsInsideTagWhenThereIsOne) {
  EXPECT_EQ(map_b_to_i({"B-LOC", "B-MISC", "I-LOC", "O"}), (std::vector<int64_t>{2, 1, 2, 3}));
}

// The first `count` sentences of a CoNLL file.
TaggedSentences first_sentences(const fs::path& file, size_t count) {
  TaggedSentences all = read_tagged_sentences(file, true);
  all.words.resize(count);
  all.tags.resize(count);
  all.line_numbers.resize(count);
  return all;
}

TEST(NerAlignment, InputIdsAndLabelsEqualRunNersWithBertTokenizerFast) {
  if (!fs::exists(kWnutTrain)) GTEST_SKIP() << "no " << kWnutTrain << " (the shared data)";
  std::ifstream in("tests/fixtures/ner/alignment.json");
  ASSERT_TRUE(in) << "run from the repository root";
  const auto fixture = nlohmann::json::parse(in);
  TaggedSentences sentences =
      first_sentences(kWnutTrain, fixture["wnut17_train_sentences"].get<size_t>());
  const auto& rows = fixture["sentences"];
  for (size_t i = sentences.words.size(); i < rows.size(); ++i) {
    sentences.words.push_back(rows[i]["words"].get<std::vector<std::string>>());
    sentences.tags.push_back(rows[i]["tags"].get<std::vector<std::string>>());
    sentences.line_numbers.push_back(0);
  }
  const auto label_list = fixture["label_list"].get<std::vector<std::string>>();
  const auto tag_ids = map_tag_ids(sentences, label_list);
  const auto b_to_i = map_b_to_i(label_list);
  const auto tokenizer = WordPieceTokenizer::load_from_folder(kModel);
  const auto windows = encode_word_windows(sentences, tokenizer, /*max_length=*/512, 0);
  ASSERT_EQ(windows.size(), rows.size());  // every sentence fits one window
  for (size_t i = 0; i < rows.size(); ++i) {
    SCOPED_TRACE("sentence " + std::to_string(i));
    EXPECT_EQ(windows[i].sentence, i);
    EXPECT_EQ(windows[i].encoding.input_ids, rows[i]["input_ids"].get<std::vector<int64_t>>());
    EXPECT_EQ(windows[i].word_ids, rows[i]["word_ids"].get<std::vector<int64_t>>());
    EXPECT_EQ(align_window_labels(windows[i], tag_ids[i], {}),
              rows[i]["labels_first"].get<std::vector<int64_t>>());
    EXPECT_EQ(align_window_labels(windows[i], tag_ids[i], b_to_i),
              rows[i]["labels_all"].get<std::vector<int64_t>>());
  }
}

TEST(NerWindows, LongSentencesSplitIntoOverlappingWindowsAndEachWordTakesItsMostCentralOne) {
  const auto tokenizer = WordPieceTokenizer::load_from_folder(kModel);
  TaggedSentences sentences;
  sentences.words = {{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, {"short"}};
  sentences.line_numbers = {1, 12};
  // 6 sub-words per window, 2 shared: windows over words 0-5, 4-9 of the first sentence.
  const auto windows = encode_word_windows(sentences, tokenizer, /*max_length=*/8, /*stride=*/2);
  ASSERT_EQ(windows.size(), 3u);
  EXPECT_EQ(windows[0].word_ids, (std::vector<int64_t>{-1, 0, 1, 2, 3, 4, 5, -1}));
  EXPECT_EQ(windows[1].word_ids, (std::vector<int64_t>{-1, 4, 5, 6, 7, 8, 9, -1}));
  EXPECT_EQ(windows[2].sentence, 1u);
  EXPECT_EQ(windows[0].encoding.input_ids.front(), tokenizer.cls_id());
  EXPECT_EQ(windows[0].encoding.input_ids.back(), tokenizer.sep_id());
  const auto sources = locate_word_predictions(sentences, windows);
  // Word 4 sits at position 5 of window 0 (one sub-word after it) and position 1 of window 1
  // (none before it): window 0. Word 5: position 6 of window 0 (none after), 2 of window 1.
  EXPECT_EQ(sources[0][4].window, 0);
  EXPECT_EQ(sources[0][4].position, 5);
  EXPECT_EQ(sources[0][5].window, 1);
  EXPECT_EQ(sources[0][5].position, 2);
  EXPECT_EQ(sources[0][9].window, 1);
  EXPECT_EQ(sources[1][0].window, 2);

  EXPECT_THROW(encode_word_windows(sentences, tokenizer, 8, 6), ConfigError);
  EXPECT_THROW(encode_word_windows(sentences, tokenizer, 2, 0), ConfigError);
  EXPECT_EQ(default_stride(128), 32u);
  EXPECT_EQ(default_stride(16), 7u);
}

}  // namespace
}  // namespace ftune
