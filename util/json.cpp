// Depth-capped JSON parsing and bounded quotes of JSON values (util/json.h).
#include "util/json.h"

#include <algorithm>
#include <utility>
#include <vector>

#include <fmt/format.h>

namespace ftune {
namespace {

struct TooDeep {};  // thrown from nlohmann's parse callback, which stops the parse

// nlohmann's what() is "[json.exception.parse_error.101] parse error at line 1, column 5: why"
// or "[json.exception.out_of_range.406] why"; keep only "why".
std::string explain(const nlohmann::json::exception& error) {
  std::string_view what = error.what();
  const size_t column = what.find("column ");
  const size_t colon = column == std::string_view::npos ? what.find("] ") : what.find(": ", column);
  if (colon != std::string_view::npos) what.remove_prefix(colon + 2);
  return std::string(what);
}

template <typename Json>
Json parse_capped(std::string_view text, std::string_view source, int max_depth) {
  try {
    // Each level needs an opening bracket: with no more of them than the cap the text cannot
    // nest too deep, and the parse skips the per-event callback (most JSONL lines).
    const auto openers =
        std::count_if(text.begin(), text.end(), [](char c) { return c == '[' || c == '{'; });
    if (openers <= max_depth) return Json::parse(text.begin(), text.end());
    return Json::parse(text.begin(),
                       text.end(),
                       [max_depth](int depth, nlohmann::json::parse_event_t event, Json&) {
                         // `depth` is the number of containers already open around this one.
                         const bool opens = event == nlohmann::json::parse_event_t::object_start ||
                                            event == nlohmann::json::parse_event_t::array_start;
                         if (opens && depth >= max_depth) throw TooDeep{};
                         return true;
                       });
  } catch (const TooDeep&) {
    throw JsonError(JsonError::Kind::kTooDeep,
                    source,
                    fmt::format("JSON nested at most {} levels", max_depth),
                    "deeper nesting",
                    0);
  } catch (const nlohmann::json::parse_error& error) {
    throw JsonError(JsonError::Kind::kInvalid,
                    source,
                    "valid JSON",
                    fmt::format("invalid JSON ({})", explain(error)),
                    error.byte);
  } catch (const nlohmann::json::exception& error) {  // out_of_range: a number beyond double
    throw JsonError(JsonError::Kind::kInvalid,
                    source,
                    "valid JSON",
                    fmt::format("invalid JSON ({})", explain(error)),
                    0);
  }
}

// A string as JSON, cut to `limit` bytes before escaping so that a megabyte string costs little.
template <typename Json>
std::string quote_string(const typename Json::string_t& text, size_t limit) {
  return Json(text.substr(0, limit)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

template <typename Json>
std::string quote_value(const Json& value, size_t max_chars) {
  // An explicit stack instead of dump()'s recursion; the loop stops once the text passes
  // max_chars, so neither the text nor the stack grows with the value.
  struct Frame {
    const Json* container;
    typename Json::const_iterator next;
    bool first;
  };
  std::vector<Frame> stack;
  std::string out;
  const size_t limit = max_chars + 1;  // one byte past the cut tells that something was cut
  auto open = [&](const Json& v) {
    if (v.is_object() || v.is_array()) {
      out += v.is_object() ? '{' : '[';
      stack.push_back({&v, v.cbegin(), true});
    } else if (v.is_string()) {
      out += quote_string<Json>(v.template get_ref<const typename Json::string_t&>(), limit);
    } else {  // numbers, booleans, null: dump() does not recurse for these
      out += v.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
  };
  open(value);
  while (!stack.empty() && out.size() < limit) {
    Frame& top = stack.back();
    if (top.next == top.container->cend()) {
      out += top.container->is_object() ? '}' : ']';
      stack.pop_back();
      continue;
    }
    if (!top.first) out += ',';
    top.first = false;
    const auto item = top.next++;
    if (top.container->is_object()) out += quote_string<Json>(item.key(), limit) + ':';
    open(*item);  // may grow the stack: `top` is not used after this
  }
  if (out.size() > max_chars) {
    size_t keep = max_chars >= 3 ? max_chars - 3 : 0;
    while (keep > 0 && (static_cast<unsigned char>(out[keep]) & 0xC0) == 0x80) --keep;  // UTF-8
    out.resize(keep);
    out += "...";
  }
  return out;
}

std::string format_message(std::string_view source, const std::string& expected,
                           const std::string& got, size_t byte) {
  if (byte == 0) return fmt::format("file '{}': expected {}, got {}", source, expected, got);
  return fmt::format("file '{}' at byte {}: expected {}, got {}", source, byte, expected, got);
}

}  // namespace

JsonError::JsonError(Kind kind, std::string_view source, std::string expected, std::string got,
                     size_t byte)
    : Error(format_message(source, expected, got, byte)),
      kind(kind),
      expected(std::move(expected)),
      got(std::move(got)),
      byte(byte) {}

nlohmann::json parse_json_capped(std::string_view text, std::string_view source, int max_depth) {
  return parse_capped<nlohmann::json>(text, source, max_depth);
}

nlohmann::ordered_json parse_ordered_json_capped(std::string_view text, std::string_view source,
                                                 int max_depth) {
  return parse_capped<nlohmann::ordered_json>(text, source, max_depth);
}

std::string quote_json_value(const nlohmann::json& value, size_t max_chars) {
  return quote_value(value, max_chars);
}

std::string quote_json_value(const nlohmann::ordered_json& value, size_t max_chars) {
  return quote_value(value, max_chars);
}

}  // namespace ftune
