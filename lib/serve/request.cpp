// Request bodies of `ftune serve`; see request.h.
#include "lib/serve/request.h"

#include <fmt/format.h>

namespace ftune {
namespace {

std::string type_name(const nlohmann::json& value) {
  return value.is_number_integer() ? std::string("an integer")
                                   : std::string("a ") + value.type_name();
}

}  // namespace

ServeRequest parse_serve_request(const std::string& body, bool translate, size_t max_inputs,
                                 int64_t max_beam) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    throw RequestError("",
                       fmt::format("request body: expected JSON, got a parse error: {}; hint: "
                                   "send {{\"inputs\": [\"a text\", ...]}}",
                                   e.what()));
  }
  if (!json.is_object()) {
    throw RequestError("",
                       fmt::format("request body: expected a JSON object, got {}; hint: send "
                                   "{{\"inputs\": [\"a text\", ...]}}",
                                   type_name(json)));
  }
  ServeRequest request;
  for (const auto& [key, value] : json.items()) {
    if (key == "inputs") continue;
    if (translate && key == "beam") continue;
    throw RequestError(
        key,
        fmt::format("request field '{}': unknown; expected {}",
                    key,
                    translate ? "\"inputs\" and optionally \"beam\"" : "\"inputs\""));
  }
  const auto inputs = json.find("inputs");
  if (inputs == json.end()) {
    throw RequestError(
        "inputs", "request field 'inputs': missing; hint: send {\"inputs\": [\"a text\", ...]}");
  }
  if (!inputs->is_array()) {
    throw RequestError("inputs",
                       fmt::format("request field 'inputs': expected an array, got {}; hint: "
                                   "[\"a text\"] even for one text",
                                   type_name(*inputs)));
  }
  if (inputs->empty() || inputs->size() > max_inputs) {
    throw RequestError("inputs",
                       fmt::format("request field 'inputs': expected 1 to {} inputs, got {}; hint: "
                                   "split the request (the server's --max-inputs)",
                                   max_inputs,
                                   inputs->size()));
  }
  request.inputs.assign(inputs->begin(), inputs->end());
  if (const auto beam = json.find("beam"); beam != json.end()) {
    if (!beam->is_number_integer() || beam->get<int64_t>() < 1 || beam->get<int64_t>() > max_beam) {
      throw RequestError("beam",
                         fmt::format("request field 'beam': expected an integer from 1 to {}, got "
                                     "{}; hint: 1 is greedy search (the server's --max-beam)",
                                     max_beam,
                                     beam->dump()));
    }
    request.beam = beam->get<int64_t>();
  }
  return request;
}

std::string error_body(const std::string& message, const std::string& field) {
  nlohmann::ordered_json body;
  body["error"]["message"] = message;
  if (!field.empty()) body["error"]["field"] = field;
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const std::string& require_text(const nlohmann::json& value, const std::string& field) {
  if (!value.is_string()) {
    throw RequestError(
        field,
        fmt::format(
            "request field '{}': expected a text (JSON string), got {}", field, type_name(value)));
  }
  const auto& text = value.get_ref<const std::string&>();
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    throw RequestError(field,
                       fmt::format("request field '{}': expected a text, got {}",
                                   field,
                                   text.empty() ? "an empty string" : "only whitespace"));
  }
  return text;
}

}  // namespace ftune
