// MarianTokenizer: HF transformers 4.19 tokenization_marian.py + the slow-tokenizer base class
// (tokenize / truncation / _decode) rewritten for one text at a time. Not a batcher or padder.
#include "tokenizer/marian_tokenizer.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <utility>

#include <fmt/format.h>

#include "tokenizer/marian_json.h"
#include "tokenizer/tokenizer.h"

namespace ftune {
namespace {

namespace fs = std::filesystem;
using SpecialToken = MarianTokenizer::SpecialToken;

std::string read_file_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw TokenizerError(fmt::format("loading Marian tokenizer: cannot open '{}'", path.string()));
  }
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Python's str.isspace(): category Zs or bidi class WS, B or S.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Decodes the UTF-8 character at text[pos]; returns its code point (U+FFFD when malformed) and
// length.
std::pair<char32_t, size_t> decode_utf8_at(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  size_t length = lead < 0x80           ? 1
                  : (lead >> 5) == 0x6  ? 2
                  : (lead >> 4) == 0xE  ? 3
                  : (lead >> 3) == 0x1E ? 4
                                        : 0;
  if (length == 0 || pos + length > text.size()) return {0xFFFD, 1};
  char32_t code = length == 1 ? lead : lead & (0x7F >> length);
  for (size_t i = 1; i < length; ++i) {
    const auto next = static_cast<unsigned char>(text[pos + i]);
    if ((next & 0xC0) != 0x80) return {0xFFFD, 1};
    code = (code << 6) | (next & 0x3F);
  }
  return {code, length};
}

std::string_view strip_left(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const auto [code, length] = decode_utf8_at(text, pos);
    if (!is_python_space(code)) break;
    pos += length;
  }
  return text.substr(pos);
}

std::string_view strip_right(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && end - start < 4 &&
           (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) {
      --start;
    }
    const auto [code, length] = decode_utf8_at(text, start);
    if (start + length != end || !is_python_space(code)) break;
    end = start;
  }
  return text.substr(0, end);
}

// HF's language_code_re = re.compile(">>.+<<"): given ">>" at `start`, the end of the greedy
// match (the last "<<" on the same line, with at least one character in between), if any.
std::optional<size_t> find_language_code_end(std::string_view text, size_t start) {
  size_t line_end = text.find('\n', start + 2);
  if (line_end == std::string_view::npos) line_end = text.size();
  if (line_end < start + 5) return std::nullopt;
  const size_t close = text.rfind("<<", line_end - 2);
  if (close == std::string_view::npos || close < start + 3) return std::nullopt;
  return close + 2;
}

// language_code_re.sub("", text): every match deleted, scanning left to right.
std::string remove_language_codes(std::string_view text) {
  std::string result;
  size_t copied = 0;
  size_t pos = text.find(">>");
  while (pos != std::string_view::npos) {
    if (const auto end = find_language_code_end(text, pos)) {
      result.append(text.substr(copied, pos - copied));
      copied = *end;
      pos = text.find(">>", *end);
    } else {
      pos = text.find(">>", pos + 1);
    }
  }
  result.append(text.substr(copied));
  return result;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
  size_t pos = 0;
  while ((pos = text.find(from, pos)) != std::string::npos) {
    text.replace(pos, from.size(), to);
    pos += to.size();
  }
}

// PreTrainedTokenizerBase.clean_up_tokenization (4.19), the same replacements in the same order.
std::string clean_up_tokenization(std::string text) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 10> kReplacements{{
      {" .", "."},
      {" ?", "?"},
      {" !", "!"},
      {" ,", ","},
      {" ' ", "'"},
      {" n't", "n't"},
      {" 'm", "'m"},
      {" 's", "'s"},
      {" 've", "'ve"},
      {" 're", "'re"},
  }};
  for (const auto& [from, to] : kReplacements) replace_all(text, from, to);
  return text;
}

}  // namespace

MarianTokenizer::MarianTokenizer(SentencePieceModel source_spm, SentencePieceModel target_spm)
    : source_spm_(std::move(source_spm)), target_spm_(std::move(target_spm)) {}

