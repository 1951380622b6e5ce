// WordPiece: transformers 4.19 BertTokenizer (tokenization_bert.py, tokenization_utils*.py)
// re-implemented on code points, with Unicode properties from utf8proc. Not the fast (Rust) one.
#include "tokenizer/wordpiece.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <utf8proc.h>

#include "util/json.h"

namespace ftune {
namespace {

constexpr char32_t kReplacementChar = 0xFFFD;
constexpr int kDefaultMaxInputCharsPerWord = 100;

std::u32string decode_utf8(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* bytes = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  auto left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t c = 0;
    utf8proc_ssize_t n = utf8proc_iterate(bytes, left, &c);
    if (n <= 0) {  // like Python's errors="replace": one bad byte becomes one U+FFFD
      out.push_back(kReplacementChar);
      n = 1;
    } else {
      out.push_back(static_cast<char32_t>(c));
    }
    bytes += n;
    left -= n;
  }
  return out;
}

std::string encode_utf8(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  std::array<utf8proc_uint8_t, 4> buf{};
  for (char32_t c : text) {
    utf8proc_ssize_t n = utf8proc_encode_char(static_cast<utf8proc_int32_t>(c), buf.data());
    out.append(reinterpret_cast<const char*>(buf.data()), static_cast<size_t>(n));
  }
  return out;
}

utf8proc_category_t category_of(char32_t c) {
  return utf8proc_category(static_cast<utf8proc_int32_t>(c));
}

// Python's str.isspace(), which str.split()/strip() use in whitespace_tokenize: bidi class
// WS, B or S, or category Zs. Wider than BERT's own _is_whitespace (it includes U+2028).
bool is_python_space(char32_t c) {
  const utf8proc_property_t* p = utf8proc_get_property(static_cast<utf8proc_int32_t>(c));
  return p->bidi_class == UTF8PROC_BIDI_CLASS_WS || p->bidi_class == UTF8PROC_BIDI_CLASS_B ||
         p->bidi_class == UTF8PROC_BIDI_CLASS_S || p->category == UTF8PROC_CATEGORY_ZS;
}

// tokenization_bert._is_whitespace.
bool is_bert_whitespace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || category_of(c) == UTF8PROC_CATEGORY_ZS;
}

// tokenization_bert._is_control: any C* category (Cc, Cf, Cs, Co, Cn) except \t \n \r.
bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (category_of(c)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
      return true;
    default:
      return false;
  }
}

// tokenization_bert._is_punctuation: all non-alphanumeric ASCII ("$", "^", "`" are S*, not P*,
// in Unicode) plus every P* code point.
bool is_punctuation(char32_t c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
      (c >= 123 && c <= 126)) {
    return true;
  }
  switch (category_of(c)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
      return true;
    default:
      return false;
  }
}

// tokenization_bert._is_chinese_char: the CJK Unified Ideographs blocks BERT was trained with
// (not Hiragana, Katakana or Hangul), copied as ranges because they are a BERT choice.
bool is_cjk_ideograph(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Python's str.lower() of one character: the simple mapping, except U+0130 whose full mapping
// (SpecialCasing.txt) is two code points. HF lowers character by character (its regex is
// "(.+?)"), so Python's final-sigma rule never fires and is not needed here.
void append_lower(char32_t c, std::u32string& out) {
  if (c == 0x130) {
    out += U"i\u0307";
    return;
  }
  out.push_back(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
}

std::u32string to_lower(std::u32string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) append_lower(c, out);
  return out;
}

// BasicTokenizer._run_strip_accents: NFD, then drop nonspacing marks (Mn).
std::u32string strip_accents(std::u32string_view text) {
  std::string utf8 = encode_utf8(text);
  utf8proc_uint8_t* nfd = nullptr;
  utf8proc_ssize_t n =
      utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(utf8.data()),
                   static_cast<utf8proc_ssize_t>(utf8.size()),
                   &nfd,
                   static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
  if (n < 0) {
    throw TokenizerError(
        fmt::format("tokenizing: NFD of '{}' failed: {}", utf8, utf8proc_errmsg(n)));
  }
  std::u32string decomposed =
      decode_utf8(std::string_view(reinterpret_cast<const char*>(nfd), static_cast<size_t>(n)));
  std::free(nfd);
  std::u32string out;
  out.reserve(decomposed.size());
  for (char32_t c : decomposed) {
    if (category_of(c) != UTF8PROC_CATEGORY_MN) out.push_back(c);
  }
  return out;
}

// whitespace_tokenize: Python's text.strip().split().
std::vector<std::u32string_view> split_on_whitespace(std::u32string_view text) {
  std::vector<std::u32string_view> words;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_python_space(text[i])) ++i;
    size_t start = i;
    while (i < text.size() && !is_python_space(text[i])) ++i;
    if (i > start) words.push_back(text.substr(start, i - start));
  }
  return words;
}

