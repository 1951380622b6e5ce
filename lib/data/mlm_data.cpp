// Masked-LM data: line-by-line reading of (gzipped) text and JSON Lines through zlib, packing, and
// the masking rules of transformers 4.19 data/data_collator.py (torch_mask_tokens and
// DataCollatorForWholeWordMask._whole_word_mask), drawn from our own generator.
#include "lib/data/mlm_data.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace {

constexpr int32_t kIgnore = -100;
constexpr size_t kMaxWholeWordPredictions = 512;  // DataCollatorForWholeWordMask's max_predictions

// Lines of a plain or gzip file (zlib reads both), without the line break and a trailing '\r'.
class LineReader {
 public:
  explicit LineReader(const std::filesystem::path& file)
      : file_(file), handle_(gzopen(file.c_str(), "rb"), &gzclose) {
    if (!handle_) {
      throw IoError(
          fmt::format("reading '{}': cannot open the file; hint: check the path", file.string()));
    }
  }

  bool next(std::string& line) {
    line.clear();
    char buffer[8192];
    while (true) {
      if (gzgets(handle_.get(), buffer, sizeof buffer) == nullptr) {
        int code = 0;
        const char* message = gzerror(handle_.get(), &code);
        if (code != Z_OK && code != Z_BUF_ERROR) {
          throw DataError(fmt::format("reading '{}': line {}: {}; hint: is the .gz file complete?",
                                      file_.string(),
                                      line_number_ + 1,
                                      message));
        }
        if (line.empty()) return false;
        break;
      }
      line += buffer;
      if (!line.empty() && line.back() == '\n') break;
    }
    ++line_number_;
    if (!line.empty() && line.back() == '\n') line.pop_back();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_number_ == 1 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);
    return true;
  }

  int64_t line_number() const { return line_number_; }

 private:
  std::filesystem::path file_;
  std::unique_ptr<gzFile_s, decltype(&gzclose)> handle_;
  int64_t line_number_ = 0;
};

bool is_blank_line(const std::string& text) {
  return text.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

// ".txt", ".jsonl" (an extra ".gz" is looked through).
std::string data_extension(const std::filesystem::path& file) {
  auto path = file;
  if (path.extension() == ".gz") path = path.stem();
  return path.extension().string();
}

nlohmann::json parse_json_line(const std::filesystem::path& file, int64_t line_number,
                               const std::string& line) {
  nlohmann::json object;
  try {
    object = parse_json_capped(line, file.string());
  } catch (const JsonError& error) {
    throw DataError(
        fmt::format("reading '{}': line {}: expected one JSON object per line ({}), "
                    "got {}",
                    file.string(),
                    line_number,
                    error.kind == JsonError::Kind::kTooDeep ? error.expected : "valid JSON",
                    error.got));
  }
  if (!object.is_object()) {
    throw DataError(
        fmt::format("reading '{}': line {}: expected one JSON object per line, got a "
                    "JSON {}",
                    file.string(),
                    line_number,
                    object.type_name()));
  }
  return object;
}

std::vector<int32_t> read_int_list(const nlohmann::json& object, const char* key,
                                   const std::filesystem::path& file, int64_t line_number) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_array()) {
    throw DataError(
        fmt::format("reading '{}': line {}: key '{}': expected a list of integers, got {}; hint: a "
                    "pre-masked file has \"input_ids\" and \"labels\" on every line",
                    file.string(),
                    line_number,
                    key,
                    it == object.end() ? "nothing" : it->type_name()));
  }
  std::vector<int32_t> values;
  values.reserve(it->size());
  for (const auto& value : *it) {
    if (!value.is_number_integer()) {
      throw DataError(fmt::format("reading '{}': line {}: key '{}': expected integers, got {}",
                                  file.string(),
                                  line_number,
                                  key,
                                  quote_json_value(value)));
    }
    values.push_back(static_cast<int32_t>(value.get<int64_t>()));
  }
  return values;
}

}  // namespace

