// Tests for lib/report/tensorboard: CRC-32C against the published check values (RFC 3720's iSCSI
// vectors and the "123456789" check value), the TFRecord frame layout, and an events file's first
// record. That TensorBoard itself reads every scalar and text back is tests/app/report_test.cpp
// (the real `tensorboard` package, at test time).
#include "lib/report/tensorboard.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

namespace ftune {
namespace {

namespace fs = std::filesystem;

TEST(Crc32c, GivesThePublishedCheckValues) {
  EXPECT_EQ(crc32c("123456789"), 0xE3069283U);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAU);
  EXPECT_EQ(crc32c(std::string(32, '\xFF')), 0x62A8AB43U);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c(ascending), 0x46DD794EU);
  EXPECT_EQ(crc32c(""), 0U);
}

TEST(Crc32c, MaskRotatesRightBy15AndAddsTheConstant) {
  const uint32_t crc = 0xE3069283U;
  EXPECT_EQ(masked_crc32c("123456789"), ((crc >> 15) | (crc << 17)) + 0xa282ead8U);
}

uint64_t read_u64(const std::string& bytes, size_t at) {
  uint64_t value = 0;
  std::memcpy(&value, bytes.data() + at, 8);
  return value;
}

uint32_t read_u32(const std::string& bytes, size_t at) {
  uint32_t value = 0;
  std::memcpy(&value, bytes.data() + at, 4);
  return value;
}

TEST(TfRecord, FrameIsLengthItsCrcThePayloadAndItsCrc) {
  const std::string payload = "hello events";
  const std::string record = frame_tfrecord(payload);
  ASSERT_EQ(record.size(), 8 + 4 + payload.size() + 4);
  EXPECT_EQ(read_u64(record, 0), payload.size());
  EXPECT_EQ(read_u32(record, 8), masked_crc32c(record.substr(0, 8)));
  EXPECT_EQ(record.substr(12, payload.size()), payload);
  EXPECT_EQ(read_u32(record, 12 + payload.size()), masked_crc32c(payload));
}

TEST(EventFileWriter, OpensWithTheFileVersionEventAndAppendsFramedRecords) {
  const fs::path dir = fs::temp_directory_path() / ("ftune-tb-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::path file;
  {
    EventFileWriter events(dir / "runs");
    file = events.path();
    EXPECT_NE(file.filename().string().find("events.out.tfevents."), std::string::npos);
    events.add_scalar("train/loss", 0.5, 7);
    events.flush();
  }
  std::ifstream in(file, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  const uint64_t first = read_u64(bytes, 0);
  const std::string event = bytes.substr(12, first);
  EXPECT_NE(event.find("brain.Event:2"), std::string::npos);
  const size_t second_at = 12 + first + 4;
  const uint64_t second = read_u64(bytes, second_at);
  EXPECT_EQ(bytes.size(), second_at + 12 + second + 4);
  EXPECT_NE(bytes.substr(second_at + 12, second).find("train/loss"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace ftune