std::u32string_view strip_python_space(std::u32string_view s, bool left, bool right) {
  while (left && !s.empty() && is_python_space(s.front())) s.remove_prefix(1);
  while (right && !s.empty() && is_python_space(s.back())) s.remove_suffix(1);
  return s;
}

// Length of the longest special token that starts at text[pos], or 0.
size_t match_special_at(const std::vector<std::u32string>& specials, std::u32string_view text,
                        size_t pos) {
  size_t best = 0;
  for (const auto& special : specials) {
    if (special.size() > best && text.compare(pos, special.size(), special) == 0) {
      best = special.size();
    }
  }
  return best;
}

struct Segment {
  std::u32string_view text;
  bool special;
};

// tokens_trie.split + the whitespace stripping around special tokens in
// PreTrainedTokenizer.tokenize: plain-string special tokens eat the whitespace on both sides.
std::vector<Segment> split_on_special_tokens(const std::vector<std::u32string>& specials,
                                             std::u32string_view text) {
  std::vector<Segment> segments;
  size_t plain_start = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t len = match_special_at(specials, text, i);
    if (len == 0) {
      ++i;
      continue;
    }
    if (i > plain_start) segments.push_back({text.substr(plain_start, i - plain_start), false});
    segments.push_back({text.substr(i, len), true});
    i += len;
    plain_start = i;
  }
  if (plain_start < text.size()) segments.push_back({text.substr(plain_start), false});
  for (size_t k = 0; k < segments.size(); ++k) {
    if (!segments[k].special) continue;
    if (k > 0 && !segments[k - 1].special) {
      segments[k - 1].text = strip_python_space(segments[k - 1].text, false, true);
    }
    if (k + 1 < segments.size() && !segments[k + 1].special) {
      segments[k + 1].text = strip_python_space(segments[k + 1].text, true, false);
    }
  }
  return segments;
}

std::vector<std::string> read_vocab_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw TokenizerError(fmt::format(
        "loading tokenizer: file '{}': not found or unreadable; hint: a BERT checkpoint folder "
        "needs the vocab.txt (or the WordPiece tokenizer.json) written by save_pretrained",
        path));
  }
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Python's text-mode readlines() (universal newlines): "\n", "\r\n" and a lone "\r" end a
  // line; U+2028 does not (bert-base-chinese has it as a token).
  std::vector<std::string> lines;
  std::string line;
  for (size_t i = 0; i < bytes.size(); ++i) {
    char c = bytes[i];
    if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < bytes.size() && bytes[i + 1] == '\n') ++i;
      lines.push_back(std::move(line));
      line.clear();
    } else {
      line.push_back(c);
    }
  }
  if (!line.empty()) lines.push_back(std::move(line));
  return lines;
}

// tokenizer_config.json or special_tokens_map.json: a JSON object, `path` naming it in errors.
nlohmann::json parse_tokenizer_json(std::string_view text, const std::string& path) {
  nlohmann::json j;
  try {
    j = parse_json_capped(text, path);
  } catch (const JsonError& e) {
    throw TokenizerError(
        fmt::format("loading tokenizer: {}; hint: re-save it with save_pretrained", e.what()));
  }
  if (!j.is_object()) {
    throw TokenizerError(fmt::format(
        "loading tokenizer: file '{}': expected a JSON object, got {}", path, j.type_name()));
  }
  return j;
}

// The file's text, or nullopt when there is no such file (both JSON files are optional).
std::optional<std::string> read_file_if_present(const std::string& path) {
  if (!std::filesystem::exists(path)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    throw TokenizerError(fmt::format("loading tokenizer: file '{}': cannot read it", path));
  }
  return text;
}

