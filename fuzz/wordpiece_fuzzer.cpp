// libFuzzer target: WordPieceTokenizer tokenize + encode (+ the constructor, on a vocabulary
// taken from the input). Input: one control byte, then the text. Control bits 0-1 pick the
// tokenizer: the bundled bert-base-uncased and bert-base-cased vocabularies, a small vocabulary
// built here (no basic tokenizer, extra special tokens), or a vocabulary read from the input
// (lines before the first blank line). Bit 2: encode a pair (split at the first '\t'); bits 3-7:
// max_length (0 = none). A TokenizerError is expected only from the constructor.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "tokenizer/wordpiece.h"

namespace {

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.empty()) {
    std::fprintf(stderr, "wordpiece_fuzzer: cannot read %s\n", path.c_str());
    std::abort();
  }
  return lines;
}

const ftune::WordPieceTokenizer& bundled(int which) {
  static const auto uncased = std::make_unique<ftune::WordPieceTokenizer>(
      read_lines(FTUNE_SOURCE_DIR "/tests/fixtures/wordpiece/bert-base-uncased/vocab.txt"),
      ftune::WordPieceOptions{});
  static const auto cased = [] {
    ftune::WordPieceOptions options;
    options.do_lower_case = false;
    return std::make_unique<ftune::WordPieceTokenizer>(
        read_lines(FTUNE_SOURCE_DIR "/tests/fixtures/wordpiece/bert-base-cased/vocab.txt"),
        options);
  }();
  static const auto small = [] {
    ftune::WordPieceOptions options;
    options.do_basic_tokenize = false;
    options.tokenize_chinese_chars = false;
    options.strip_accents = false;
    options.max_input_chars_per_word = 8;
    options.never_split = {"<keep>", "Ünï"};
    options.additional_special_tokens = {"<extra>", "[E2]"};
    std::vector<std::string> vocab = {"[PAD]",
                                      "[UNK]",
                                      "[CLS]",
                                      "[SEP]",
                                      "[MASK]",
                                      "<extra>",
                                      "[E2]",
                                      "a",
                                      "ab",
                                      "##b",
                                      "##c",
                                      "é",
                                      "##é",
                                      "中",
                                      "##文",
                                      "",
                                      "##",
                                      "[UNK]"};  // empty and duplicate lines on purpose
    return std::make_unique<ftune::WordPieceTokenizer>(vocab, options);
  }();
  if (which == 0) return *uncased;
  if (which == 1) return *cased;
  return *small;
}

void run(const ftune::WordPieceTokenizer& tok, std::string_view text, bool pair,
         std::size_t max_length) {
  std::optional<std::string> text_pair;
  std::string_view first = text;
  if (pair) {
    const auto tab = text.find('\t');
    first = text.substr(0, tab);
    text_pair = tab == std::string_view::npos ? std::string() : std::string(text.substr(tab + 1));
  }
  const auto tokens = tok.tokenize(first);
  const auto ids = tok.convert_tokens_to_ids(tokens);
  FUZZ_CHECK(ids.size() == tokens.size());
  for (auto id : ids) {
    FUZZ_CHECK(id >= 0);
    (void)tok.convert_id_to_token(id);
  }
  (void)tok.convert_id_to_token(-1);
  (void)tok.convert_id_to_token(static_cast<int64_t>(text.size()) * 7919);

  const ftune::Encoding enc = tok.encode(first, text_pair, max_length);
  FUZZ_CHECK(enc.input_ids.size() >= (pair ? 3U : 2U));
  FUZZ_CHECK(enc.token_type_ids.size() == enc.input_ids.size());
  FUZZ_CHECK(enc.attention_mask.size() == enc.input_ids.size());
  FUZZ_CHECK(enc.input_ids.front() == tok.cls_id() && enc.input_ids.back() == tok.sep_id());
  // With a pair, truncation always fits (both sides can shrink to nothing).
  if (pair && max_length >= 3) FUZZ_CHECK(enc.input_ids.size() <= max_length);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  const bool pair = (control & 4) != 0;
  const std::size_t max_length = control >> 3;
  const int which = control & 3;
  if (which < 3) {
    run(bundled(which), text, pair, max_length);
    return 0;
  }
  // A vocabulary from the input: lines up to the first blank line; the text is what follows.
  const auto blank = text.find("\n\n");
  std::vector<std::string> vocab;
  std::string_view vocab_text = text.substr(0, blank);
  for (std::size_t start = 0; start <= vocab_text.size();) {
    const auto end = std::min(vocab_text.find('\n', start), vocab_text.size());
    vocab.emplace_back(vocab_text.substr(start, end - start));
    start = end + 1;
  }
  std::string_view rest = blank == std::string_view::npos ? text : text.substr(blank + 2);
  std::unique_ptr<ftune::WordPieceTokenizer> tok;
  try {
    ftune::WordPieceOptions options;
    options.do_lower_case = (control & 0x80) != 0;
    tok = std::make_unique<ftune::WordPieceTokenizer>(std::move(vocab), options);
  } catch (const ftune::TokenizerError&) {
    return 0;
  }
  run(*tok, rest, pair, max_length & 0xF);
  return 0;
}
