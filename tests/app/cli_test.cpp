// End-to-end tests of `ftune inspect`, `ftune tokenize` and `ftune predict`: the real binary on
// the fixtures, as a user runs it (exit code, stdout, stderr, output files). Not the unit tests of
// the tokenizer, table reader or model (tests/tokenizer, tests/lib, tests/models).
#include <algorithm>
#include <filesystem>
#include <fstream>
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

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";
const std::string kExpected = "tests/fixtures/bert-cls/expected.json";
const std::string kWordPiece = "tests/fixtures/wordpiece/bert-base-uncased";
const std::string kCliFixtures = "tests/fixtures/cli";
constexpr int64_t kClsId = 101;
constexpr int64_t kSepId = 102;
// Tolerance of predict's logits against transformers' (the same float32 model, other kernels).
constexpr double kLogitRtol = 1e-5;
constexpr double kLogitAtol = 1e-6;

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t from = 0;
  while (from < text.size()) {
    size_t end = text.find('\n', from);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(from, end - from));
    from = end + 1;
  }
  return lines;
}

// The `error: ` lines of stderr; a failed command must print exactly one, as its last line.
::testing::AssertionResult has_one_error_line(const CommandResult& result) {
  auto lines = split_lines(result.err);
  auto count = std::count_if(lines.begin(), lines.end(), [](const std::string& line) {
    return line.rfind("error: ", 0) == 0;
  });
  if (count != 1 || lines.empty() || lines.back().rfind("error: ", 0) != 0) {
    return ::testing::AssertionFailure()
           << "expected one 'error: ' line, last on stderr; stderr was:\n"
           << result.err;
  }
  return ::testing::AssertionSuccess();
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

json read_wordpiece_cases() { return read_json_file(kWordPiece + "/cases.json")["cases"]; }

// Cases that a .txt file can hold one per line: no line break, no NUL (rejected as binary), and
// not blank (blank lines are skipped).
std::vector<json> cases_for_text_file(const json& cases) {
  std::vector<json> kept;
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    if (text.find_first_of(std::string("\n\r\0", 3)) != std::string::npos) continue;
    if (text.find_first_not_of(" \t") == std::string::npos) continue;
    kept.push_back(c);
  }
  return kept;
}

// One output line of `ftune tokenize` against a case of cases.json (a single text, no pair).
void expect_single_text_encoding(const nlohmann::ordered_json& line, const json& expected,
                                 size_t index) {
  SCOPED_TRACE("line " + std::to_string(index + 1) + ", text " + expected["text"].dump());
  std::vector<std::string> keys;
  for (const auto& item : line.items()) keys.push_back(item.key());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"tokens", "input_ids", "token_type_ids", "attention_mask"}));
  EXPECT_EQ(line["tokens"].get<std::vector<std::string>>(),
            expected["tokens"].get<std::vector<std::string>>());
  const auto input_ids = expected["input_ids"].get<std::vector<int64_t>>();
  EXPECT_EQ(line["input_ids"].get<std::vector<int64_t>>(), input_ids);
  EXPECT_EQ(line["token_type_ids"].get<std::vector<int64_t>>(),
            std::vector<int64_t>(input_ids.size(), 0));
  EXPECT_EQ(line["attention_mask"].get<std::vector<int64_t>>(),
            std::vector<int64_t>(input_ids.size(), 1));
}

// The logits column of predict's output as an (N, L) tensor.
torch::Tensor logits_of(const std::vector<nlohmann::ordered_json>& lines) {
  json rows = json::array();
  for (const auto& line : lines) rows.push_back(json::parse(line["logits"].dump()));
  return json_to_tensor(rows, torch::kDouble);
}