// A special token is saved as a string or, for AddedToken, as {"content": ..., ...}.
std::string read_token(const nlohmann::json& value, const std::string& key,
                       const std::string& path) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value["content"].is_string()) {
    return value["content"].get<std::string>();
  }
  throw TokenizerError(fmt::format(
      "loading tokenizer: key '{}' in '{}': expected a string or an AddedToken object, got {}",
      key,
      path,
      quote_json_value(value)));
}

template <typename T>
void read_optional_key(const nlohmann::json& j, const char* key, const std::string& path,
                       T& target) {
  if (!j.contains(key) || j[key].is_null()) return;
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    // get<int>() would cast a float such as 1e300 to int, which is undefined.
    const auto& value = j[key];
    const bool fits =
        value.is_number_unsigned()
            ? value.template get<uint64_t>() <= uint64_t{std::numeric_limits<T>::max()}
            : value.is_number_integer() &&
                  value.template get<int64_t>() >= std::numeric_limits<T>::min() &&
                  value.template get<int64_t>() <= std::numeric_limits<T>::max();
    if (!fits) {
      throw TokenizerError(
          fmt::format("loading tokenizer: key '{}' in '{}': expected an integer, got {}",
                      key,
                      path,
                      quote_json_value(value)));
    }
  }
  try {
    target = j[key].get<T>();
  } catch (const nlohmann::json::exception&) {
    throw TokenizerError(fmt::format("loading tokenizer: key '{}' in '{}': unexpected value {}",
                                     key,
                                     path,
                                     quote_json_value(j[key])));
  }
}

void read_special_tokens(const nlohmann::json& j, const std::string& path,
                         WordPieceOptions& options) {
  const std::array<std::pair<const char*, std::string*>, 5> fields = {
      {{"unk_token", &options.unk_token},
       {"sep_token", &options.sep_token},
       {"pad_token", &options.pad_token},
       {"cls_token", &options.cls_token},
       {"mask_token", &options.mask_token}}};
  for (const auto& [key, target] : fields) {
    if (j.contains(key) && !j[key].is_null()) *target = read_token(j[key], key, path);
  }
  if (j.contains("additional_special_tokens") && j["additional_special_tokens"].is_array()) {
    options.additional_special_tokens.clear();
    for (const auto& token : j["additional_special_tokens"]) {
      options.additional_special_tokens.push_back(
          read_token(token, "additional_special_tokens", path));
    }
  }
}

// json.dumps(obj, ensure_ascii=False) for a flat object: Python puts ", " and ": " between items,
// nlohmann's compact dump does not; values (strings, bools, null, lists) dump identically.
std::string dump_like_python(const nlohmann::ordered_json& object) {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, value] : object.items()) {
    if (!first) out += ", ";
    first = false;
    out += nlohmann::json(key).dump() + ": ";
    if (value.is_array()) {
      out += "[";
      for (size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + value[i].dump();
      out += "]";
    } else {
      out += value.dump();
    }
  }
  return out + "}";
}

