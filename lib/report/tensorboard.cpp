// TensorBoard event files: TFRecord framing and hand-encoded Event/Summary protobuf messages.
// Field numbers are tensorflow/core/util/event.proto, framework/summary.proto, tensor.proto and
// tensor_shape.proto; the framing is tensorflow/core/lib/io/record_writer.cc's.
#include "lib/report/tensorboard.h"

#include <array>
#include <chrono>
#include <cstring>

#include <fmt/format.h>
#include <unistd.h>

#include "util/error.h"

namespace ftune {
namespace {

// Protobuf wire types.
constexpr uint32_t kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;
constexpr uint64_t kDtString = 7;  // tensorflow.DataType DT_STRING

std::array<uint32_t, 256> make_crc32c_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1U) ? 0x82F63B78U : 0U);
    table[i] = crc;
  }
  return table;
}

void put_varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_key(std::string& out, uint32_t field, uint32_t wire_type) {
  put_varint(out, (static_cast<uint64_t>(field) << 3) | wire_type);
}

void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
  put_key(out, field, kLengthDelimited);
  put_varint(out, bytes.size());
  out.append(bytes);
}

template <typename T>
void put_little_endian(std::string& out, T value) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8);
  unsigned char raw[sizeof(T)];
  std::memcpy(raw, &value, sizeof(T));  // x86-64 and aarch64 are little-endian, as the format
  out.append(reinterpret_cast<const char*>(raw), sizeof(T));
}

std::string events_file_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == '\0') std::strcpy(host, "localhost");
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  // TensorFlow's name, with the pid so that a run resumed within the same second gets a new file.
  return fmt::format("events.out.tfevents.{}.{}.{}", seconds, host, ::getpid());
}

}  // namespace

uint32_t crc32c(std::string_view bytes) {
  static const auto table = make_crc32c_table();
  uint32_t crc = 0xFFFFFFFFU;
  for (const char c : bytes)
    crc = table[(crc ^ static_cast<unsigned char>(c)) & 0xFFU] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFU;
}

uint32_t masked_crc32c(std::string_view bytes) {
  const uint32_t crc = crc32c(bytes);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8U;
}

std::string frame_tfrecord(std::string_view payload) {
  std::string length;
  put_little_endian(length, static_cast<uint64_t>(payload.size()));
  std::string record = length;
  put_little_endian(record, masked_crc32c(length));
  record.append(payload);
  put_little_endian(record, masked_crc32c(payload));
  return record;
}

EventFileWriter::EventFileWriter(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  path_ = dir / events_file_name();
  out_.open(path_, std::ios::binary | std::ios::app);
  if (error || !out_) {
    throw IoError(fmt::format(
        "writing TensorBoard events '{}': cannot create it; hint: check that --output-dir is "
        "writable",
        path_.string()));
  }
  std::string file_version;
  put_bytes(file_version, 3, "brain.Event:2");  // Event.file_version
  write_event(0, file_version);
  flush();
}

void EventFileWriter::add_scalar(const std::string& tag, double value, int64_t step) {
  std::string summary_value;
  put_bytes(summary_value, 1, tag);     // Summary.Value.tag
  put_key(summary_value, 2, kFixed32);  // Summary.Value.simple_value (float)
  put_little_endian(summary_value, static_cast<float>(value));
  std::string summary;
  put_bytes(summary, 1, summary_value);  // Summary.value
  std::string what;
  put_bytes(what, 5, summary);  // Event.summary
  write_event(step, what);
}

void EventFileWriter::add_text(const std::string& tag, const std::string& text, int64_t step) {
  std::string plugin_data;
  put_bytes(plugin_data, 1, "text");  // PluginData.plugin_name
  std::string metadata;
  put_bytes(metadata, 1, plugin_data);  // SummaryMetadata.plugin_data
  std::string dim;
  put_key(dim, 1, kVarint);  // TensorShapeProto.Dim.size: one string, as torch's add_text
  put_varint(dim, 1);
  std::string shape;
  put_bytes(shape, 2, dim);  // TensorShapeProto.dim
  std::string tensor;
  put_key(tensor, 1, kVarint);  // TensorProto.dtype
  put_varint(tensor, kDtString);
  put_bytes(tensor, 2, shape);  // TensorProto.tensor_shape
  put_bytes(tensor, 8, text);   // TensorProto.string_val
  std::string summary_value;
  put_bytes(summary_value, 1, tag);       // Summary.Value.tag
  put_bytes(summary_value, 9, metadata);  // Summary.Value.metadata
  put_bytes(summary_value, 8, tensor);    // Summary.Value.tensor
  std::string summary;
  put_bytes(summary, 1, summary_value);
  std::string what;
  put_bytes(what, 5, summary);
  write_event(step, what);
}

void EventFileWriter::flush() {
  out_.flush();
  if (!out_) {
    throw IoError(fmt::format("writing TensorBoard events '{}': the write failed (disk full?)",
                              path_.string()));
  }
}

void EventFileWriter::write_event(int64_t step, std::string_view what_field) {
  const double wall_time =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  std::string event;
  put_key(event, 1, kFixed64);  // Event.wall_time (double)
  put_little_endian(event, wall_time);
  put_key(event, 2, kVarint);  // Event.step
  put_varint(event, static_cast<uint64_t>(step));
  event.append(what_field);
  const std::string record = frame_tfrecord(event);
  out_.write(record.data(), static_cast<std::streamsize>(record.size()));
}

}  // namespace ftune
