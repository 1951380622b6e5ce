// The JSON files of a Marian (OPUS-MT) folder: vocab.json, tokenizer_config.json and
// special_tokens_map.json, read from their text. No SentencePiece here, so that
// fuzz/marian_json_fuzzer.cpp can run them; MarianTokenizer::load_from_folder reads the files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ftune {

// A special token and whether splitting text on it strips the whitespace to its left / right
// (HF AddedToken's lstrip / rstrip; a plain-string token in the config strips both).
struct MarianSpecialToken {
  std::string text;
  bool strip_left = true;
  bool strip_right = true;
};

// HF MarianTokenizer's defaults, overridden by tokenizer_config.json, then special_tokens_map.json.
struct MarianSpecialTokens {
  MarianSpecialToken eos{"</s>", true, true};
  MarianSpecialToken unk{"<unk>", true, true};
  MarianSpecialToken pad{"<pad>", true, true};
  std::vector<MarianSpecialToken> additional;
};

// vocab.json: token -> id, and back (a later duplicate id wins, like HF's {v: k}).
struct MarianVocab {
  std::unordered_map<std::string, int64_t> token_to_id;
  std::unordered_map<int64_t, std::string> id_to_token;
  std::vector<std::string> language_codes;  // ">>xx<<" entries, in file order
};

// tokenizer_config.json or special_tokens_map.json text applied to `tokens`. TokenizerError
// (naming `path`) when it is not a JSON object, a token is neither a string nor
// {"content": ...}, or separate_vocabs is true (unsupported).
void apply_marian_special_tokens(std::string_view json_text, const std::string& path,
                                 MarianSpecialTokens& tokens);

// vocab.json text; TokenizerError (naming `path`) unless it is a non-empty object of
// token -> integer id.
MarianVocab parse_marian_vocab(std::string_view json_text, const std::string& path);

}  // namespace ftune
