// The JSON bodies `ftune serve` accepts, checked before anything is queued: an object with known
// fields only, `inputs` a non-empty array of at most max_inputs. Each input's own form depends on
// the model (lib/serve/model_service.h checks it). No HTTP and no LibTorch here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace ftune {

// A request the server answers with 400: `field` names what was wrong ("inputs[2]", "beam", or
// "" for the body as a whole).
class RequestError : public Error {
 public:
  RequestError(std::string field, const std::string& message)
      : Error(message), field_(std::move(field)) {}
  const std::string& field() const { return field_; }

 private:
  std::string field_;
};

struct ServeRequest {
  std::vector<nlohmann::json> inputs;
  std::optional<int64_t> beam;  // /v1/translate only
};

// Parses a /v1/predict body ({"inputs": [...]}) or, with `translate`, a /v1/translate body
// ({"inputs": [...], "beam": N} with 1 <= N <= max_beam). RequestError otherwise.
ServeRequest parse_serve_request(const std::string& body, bool translate, size_t max_inputs,
                                 int64_t max_beam);

// {"error": {"message": ..., "field": ...}}: the body of every 4xx/5xx answer.
std::string error_body(const std::string& message, const std::string& field = "");

// What an input text must be: a JSON string, not empty or only whitespace. `field` names it.
const std::string& require_text(const nlohmann::json& value, const std::string& field);

}  // namespace ftune