MlmSequences read_mlm_text(const std::filesystem::path& file, const WordPieceTokenizer& tokenizer,
                           const MlmTextOptions& options) {
  const std::string extension = data_extension(file);
  if (extension != ".txt" && extension != ".jsonl") {
    throw DataError(fmt::format(
        "reading '{}': expected a .txt, .txt.gz, .jsonl or .jsonl.gz file, got '{}'; hint: one "
        "document per line as plain text, or JSON Lines with a \"text\" string",
        file.string(),
        file.filename().string()));
  }
  if (options.max_length < 2) {
    throw DataError(fmt::format("reading '{}': --max-length {} leaves no room for text",
                                file.string(),
                                options.max_length));
  }
  MlmSequences out;
  out.file = file;
  std::vector<int32_t> packed;  // the tail not yet cut into a block
  LineReader reader(file);
  std::string line;
  while (reader.next(line)) {
    if (is_blank_line(line)) continue;
    std::string text;
    if (extension == ".jsonl") {
      auto object = parse_json_line(file, reader.line_number(), line);
      auto it = object.find("text");
      if (it == object.end() || !it->is_string()) {
        throw DataError(fmt::format(
            "reading '{}': line {}: key 'text': expected a string, got {}; hint: masked-LM "
            "JSON Lines need {{\"text\": \"...\"}} on every line",
            file.string(),
            reader.line_number(),
            it == object.end() ? "nothing" : it->type_name()));
      }
      text = it->get<std::string>();
      if (is_blank_line(text)) continue;
    } else {
      text = std::move(line);
    }
    ++out.lines_read;
    Encoding encoding = tokenizer.encode(text, std::nullopt, options.pack ? 0 : options.max_length);
    std::vector<int32_t> ids(encoding.input_ids.begin(), encoding.input_ids.end());
    if (!options.pack) {
      out.sequences.push_back(std::move(ids));
      continue;
    }
    packed.insert(packed.end(), ids.begin(), ids.end());
    size_t start = 0;
    while (packed.size() - start >= options.max_length) {
      out.sequences.emplace_back(
          packed.begin() + static_cast<std::ptrdiff_t>(start),
          packed.begin() + static_cast<std::ptrdiff_t>(start + options.max_length));
      start += options.max_length;
    }
    packed.erase(packed.begin(), packed.begin() + static_cast<std::ptrdiff_t>(start));
  }
  if (!packed.empty()) out.sequences.push_back(std::move(packed));
  if (out.sequences.empty()) {
    throw DataError(
        fmt::format("reading '{}': no text found (every line is blank); hint: one "
                    "document or sentence per line",
                    file.string()));
  }
  return out;
}

MlmSequences read_pre_masked(const std::filesystem::path& file, int64_t vocab_size,
                             size_t max_length) {
  MlmSequences out;
  out.file = file;
  LineReader reader(file);
  std::string line;
  while (reader.next(line)) {
    if (is_blank_line(line)) continue;
    const int64_t n = reader.line_number();
    auto object = parse_json_line(file, n, line);
    auto ids = read_int_list(object, "input_ids", file, n);
    auto labels = read_int_list(object, "labels", file, n);
    if (labels.size() != ids.size()) {
      throw DataError(
          fmt::format("reading '{}': line {}: 'labels' has {} values, 'input_ids' {}; "
                      "hint: one label per token, -100 where not masked",
                      file.string(),
                      n,
                      labels.size(),
                      ids.size()));
    }
    if (object.contains("attention_mask")) {
      auto mask = read_int_list(object, "attention_mask", file, n);
      const auto real = static_cast<size_t>(std::count(mask.begin(), mask.end(), 1));
      const bool prefix = mask.size() == ids.size() &&
                          std::all_of(mask.begin(),
                                      mask.begin() + static_cast<std::ptrdiff_t>(real),
                                      [](int32_t v) { return v == 1; }) &&
                          std::all_of(mask.begin() + static_cast<std::ptrdiff_t>(real),
                                      mask.end(),
                                      [](int32_t v) { return v == 0; });
      if (!prefix) {
        throw DataError(
            fmt::format("reading '{}': line {}: 'attention_mask': expected as many "
                        "values as input_ids, 1s then 0s (right padding)",
                        file.string(),
                        n));
      }
      ids.resize(real);
      labels.resize(real);
    }
    if (ids.empty() || ids.size() > max_length) {
      throw DataError(
          fmt::format("reading '{}': line {}: expected 1 to {} tokens, got {}; hint: "
                      "raise --max-length (at most max_position_embeddings)",
                      file.string(),
                      n,
                      max_length,
                      ids.size()));
    }
    for (size_t t = 0; t < ids.size(); ++t) {
      const bool id_ok = ids[t] >= 0 && ids[t] < vocab_size;
      const bool label_ok = labels[t] == kIgnore || (labels[t] >= 0 && labels[t] < vocab_size);
      if (!id_ok || !label_ok) {
        throw DataError(
            fmt::format("reading '{}': line {}: position {}: expected ids in [0, {}) "
                        "and labels -100 or in [0, {}), got id {} label {}",
                        file.string(),
                        n,
                        t,
                        vocab_size,
                        vocab_size,
                        ids[t],
                        labels[t]));
      }
    }
    out.sequences.push_back(std::move(ids));
    out.labels.push_back(std::move(labels));
    ++out.lines_read;
  }
  if (out.sequences.empty()) {
    throw DataError(fmt::format("reading '{}': no examples found", file.string()));
  }
  return out;
}

