// Hostile inputs through the real binary: broken weights, configs, vocabularies and data files.
// Each must end with exit code 1, one `error:` line naming the file (and the line, position or
// tensor where that applies), and no output or temporary file left behind; the few that real
// files do contain (a BOM, CRLF, quoted line breaks, a 10 MB line) must be accepted.
// Not the parsers' unit tests (tests/lib) nor the fuzz targets (fuzz/).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";
const std::string kHostile = "tests/fixtures/hostile";

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The real fixture's safetensors file, split into its JSON header and its data area.
struct Safetensors {
  json header;
  std::string data;
};

Safetensors read_fixture_safetensors() {
  const std::string bytes = read_text_file(kModel + "/model.safetensors");
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[i]);
  return {json::parse(bytes.substr(8, length)), bytes.substr(8 + length)};
}

// 8-byte little-endian length, the header text as given, then the data.
std::string safetensors_bytes(const std::string& header_text, const std::string& data,
                              uint64_t declared_length) {
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>(declared_length >> (8 * i)));
  return bytes + header_text + data;
}

std::string safetensors_bytes(const std::string& header_text, const std::string& data) {
  return safetensors_bytes(header_text, data, header_text.size());
}

class HostileInput : public CliTest {
 protected:
  void SetUp() override {
    CliTest::SetUp();
    out_dir_ = dir_ / "out";
    fs::create_directories(out_dir_);
  }

  // dir_/model: bert-cls's config and tokenizer files, and no weights file yet.
  fs::path make_model_folder() {
    const fs::path model = dir_ / "model";
    fs::create_directories(model);
    for (const char* name :
         {"config.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"}) {
      fs::copy_file(fs::path(kModel) / name, model / name);
    }
    return model;
  }

  // A model folder whose model.safetensors is `bytes`.
  fs::path model_with_safetensors(const std::string& bytes) {
    const fs::path model = make_model_folder();
    write_text_file(model / "model.safetensors", bytes);
    return model;
  }

  // A model folder with the fixture's weights and a config.json edited by `edit`.
  template <typename Edit>
  fs::path model_with_config(Edit edit) {
    const fs::path model = make_model_folder();
    fs::copy_file(fs::path(kModel) / "model.safetensors", model / "model.safetensors");
    json config = json::parse(read_text_file(model / "config.json"));
    edit(config);
    write_text_file(model / "config.json", config.dump(2));
    return model;
  }

  fs::path write_data(const std::string& name, const std::string& content) {
    const fs::path file = dir_ / name;
    write_text_file(file, content);
    return file;
  }

