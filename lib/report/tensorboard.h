// TensorBoard event files (`events.out.tfevents.<time>.<host>`), written without TensorFlow or
// protobuf: each record is TFRecord-framed (length, masked CRC32C of the length, the bytes, masked
// CRC32C of the bytes) and holds one `tensorflow.Event` message, encoded here field by field
// (the few fields TensorBoard's scalar and text dashboards read). Not a reader.
//
//   EventFileWriter events(output_dir / "runs");
//   events.add_scalar("train/loss", 0.6931, /*step=*/50);
//   events.add_text("args", "{\"learning_rate\": 5e-05}", /*step=*/0);
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace ftune {

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as TFRecord uses it.
uint32_t crc32c(std::string_view bytes);

// TFRecord's masked CRC: rotate right by 15 bits, add 0xa282ead8.
uint32_t masked_crc32c(std::string_view bytes);

// `payload` framed as one TFRecord.
std::string frame_tfrecord(std::string_view payload);

class EventFileWriter {
 public:
  // Creates `dir` if needed and a new events file in it (a resumed run writes a new file, as
  // TensorBoard expects); its first record is the file_version event ("brain.Event:2"). IoError
  // naming the file when it cannot be written.
  explicit EventFileWriter(const std::filesystem::path& dir);

  // One scalar (TensorBoard's "Scalars" dashboard): Summary.Value{tag, simple_value}.
  void add_scalar(const std::string& tag, double value, int64_t step);
  // One text (the "Text" dashboard, rendered as markdown): a string tensor with the "text"
  // plugin's metadata.
  void add_text(const std::string& tag, const std::string& text, int64_t step);
  // Flushes what is buffered to the file (TensorBoard reads it while the run goes on).
  void flush();

  const std::filesystem::path& path() const { return path_; }

 private:
  void write_event(int64_t step, std::string_view what_field);

  std::filesystem::path path_;
  std::ofstream out_;
};

}  // namespace ftune