void write_file_atomically(const std::filesystem::path& path, const std::string& contents) {
  std::filesystem::path tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) {
      throw TokenizerError(fmt::format(
          "saving tokenizer: file '{}': write failed; hint: check the folder is writable and the "
          "disk is not full",
          tmp.string()));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw TokenizerError(fmt::format("saving tokenizer: file '{}': rename failed", path.string()));
  }
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options)
    : id_to_token_(std::move(vocab)), options_(std::move(options)) {
  if (options_.max_input_chars_per_word < 1) {
    throw TokenizerError(fmt::format(
        "loading tokenizer: max_input_chars_per_word: expected >= 1, got {}; hint: BERT uses 100",
        options_.max_input_chars_per_word));
  }
  for (size_t i = 0; i < id_to_token_.size(); ++i) {
    // A duplicated line keeps its last id, as HF's load_vocab dict does.
    token_to_id_[id_to_token_[i]] = static_cast<int64_t>(i);
    max_token_chars_ = std::max(max_token_chars_, decode_utf8(id_to_token_[i]).size());
  }
  auto id_of = [&](const std::string& token, const char* role) {
    auto it = token_to_id_.find(token);
    if (it == token_to_id_.end()) {
      throw TokenizerError(fmt::format(
          "loading tokenizer: {} '{}': expected in the vocabulary ({} entries), not found; hint: "
          "set {} in tokenizer_config.json/special_tokens_map.json to a token of vocab.txt",
          role,
          token,
          id_to_token_.size(),
          role));
    }
    return it->second;
  };
  unk_id_ = id_of(options_.unk_token, "unk_token");
  sep_id_ = id_of(options_.sep_token, "sep_token");
  pad_id_ = id_of(options_.pad_token, "pad_token");
  cls_id_ = id_of(options_.cls_token, "cls_token");
  mask_id_ = id_of(options_.mask_token, "mask_token");
  special_tokens_ = {options_.unk_token,
                     options_.sep_token,
                     options_.pad_token,
                     options_.cls_token,
                     options_.mask_token};
  for (const auto& token : options_.additional_special_tokens) {
    id_of(token, "additional_special_tokens");
    special_tokens_.push_back(token);
  }
  for (const auto& token : special_tokens_) {
    // An empty special token would match everywhere; HF's trie ignores it too.
    if (!token.empty()) special_chars_.push_back(decode_utf8(token));
  }
}

void apply_tokenizer_config(std::string_view json_text, const std::string& path,
                            WordPieceOptions& options) {
  const nlohmann::json config = parse_tokenizer_json(json_text, path);
  read_optional_key(config, "do_lower_case", path, options.do_lower_case);
  read_optional_key(config, "do_basic_tokenize", path, options.do_basic_tokenize);
  read_optional_key(config, "tokenize_chinese_chars", path, options.tokenize_chinese_chars);
  read_optional_key(config, "never_split", path, options.never_split);
  read_optional_key(config, "max_input_chars_per_word", path, options.max_input_chars_per_word);
  if (config.contains("strip_accents") && !config["strip_accents"].is_null()) {
    bool strip = false;
    read_optional_key(config, "strip_accents", path, strip);
    options.strip_accents = strip;
  }
  read_special_tokens(config, path, options);
}

void apply_special_tokens_map(std::string_view json_text, const std::string& path,
                              WordPieceOptions& options) {
  read_special_tokens(parse_tokenizer_json(json_text, path), path, options);
}

std::vector<std::string> read_tokenizer_json_vocab(std::string_view json_text,
                                                   const std::string& path,
                                                   WordPieceOptions& options) {
  const nlohmann::json file = parse_tokenizer_json(json_text, path);
  auto fail = [&](const std::string& what) {
    throw TokenizerError(fmt::format("loading tokenizer: file '{}': {}", path, what));
  };
  if (!file.contains("model") || !file["model"].is_object()) {
    fail("expected a \"model\" object (a tokenizers tokenizer.json), got none");
  }
  const nlohmann::json& model = file["model"];
  const nlohmann::json type = model.value("type", nlohmann::json());
  if (type != "WordPiece") {
    fail(
        fmt::format("model type {}: expected WordPiece (a BERT-family tokenizer); hint: ftune "
                    "reads BERT's WordPiece and Marian's SentencePiece tokenizers",
                    quote_json_value(type)));
  }
  if (model.contains("continuing_subword_prefix") && model["continuing_subword_prefix"] != "##") {
    fail(fmt::format("continuing_subword_prefix {}: expected \"##\"",
                     quote_json_value(model["continuing_subword_prefix"])));
  }
  if (!model.contains("vocab") || !model["vocab"].is_object() || model["vocab"].empty()) {
    fail("model.vocab: expected an object of token -> id, got none or an empty one");
  }
  const auto& entries = model["vocab"];
  std::vector<std::string> vocab(entries.size());
  std::vector<bool> seen(entries.size(), false);
  for (const auto& [token, id] : entries.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() >= static_cast<int64_t>(vocab.size()) || seen[id.get<size_t>()]) {
      fail(fmt::format("model.vocab['{}']: expected a distinct id in 0..{}, got {}",
                       token,
                       vocab.size() - 1,
                       quote_json_value(id)));
    }
    vocab[id.get<size_t>()] = token;
    seen[id.get<size_t>()] = true;
  }
  if (model.contains("unk_token") && model["unk_token"].is_string()) {
    options.unk_token = model["unk_token"].get<std::string>();
  }
  if (model.contains("max_input_chars_per_word") &&
      model["max_input_chars_per_word"].is_number_integer()) {
    const auto chars = model["max_input_chars_per_word"].get<int64_t>();
    if (chars > 0 && chars <= std::numeric_limits<int>::max()) {
      options.max_input_chars_per_word = static_cast<int>(chars);
    }
  }
  // BertNormalizer: lowercase, strip_accents (null: follow lowercase), handle_chinese_chars.
  if (file.contains("normalizer") && file["normalizer"].is_object() &&
      file["normalizer"].value("type", "") == "BertNormalizer") {
    const auto& normalizer = file["normalizer"];
    if (normalizer.contains("lowercase") && normalizer["lowercase"].is_boolean()) {
      options.do_lower_case = normalizer["lowercase"].get<bool>();
    }
    if (normalizer.contains("strip_accents") && normalizer["strip_accents"].is_boolean()) {
      options.strip_accents = normalizer["strip_accents"].get<bool>();
    }
    if (normalizer.contains("handle_chinese_chars") &&
        normalizer["handle_chinese_chars"].is_boolean()) {
      options.tokenize_chinese_chars = normalizer["handle_chinese_chars"].get<bool>();
    }
  }
  return vocab;
}