  // `ftune predict` into the empty folder dir_/out.
  CommandResult predict(const fs::path& model, const fs::path& data = kTexts,
                        std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"predict",
                                     "--model",
                                     model.string(),
                                     "--data",
                                     data.string(),
                                     "--output",
                                     (out_dir_ / "predictions.jsonl").string(),
                                     "--threads",
                                     "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }

  CommandResult inspect(const fs::path& model, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"inspect", "--model", model.string(), "--threads", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }

  // One training step into dir_/out/run, without evaluation unless `extra` passes --valid.
  CommandResult train(const fs::path& model, const fs::path& data,
                      std::vector<std::string> extra = {}) {
    const bool validate = std::find(extra.begin(), extra.end(), "--valid") != extra.end();
    std::vector<std::string> args = {"train",
                                     "--model",
                                     model.string(),
                                     "--train",
                                     data.string(),
                                     "--output-dir",
                                     (out_dir_ / "run").string(),
                                     "--eval-strategy",
                                     validate ? "epoch" : "no",
                                     "--max-steps",
                                     "1",
                                     "--threads",
                                     "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_ftune(args);
  }

  // Exit code 1, exactly one `error: ` line (the last one on stderr) holding every one of
  // `parts`, and nothing written under dir_/out (an empty folder a run created counts as nothing).
  void expect_clean_failure(const CommandResult& result, const std::vector<std::string>& parts) {
    EXPECT_EQ(result.exit_code, 1) << result.err;
    std::vector<std::string> error_lines;
    std::string last_line;
    size_t from = 0;
    while (from < result.err.size()) {
      size_t end = result.err.find('\n', from);
      if (end == std::string::npos) end = result.err.size();
      last_line = result.err.substr(from, end - from);
      if (last_line.rfind("error: ", 0) == 0) error_lines.push_back(last_line);
      from = end + 1;
    }
    ASSERT_EQ(error_lines.size(), 1U) << "stderr:\n" << result.err;
    EXPECT_EQ(error_lines[0], last_line) << "the error line must come last; stderr:\n"
                                         << result.err;
    for (const auto& part : parts) {
      EXPECT_TRUE(contains(error_lines[0], part)) << "missing '" << part << "' in\n"
                                                  << error_lines[0];
    }
    for (const auto& entry : fs::recursive_directory_iterator(out_dir_)) {
      EXPECT_TRUE(entry.is_directory()) << "left behind: " << entry.path();
    }
  }

  fs::path out_dir_;
};

// ----- safetensors -----

TEST_F(HostileInput, SafetensorsHeaderLengthBeyondTheFileIsATruncationError) {
  auto st = read_fixture_safetensors();
  const std::string header = st.header.dump();
  const auto model = model_with_safetensors(
      safetensors_bytes(header, st.data, header.size() + st.data.size() + 1));
  expect_clean_failure(predict(model),
                       {(model / "model.safetensors").string(), "header length", "truncated"});
}

TEST_F(HostileInput, SafetensorsHugeHeaderLengthIsRejectedWithoutAllocating) {
  auto st = read_fixture_safetensors();
  const auto model =
      model_with_safetensors(safetensors_bytes(st.header.dump(), st.data, uint64_t{1} << 62));
  expect_clean_failure(inspect(model), {(model / "model.safetensors").string(), "header length"});
}

TEST_F(HostileInput, SafetensorsHeaderThatIsNotJsonNamesTheHeader) {
  const auto model = model_with_safetensors(safetensors_bytes("this is not JSON at all!", ""));
  expect_clean_failure(predict(model), {(model / "model.safetensors").string(), "JSON"});
}

TEST_F(HostileInput, SafetensorsTruncatedJsonHeaderIsMalformed) {
  auto st = read_fixture_safetensors();
  const std::string header = st.header.dump();
  const auto model =
      model_with_safetensors(safetensors_bytes(header.substr(0, header.size() / 2), st.data));
  expect_clean_failure(predict(model), {(model / "model.safetensors").string(), "malformed JSON"});
}

TEST_F(HostileInput, SafetensorsOffsetsOutsideTheDataNameTheTensor) {
  auto st = read_fixture_safetensors();
  const auto size = static_cast<int64_t>(st.data.size());
  st.header["bert.pooler.dense.bias"]["data_offsets"] = {size - 4, size + 252};
  const auto model = model_with_safetensors(safetensors_bytes(st.header.dump(), st.data));
  expect_clean_failure(
      predict(model),
      {(model / "model.safetensors").string(), "'bert.pooler.dense.bias'", "inside the data area"});
}

TEST_F(HostileInput, SafetensorsOverlappingTensorsNameBoth) {
  auto st = read_fixture_safetensors();
  // Both LayerNorm vectors of the embeddings are F32 [64]; point the weight at the bias's bytes.
  st.header["bert.embeddings.LayerNorm.weight"]["data_offsets"] =
      st.header["bert.embeddings.LayerNorm.bias"]["data_offsets"];
  const auto model = model_with_safetensors(safetensors_bytes(st.header.dump(), st.data));
  expect_clean_failure(predict(model),
                       {(model / "model.safetensors").string(),
                        "'bert.embeddings.LayerNorm.bias'",
                        "'bert.embeddings.LayerNorm.weight'",
                        "overlapping"});
}

TEST_F(HostileInput, SafetensorsSizeNotMatchingDtypeTimesShapeNamesTheTensor) {
  auto st = read_fixture_safetensors();
  st.header["bert.pooler.dense.bias"]["shape"] = {128};  // 512 bytes declared, 256 stored
  const auto model = model_with_safetensors(safetensors_bytes(st.header.dump(), st.data));
  expect_clean_failure(predict(model),
                       {(model / "model.safetensors").string(),
                        "'bert.pooler.dense.bias'",
                        "expected 512 bytes for F32 [128], got 256"});
}

TEST_F(HostileInput, SafetensorsUnknownDtypeNamesTheTensorAndTheDtype) {
  auto st = read_fixture_safetensors();
  st.header["bert.pooler.dense.bias"]["dtype"] = "F8_E4M3";
  const auto model = model_with_safetensors(safetensors_bytes(st.header.dump(), st.data));
  expect_clean_failure(
      predict(model),
      {(model / "model.safetensors").string(), "'bert.pooler.dense.bias'", "F8_E4M3"});
}

TEST_F(HostileInput, SafetensorsDuplicateTensorNameIsRejectedNotSilentlyMerged) {
  auto st = read_fixture_safetensors();
  // JSON objects cannot hold a key twice, so write the duplicate into the text by hand.
  const std::string entry =
      "\"bert.pooler.dense.bias\":" + st.header["bert.pooler.dense.bias"].dump();
  std::string header = st.header.dump();
  header.insert(1, entry + ",");
  const auto model = model_with_safetensors(safetensors_bytes(header, st.data));
  expect_clean_failure(
      train(model, kTexts),
      {(model / "model.safetensors").string(), "'bert.pooler.dense.bias'", "unique"});
}

TEST_F(HostileInput, SafetensorsDeeplyNestedHeaderIsRejectedNotAStackOverflow) {
  auto st = read_fixture_safetensors();
  const int depth = 200'000;  // nlohmann's dump() recursed once per level and overflowed the stack
  st.header["bert.pooler.dense.bias"]["shape"] = "@";
  std::string header = st.header.dump();
  header.replace(header.find("\"@\""), 3, std::string(depth, '[') + std::string(depth, ']'));
  const auto model = model_with_safetensors(safetensors_bytes(header, st.data));
  expect_clean_failure(predict(model), {(model / "model.safetensors").string(), "nested"});
}

// ----- pytorch_model.bin and TorchScript -----

TEST_F(HostileInput, TruncatedZipBinNamesTheFile) {
  const auto model = make_model_folder();
  const std::string bin = read_text_file(kModel + "/pytorch_model.bin");
  write_text_file(model / "pytorch_model.bin", bin.substr(0, bin.size() / 2));
  expect_clean_failure(predict(model), {(model / "pytorch_model.bin").string(), "truncated"});
}

TEST_F(HostileInput, BinThatIsNotAZipNamesTheFileAndItsFirstBytes) {
  const auto model = make_model_folder();
  write_text_file(model / "pytorch_model.bin", "<html>404 Not Found</html>\n");
  expect_clean_failure(predict(model),
                       {(model / "pytorch_model.bin").string(), "3c 68 74 6d"});  // "<htm"
}

TEST_F(HostileInput, TorchScriptFileThatIsNotOneNamesTheFile) {
  const auto model = make_model_folder();
  fs::copy_file(fs::path(kHostile) / "not_torchscript.pt", model / "traced.pt");
  expect_clean_failure(inspect(model), {(model / "traced.pt").string()});
  write_text_file(model / "traced.pt", "def forward(self, x): return x\n");
  expect_clean_failure(predict(model), {(model / "traced.pt").string()});
}

// ----- config.json -----

TEST_F(HostileInput, ConfigMissingARequiredKeyNamesTheKey) {
  const auto model = model_with_config([](json& c) { c.erase("num_hidden_layers"); });
  expect_clean_failure(predict(model),
                       {(model / "config.json").string(), "'num_hidden_layers'", "missing"});
}

TEST_F(HostileInput, ConfigKeyOfTheWrongTypeNamesKeyAndValue) {
  const auto model = model_with_config([](json& c) { c["num_attention_heads"] = "4"; });
  expect_clean_failure(predict(model),
                       {(model / "config.json").string(), "'num_attention_heads'", "\"4\""});
}

TEST_F(HostileInput, ConfigHiddenSizeNotDivisibleByHeadsNamesBoth) {
  const auto model = model_with_config([](json& c) { c["num_attention_heads"] = 5; });
  expect_clean_failure(inspect(model), {(model / "config.json").string(), "64", "5"});
}

TEST_F(HostileInput, ConfigNegativeSizeNamesTheKey) {
  const auto model = model_with_config([](json& c) { c["intermediate_size"] = -128; });
  expect_clean_failure(train(model, kTexts),
                       {(model / "config.json").string(), "'intermediate_size'", "-128"});
}

// ----- vocab.txt -----

class HostileVocab : public HostileInput, public ::testing::WithParamInterface<std::string> {};

TEST_P(HostileVocab, VocabWithoutASpecialTokenNamesTheToken) {
  const auto model = model_with_config([](json&) {});
  std::string vocab = read_text_file(model / "vocab.txt");
  const std::string token = GetParam();
  auto at = vocab.find(token + "\n");  // the whole line: [PAD] is the first one
  while (at != std::string::npos && at > 0 && vocab[at - 1] != '\n') {
    at = vocab.find(token + "\n", at + 1);
  }
  ASSERT_NE(at, std::string::npos);
  vocab.replace(at, token.size(), "[unused-" + token.substr(1));  // keep the line count
  write_text_file(model / "vocab.txt", vocab);
  expect_clean_failure(predict(model), {model.string(), "'" + token + "'", "vocab"});
}

INSTANTIATE_TEST_SUITE_P(Hostile, HostileVocab,
                         ::testing::Values("[CLS]", "[SEP]", "[PAD]", "[UNK]"),
                         [](const auto& info) { return info.param.substr(1, 3); });

// ----- data files -----

TEST_F(HostileInput, DataWithoutTheTextColumnNamesTheColumnsThereAre) {
  const auto data = write_data("data.csv", "sentence,label\nhello,balance\n");
  expect_clean_failure(predict(kModel, data), {data.string(), "'text'", "'sentence'"});
}

TEST_F(HostileInput, EmptyDataFileSaysSo) {
  const auto data = write_data("data.csv", "");
  expect_clean_failure(predict(kModel, data), {data.string(), "empty file"});
  const auto jsonl = write_data("data.jsonl", "");
  expect_clean_failure(predict(kModel, jsonl), {jsonl.string(), "empty file"});
}

TEST_F(HostileInput, DataWithOnlyAHeaderSaysSo) {
  const auto data = write_data("data.csv", "text,label\n");
  expect_clean_failure(train(kModel, data), {data.string(), "only a header"});
}

TEST_F(HostileInput, EmptyTextNamesFileAndLine) {
  const auto data = write_data("data.csv", "text,label\nhello,balance\n,oos\n");
  expect_clean_failure(predict(kModel, data), {data.string(), "line 3", "'text'", "empty"});
}

TEST_F(HostileInput, ValidationLabelUnknownToTheModelNamesFileLineAndLabel) {
  const auto train_data = write_data("train.csv", "text,label\nhello,balance\nbye,oos\n");
  const auto valid = write_data("valid.jsonl",
                                "{\"text\": \"what is my balance\", \"label\": \"balance\"}\n"
                                "{\"text\": \"book a flight\", \"label\": \"travel\"}\n");
  expect_clean_failure(train(kModel, train_data, {"--valid", valid.string()}),
                       {"valid.jsonl", "line 2", "'travel'"});
}

TEST_F(HostileInput, InvalidUtf8NamesFileLineColumnAndByte) {
  const auto data = write_data("data.csv", "text,label\nhello,balance\ncaf\xE9 au lait,oos\n");
  expect_clean_failure(predict(kModel, data),
                       {data.string() + ":3:4", "0xE9", "--encoding latin-1"});
}

TEST_F(HostileInput, UnterminatedQuoteNamesTheLineWhereItOpened) {
  const auto data = write_data("data.csv", "text,label\nhello,balance\n\"bye,oos\nmore,oos\n");
  expect_clean_failure(predict(kModel, data), {data.string() + ":3", "quote"});
}

TEST_F(HostileInput, NulBytesAreRejectedAsBinaryNamingThePosition) {
  const auto data = write_data("data.csv", std::string("text,label\nhel\0lo,balance\n", 25));
  expect_clean_failure(predict(kModel, data), {data.string() + ":2:4", "NUL"});
}

TEST_F(HostileInput, DeeplyNestedJsonLineIsRejectedNotAStackOverflow) {
  const int depth = 200'000;  // an unused column, but every value is rendered as text
  const auto data = write_data("data.jsonl",
                               "{\"text\": \"hello\", \"label\": \"balance\"}\n"
                               "{\"text\": \"hi\", \"extra\": " +
                                   std::string(depth, '[') + std::string(depth, ']') + "}\n");
  expect_clean_failure(predict(kModel, data), {data.string() + ":2", "nested"});
}

TEST_F(HostileInput, JsonNumberBeyondDoubleNamesFileAndLine) {
  const auto data = write_data("data.jsonl",
                               "{\"text\": \"hello\", \"label\": \"balance\"}\n"
                               "{\"text\": \"hi\", \"label\": \"oos\", \"score\": 1e999}\n");
  expect_clean_failure(predict(kModel, data), {data.string() + ":2", "1e999"});
}

// The accepted oddities: the same two texts written plainly, and with a BOM, CRLF line ends and
// RFC 4180 quoting (a delimiter, a doubled quote and a line break inside a field).
TEST_F(HostileInput, BomCrlfAndQuotedFieldsAreAcceptedAndReadAsTheirText) {
  const auto plain = write_data("plain.jsonl",
                                "{\"text\": \"hello, world \\\"x\\\"\", \"label\": \"balance\"}\n"
                                "{\"text\": \"bye\", \"label\": \"oos\"}\n");
  const auto odd = write_data(
      "odd.csv", "\xEF\xBB\xBFtext,label\r\n\"hello,\nworld \"\"x\"\"\",balance\r\nbye,oos\r\n");
  auto tokenize = [&](const fs::path& input, const std::string& name) {
    const auto output = dir_ / name;
    auto result = run_ftune({"tokenize",
                             "--model",
                             kModel,
                             "--input",
                             input.string(),
                             "--output",
                             output.string(),
                             "--threads",
                             "1"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return read_json_lines(output);
  };
  const auto expected = tokenize(plain, "plain_tokens.jsonl");
  const auto got = tokenize(odd, "odd_tokens.jsonl");
  ASSERT_EQ(got.size(), 2U);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(got[0]["tokens"].dump(), R"(["hello",",","world","\"","x","\""])");

  auto result = predict(kModel, odd);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(read_json_lines(out_dir_ / "predictions.jsonl").size(), 2U);
}

TEST_F(HostileInput, TenMegabyteLineIsReadInLinearTime) {
  // Relative, not wall-clock (the suite runs under ctest -j beside other tests): a line ten times
  // longer must cost well under the hundred times that quadratic reading or tokenizing would.
  auto seconds_for = [&](size_t bytes, const std::string& name) {
    std::string text;
    text.reserve(bytes);
    while (text.size() < bytes) text += "lorem ipsum ";
    const auto data = write_data(name, "text,label\n" + text + ",balance\nbye,oos\n");
    const auto start = std::chrono::steady_clock::now();
    auto result = predict(kModel, data);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(read_json_lines(out_dir_ / "predictions.jsonl").size(), 2U);
    return seconds;
  };
  const double small = seconds_for(1'000'000, "small.csv");
  const double large = seconds_for(10'000'000, "large.csv");
  EXPECT_LT(large / small, 30.0) << "1 MB: " << small << " s, 10 MB: " << large << " s";
}

TEST_F(HostileInput, SkipBadRowsSkipsThemAndReportsTheCount) {
  // Line 3: invalid UTF-8; line 4: an empty text; line 6: three fields under a two-column header.
  const auto data = write_data(
      "data.csv", "text,label\nhello,balance\nbad \xFF,oos\n,oos\nfine,oos\none,two,three\n");
  auto failed = predict(kModel, data);
  expect_clean_failure(failed, {data.string() + ":3"});

  auto predicted = predict(kModel, data, {"--skip-bad-rows"});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  EXPECT_EQ(read_json_lines(out_dir_ / "predictions.jsonl").size(), 2U);  // hello, fine

  auto evaluated = run_ftune(
      {"eval", "--model", kModel, "--data", data.string(), "--skip-bad-rows", "--threads", "1"});
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  EXPECT_TRUE(contains(evaluated.out + evaluated.err, "(3 rows skipped)"))
      << evaluated.out << evaluated.err;
}

// ----- JSON nesting in tokenizer files, weight indexes, trainer state and JSONL data -----
// nlohmann's dump() recursed once per level when an error message quoted the value: 100k levels
// overflowed the stack (exit 139), 10k printed a 20 KB line. Every JSON file is parsed with a
// depth cap now, and messages quote at most ~80 characters of a value.

constexpr int kCrashDepth = 100'000;
constexpr size_t kMaxErrorLine = 400;  // the path, the key, the quote and a hint fit in this

std::string nested_arrays(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

// `json` dumped with the string value "@" replaced by `raw` (text that json cannot hold).
std::string dump_with_raw(const json& value, const std::string& raw) {
  std::string text = value.dump();
  text.replace(text.find("\"@\""), 3, raw);
  return text;
}

std::string error_line(const CommandResult& result) {
  const size_t at = result.err.rfind("error: ");
  return at == std::string::npos ? "" : result.err.substr(at, result.err.find('\n', at) - at);
}

struct TokenizerJsonCase {
  std::string file;
  std::string key;
  int depth;
};

void PrintTo(const TokenizerJsonCase& c, std::ostream* os) {
  *os << c.file << " " << c.key << " " << c.depth << " levels";
}

class HostileTokenizerJson : public HostileInput,
                             public ::testing::WithParamInterface<TokenizerJsonCase> {};

TEST_P(HostileTokenizerJson, BertTokenizerFileWithADeeplyNestedValueIsRejectedShortly) {
  const auto& [file, key, depth] = GetParam();
  const auto model = model_with_config([](json&) {});
  json tokenizer = json::parse(read_text_file(model / file));
  tokenizer[key] = "@";
  write_text_file(model / file, dump_with_raw(tokenizer, nested_arrays(depth)));
  const auto result = predict(model);
  expect_clean_failure(result, {(model / file).string(), "nested"});
  EXPECT_LE(error_line(result).size(), kMaxErrorLine) << error_line(result).substr(0, 1000);
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, HostileTokenizerJson,
    ::testing::Values(TokenizerJsonCase{"tokenizer_config.json", "do_lower_case", kCrashDepth},
                      TokenizerJsonCase{"tokenizer_config.json", "do_lower_case", 10'000},
                      TokenizerJsonCase{"special_tokens_map.json", "unk_token", kCrashDepth},
                      TokenizerJsonCase{"tokenizer_config.json", "unk_token", 10'000}),
    [](const auto& info) {
      return info.param.file.substr(0, info.param.file.find('.')) + "_" + info.param.key + "_" +
             std::to_string(info.param.depth);
    });

TEST_F(HostileInput, LongTokenizerValueIsQuotedInAtMostEightyCharacters) {
  const auto model = model_with_config([](json&) {});
  json config = json::parse(read_text_file(model / "tokenizer_config.json"));
  config["do_lower_case"] = std::string(100'000, 'x');  // a string where a boolean belongs
  write_text_file(model / "tokenizer_config.json", config.dump());
  const auto result = predict(model);
  expect_clean_failure(result,
                       {(model / "tokenizer_config.json").string(), "'do_lower_case'", "xxx..."});
  EXPECT_LE(error_line(result).size(), kMaxErrorLine) << error_line(result).substr(0, 1000);
}

// A copy of the Marian fixture folder, for `translate`.
class HostileMarianJson : public HostileInput,
                          public ::testing::WithParamInterface<TokenizerJsonCase> {
 protected:
  fs::path make_marian_folder() {
    const fs::path model = dir_ / "marian";
    fs::copy(fs::path("tests/fixtures/marian-mt"), model);
    return model;
  }

  CommandResult translate(const fs::path& model) {
    const auto input = write_data("sources.txt", "Hello world.\n");
    return run_ftune({"translate",
                      "--model",
                      model.string(),
                      "--input",
                      input.string(),
                      "--output",
                      (out_dir_ / "translations.txt").string(),
                      "--threads",
                      "1"});
  }
};

TEST_P(HostileMarianJson, MarianTokenizerFileWithADeeplyNestedValueIsRejectedShortly) {
  const auto& [file, key, depth] = GetParam();
  const auto model = make_marian_folder();
  json content = json::parse(read_text_file(model / file));
  content[key] = "@";
  write_text_file(model / file, dump_with_raw(content, nested_arrays(depth)));
  const auto result = translate(model);
  expect_clean_failure(result, {(model / file).string(), "nested"});
  EXPECT_LE(error_line(result).size(), kMaxErrorLine) << error_line(result).substr(0, 1000);
}

INSTANTIATE_TEST_SUITE_P(
    Hostile, HostileMarianJson,
    ::testing::Values(TokenizerJsonCase{"vocab.json", "a", kCrashDepth},
                      TokenizerJsonCase{"vocab.json", "a", 10'000},
                      TokenizerJsonCase{"tokenizer_config.json", "unk_token", kCrashDepth},
                      TokenizerJsonCase{"special_tokens_map.json", "unk_token", kCrashDepth}),
    [](const auto& info) {
      return info.param.file.substr(0, info.param.file.find('.')) + "_" + info.param.key + "_" +
             std::to_string(info.param.depth);
    });

TEST_F(HostileInput, WeightIndexWithADeeplyNestedShardIsRejectedNotAStackOverflow) {
  const auto model = make_model_folder();
  const json index = {{"weight_map", {{"bert.pooler.dense.bias", "@"}}}};
  write_text_file(model / "model.safetensors.index.json",
                  dump_with_raw(index, nested_arrays(kCrashDepth)));
  const auto result = predict(model);
  expect_clean_failure(result, {(model / "model.safetensors.index.json").string(), "nested"});
  EXPECT_LE(error_line(result).size(), kMaxErrorLine) << error_line(result).substr(0, 1000);
}

TEST_F(HostileInput, PreMaskedLineWithADeeplyNestedIdIsRejectedNotAStackOverflow) {
  const auto data = write_data(
      "masked.jsonl",
      "{\"input_ids\": [101, " + nested_arrays(kCrashDepth) + "], \"labels\": [-100, -100]}\n");
  const auto result = run_ftune({"pretrain",
                                 "--model",
                                 "tests/fixtures/bert-mlm",
                                 "--train",
                                 data.string(),
                                 "--pre-masked",
                                 "--output-dir",
                                 (out_dir_ / "run").string(),
                                 "--max-steps",
                                 "1",
                                 "--threads",
                                 "1"});
  expect_clean_failure(result, {data.string(), "line 1", "nested"});
  EXPECT_LE(error_line(result).size(), kMaxErrorLine) << error_line(result).substr(0, 1000);
}

// A finished one-step run in dir_/run (outside dir_/out) whose checkpoint-1 a test then breaks.
class HostileTrainerState : public HostileInput {
 protected:
  fs::path make_checkpoint() {
    const auto run = dir_ / "run";
    auto result = run_ftune({"train",
                             "--model",
                             kModel,
                             "--train",
                             kTexts,
                             "--output-dir",
                             run.string(),
                             "--eval-strategy",
                             "no",
                             "--max-steps",
                             "1",
                             "--threads",
                             "1"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_TRUE(fs::exists(run / "checkpoint-1" / "trainer_state.json")) << result.err;
    return run / "checkpoint-1";
  }

  CommandResult resume(const fs::path& checkpoint) {
    return train(kModel, kTexts, {"--resume-from-checkpoint", checkpoint.string()});
  }
};

TEST_F(HostileTrainerState, DeeplyNestedValueIsRejectedNamingTheFile) {
  const auto checkpoint = make_checkpoint();
  json state = json::parse(read_text_file(checkpoint / "trainer_state.json"));
  state["early_stopping"] = "@";
  write_text_file(checkpoint / "trainer_state.json",
                  dump_with_raw(state, nested_arrays(kCrashDepth)));
  const auto result = resume(checkpoint);
  expect_clean_failure(result, {(checkpoint / "trainer_state.json").string(), "nested"});
  EXPECT_LE(error_line(result).size(), kMaxErrorLine) << error_line(result).substr(0, 1000);
}

TEST_F(HostileTrainerState, WrongTypesAreRejectedNamingTheFileAndTheKey) {
  const auto checkpoint = make_checkpoint();
  const json original = json::parse(read_text_file(checkpoint / "trainer_state.json"));
  const std::vector<std::pair<std::string, json>> edits = {{"global_step", "3"},
                                                           {"global_step", -1},
                                                           {"early_stopping", json::array()},
                                                           {"best_value", "high"},
                                                           {"best_step", 1.5},
                                                           {"run.steps_per_epoch", "2"},
                                                           {"run.train_file", 7}};
  for (const auto& [key, value] : edits) {
    json state = original;
    if (key == "best_value" || key == "best_step") {
      state["early_stopping"][key] = value;
    } else if (key.rfind("run.", 0) == 0) {
      state["run"][key.substr(4)] = value;
    } else {
      state[key] = value;
    }
    write_text_file(checkpoint / "trainer_state.json", state.dump());
    expect_clean_failure(resume(checkpoint),
                         {(checkpoint / "trainer_state.json").string(), "'" + key + "'"});
  }
}

}  // namespace
}  // namespace ftune::testing
