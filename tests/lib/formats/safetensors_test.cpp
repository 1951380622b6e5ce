// Tests of the LibTorch-free safetensors reader and writer: hostile headers are rejected with a
// CheckpointError naming the file, the tensor and the problem; the writer's layout is Hugging
// Face's.
#include "lib/formats/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "util/error.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;

Bytes make_file(const std::string& header, std::size_t data_size, std::uint64_t length) {
  Bytes out(8 + header.size() + data_size);
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(length >> (8 * i));
  std::copy(header.begin(), header.end(), out.begin() + 8);
  for (std::size_t i = 0; i < data_size; ++i) {
    out[8 + header.size() + i] = static_cast<std::uint8_t>(i);
  }
  return out;
}

Bytes make_file(const std::string& header, std::size_t data_size) {
  return make_file(header, data_size, header.size());
}

// Parses `bytes` and returns the CheckpointError message, or fails the test if none was thrown.
std::string rejection_of(const Bytes& bytes) {
  try {
    parse_safetensors(bytes.data(), bytes.size(), "hostile.safetensors");
  } catch (const CheckpointError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a CheckpointError";
  return "";
}

void expect_rejected(const Bytes& bytes, const std::vector<std::string>& phrases) {
  std::string message = rejection_of(bytes);
  EXPECT_NE(message.find("'hostile.safetensors'"), std::string::npos) << message;
  EXPECT_NE(message.find("hint:"), std::string::npos) << message;
  for (const auto& phrase : phrases) {
    EXPECT_NE(message.find(phrase), std::string::npos)
        << "missing '" << phrase << "' in: " << message;
  }
}

fs::path make_temp_dir() {
  std::string pattern = (fs::temp_directory_path() / "ftune-safetensors-XXXXXX").string();
  return mkdtemp(pattern.data());
}

TEST(Safetensors, ParsesAWellFormedHeader) {
  Bytes bytes = make_file(
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"I64","shape":[2],"data_offsets":[8,24]},)"
      R"("a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]},)"
      R"("empty":{"dtype":"F32","shape":[0,3],"data_offsets":[24,24]}})",
      24);
  SafetensorsHeader header = parse_safetensors(bytes.data(), bytes.size(), "ok.safetensors");
  ASSERT_EQ(header.entries.size(), 3u);
  EXPECT_EQ(header.entries[0].name, "a");
  EXPECT_EQ(header.entries[0].dtype, DType::F16);
  EXPECT_EQ(header.entries[0].shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(header.entries[1].name, "b");
  EXPECT_EQ(header.entries[1].begin, 8u);
  EXPECT_EQ(header.entries[1].end, 24u);
  EXPECT_EQ(header.entries[2].name, "empty");
  EXPECT_EQ(header.metadata.at("format"), "pt");
  EXPECT_EQ(header.data_start, bytes.size() - 24);
}

TEST(Safetensors, RejectsAFileShorterThanTheLengthField) {
  expect_rejected(Bytes{1, 2, 3}, {"at least 8 bytes", "got 3"});
}

TEST(Safetensors, RejectsHeaderLengthLargerThanTheFile) {
  expect_rejected(make_file("{}", 0, 1000), {"header length", "got 1000", "truncated"});
}

TEST(Safetensors, RejectsHugeHeaderLength) {
  expect_rejected(make_file("{}", 0, ~0ULL), {"header length", "18446744073709551615"});
  expect_rejected(make_file("{}", 0, 1ULL << 40), {"header length", "at most"});
}

TEST(Safetensors, RejectsAHeaderThatIsNotJson) {
  expect_rejected(make_file("hello, world", 0), {"malformed JSON"});
}

TEST(Safetensors, RejectsTruncatedJson) {
  expect_rejected(make_file(R"({"a": {"dtype": "F32", "shape": [1)", 4), {"malformed JSON"});
}

TEST(Safetensors, RejectsJsonThatIsNotAnObject) {
  expect_rejected(make_file("[1, 2, 3]", 0), {"expected a JSON object"});
}

TEST(Safetensors, RejectsOffsetsOutsideTheDataArea) {
  expect_rejected(make_file(R"({"w":{"dtype":"F32","shape":[100],"data_offsets":[0,400]}})", 16),
                  {"tensor 'w'", "inside the data area [0, 16]", "got [0, 400]"});
}

TEST(Safetensors, RejectsOffsetsWithBeginAfterEnd) {
  expect_rejected(make_file(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 16),
                  {"tensor 'w'", "got [8, 4]"});
}

TEST(Safetensors, RejectsOverlappingTensors) {
  expect_rejected(make_file(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                            R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                            24),
                  {"tensor 'b'", "overlapping tensor 'a'"});
}

TEST(Safetensors, RejectsSizeNotMatchingDtypeTimesShape) {
  expect_rejected(make_file(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}})", 16),
                  {"tensor 'w'", "expected 16 bytes for F32 [2, 2], got 8"});
}

TEST(Safetensors, RejectsAnUnknownDtype) {
  expect_rejected(make_file(R"({"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", 4),
                  {"tensor 'w'", "dtype one of", "\"F8_E4M3\""});
}

TEST(Safetensors, RejectsDuplicateNames) {
  expect_rejected(make_file(R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},)"
                            R"("w":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}})",
                            8),
                  {"tensor 'w'", "unique tensor name"});
}