WordPieceTokenizer WordPieceTokenizer::load_from_folder(const std::string& dir) {
  const std::filesystem::path folder(dir);
  WordPieceOptions options;
  std::vector<std::string> vocab;
  const auto tokenizer_json = folder / "tokenizer.json";
  if (!std::filesystem::exists(folder / "vocab.txt") && std::filesystem::exists(tokenizer_json)) {
    // Current save_pretrained may write only tokenizer.json; tokenizer_config.json still wins.
    vocab = read_tokenizer_json_vocab(
        *read_file_if_present(tokenizer_json.string()), tokenizer_json.string(), options);
  } else {
    vocab = read_vocab_lines((folder / "vocab.txt").string());
  }

  const std::string config_path = (folder / "tokenizer_config.json").string();
  if (auto text = read_file_if_present(config_path)) {
    apply_tokenizer_config(*text, config_path, options);
  }
  // from_pretrained applies special_tokens_map.json after the config, so it wins.
  const std::string map_path = (folder / "special_tokens_map.json").string();
  if (auto text = read_file_if_present(map_path)) {
    apply_special_tokens_map(*text, map_path, options);
  }

  try {
    return {std::move(vocab), std::move(options)};
  } catch (const TokenizerError& e) {
    // Name the folder the bad combination came from.
    std::string_view what = e.what();
    constexpr std::string_view kPrefix = "loading tokenizer: ";
    if (what.substr(0, kPrefix.size()) == kPrefix) what.remove_prefix(kPrefix.size());
    throw TokenizerError(fmt::format("loading tokenizer from folder '{}': {}", dir, what));
  }
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::u32string chars = decode_utf8(text);
  if (options_.do_lower_case) {
    // HF lowers the whole text before splitting, except where a special token matches.
    std::u32string lowered;
    lowered.reserve(chars.size());
    size_t i = 0;
    while (i < chars.size()) {
      size_t len = match_special_at(special_chars_, chars, i);
      if (len > 0) {
        lowered.append(chars, i, len);
        i += len;
      } else {
        append_lower(chars[i++], lowered);
      }
    }
    chars = std::move(lowered);
  }
  std::vector<std::string> tokens;
  for (const Segment& segment : split_on_special_tokens(special_chars_, chars)) {
    if (segment.text.empty()) continue;
    if (segment.special) {
      tokens.push_back(encode_utf8(segment.text));
    } else {
      for (auto& token : split_words(segment.text)) tokens.push_back(std::move(token));
    }
  }
  return tokens;
}