MarianTokenizer MarianTokenizer::load_from_folder(const std::string& dir) {
  const fs::path folder(dir);
  std::error_code error;
  if (!fs::is_directory(folder, error)) {
    throw TokenizerError(fmt::format(
        "loading Marian tokenizer: '{}' is not a directory; hint: pass the model folder holding "
        "source.spm, target.spm and vocab.json",
        dir));
  }
  MarianSpecialTokens special;
  for (const char* name : {"tokenizer_config.json", "special_tokens_map.json"}) {
    const fs::path file = folder / name;
    if (fs::exists(file, error)) {
      apply_marian_special_tokens(read_file_text(file), file.string(), special);
    }
  }

  // Two statements: argument evaluation order is unspecified, and source.spm should fail first.
  SentencePieceModel source_spm = SentencePieceModel::load((folder / "source.spm").string());
  SentencePieceModel target_spm = SentencePieceModel::load((folder / "target.spm").string());
  MarianTokenizer tok(std::move(source_spm), std::move(target_spm));

  const fs::path vocab_path = folder / "vocab.json";
  MarianVocab vocab = parse_marian_vocab(read_file_text(vocab_path), vocab_path.string());
  tok.token_to_id_ = std::move(vocab.token_to_id);
  tok.id_to_token_ = std::move(vocab.id_to_token);
  tok.language_codes_ = std::move(vocab.language_codes);

  std::vector<SpecialToken> all_special{special.eos, special.unk, special.pad};
  all_special.insert(all_special.end(), special.additional.begin(), special.additional.end());
  for (const SpecialToken& token : all_special) {
    const auto it = tok.token_to_id_.find(token.text);
    if (it == tok.token_to_id_.end()) {
      throw TokenizerError(fmt::format(
          "loading Marian tokenizer: '{}': special token '{}' is not in the vocabulary; hint: "
          "tokenizer_config.json and vocab.json come from different models",
          vocab_path.string(),
          token.text));
    }
    tok.special_ids_.insert(it->second);
    const auto same_text = [&](const SpecialToken& t) { return t.text == token.text; };
    if (std::none_of(tok.special_tokens_.begin(), tok.special_tokens_.end(), same_text)) {
      tok.special_tokens_.push_back(token);
    }
  }
  std::stable_sort(
      tok.special_tokens_.begin(),
      tok.special_tokens_.end(),
      [](const SpecialToken& a, const SpecialToken& b) { return a.text.size() > b.text.size(); });
  tok.unk_token_ = special.unk.text;
  tok.eos_id_ = tok.token_to_id_.at(special.eos.text);
  tok.unk_id_ = tok.token_to_id_.at(special.unk.text);
  tok.pad_id_ = tok.token_to_id_.at(special.pad.text);
  return tok;
}

std::vector<std::string> MarianTokenizer::tokenize(const SentencePieceModel& spm,
                                                   std::string_view text) const {
  // 1. Split on special tokens written in the text (HF's tokens_trie.split, leftmost, longest).
  struct Chunk {
    std::string_view text;
    const SpecialToken* special;  // nullptr for plain text
  };
  std::vector<Chunk> chunks;
  size_t start = 0;
  for (size_t pos = 0; pos < text.size();) {
    const auto match =
        std::find_if(special_tokens_.begin(), special_tokens_.end(), [&](const SpecialToken& t) {
          return text.compare(pos, t.text.size(), t.text) == 0;
        });
    if (match == special_tokens_.end()) {
      ++pos;
      continue;
    }
    if (pos > start) chunks.push_back({text.substr(start, pos - start), nullptr});
    chunks.push_back({text.substr(pos, match->text.size()), &*match});
    pos += match->text.size();
    start = pos;
  }
  if (start < text.size()) chunks.push_back({text.substr(start), nullptr});

  // 2. A special token eats the whitespace beside it (both sides for plain-string tokens).
  for (size_t i = 0; i < chunks.size(); ++i) {
    const SpecialToken* special = chunks[i].special;
    if (special == nullptr) continue;
    if (special->strip_left && i > 0 && chunks[i - 1].special == nullptr) {
      chunks[i - 1].text = strip_right(chunks[i - 1].text);
    }
    if (special->strip_right && i + 1 < chunks.size() && chunks[i + 1].special == nullptr) {
      chunks[i + 1].text = strip_left(chunks[i + 1].text);
    }
  }

  // 3. MarianTokenizer._tokenize on each plain chunk: language code, then SentencePiece.
  std::vector<std::string> tokens;
  for (const Chunk& chunk : chunks) {
    if (chunk.text.empty()) continue;
    if (chunk.special != nullptr) {
      tokens.emplace_back(chunk.text);
      continue;
    }
    if (chunk.text.compare(0, 2, ">>") == 0) {
      if (const auto end = find_language_code_end(chunk.text, 0))
        tokens.emplace_back(chunk.text.substr(0, *end));
    }
    for (std::string& piece : spm.encode_as_pieces(remove_language_codes(chunk.text))) {
      tokens.push_back(std::move(piece));
    }
  }
  return tokens;
}

