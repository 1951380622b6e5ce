// `ftune serve`: a fine-tuned model folder behind HTTP, with dynamic batching.
#include <chrono>
#include <memory>

#include "app/commands.h"
#include "app/options.h"
#include "lib/serve/server.h"

namespace ftune {

Command add_serve_command(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  auto max_wait_ms = std::make_shared<double>(0.0);
  auto timeout_ms = std::make_shared<int64_t>(30000);
  CLI::App* sub = app.add_subcommand(
      "serve",
      "Answer requests with a fine-tuned model over HTTP/1.1 (JSON). Requests from concurrent\n"
      "clients are queued and run together (dynamic batching): whenever the model is free, the\n"
      "queued texts run as one batch, up to --max-batch-tokens padded tokens.\n"
      "Routes:\n"
      "  POST /v1/predict    {\"inputs\": [\"a text\", {\"text\": ..., \"text_pair\": ...}]}\n"
      "                      -> {\"outputs\": [the line `ftune predict` writes, per input]}\n"
      "                      token classifier: a text (split at spaces) or [\"words\", ...]\n"
      "  POST /v1/translate  {\"inputs\": [\"a source\"], \"beam\": 4} (MarianMT folders)\n"
      "                      -> {\"outputs\": [{\"translation\", \"ids\", \"score\"}]}\n"
      "  GET /health, GET /v1/info, GET /metrics (Prometheus), GET / (a page to try it)\n"
      "Errors are JSON {\"error\": {\"message\", \"field\"}}: 400 bad request, 413 body too "
      "large,\n"
      "503 + Retry-After when --max-queue texts wait already, 504 after --timeout-ms.\n"
      "SIGTERM/SIGINT: stop accepting, answer what is queued, exit 0.\n"
      "Example: ftune serve --model runs/intent/best --port 8080\n"
      "         curl -s localhost:8080/v1/predict -d '{\"inputs\": [\"where is my card?\"]}'");
  sub->add_option("--model", options->model.model_dir, "fine-tuned model folder")
      ->transform(model_folder())
      ->required();
  sub->add_option("--weights", options->model.weights, "weights file overriding the folder's own");
  add_runtime_options(*sub, options->model.runtime, /*with_quantize=*/true);
  sub->add_option(
      "--host", options->host, "address to listen on (default 127.0.0.1: this machine only)");
  sub->add_option("--port", options->port, "TCP port (default 8080; 0 picks a free one, printed)")
      ->check(between(0, 65535));
  sub->add_option("--max-length",
                  options->model.max_length,
                  "classifiers: tokens per text, longer texts are cut and the answer says so "
                  "(default 128, at most the model's limit)")
      ->check(at_least(3));
  sub->add_option("--max-source-length",
                  options->model.max_source_length,
                  "translation: source tokens incl. </s>, longer sources are cut (default 512)")
      ->check(between(2, 1 << 20));
  sub->add_option("--vocab-shortlist",
                  options->model.vocab_shortlist,
                  "translation: decode with this vocabulary shortlist (see `ftune translate "
                  "--help`); faster, changes outputs");
  sub->add_option("--max-batch-tokens",
                  options->batch.max_batch_tokens,
                  "a batch runs at most this many padded tokens: texts x longest text (x beam) "
                  "(default 8192)")
      ->check(at_least(1));
  sub->add_option(
         "--max-wait-ms",
         *max_wait_ms,
         "how long the oldest queued text may wait for others to join its batch (default 0: "
         "a batch starts as soon as the model is free, with every text that queued while "
         "it ran)")
      ->check(between(0, 10000));
  sub->add_option("--max-queue",
                  options->batch.max_queued_inputs,
                  "texts waiting at most; beyond it requests get 503 + Retry-After (default 256)")
      ->check(at_least(1));
  sub->add_option("--max-inputs", options->max_inputs, "texts per request at most (default 64)")
      ->check(at_least(1));
  sub->add_option("--max-body-bytes",
                  options->max_body_bytes,
                  "request body size limit; larger bodies get 413 (default 1048576)")
      ->check(at_least(2));
  sub->add_option("--max-beam", options->max_beam, "largest \"beam\" a request may ask (default 8)")
      ->check(between(1, 64));
  sub->add_option(
         "--timeout-ms", *timeout_ms, "a request not answered by then gets 504 (default 30000)")
      ->check(at_least(1));
  sub->add_option("--http-threads",
                  options->http_threads,
                  "open connections served at once (each holds a thread while it is open); more "
                  "wait for a free one (default 256)")
      ->check(between(1, 4096));
  return {sub, [options, max_wait_ms, timeout_ms] {
            options->batch.max_wait =
                std::chrono::microseconds(static_cast<int64_t>(*max_wait_ms * 1000.0));
            options->timeout = std::chrono::milliseconds(*timeout_ms);
            run_server(*options);
          }};
}

}  // namespace ftune
