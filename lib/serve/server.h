// `ftune serve`: a fine-tuned model behind HTTP/1.1 (cpp-httplib), with dynamic batching across
// concurrent clients. Routes:
//   POST /v1/predict    {"inputs": [...]} -> {"outputs": [one `ftune predict` line per input]}
//   POST /v1/translate  {"inputs": [...], "beam": 4} -> {"outputs": [`ftune translate` lines]}
//   GET /health, GET /v1/info, GET /metrics (Prometheus text), GET / (a page to try the model)
// SIGTERM or SIGINT: stop accepting, answer what is queued, return.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "lib/serve/batcher.h"
#include "lib/serve/model_service.h"

namespace ftune {

struct ServeOptions {
  ServeModelOptions model;
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (printed at start)
  BatchLimits batch;
  size_t max_inputs = 64;                    // per request
  size_t max_body_bytes = 1 << 20;           // larger bodies get 413
  int64_t max_beam = 8;                      // /v1/translate's "beam" at most
  std::chrono::milliseconds timeout{30000};  // a request not answered by then gets 504
  // Connections served at once: an open keep-alive connection holds its thread until it closes or
  // idles out (5 s), and a connection beyond them waits for a free thread (at 64 clients and 64
  // threads a request once waited 4.4 s). Idle threads cost only their stacks.
  size_t http_threads = 256;
};

// Loads the model, listens, and serves until SIGTERM/SIGINT. Prints
// "ftune serve: listening on http://HOST:PORT" to stderr once it accepts connections. Errors
// (model, address in use) are thrown before listening.
void run_server(const ServeOptions& options);

// The page at GET / (plain HTML and JavaScript, nothing fetched from elsewhere).
const char* serve_page_html();

}  // namespace ftune