// BertTokenizer._tokenize: BasicTokenizer.tokenize, then WordPiece on each word.
std::vector<std::string> WordPieceTokenizer::split_words(std::u32string_view text) const {
  std::vector<std::string> out;
  if (!options_.do_basic_tokenize) {
    for (auto word : split_on_whitespace(text)) append_wordpieces(word, out);
    return out;
  }

  std::u32string cleaned;
  cleaned.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0 || c == kReplacementChar || is_control(c)) continue;
    if (is_bert_whitespace(c)) {
      cleaned.push_back(' ');
    } else if (options_.tokenize_chinese_chars && is_cjk_ideograph(c)) {
      cleaned.push_back(' ');
      cleaned.push_back(c);
      cleaned.push_back(' ');
    } else {
      cleaned.push_back(c);
    }
  }

  // Words in the basic tokenizer's never_split (ours plus the special tokens) skip lower-casing
  // and punctuation splitting; only ours also skip WordPiece.
  auto keep_whole = [&](std::u32string_view word) {
    std::string utf8 = encode_utf8(word);
    const auto& never_split = options_.never_split;
    if (std::find(never_split.begin(), never_split.end(), utf8) != never_split.end()) {
      out.push_back(std::move(utf8));
      return true;
    }
    if (std::find(special_tokens_.begin(), special_tokens_.end(), utf8) != special_tokens_.end()) {
      append_wordpieces(word, out);
      return true;
    }
    return false;
  };
  const bool strip = options_.strip_accents.value_or(options_.do_lower_case);
  for (auto word_view : split_on_whitespace(cleaned)) {
    if (keep_whole(word_view)) continue;
    std::u32string word(word_view);
    if (options_.do_lower_case) word = to_lower(word);
    if (strip) word = strip_accents(word);
    if (keep_whole(word)) continue;  // HF checks again, after lower-casing, in _run_split_on_punc
    // _run_split_on_punc: every punctuation character becomes its own word.
    size_t start = 0;
    for (size_t i = 0; i < word.size(); ++i) {
      if (!is_punctuation(word[i])) continue;
      if (i > start) append_wordpieces(std::u32string_view(word).substr(start, i - start), out);
      append_wordpieces(std::u32string_view(word).substr(i, 1), out);
      start = i + 1;
    }
    if (start < word.size()) append_wordpieces(std::u32string_view(word).substr(start), out);
  }
  return out;
}

// WordpieceTokenizer.tokenize for one word: greedy longest-match-first, "##" on continuations;
// an over-long word or one with an unmatched piece becomes a single unk token.
void WordPieceTokenizer::append_wordpieces(std::u32string_view word,
                                           std::vector<std::string>& out) const {
  if (word.size() > static_cast<size_t>(options_.max_input_chars_per_word)) {
    out.push_back(options_.unk_token);
    return;
  }
  const size_t first = out.size();
  size_t start = 0;
  while (start < word.size()) {
    const size_t prefix = start > 0 ? 2 : 0;
    size_t end =
        std::min(word.size(), start + (max_token_chars_ > prefix ? max_token_chars_ - prefix : 0));
    bool found = false;
    for (; end > start; --end) {
      std::string piece = (start > 0 ? "##" : "") + encode_utf8(word.substr(start, end - start));
      if (token_to_id_.count(piece) > 0) {
        out.push_back(std::move(piece));
        found = true;
        break;
      }
    }
    if (!found) {
      out.resize(first);
      out.push_back(options_.unk_token);
      return;
    }
    start = end;
  }
}

std::vector<int64_t> WordPieceTokenizer::convert_tokens_to_ids(
    const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const auto& token : tokens) {
    auto it = token_to_id_.find(token);
    ids.push_back(it == token_to_id_.end() ? unk_id_ : it->second);
  }
  return ids;
}

const std::string& WordPieceTokenizer::convert_id_to_token(int64_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_token_.size()) return options_.unk_token;
  const std::string& token = id_to_token_[static_cast<size_t>(id)];
  // An id shadowed by a later duplicate line is absent from HF's ids_to_tokens.
  return token_to_id_.at(token) == id ? token : options_.unk_token;
}