MaskingVocab make_masking_vocab(const WordPieceTokenizer& tokenizer) {
  MaskingVocab vocab;
  vocab.vocab_size = static_cast<int32_t>(tokenizer.vocab_size());
  vocab.mask_id = static_cast<int32_t>(tokenizer.mask_id());
  vocab.is_special.assign(vocab.vocab_size, false);
  vocab.is_continuation.assign(vocab.vocab_size, false);
  std::vector<int64_t> special = {tokenizer.cls_id(),
                                  tokenizer.sep_id(),
                                  tokenizer.pad_id(),
                                  tokenizer.unk_id(),
                                  tokenizer.mask_id()};
  for (auto id : tokenizer.convert_tokens_to_ids(tokenizer.options().additional_special_tokens)) {
    special.push_back(id);
  }
  for (auto id : special) {
    if (id >= 0 && id < vocab.vocab_size) vocab.is_special[id] = true;
  }
  for (int32_t id = 0; id < vocab.vocab_size; ++id) {
    vocab.is_continuation[id] = tokenizer.convert_id_to_token(id).compare(0, 2, "##") == 0;
  }
  return vocab;
}

uint64_t MaskRng::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

double MaskRng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

uint64_t MaskRng::below(uint64_t n) {
  // Rejection keeps every value equally likely (no modulo bias).
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t value = next();
  while (value >= limit) value = next();
  return value % n;
}

MaskedSequence mask_tokens(const std::vector<int32_t>& ids, const MaskingVocab& vocab,
                           const MaskingOptions& options, MaskRng& rng) {
  auto special = [&](int32_t id) {
    return id < 0 || id >= vocab.vocab_size || vocab.is_special[id];
  };
  std::vector<bool> chosen(ids.size(), false);
  if (!options.whole_word) {
    for (size_t t = 0; t < ids.size(); ++t) {
      if (!special(ids[t])) chosen[t] = rng.uniform() < options.mlm_probability;
    }
  } else {
    // Candidate words: a token and the "##" pieces right after it.
    std::vector<std::vector<size_t>> words;
    for (size_t t = 0; t < ids.size(); ++t) {
      if (special(ids[t])) continue;
      const bool continues =
          vocab.is_continuation[ids[t]] && t > 0 && !words.empty() && words.back().back() == t - 1;
      if (continues) {
        words.back().push_back(t);
      } else {
        words.push_back({t});
      }
    }
    for (size_t i = words.size(); i > 1; --i) {  // Fisher-Yates, as random.shuffle
      std::swap(words[i - 1], words[rng.below(i)]);
    }
    // Python's round(): halves to even, which nearbyint does in the default rounding mode.
    const auto rounded = static_cast<size_t>(
        std::nearbyint(static_cast<double>(ids.size()) * options.mlm_probability));
    const size_t budget = std::min(kMaxWholeWordPredictions, std::max<size_t>(1, rounded));
    size_t covered = 0;
    for (const auto& word : words) {
      if (covered >= budget) break;
      if (covered + word.size() > budget) continue;
      for (size_t t : word) chosen[t] = true;
      covered += word.size();
    }
  }
  MaskedSequence out;
  out.input_ids.assign(ids.begin(), ids.end());
  out.labels.assign(ids.size(), kIgnore);
  for (size_t t = 0; t < ids.size(); ++t) {
    if (!chosen[t]) continue;
    out.labels[t] = ids[t];
    if (rng.uniform() < 0.8) {
      out.input_ids[t] = vocab.mask_id;
    } else if (rng.uniform() < 0.5) {
      out.input_ids[t] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(vocab.vocab_size)));
    }
  }
  return out;
}

}  // namespace ftune