// Runs predict on `data` and checks every row against expected.json (16 rows, keys in the
// documented order, logits within tolerance, the same labels).
void expect_predictions_match_golden(const std::vector<std::string>& args, const fs::path& output) {
  SCOPED_TRACE(describe(args));
  auto result = run_ftune(args);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.err, "predicted 16 rows")) << result.err;
  auto lines = read_json_lines(output);
  const json expected = read_json_file(kExpected);
  ASSERT_EQ(lines.size(), expected["logits"].size());
  const auto labels = expected["predicted_labels"].get<std::vector<std::string>>();
  const auto label_ids = expected["predictions"].get<std::vector<int64_t>>();
  for (size_t i = 0; i < lines.size(); ++i) {
    SCOPED_TRACE("output line " + std::to_string(i + 1));
    std::vector<std::string> keys;
    for (const auto& item : lines[i].items()) keys.push_back(item.key());
    EXPECT_EQ(keys, (std::vector<std::string>{"label", "label_id", "probs", "logits"}));
    EXPECT_EQ(lines[i]["label"].get<std::string>(), labels[i]);
    EXPECT_EQ(lines[i]["label_id"].get<int64_t>(), label_ids[i]);
    const auto probs = lines[i]["probs"].get<std::vector<double>>();
    ASSERT_EQ(probs.size(), 3u);
    double sum = 0;
    for (double p : probs) sum += p;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_EQ(std::max_element(probs.begin(), probs.end()) - probs.begin(), label_ids[i]);
  }
  EXPECT_TRUE(tensors_close(logits_of(lines),
                            json_to_tensor(expected["logits"], torch::kDouble),
                            kLogitRtol,
                            kLogitAtol));
}

// ----- inspect -----

TEST_F(CliTest, InspectListsEveryTensorWithItsShapeAndLoadsOk) {
  auto result = run_ftune({"inspect", "--model", kModel});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "loading as BertForSequenceClassification: ok")) << result.out;
  EXPECT_TRUE(contains(result.out, "model.safetensors (42 tensors)")) << result.out;
  // Every tensor of the fixture's state dict, one line each: "  <name>  <dtype>  [<shape>]".
  std::vector<std::pair<std::string, std::string>> all = {
      {"bert.embeddings.word_embeddings.weight", "[30522, 64]"},
      {"bert.embeddings.position_embeddings.weight", "[128, 64]"},
      {"bert.embeddings.token_type_embeddings.weight", "[2, 64]"},
      {"bert.embeddings.position_ids", "[1, 128]"},
      {"bert.embeddings.LayerNorm.weight", "[64]"},
      {"bert.embeddings.LayerNorm.bias", "[64]"},
      {"bert.pooler.dense.weight", "[64, 64]"},
      {"bert.pooler.dense.bias", "[64]"},
      {"classifier.weight", "[3, 64]"},
      {"classifier.bias", "[3]"},
  };
  for (int layer = 0; layer < 2; ++layer) {
    const std::string prefix = "bert.encoder.layer." + std::to_string(layer) + ".";
    for (const char* name : {"query", "key", "value"}) {
      all.emplace_back(prefix + "attention.self." + name + ".weight", "[64, 64]");
      all.emplace_back(prefix + "attention.self." + name + ".bias", "[64]");
    }
    all.emplace_back(prefix + "attention.output.dense.weight", "[64, 64]");
    all.emplace_back(prefix + "attention.output.dense.bias", "[64]");
    all.emplace_back(prefix + "attention.output.LayerNorm.weight", "[64]");
    all.emplace_back(prefix + "attention.output.LayerNorm.bias", "[64]");
    all.emplace_back(prefix + "intermediate.dense.weight", "[128, 64]");
    all.emplace_back(prefix + "intermediate.dense.bias", "[128]");
    all.emplace_back(prefix + "output.dense.weight", "[64, 128]");
    all.emplace_back(prefix + "output.dense.bias", "[64]");
    all.emplace_back(prefix + "output.LayerNorm.weight", "[64]");
    all.emplace_back(prefix + "output.LayerNorm.bias", "[64]");
  }
  ASSERT_EQ(all.size(), 42u);
  auto lines = split_lines(result.out);
  for (const auto& [name, shape] : all) {
    const std::string start = "  " + name + " ";
    auto line = std::find_if(lines.begin(), lines.end(), [&start](const std::string& l) {
      return l.rfind(start, 0) == 0;
    });
    ASSERT_NE(line, lines.end()) << "no line for tensor " << name << " in:\n" << result.out;
    EXPECT_TRUE(line->size() >= shape.size() &&
                line->compare(line->size() - shape.size(), shape.size(), shape) == 0)
        << "tensor " << name << ": expected shape " << shape << ", line is '" << *line << "'";
  }
}