Encoding WordPieceTokenizer::encode(std::string_view text,
                                    const std::optional<std::string>& text_pair,
                                    size_t max_length) const {
  std::vector<int64_t> ids = convert_tokens_to_ids(tokenize(text));
  std::vector<int64_t> pair_ids;
  if (text_pair) pair_ids = convert_tokens_to_ids(tokenize(*text_pair));

  // truncate_sequences (truncation_side="right"), transformers 4.19.
  const size_t num_special = text_pair ? 3 : 2;
  // Hugging Face only logs an error when max_length leaves no room for text and then keeps the
  // whole sequence, however long: a later batch fails far from the cause. Refuse it here.
  if (max_length > 0 && max_length < num_special + (text_pair ? 2 : 1)) {
    throw TokenizerError(fmt::format(
        "encoding: --max-length {}: expected at least {} ({} special tokens and one token of "
        "{}); hint: use --max-length 128 or more",
        max_length,
        num_special + (text_pair ? 2 : 1),
        num_special,
        text_pair ? "each text" : "text"));
  }
  const size_t total = ids.size() + pair_ids.size() + num_special;
  if (max_length > 0 && total > max_length) {
    const size_t to_remove = total - max_length;
    if (!text_pair) {
      // HF only logs an error (and keeps everything) when the text alone cannot absorb the cut.
      if (ids.size() > to_remove) ids.resize(ids.size() - to_remove);
    } else {
      // One token at a time from the longer side; a tie cuts the pair.
      for (size_t k = 0; k < to_remove; ++k) {
        if (ids.size() > pair_ids.size()) {
          ids.pop_back();
        } else if (!pair_ids.empty()) {
          pair_ids.pop_back();
        }
      }
    }
  }

  Encoding enc;
  enc.input_ids.push_back(cls_id_);
  enc.input_ids.insert(enc.input_ids.end(), ids.begin(), ids.end());
  enc.input_ids.push_back(sep_id_);
  enc.token_type_ids.assign(enc.input_ids.size(), 0);
  if (text_pair) {
    enc.input_ids.insert(enc.input_ids.end(), pair_ids.begin(), pair_ids.end());
    enc.input_ids.push_back(sep_id_);
    enc.token_type_ids.resize(enc.input_ids.size(), 1);
  }
  enc.attention_mask.assign(enc.input_ids.size(), 1);
  return enc;
}

void WordPieceTokenizer::save_to_folder(const std::string& dir) const {
  const std::filesystem::path folder(dir);
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) {
    throw TokenizerError(
        fmt::format("saving tokenizer: folder '{}': cannot create ({})", dir, ec.message()));
  }

  std::string vocab;
  for (const auto& token : id_to_token_) vocab += token + "\n";
  write_file_atomically(folder / "vocab.txt", vocab);

  // Key order of BertTokenizer's init_kwargs, as save_pretrained writes them.
  nlohmann::ordered_json config;
  config["do_lower_case"] = options_.do_lower_case;
  config["do_basic_tokenize"] = options_.do_basic_tokenize;
  config["never_split"] = options_.never_split.empty()
                              ? nlohmann::ordered_json(nullptr)
                              : nlohmann::ordered_json(options_.never_split);
  config["unk_token"] = options_.unk_token;
  config["sep_token"] = options_.sep_token;
  config["pad_token"] = options_.pad_token;
  config["cls_token"] = options_.cls_token;
  config["mask_token"] = options_.mask_token;
  config["tokenize_chinese_chars"] = options_.tokenize_chinese_chars;
  config["strip_accents"] = options_.strip_accents ? nlohmann::ordered_json(*options_.strip_accents)
                                                   : nlohmann::ordered_json(nullptr);
  // Not a BertTokenizer argument (HF fixes it at 100); written only when changed.
  if (options_.max_input_chars_per_word != kDefaultMaxInputCharsPerWord) {
    config["max_input_chars_per_word"] = options_.max_input_chars_per_word;
  }
  config["tokenizer_class"] = "BertTokenizer";
  write_file_atomically(folder / "tokenizer_config.json", dump_like_python(config));

  nlohmann::ordered_json special;
  special["unk_token"] = options_.unk_token;
  special["sep_token"] = options_.sep_token;
  special["pad_token"] = options_.pad_token;
  special["cls_token"] = options_.cls_token;
  special["mask_token"] = options_.mask_token;
  if (!options_.additional_special_tokens.empty()) {
    special["additional_special_tokens"] = options_.additional_special_tokens;
  }
  write_file_atomically(folder / "special_tokens_map.json", dump_like_python(special));
}

}  // namespace ftune