std::vector<std::string> MarianTokenizer::tokenize_source(std::string_view text) const {
  return tokenize(source_spm_, text);
}

std::vector<std::string> MarianTokenizer::tokenize_target(std::string_view text) const {
  return tokenize(target_spm_, text);
}

std::vector<int64_t> MarianTokenizer::encode(const SentencePieceModel& spm, std::string_view text,
                                             std::optional<size_t> max_length) const {
  std::vector<int64_t> ids;
  for (const std::string& token : tokenize(spm, text)) ids.push_back(token_to_id(token));
  // HF truncates the tokens from the right by (length + 1 for </s>) - max_length; when that would
  // remove every token it only logs an error and leaves them all, so we refuse instead.
  if (max_length && ids.size() + 1 > *max_length) {
    const size_t excess = ids.size() + 1 - *max_length;
    if (excess >= ids.size()) {
      throw TokenizerError(fmt::format(
          "encoding for Marian: max_length {} leaves no room for the text ({} tokens) and </s>; "
          "hint: use max_length >= 2",
          *max_length,
          ids.size()));
    }
    ids.resize(ids.size() - excess);
  }
  ids.push_back(eos_id_);
  return ids;
}

std::vector<int64_t> MarianTokenizer::encode_source(std::string_view text,
                                                    std::optional<size_t> max_length) const {
  return encode(source_spm_, text, max_length);
}

std::vector<int64_t> MarianTokenizer::encode_target(std::string_view text,
                                                    std::optional<size_t> max_length) const {
  return encode(target_spm_, text, max_length);
}

std::string MarianTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special_tokens,
                                    bool clean_up_tokenization_spaces) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const int64_t id : ids) {
    if (skip_special_tokens && special_ids_.count(id) != 0) continue;
    tokens.push_back(id_to_token(id));
  }
  // 4.19 decodes with the target spm unless asked for use_source_tokenizer, whatever the mode.
  std::string text = tokens.empty() ? std::string() : target_spm_.decode_pieces(tokens);
  return clean_up_tokenization_spaces ? clean_up_tokenization(std::move(text)) : text;
}

int64_t MarianTokenizer::token_to_id(std::string_view token) const {
  const auto it = token_to_id_.find(std::string(token));
  return it == token_to_id_.end() ? unk_id_ : it->second;
}

std::string MarianTokenizer::id_to_token(int64_t id) const {
  const auto it = id_to_token_.find(id);
  return it == id_to_token_.end() ? unk_token_ : it->second;
}

int64_t MarianTokenizer::min_id() const {
  int64_t low = 0;
  for (const auto& [id, token] : id_to_token_) low = std::min(low, id);
  return low;
}

int64_t MarianTokenizer::max_id() const {
  int64_t high = -1;
  for (const auto& [id, token] : id_to_token_) high = std::max(high, id);
  return high;
}

}  // namespace ftune
