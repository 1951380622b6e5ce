// Tests of read_table (lib/data/table.h): each format, the quoting rules, encodings and every
// error, on small files written here. Not here: the real datasets (tests must not depend on them);
// the last test copies their shapes instead.
#include "lib/data/table.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "util/error.h"

namespace ftune {
namespace {

using Rows = std::vector<std::vector<std::string>>;
using namespace std::string_literals;

// A file in its own fresh temp directory, removed with the directory when the test ends.
class TempFile {
 public:
  TempFile(const std::string& name, const std::string& bytes) {
    static const std::string run = std::to_string(std::random_device{}());
    static int counter = 0;
    dir_ = std::filesystem::temp_directory_path() /
           ("ftune_table_test_" + run + "_" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
    path_ = dir_ / name;
    std::ofstream(path_, std::ios::binary) << bytes;
  }
  ~TempFile() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  // "FILE:LINE" as error messages name a place.
  std::string at(int line) const { return path_.string() + ":" + std::to_string(line); }

 private:
  std::filesystem::path dir_;
  std::filesystem::path path_;
};

template <typename ErrorType = DataError>
std::string read_error(const TempFile& file, const TableReadOptions& options = {}) {
  try {
    read_table(file.path(), options);
  } catch (const ErrorType& error) {
    return error.what();
  }
  ADD_FAILURE() << "read_table(" << file.path() << ") did not throw";
  return "";
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << part << "'";
}

TableReadOptions skipping_bad_rows() {
  TableReadOptions options;
  options.skip_bad_rows = true;
  return options;
}

// ----- CSV -----

TEST(Table, ReadsCsvHeaderAsColumnsAndRestAsRows) {
  TempFile file("train.csv", "text,label\nhello,1\nworld,0\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.path, file.path());
  EXPECT_EQ(table.columns, (std::vector<std::string>{"text", "label"}));
  EXPECT_EQ(table.rows, (Rows{{"hello", "1"}, {"world", "0"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(table.skipped_rows, 0);
  EXPECT_TRUE(table.missing_cells.empty());
}

TEST(Table, ReadsQuotedFieldWithEmbeddedDelimiterAndDoubledQuotes) {
  TempFile file("train.csv", "text,label\n\"a, b\",1\n\"say \"\"hi\"\"\",2\n\"\",3\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.rows, (Rows{{"a, b", "1"}, {"say \"hi\"", "2"}, {"", "3"}}));
}

TEST(Table, ReadsQuotedFieldWithEmbeddedNewline) {
  TempFile file("train.csv", "text,label\n\"line one\nline two\n\",card\nnext,pin\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.rows, (Rows{{"line one\nline two\n", "card"}, {"next", "pin"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{2, 5}));
}

TEST(Table, KeepsQuoteInsideUnquotedCsvFieldLiterally) {
  TempFile file("train.csv", "text,label\n5\" screen,1\n");
  EXPECT_EQ(read_table(file.path()).rows, (Rows{{"5\" screen", "1"}}));
}

TEST(Table, ReadsCrlfLineEndings) {
  TempFile file("train.csv", "text,label\r\nhello,1\r\n\"a\r\nb\",2\r\nlast,3");
  Table table = read_table(file.path());
  EXPECT_EQ(table.columns, (std::vector<std::string>{"text", "label"}));
  EXPECT_EQ(table.rows, (Rows{{"hello", "1"}, {"a\r\nb", "2"}, {"last", "3"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{2, 3, 5}));
}

TEST(Table, SkipsUtf8ByteOrderMark) {
  TempFile file("train.csv", "\xEF\xBB\xBFtext,label\ncaf\xC3\xA9,1\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.columns, (std::vector<std::string>{"text", "label"}));
  EXPECT_EQ(table.rows, (Rows{{"caf\xC3\xA9", "1"}}));
}

TEST(Table, SkipsBlankLinesButKeepsPhysicalLineNumbers) {
  TempFile file("train.csv", "text,label\n\nhello,1\n\r\n\nworld,0\n\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.rows, (Rows{{"hello", "1"}, {"world", "0"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{3, 6}));
}

TEST(Table, NamesColumnsByPositionWithoutHeader) {
  TempFile file("train.tsv", "good film\tpositive\nbad film\tnegative\n");
  TableReadOptions options;
  options.has_header = false;
  Table table = read_table(file.path(), options);
  EXPECT_EQ(table.columns, (std::vector<std::string>{"column1", "column2"}));
  EXPECT_EQ(table.rows, (Rows{{"good film", "positive"}, {"bad film", "negative"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{1, 2}));
}

// ----- TSV -----

TEST(Table, ReadsGlueTsvQuotesAsLiteralText) {
  TempFile file("dev.tsv",
                "label\ta\tb\n"
                "1\t\"Hi,\" he said.\t\"Open quote never closed\n"
                "0\tHe said \"no\".\t\"Whole sentence in quotes.\"\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.rows,
            (Rows{{"1", "\"Hi,\" he said.", "\"Open quote never closed"},
                  {"0", "He said \"no\".", "\"Whole sentence in quotes.\""}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{2, 3}));
}

TEST(Table, ReadsTsvQuoteSpanningATabAsTwoFieldsWhenThatMatchesTheHeader) {
  // MRPC train.tsv line 603: the opening quote of field 4 is closed at the end of field 5.
  TempFile file("train.tsv", "label\ta\tb\n1\t\"First sentence.\tSecond sentence.\"\n");
  EXPECT_EQ(read_table(file.path()).rows, (Rows{{"1", "\"First sentence.", "Second sentence.\""}}));
}

TEST(Table, ReadsTsvFieldQuotedBecauseItNeededQuoting) {
  // As pandas.to_csv(sep="\t") writes fields holding quotes, tabs or line breaks.
  TempFile file("train.tsv",
                "text\tlabel\n"
                "\"say \"\"hi\"\"\"\t1\n"
                "\"tab\there\"\t2\n"
                "\"two\nlines\"\t3\n"
                "next\t4\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.rows,
            (Rows{{"say \"hi\"", "1"}, {"tab\there", "2"}, {"two\nlines", "3"}, {"next", "4"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{2, 3, 4, 6}));
}

TEST(Table, ReadsTsvWithQuotedHeaderAsFullyQuoted) {
  TempFile file("train.tsv", "\"text\"\t\"label\"\n\"good film\"\t\"1\"\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.columns, (std::vector<std::string>{"text", "label"}));
  EXPECT_EQ(table.rows, (Rows{{"good film", "1"}}));
}

// ----- JSON Lines -----

TEST(Table, ReadsJsonLinesWithUnionOfKeysInFirstSeenOrder) {
  TempFile file("train.jsonl",
                "{\"text\": \"a\", \"label\": \"x\"}\n"
                "\n"
                "{\"label\": \"y\", \"id\": \"7\", \"text\": \"b\"}\r\n"
                "   \n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.columns, (std::vector<std::string>{"text", "label", "id"}));
  EXPECT_EQ(table.rows, (Rows{{"a", "x", ""}, {"b", "y", "7"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{1, 3}));
}

TEST(Table, RendersJsonNumbersBoolsAndArraysAsText) {
  TempFile file("train.jsonl",
                "{\"label\": 2, \"score\": 0.5, \"big\": -12345678901, \"ok\": true, "
                "\"tags\": [1, \"a\"], \"text\": \"caf\\u00e9\"}\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.rows, (Rows{{"2", "0.5", "-12345678901", "true", "[1,\"a\"]", "caf\xC3\xA9"}}));
}

TEST(Table, MarksJsonNullAndAbsentKeysAsMissing) {
  TempFile file("train.json",
                "{\"text\": \"a\", \"label\": null}\n"
                "{\"text\": \"\", \"label\": \"1\", \"extra\": \"e\"}\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.rows, (Rows{{"a", "", ""}, {"", "1", "e"}}));
  using Cell = std::pair<size_t, size_t>;
  EXPECT_EQ(table.missing_cells, (std::vector<Cell>{{0, 1}, {0, 2}}));
  EXPECT_TRUE(table.is_missing(0, 1));
  EXPECT_TRUE(table.is_missing(0, 2));
  EXPECT_FALSE(table.is_missing(1, 0));  // an empty string is a value, not a missing one
}

// ----- plain text -----

TEST(Table, ReadsTxtAsOneTextColumnWithOneRowPerLine) {
  TempFile file("sentences.txt",
                "first line@neutral\r\n\nsecond, \"quoted\"\tline\nthird\xE2\x80\xA8same");
  Table table = read_table(file.path());
  EXPECT_EQ(table.columns, (std::vector<std::string>{"text"}));
  EXPECT_EQ(
      table.rows,
      (Rows{{"first line@neutral"}, {"second, \"quoted\"\tline"}, {"third\xE2\x80\xA8same"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{1, 3, 4}));
}

// ----- encodings -----

TEST(Table, ConvertsLatin1BytesToUtf8) {
  TempFile file("train.csv",
                "text,label\nSepp\xE4l\xE4 \xA3"
                "5,1\n");
  TableReadOptions options;
  options.encoding = TextEncoding::kLatin1;
  Table table = read_table(file.path(), options);
  EXPECT_EQ(table.rows,
            (Rows{{"Sepp\xC3\xA4l\xC3\xA4 \xC2\xA3"
                   "5",
                   "1"}}));
}

TEST(Table, ParsesEncodingNames) {
  EXPECT_EQ(parse_text_encoding("UTF-8"), TextEncoding::kUtf8);
  EXPECT_EQ(parse_text_encoding("utf8"), TextEncoding::kUtf8);
  EXPECT_EQ(parse_text_encoding("latin-1"), TextEncoding::kLatin1);
  EXPECT_EQ(parse_text_encoding("ISO-8859-1"), TextEncoding::kLatin1);
  EXPECT_EQ(parse_text_encoding("cp1252"), std::nullopt);
}

TEST(Table, RejectsInvalidUtf8NamingLineColumnAndLatin1Hint) {
  TempFile file("train.csv", "text,label\nok,1\nSepp\xE4l\xE4,1\n");
  std::string message = read_error(file);
  EXPECT_TRUE(contains(message, file.at(3) + ":5'"));
  EXPECT_TRUE(contains(message, "expected UTF-8 text, got byte 0xE4"));
  EXPECT_TRUE(contains(message, "hint: pass --encoding latin-1"));
}

TEST(Table, RejectsOverlongAndSurrogateUtf8) {
  TempFile overlong("a.txt", "ok\n\xC0\xAF\n");
  EXPECT_TRUE(contains(read_error(overlong), overlong.at(2) + ":1'"));
  TempFile surrogate("b.txt", "x\xED\xA0\x80\n");
  EXPECT_TRUE(contains(read_error(surrogate), surrogate.at(1) + ":2'"));
  TempFile truncated("c.txt", "ok\nend\xE2\x82");
  EXPECT_TRUE(contains(read_error(truncated), truncated.at(2) + ":4'"));
}

TEST(Table, RejectsNulByteNamingFileAndLine) {
  TempFile file("train.tsv", "text\tlabel\nfine\t1\n\"two\nli\0ne\"\t2\n"s);
  std::string message = read_error(file);
  EXPECT_TRUE(contains(message, file.at(4) + ":3'"));
  EXPECT_TRUE(contains(message, "got a NUL byte"));
}

TEST(Table, RejectsUtf16File) {
  TempFile file("train.csv", "\xFF\xFEt\0e\0"s);
  EXPECT_TRUE(contains(read_error(file), "got a UTF-16 byte order mark"));
}

TEST(Table, RejectsUtf8ByteOrderMarkWhenLatin1IsAskedFor) {
  TempFile file("train.csv", "\xEF\xBB\xBFtext\nx\n");
  TableReadOptions options;
  options.encoding = TextEncoding::kLatin1;
  EXPECT_TRUE(contains(read_error(file, options), "drop --encoding latin-1"));
}

// ----- structure errors -----

TEST(Table, RejectsRowWithWrongFieldCountNamingExpectedAndGot) {
  TempFile file("train.csv", "text,label\n\"multi\nline\",1\na,b,c\n");
  std::string message = read_error(file);
  EXPECT_TRUE(contains(message, "'" + file.at(4) + "'"));
  EXPECT_TRUE(contains(message, "expected 2 fields like the header, got 3"));
}

TEST(Table, RejectsUnterminatedQuoteNamingTheLineItOpened) {
  TempFile file("train.csv", "text,label\nok,1\nbad,\"never closed\nmore\nlines\n");
  std::string message = read_error(file);
  EXPECT_TRUE(contains(message, file.at(3) + ":5'"));
  EXPECT_TRUE(contains(message, "expected a closing '\"' for the quote opened on line 3"));
}

TEST(Table, RejectsTextAfterClosingQuoteInCsv) {
  TempFile file("train.csv", "text,label\n\"quoted\" tail,1\n");
  std::string message = read_error(file);
  EXPECT_TRUE(contains(message, file.at(2) + ":9'"));
  EXPECT_TRUE(contains(message, "got ' '"));
}

TEST(Table, RejectsEmptyFile) {
  TempFile csv("train.csv", "");
  EXPECT_TRUE(contains(read_error(csv), "'" + csv.path().string() + "'"));
  EXPECT_TRUE(contains(read_error(csv), "got an empty file"));
  TempFile jsonl("train.jsonl", "\n\n");
  EXPECT_TRUE(contains(read_error(jsonl), "expected at least one row, got no rows"));
  TempFile bom_only("train.txt", "\xEF\xBB\xBF");
  EXPECT_TRUE(contains(read_error(bom_only), "got no rows (an empty file)"));
}

TEST(Table, RejectsHeaderOnlyFile) {
  TempFile file("train.tsv", "sentence\tlabel\n");
  std::string message = read_error(file);
  EXPECT_TRUE(contains(message, "'" + file.path().string() + "'"));
  EXPECT_TRUE(contains(message, "expected at least one row, got no rows (only a header)"));
}

TEST(Table, RejectsDuplicateColumnNames) {
  TempFile file("train.csv", "text,label,text\na,b,c\n");
  EXPECT_TRUE(contains(read_error(file), "got 'text' twice (columns 1 and 3)"));
}

TEST(Table, RejectsInvalidJsonLineNamingFileAndLine) {
  TempFile file("train.jsonl", "{\"text\": \"a\"}\n\n{\"text\": oops}\n");
  std::string message = read_error(file);
  EXPECT_TRUE(contains(message, file.at(3) + ":"));
  EXPECT_TRUE(
      contains(message, "expected one JSON object per line, got invalid JSON (syntax error"));
}

TEST(Table, RejectsJsonLineThatIsNotAnObject) {
  TempFile array("train.json", "[{\"text\": \"a\"},\n {\"text\": \"b\"}]\n");
  EXPECT_TRUE(contains(read_error(array), "jq -c '.[]'"));
  TempFile number("train.jsonl", "{\"text\": \"a\"}\n42\n");
  std::string message = read_error(number);
  EXPECT_TRUE(contains(message, "'" + number.at(2) + "'"));
  EXPECT_TRUE(contains(message, "got a JSON number"));
}

TEST(Table, SkipsAndCountsBadRowsWhenAsked) {
  TempFile file("train.csv",
                "text,label\n"
                "good,1\n"
                "a,b,c\n"
                "caf\xE9,1\n"
                "\"x\"y,1\n"
                "also good,0\n");
  Table table = read_table(file.path(), skipping_bad_rows());
  EXPECT_EQ(table.rows, (Rows{{"good", "1"}, {"also good", "0"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{2, 6}));
  EXPECT_EQ(table.skipped_rows, 3);
  ASSERT_EQ(table.skip_reasons.size(), 3u);
  EXPECT_TRUE(contains(table.skip_reasons[0], file.at(3)));
  EXPECT_TRUE(contains(table.skip_reasons[1], file.at(4)));
  EXPECT_TRUE(contains(table.skip_reasons[2], file.at(5)));
}

TEST(Table, ResumesAfterTheLineOfAnUnterminatedQuoteWhenSkipping) {
  TempFile file("train.csv", "text,label\n\"open,1\nfine,2\n");
  Table table = read_table(file.path(), skipping_bad_rows());
  EXPECT_EQ(table.rows, (Rows{{"fine", "2"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{3}));
  EXPECT_EQ(table.skipped_rows, 1);
}

TEST(Table, SkipsBadJsonLinesWhenAsked) {
  TempFile file("train.jsonl", "{\"text\": \"a\"}\n{bad\n[1]\n{\"text\": \"b\"}\n");
  Table table = read_table(file.path(), skipping_bad_rows());
  EXPECT_EQ(table.rows, (Rows{{"a"}, {"b"}}));
  EXPECT_EQ(table.line_numbers, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(table.skipped_rows, 2);
}

TEST(Table, StillFailsWhenEveryRowIsSkipped) {
  TempFile file("train.csv", "text,label\na,b,c\n");
  EXPECT_TRUE(contains(read_error(file, skipping_bad_rows()), "got no rows (1 bad rows skipped)"));
}

// ----- columns and files -----

TEST(Table, FindsColumnByExactName) {
  TempFile file("train.csv", "text,label\na,1\n");
  Table table = read_table(file.path());
  EXPECT_EQ(table.find_column("label"), 1u);
  EXPECT_EQ(table.find_column("Label"), std::nullopt);
  EXPECT_EQ(table.require_column("text"), 0u);
}

TEST(Table, RequireColumnListsTheColumnsAndTheFlag) {
  TempFile file("train.csv", "sentence,label\na,1\n");
  Table table = read_table(file.path());
  try {
    table.require_column("text", "--text-column");
    FAIL() << "require_column did not throw";
  } catch (const DataError& error) {
    std::string message = error.what();
    EXPECT_TRUE(contains(message, "'" + file.path().string() + "'"));
    EXPECT_TRUE(contains(message, "column 'text' not found"));
    EXPECT_TRUE(contains(message, "'sentence', 'label'"));
    EXPECT_TRUE(contains(message, "hint: pass --text-column"));
  }
}

TEST(Table, RejectsUnknownExtension) {
  TempFile file("train.xlsx", "x");
  EXPECT_TRUE(contains(read_error(file), "got '.xlsx'"));
}

TEST(Table, ReadsExtensionCaseInsensitively) {
  TempFile file("TRAIN.CSV", "text\nx\n");
  EXPECT_EQ(read_table(file.path()).rows, (Rows{{"x"}}));
}

TEST(Table, RejectsMissingFileWithIoError) {
  TempFile file("other.csv", "");
  std::filesystem::path missing = file.path().parent_path() / "missing.csv";
  try {
    read_table(missing);
    FAIL() << "read_table did not throw";
  } catch (const IoError& error) {
    EXPECT_TRUE(contains(error.what(), "'" + missing.string() + "'"));
    EXPECT_TRUE(contains(error.what(), "got no such file"));
  }
}

// A CSV with one plain and one quoted line of `bytes` each (a quote every 1000 characters,
// doubled).
std::string make_long_line_csv(size_t bytes, std::string* big, std::string* quoted) {
  *big = std::string(bytes, 'a');
  *quoted = std::string(bytes, 'b');
  for (size_t i = 0; i < quoted->size(); i += 1000) (*quoted)[i] = '"';  // doubled below
  std::string escaped;
  for (char c : *quoted) {
    escaped.push_back(c);
    if (c == '"') escaped.push_back('"');
  }
  return "text,label\n" + *big + ",1\n\"" + escaped + "\",2\n";
}

// The fastest of three reads of `file`, in seconds.
double fastest_read_seconds(const TempFile& file) {
  double best = 1e9;
  for (int run = 0; run < 3; ++run) {
    const auto start = std::chrono::steady_clock::now();
    Table table = read_table(file.path());
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

TEST(Table, ReadsTenMegabyteLinesInLinearTime) {
  std::string big, quoted;
  TempFile file("big.csv", make_long_line_csv(10 << 20, &big, &quoted));
  Table table = read_table(file.path());
  ASSERT_EQ(table.rows.size(), 2u);
  EXPECT_EQ(table.rows[0][0], big);
  EXPECT_EQ(table.rows[1][0], quoted);
  // Relative, not wall-clock: ten times the bytes must cost about ten times the time (quadratic
  // work would cost a hundred). Both sizes share the machine's load; the fastest of three runs
  // drops the noise of a busy moment.
  std::string small_big, small_quoted;
  TempFile small("small.csv", make_long_line_csv(1 << 20, &small_big, &small_quoted));
  const double ratio = fastest_read_seconds(file) / fastest_read_seconds(small);
  EXPECT_LT(ratio, 30.0) << "10 MB took " << ratio << "x as long as 1 MB";
}

// ----- samples in the shape of the real datasets -----

TEST(Table, ReadsSamplesShapedLikeTheRealDatasets) {
  // MRPC (GLUE): BOM, 5 columns, literal quotes, one quote closed in the next field.
  TempFile mrpc("dev.tsv",
                "\xEF\xBB\xBFQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
                "1\t1355540\t1355592\tHe said the pie business doesn't fit.\t\"The pie business "
                "does not fit.\n"
                "0\t524136\t524119\t\"Sanitation is poor,\" he said.\t\"Sanitation is poor.\"\n"
                "1\t497592\t497567\t\"Writing safe programs.\tWriting programs.\"\n");
  Table pairs = read_table(mrpc.path());
  EXPECT_EQ(pairs.columns,
            (std::vector<std::string>{"Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"}));
  ASSERT_EQ(pairs.rows.size(), 3u);
  EXPECT_EQ(pairs.rows[0][4], "\"The pie business does not fit.");
  EXPECT_EQ(pairs.rows[1][3], "\"Sanitation is poor,\" he said.");
  EXPECT_EQ(pairs.rows[1][4], "\"Sanitation is poor.\"");
  EXPECT_EQ(pairs.rows[2][3], "\"Writing safe programs.");
  // SST-2 (GLUE): the sentence ends with a space, kept.
  TempFile sst2("train.tsv", "sentence\tlabel\nhide new secretions \t0\n");
  EXPECT_EQ(read_table(sst2.path()).rows, (Rows{{"hide new secretions ", "0"}}));
  // Banking77: CSV with a quoted text that starts with a line break.
  TempFile banking("train.csv",
                   "text,category\n\"\nHow do I unblock my PIN?\",pin_blocked\nWhy?,pin_blocked\n");
  Table intents = read_table(banking.path());
  EXPECT_EQ(intents.rows,
            (Rows{{"\nHow do I unblock my PIN?", "pin_blocked"}, {"Why?", "pin_blocked"}}));
  EXPECT_EQ(intents.line_numbers, (std::vector<int64_t>{2, 4}));
  // Financial PhraseBank: Latin-1 `sentence@label` lines.
  TempFile phrasebank("Sentences_AllAgree.txt", "Sepp\xE4l\xE4 rose 5%@positive\n");
  TableReadOptions latin1;
  latin1.encoding = TextEncoding::kLatin1;
  EXPECT_EQ(read_table(phrasebank.path(), latin1).rows,
            (Rows{{"Sepp\xC3\xA4l\xC3\xA4 rose 5%@positive"}}));
}

}  // namespace
}  // namespace ftune
