// The model side of `ftune serve`: loads a fine-tuned folder (sequence classifier, token
// classifier or MarianMT), turns one request input into token ids (in the HTTP thread), and runs
// a batch of them (in the batcher's one thread), answering with the lines `ftune predict` /
// `ftune translate` write. Not the HTTP server (lib/serve/server.h) nor the queue (batcher.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/data/ner_data.h"
#include "lib/tensors/device.h"
#include "tokenizer/tokenizer.h"

namespace ftune {

struct ServeModelOptions {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> weights;
  size_t max_length = 128;         // classifiers: tokens per text (pair), longer texts are cut
  size_t max_source_length = 512;  // translation: source tokens incl. </s>, longer sources are cut
  // translation: decode each batch with this vocabulary shortlist (lib/generate/shortlist.h)
  std::optional<std::filesystem::path> vocab_shortlist;
  RuntimeOptions runtime;  // --device, --precision
};

enum class ServeTask { kClassify, kTokenClassify, kTranslate };

// One input of a request, encoded; DynamicBatcher reads `tokens` and `group`.
struct ServeInput {
  size_t tokens = 0;
  int64_t group = 0;                // translation: the beam size (one beam size per batch)
  bool truncated = false;           // cut to max_length / max_source_length
  Encoding encoding;                // classifier
  std::vector<std::string> words;   // token classifier: the sentence's words
  std::vector<WordWindow> windows;  // token classifier: its windows (sentence 0)
  std::vector<int64_t> source_ids;  // translation
};

class ModelService {
 public:
  virtual ~ModelService() = default;
  virtual ServeTask task() const = 0;
  // GET /v1/info: {"task", "model", "labels" or "beam", "max_length", ...}.
  virtual nlohmann::ordered_json info() const = 0;
  // One input of a request (`field` is "inputs[k]"); RequestError when it has the wrong form.
  //   classifier: "text", or {"text": ..., "text_pair": ...}, or ["text", "text pair"]
  //   token classifier: "words split at whitespace", or ["words", "as", "given"]
  //   translation: "source text" (beam: the request's, else config.json's num_beams)
  virtual ServeInput encode(const nlohmann::json& input, const std::string& field,
                            std::optional<int64_t> beam) const = 0;
  // Runs one batch (one group), in inference mode on the model's device; one line per input.
  virtual std::vector<nlohmann::ordered_json> run(const std::vector<const ServeInput*>& batch) = 0;
};

// Loads the folder (the kind from config.json); the errors of `ftune predict` / `translate`.
std::unique_ptr<ModelService> load_model_service(const ServeModelOptions& options);

}  // namespace ftune