TEST_F(CliTest, InspectReadsALegacyBinGivenWithWeights) {
  const std::string legacy = kModel + "/pytorch_model_legacy.bin";
  auto result = run_ftune({"inspect", "--model", kModel, "--weights", legacy});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.out, "weights: " + legacy)) << result.out;
  EXPECT_TRUE(contains(result.out, "  classifier.weight ")) << result.out;
  EXPECT_TRUE(contains(result.out, "loading as BertForSequenceClassification: ok")) << result.out;
}

TEST_F(CliTest, InspectOfAFolderWithoutConfigFailsNamingTheFolderWithAHint) {
  // A tokenizer-only folder: vocab.txt but no config.json.
  auto result = run_ftune({"inspect", "--model", kWordPiece});
  EXPECT_EQ(result.exit_code, 1);
  ASSERT_TRUE(has_one_error_line(result));
  EXPECT_EQ(split_lines(result.err).size(), 1u) << result.err;
  EXPECT_TRUE(contains(result.err, kWordPiece)) << result.err;
  EXPECT_TRUE(contains(result.err, "config.json")) << result.err;
  EXPECT_TRUE(contains(result.err, "hint: ")) << result.err;
  EXPECT_EQ(result.out, "");
}

// ----- tokenize -----

TEST_F(CliTest, TokenizeTextFileGivesHuggingFaceTokensAndIds) {
  const auto cases = cases_for_text_file(read_wordpiece_cases());
  ASSERT_GT(cases.size(), 80u);  // English, accented Latin, Chinese and most edge cases
  std::string input;
  for (const auto& c : cases) input += c["text"].get<std::string>() + "\n";
  write_text_file(dir_ / "texts.txt", input);
  const auto output = dir_ / "ids.jsonl";

  auto result = run_ftune({"tokenize",
                           "--model",
                           kWordPiece,
                           "--input",
                           (dir_ / "texts.txt").string(),
                           "--output",
                           output.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(contains(result.err, "tokenized " + std::to_string(cases.size()) + " lines"))
      << result.err;
  auto lines = read_json_lines(output);
  ASSERT_EQ(lines.size(), cases.size());
  for (size_t i = 0; i < lines.size(); ++i) expect_single_text_encoding(lines[i], cases[i], i);
}

TEST_F(CliTest, TokenizeJsonLinesKeepsEveryCaseIncludingLineBreaksAndControlCharacters) {
  // JSON strings can hold what a .txt line cannot: "\n", "\r", NUL, empty and blank texts.
  const auto cases = read_wordpiece_cases();
  std::string input;
  for (const auto& c : cases) input += json{{"text", c["text"]}}.dump() + "\n";
  write_text_file(dir_ / "texts.jsonl", input);
  const auto output = dir_ / "ids.jsonl";

  auto result = run_ftune({"tokenize",
                           "--model",
                           kWordPiece,
                           "--input",
                           (dir_ / "texts.jsonl").string(),
                           "--output",
                           output.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto lines = read_json_lines(output);
  ASSERT_EQ(lines.size(), cases.size());
  for (size_t i = 0; i < lines.size(); ++i) expect_single_text_encoding(lines[i], cases[i], i);
}

TEST_F(CliTest, TokenizeTextPairGivesTokenTypeOneForThePairPart) {
  const auto cases = cases_for_text_file(read_wordpiece_cases());
  const json& first = cases[0];   // "the expressive power of the camera"
  const json& second = cases[2];  // "jason x is this bad on purpose"
  std::string input = json{{"text", first["text"]}, {"text_pair", second["text"]}}.dump() + "\n" +
                      json{{"text", second["text"]}}.dump() + "\n";
  write_text_file(dir_ / "pairs.jsonl", input);
  const auto output = dir_ / "ids.jsonl";

  auto result = run_ftune({"tokenize",
                           "--model",
                           kWordPiece,
                           "--input",
                           (dir_ / "pairs.jsonl").string(),
                           "--output",
                           output.string()});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto lines = read_json_lines(output);
  ASSERT_EQ(lines.size(), 2u);

  // [CLS] a [SEP] b [SEP]: token types 0 up to and including the first [SEP], then 1.
  auto a = first["input_ids"].get<std::vector<int64_t>>();
  auto b = second["input_ids"].get<std::vector<int64_t>>();
  std::vector<int64_t> ids = a;
  ids.insert(ids.end(), b.begin() + 1, b.end());
  std::vector<int64_t> types(a.size(), 0);
  types.insert(types.end(), b.size() - 1, 1);
  EXPECT_EQ(lines[0]["tokens"].get<std::vector<std::string>>(),
            first["tokens"].get<std::vector<std::string>>());
  EXPECT_EQ(lines[0]["pair_tokens"].get<std::vector<std::string>>(),
            second["tokens"].get<std::vector<std::string>>());
  EXPECT_EQ(lines[0]["input_ids"].get<std::vector<int64_t>>(), ids);
  EXPECT_EQ(lines[0]["token_type_ids"].get<std::vector<int64_t>>(), types);
  EXPECT_EQ(lines[0]["attention_mask"].get<std::vector<int64_t>>(),
            std::vector<int64_t>(ids.size(), 1));
  // A row without text_pair in the same file is a single text.
  EXPECT_FALSE(lines[1].contains("pair_tokens")) << lines[1].dump();
  expect_single_text_encoding(lines[1], second, 1);
}

TEST_F(CliTest, TokenizeMaxLengthTruncatesAndKeepsSepLast) {
  const auto cases = cases_for_text_file(read_wordpiece_cases());
  const json& long_case = cases[4];   // 21 ids
  const json& short_case = cases[1];  // "well-conceived": 5 ids
  ASSERT_GT(long_case["input_ids"].size(), 8u);
  ASSERT_LT(short_case["input_ids"].size(), 8u);
  write_text_file(
      dir_ / "texts.txt",
      long_case["text"].get<std::string>() + "\n" + short_case["text"].get<std::string>() + "\n");
  const auto output = dir_ / "ids.jsonl";

  auto result = run_ftune({"tokenize",
                           "--model",
                           kWordPiece,
                           "--input",
                           (dir_ / "texts.txt").string(),
                           "--output",
                           output.string(),
                           "--max-length",
                           "8"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  auto lines = read_json_lines(output);
  ASSERT_EQ(lines.size(), 2u);
  auto full = long_case["input_ids"].get<std::vector<int64_t>>();
  std::vector<int64_t> truncated(full.begin(), full.begin() + 7);
  truncated.push_back(kSepId);
  EXPECT_EQ(lines[0]["input_ids"].get<std::vector<int64_t>>(), truncated);
  EXPECT_EQ(lines[0]["input_ids"][0].get<int64_t>(), kClsId);
  EXPECT_EQ(lines[0]["token_type_ids"].get<std::vector<int64_t>>(), std::vector<int64_t>(8, 0));
  EXPECT_EQ(lines[0]["attention_mask"].get<std::vector<int64_t>>(), std::vector<int64_t>(8, 1));
  // Shorter inputs are neither truncated nor padded.
  EXPECT_EQ(lines[1]["input_ids"].get<std::vector<int64_t>>(),
            short_case["input_ids"].get<std::vector<int64_t>>());
}

TEST_F(CliTest, TokenizeWithoutVocabFailsNamingVocabTxt) {
  write_text_file(dir_ / "texts.txt", "hello world\n");
  fs::create_directory(dir_ / "no-vocab");
  auto result = run_ftune({"tokenize",
                           "--model",
                           (dir_ / "no-vocab").string(),
                           "--input",
                           (dir_ / "texts.txt").string(),
                           "--output",
                           (dir_ / "ids.jsonl").string()});
  EXPECT_EQ(result.exit_code, 1);
  ASSERT_TRUE(has_one_error_line(result));
  EXPECT_TRUE(contains(result.err, "vocab.txt")) << result.err;
  EXPECT_TRUE(contains(result.err, (dir_ / "no-vocab").string())) << result.err;
  EXPECT_FALSE(fs::exists(dir_ / "ids.jsonl"));
}

// ----- predict -----

TEST_F(CliTest, PredictJsonLinesMatchesTransformersLogitsAndLabels) {
  const auto output = dir_ / "predictions.jsonl";
  expect_predictions_match_golden(
      {"predict", "--model", kModel, "--data", kTexts, "--output", output.string()}, output);
}

TEST_F(CliTest, PredictCsvWithQuotedCommaGivesTheSamePredictions) {
  // texts.csv: a leading quoted "note" column holding a comma, some quoted texts, CRLF line ends.
  const auto output = dir_ / "predictions.jsonl";
  expect_predictions_match_golden({"predict",
                                   "--model",
                                   kModel,
                                   "--data",
                                   kCliFixtures + "/texts.csv",
                                   "--output",
                                   output.string()},
                                  output);
}

TEST_F(CliTest, PredictTsvGivesTheSamePredictions) {
  const auto output = dir_ / "predictions.jsonl";
  expect_predictions_match_golden({"predict",
                                   "--model",
                                   kModel,
                                   "--data",
                                   kCliFixtures + "/texts.tsv",
                                   "--output",
                                   output.string()},
                                  output);
}

TEST_F(CliTest, PredictBatchSizeDoesNotChangeTheLogits) {
  // 3 does not divide 16, so the last batch is short and batches pad to different lengths.
  const auto output = dir_ / "predictions.jsonl";
  expect_predictions_match_golden({"predict",
                                   "--model",
                                   kModel,
                                   "--data",
                                   kTexts,
                                   "--output",
                                   output.string(),
                                   "--batch-size",
                                   "3"},
                                  output);
}

// A Python package carrying the model a level down (as PyPI's model packages do): --model may name
// the package; predict says which folder and files it used and gives the same predictions.
TEST_F(CliTest, PredictFromAPackageFolderUsesTheModelFolderInsideAndSaysSo) {
  const auto inside = dir_ / "package" / "some_model" / "model";
  fs::create_directories(inside);
  for (const auto& entry : fs::directory_iterator(kModel)) {
    if (entry.path().extension() != ".bin")
      fs::copy(entry.path(), inside / entry.path().filename());
  }
  std::ofstream(dir_ / "package" / "some_model" / "__init__.py") << "";
  const auto output = dir_ / "predictions.jsonl";
  const std::vector<std::string> args = {"predict",
                                         "--model",
                                         (dir_ / "package").string(),
                                         "--data",
                                         kTexts,
                                         "--output",
                                         output.string()};
  expect_predictions_match_golden(args, output);
  const auto result = run_ftune(args);
  EXPECT_TRUE(contains(result.err, "model: using 'some_model/model' inside")) << result.err;
  EXPECT_TRUE(contains(result.err, "config.json, model.safetensors, vocab.txt")) << result.err;
}

// Broken model packages end in one error line each: no weights inside, or a tokenizer.json of
// another model type (BPE) in place of vocab.txt.
TEST_F(CliTest, BrokenModelPackagesFailWithOneErrorLineEach) {
  auto package = [&](const std::string& name) {
    const auto inside = dir_ / name / "pkg" / "model";
    fs::create_directories(inside);
    for (const char* file : {"config.json", "vocab.txt", "tokenizer_config.json"}) {
      fs::copy(fs::path(kModel) / file, inside / file);
    }
    return inside;
  };
  package("no-weights");
  const auto bpe = package("bpe");
  fs::copy(fs::path(kModel) / "model.safetensors", bpe / "model.safetensors");
  fs::remove(bpe / "vocab.txt");
  std::ofstream(bpe / "tokenizer.json")
      << R"({"model": {"type": "BPE", "vocab": {}, "merges": []}})";
  for (const auto& [name, expected] :
       {std::pair<std::string, std::string>{"no-weights", "finding weights"},
        std::pair<std::string, std::string>{"bpe", "model type \"BPE\": expected WordPiece"}}) {
    const auto result = run_ftune({"predict",
                                   "--model",
                                   (dir_ / name).string(),
                                   "--data",
                                   kTexts,
                                   "--output",
                                   (dir_ / (name + ".jsonl")).string()});
    EXPECT_EQ(result.exit_code, 1) << name << ": " << result.err;
    EXPECT_TRUE(contains(result.err, expected)) << name << ": " << result.err;
    size_t errors = 0;
    for (size_t at = result.err.find("error:"); at != std::string::npos;
         at = result.err.find("error:", at + 1)) {
      ++errors;
    }
    EXPECT_EQ(errors, 1u) << name << ": " << result.err;
    EXPECT_FALSE(fs::exists(dir_ / (name + ".jsonl")));
  }
}

TEST_F(CliTest, PredictWithoutTheTextColumnFailsNamingColumnFileAndOption) {
  const std::string data = kCliFixtures + "/missing_text_column.csv";
  const auto output = dir_ / "predictions.jsonl";
  auto result =
      run_ftune({"predict", "--model", kModel, "--data", data, "--output", output.string()});
  EXPECT_EQ(result.exit_code, 1);
  ASSERT_TRUE(has_one_error_line(result));
  EXPECT_TRUE(contains(result.err, "'text'")) << result.err;
  EXPECT_TRUE(contains(result.err, data)) << result.err;
  EXPECT_TRUE(contains(result.err, "--text-column")) << result.err;
  EXPECT_TRUE(contains(result.err, "'sentence'")) << result.err;  // the columns there are
  EXPECT_FALSE(fs::exists(output));
}

TEST_F(CliTest, PredictIntoAMissingFolderFailsAndLeavesNoFile) {
  const auto output = dir_ / "no-such-folder" / "predictions.jsonl";
  auto result =
      run_ftune({"predict", "--model", kModel, "--data", kTexts, "--output", output.string()});
  EXPECT_EQ(result.exit_code, 1);
  ASSERT_TRUE(has_one_error_line(result));
  EXPECT_TRUE(contains(result.err, output.string())) << result.err;
  EXPECT_FALSE(fs::exists(output.parent_path()));
  // Nothing left behind in the test folder either (no temporary file).
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(CliTest, PredictWithAnEmptyTextFailsNamingTheLine) {
  const std::string data = kCliFixtures + "/empty_text_line3.jsonl";
  const auto output = dir_ / "predictions.jsonl";
  auto result =
      run_ftune({"predict", "--model", kModel, "--data", data, "--output", output.string()});
  EXPECT_EQ(result.exit_code, 1);
  ASSERT_TRUE(has_one_error_line(result));
  EXPECT_TRUE(contains(result.err, data)) << result.err;
  EXPECT_TRUE(contains(result.err, "line 3")) << result.err;
  EXPECT_TRUE(contains(result.err, "empty")) << result.err;
  EXPECT_FALSE(fs::exists(output));
}

// ----- usage -----

TEST_F(CliTest, UsageErrorsExitWithTwo) {
  const std::string out = (dir_ / "x.jsonl").string();
  const std::vector<std::vector<std::string>> usage_errors = {
      {},                                                    // no subcommand
      {"no-such-command"},                                   // unknown subcommand
      {"inspect", "--model", kModel, "--no-such-flag"},      // unknown flag
      {"inspect"},                                           // --model missing
      {"predict", "--model", kModel, "--data", kTexts},      // --output missing
      {"tokenize", "--model", kWordPiece, "--output", out},  // --input missing
      {"predict", "--model", kModel, "--data", kTexts, "--output", out, "--batch-size", "0"},
      {"predict", "--model", kModel, "--data", kTexts, "--output", out, "--encoding", "ebcdic"},
  };
  for (const auto& args : usage_errors) {
    auto result = run_ftune(args);
    EXPECT_EQ(result.exit_code, 2) << describe(args) << "\nstderr: " << result.err;
    EXPECT_FALSE(result.err.empty()) << describe(args);
  }
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(CliTest, HelpExitsZeroAndListsEverySubcommand) {
  auto result = run_ftune({"--help"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* command : {"inspect", "tokenize", "predict"}) {
    EXPECT_TRUE(contains(result.out, std::string("  ") + command + " "))
        << command << " missing in:\n"
        << result.out;
  }
  // Every subcommand the help lists has its own help with an example.
  auto lines = split_lines(result.out);
  auto section = std::find(lines.begin(), lines.end(), "Subcommands:");
  ASSERT_NE(section, lines.end()) << result.out;
  int listed = 0;
  for (auto line = section + 1; line != lines.end(); ++line) {
    if (line->size() < 3 || line->compare(0, 2, "  ") != 0 || (*line)[2] == ' ') continue;
    const std::string command = line->substr(2, line->find(' ', 2) - 2);
    ++listed;
    auto sub = run_ftune({command, "--help"});
    EXPECT_EQ(sub.exit_code, 0) << command << " --help: " << sub.err;
    EXPECT_TRUE(contains(sub.out, "Example") && contains(sub.out, "ftune " + command + " "))
        << command << " --help:\n"
        << sub.out;
  }
  EXPECT_GE(listed, 3);
}

}  // namespace
}  // namespace ftune::testing
