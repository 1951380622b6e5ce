// The one way ftune parses JSON it reads (config.json, tokenizer files, *.index.json,
// trainer_state.json, JSONL lines): nesting capped, errors naming the file, and short quotes of
// values for error messages. LibTorch-free. Not a JSON writer.
//
//   nlohmann::json config = parse_json_capped(text, path);  // JsonError when too deep or invalid
//   throw ConfigError(fmt::format("... got {}", quote_json_value(config["vocab_size"])));
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ftune {

// Real files nest a few levels (config.json 2, trainer_state.json 3). nlohmann parses and
// destroys iteratively, but dump() recurses once per level: a file of 100k '[' overflowed the
// stack where an error message printed the value. Deeper text is rejected while parsing.
constexpr int kMaxJsonDepth = 64;

// Why a text is not JSON ftune reads. what() is "file '<source>': expected <x>, got <y>" without
// an action: callers rethrow it as their own error type with their action in front. `expected`
// and `got` are there for callers that word the place themselves (a line of a JSONL file).
class JsonError : public Error {
 public:
  enum class Kind { kInvalid, kTooDeep };
  JsonError(Kind kind, std::string_view source, std::string expected, std::string got, size_t byte);

  Kind kind;
  std::string expected;  // "valid JSON", or "JSON nested at most 64 levels"
  std::string got;       // "invalid JSON (syntax error while parsing ...)", or "deeper nesting"
  size_t byte;           // 1-based offset of a syntax error in the text; 0 when it has none
};

// nlohmann's parse of `text` that stops with JsonError once arrays/objects nest deeper than
// `max_depth` (a top-level object is depth 1). Syntax errors and numbers beyond double are
// JsonErrors too. `source` names the text in messages (a file path); it is only read on error.
nlohmann::json parse_json_capped(std::string_view text, std::string_view source,
                                 int max_depth = kMaxJsonDepth);
nlohmann::ordered_json parse_ordered_json_capped(std::string_view text, std::string_view source,
                                                 int max_depth = kMaxJsonDepth);

// `value` as compact JSON for an error message, cut to at most `max_chars` bytes (ending in
// "..." when cut; invalid UTF-8 replaced). Renders without recursion and stops at the cut, so
// any value, however deep or long, costs O(max_chars).
std::string quote_json_value(const nlohmann::json& value, size_t max_chars = 80);
std::string quote_json_value(const nlohmann::ordered_json& value, size_t max_chars = 80);

}  // namespace ftune