TEST(Safetensors, RejectsNegativeAndNonIntegerSizes) {
  expect_rejected(make_file(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
                  {"tensor 'w'", "non-negative integer sizes"});
  expect_rejected(make_file(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4),
                  {"tensor 'w'", "non-negative integer sizes"});
}

TEST(Safetensors, RejectsAShapeWhoseByteSizeOverflows) {
  expect_rejected(
      make_file(R"({"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0),
      {"tensor 'w'", "fits in 63 bits"});
}

TEST(Safetensors, RejectsMetadataThatIsNotAStringMap) {
  expect_rejected(make_file(R"({"__metadata__":{"format":1}})", 0), {"__metadata__ 'format'"});
  expect_rejected(make_file(R"({"__metadata__":[1]})", 0), {"__metadata__"});
}

TEST(Safetensors, RejectsATensorThatIsNotAnObject) {
  expect_rejected(make_file(R"({"w":[0,4]})", 4), {"tensor 'w'", "dtype, shape, data_offsets"});
}

TEST(Safetensors, RejectsATruncatedFile) {
  Bytes whole = make_file(R"({"w":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", 32);
  Bytes cut(whole.begin(), whole.end() - 5);
  expect_rejected(cut, {"tensor 'w'", "inside the data area [0, 27]", "truncated"});
}

TEST(Safetensors, RejectsATruncatedFixtureThroughTheFileReader) {
  fs::path dir = make_temp_dir();
  fs::path cut = dir / "model.safetensors";
  {
    std::ifstream in("tests/fixtures/bert-cls/model.safetensors", std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    ASSERT_GT(bytes.size(), 1000u);
    std::ofstream(cut, std::ios::binary).write(bytes.data(), bytes.size() - 1000);
  }
  try {
    SafetensorsFile file(cut);
    ADD_FAILURE() << "expected a CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find(cut.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

// A small fuzz loop: random byte flips and cuts never crash, they parse or throw CheckpointError.
TEST(Safetensors, SurvivesRandomCorruptionOfAValidFile) {
  Bytes valid = make_file(
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}})",
      32);
  std::mt19937 rng(7);
  int rejected = 0;
  for (int round = 0; round < 3000; ++round) {
    Bytes bytes = valid;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] = static_cast<std::uint8_t>(rng());
    if (round % 3 == 0) bytes.resize(rng() % bytes.size());
    try {
      parse_safetensors(bytes.data(), bytes.size(), "fuzz.safetensors");
    } catch (const CheckpointError&) {
      ++rejected;
    }
  }
  EXPECT_GT(rejected, 1000);
}

TEST(Safetensors, WriterSortsPadsAndMarksTheFormat) {
  fs::path dir = make_temp_dir();
  fs::path path = dir / "out.safetensors";
  std::vector<float> b = {1.f, 2.f, 3.f};
  std::vector<std::int64_t> a = {7, -8};
  write_safetensors(path,
                    {{"b", DType::F32, {3}, b.data(), 12}, {"a", DType::I64, {2}, a.data(), 16}},
                    {{"note", "hi"}});

  std::ifstream in(path, std::ios::binary);
  Bytes bytes((std::istreambuf_iterator<char>(in)), {});
  std::uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | bytes[i];
  EXPECT_EQ(length % 8, 0u);
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(length));
  EXPECT_EQ(header.find("{\"__metadata__\":{\"format\":\"pt\",\"note\":\"hi\"},\"a\":"), 0u)
      << header;
  EXPECT_LT(header.find("\"a\":"), header.find("\"b\":"));
  EXPECT_EQ(nlohmann::json::parse(header)["a"]["data_offsets"], nlohmann::json({0, 16}));

  SafetensorsFile file(path);
  ASSERT_EQ(file.header().entries.size(), 2u);
  const auto& ea = file.header().entries[0];
  const auto& eb = file.header().entries[1];
  EXPECT_EQ(ea.name, "a");
  EXPECT_EQ(std::memcmp(file.bytes(ea), a.data(), 16), 0);
  EXPECT_EQ(eb.dtype, DType::F32);
  EXPECT_EQ(std::memcmp(file.bytes(eb), b.data(), 12), 0);
  EXPECT_EQ(file.header().metadata.at("note"), "hi");

  // Atomic: no temporary files are left behind.
  int files = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir)) ++files;
  EXPECT_EQ(files, 1);
  fs::remove_all(dir);
}

TEST(Safetensors, WriterRejectsASizeNotMatchingTheShape) {
  fs::path dir = make_temp_dir();
  std::vector<float> b = {1.f, 2.f, 3.f};
  try {
    write_safetensors(dir / "out.safetensors", {{"b", DType::F32, {4}, b.data(), 12}});
    ADD_FAILURE() << "expected a CheckpointError";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("tensor 'b': expected 16 bytes"), std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(dir / "out.safetensors"));
  fs::remove_all(dir);
}

TEST(Safetensors, WriterReportsAnUnwritableFolder) {
  std::vector<float> b = {1.f};
  EXPECT_THROW(write_safetensors("/nonexistent-ftune-dir/x.safetensors",
                                 {{"b", DType::F32, {1}, b.data(), 4}}),
               IoError);
}

}  // namespace
}  // namespace ftune
