// The HTTP side of `ftune serve`; see server.h. cpp-httplib (Debian's libcpp-httplib) parses HTTP
// and runs each connection on a thread of its pool; a request's thread parses and encodes its
// inputs, queues them in the DynamicBatcher, and waits for its outputs.
#include "lib/serve/server.h"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <pthread.h>

#include "lib/serve/metrics.h"
#include "lib/serve/request.h"
#include "util/error.h"

namespace ftune {
namespace {

using Clock = std::chrono::steady_clock;
using Batcher = DynamicBatcher<ServeInput, nlohmann::ordered_json>;

constexpr const char* kJson = "application/json";

// The routes counted by name in /metrics; anything else is "other" (a scan of random paths must
// not grow the metrics without bound).
std::string route_label(const std::string& path) {
  for (const char* route :
       {"/", "/health", "/metrics", "/v1/info", "/v1/predict", "/v1/translate"}) {
    if (path == route) return route;
  }
  return "other";
}

// When the request on this connection thread started (the logger reads it after the answer).
thread_local Clock::time_point request_started;

// SIGTERM/SIGINT are blocked in every thread of the server (they inherit the mask, so it is set
// before the model loads and LibTorch starts its pool; they stay blocked until the process ends)
// and taken by one thread with sigtimedwait,
// which stops the listener: no signal handler runs inside httplib or LibTorch. A signal before
// the listener runs stops it as soon as it does.
class SignalStop {
 public:
  SignalStop() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGTERM);
    sigaddset(&signals_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
    waiter_ = std::thread([this] {
      const timespec poll{0, 100'000'000};
      int signal_number = -1;
      while (signal_number < 0) {
        if (done_) return;
        signal_number = sigtimedwait(&signals_, nullptr, &poll);
      }
      std::fprintf(stderr,
                   "ftune serve: signal %d: not accepting new connections; answering what is "
                   "queued\n",
                   signal_number);
      requested_ = true;
      while (!done_) {
        httplib::Server* server = server_.load();
        if (server != nullptr && server->is_running()) {
          server->stop();
          return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    });
  }
  ~SignalStop() {
    done_ = true;
    waiter_.join();
  }
  SignalStop(const SignalStop&) = delete;
  SignalStop& operator=(const SignalStop&) = delete;

  // The server a signal stops once it listens.
  void watch(httplib::Server& server) { server_ = &server; }
  bool requested() const { return requested_; }

 private:
  sigset_t signals_{};
  std::atomic<httplib::Server*> server_{nullptr};
  std::atomic<bool> requested_{false};
  std::atomic<bool> done_{false};
  std::thread waiter_;
};

void reply_error(httplib::Response& res, int status, const std::string& message,
                 const std::string& field = "") {
  res.status = status;
  res.set_content(error_body(message, field), kJson);
}

class Service {
 public:
  Service(const ServeOptions& options, ModelService& model, ServeMetrics& metrics)
      : options_(options),
        model_(model),
        metrics_(metrics),
        max_length_(model.info()["max_length"].get<size_t>()),
        batcher_(
            options.batch,
            [this](const std::vector<const ServeInput*>& batch) { return model_.run(batch); },
            [this](const BatchStats& stats) {
              metrics_.count_batch(stats.inputs, stats.padded_tokens, stats.queue_seconds);
            }) {}

  Batcher& batcher() { return batcher_; }

  void answer(const httplib::Request& req, httplib::Response& res, bool translate) {
    const bool translates = model_.task() == ServeTask::kTranslate;
    if (translate != translates) {
      reply_error(res,
                  404,
                  fmt::format("{}: this model {}; hint: POST {}",
                              req.path,
                              translates ? "translates" : "classifies",
                              translates ? "/v1/translate" : "/v1/predict"));
      return;
    }
    std::vector<ServeInput> inputs;
    try {
      const ServeRequest request =
          parse_serve_request(req.body, translate, options_.max_inputs, options_.max_beam);
      inputs.reserve(request.inputs.size());
      for (size_t k = 0; k < request.inputs.size(); ++k) {
        inputs.push_back(
            model_.encode(request.inputs[k], fmt::format("inputs[{}]", k), request.beam));
      }
    } catch (const RequestError& e) {
      reply_error(res, 400, e.what(), e.field());
      return;
    } catch (const Error& e) {  // a text the tokenizer cannot encode
      reply_error(res, 400, e.what());
      return;
    }
    std::vector<size_t> truncated;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (inputs[k].truncated) truncated.push_back(k);
    }
    std::optional<std::vector<nlohmann::ordered_json>> outputs;
    try {
      auto ticket = batcher_.submit(std::move(inputs));
      outputs = ticket.wait_for(options_.timeout);
    } catch (const QueueFull& e) {
      metrics_.count_rejected();
      res.set_header("Retry-After", "1");
      reply_error(res, 503, fmt::format("overloaded: {}; hint: retry after a second", e.what()));
      return;
    } catch (const std::exception& e) {
      reply_error(res, 500, fmt::format("the model run failed: {}", e.what()));
      return;
    }
    if (!outputs) {
      reply_error(res,
                  504,
                  fmt::format("not answered within {} ms (--timeout-ms); hint: fewer inputs "
                              "per request, or a larger --timeout-ms",
                              options_.timeout.count()));
      return;
    }
    nlohmann::ordered_json body;
    body["outputs"] = std::move(*outputs);
    if (!truncated.empty()) {
      body["truncated"] = truncated;
      body["warning"] = fmt::format(
          "{} of the inputs were longer than {} tokens and were cut to it, as ftune {} does",
          truncated.size(),
          max_length_,
          translates ? "translate" : "predict");
    }
    res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), kJson);
  }

 private:
  const ServeOptions& options_;
  ModelService& model_;
  ServeMetrics& metrics_;
  size_t max_length_;  // what longer texts are cut to (said in the answer)
  Batcher batcher_;
};

void check_serve_options(const ServeOptions& options) {
  if (options.max_inputs > options.batch.max_queued_inputs) {
    throw ConfigError(fmt::format(
        "serving: --max-inputs {}: expected at most --max-queue {}, or no request could fit; "
        "hint: raise --max-queue",
        options.max_inputs,
        options.batch.max_queued_inputs));
  }
}

}  // namespace

void run_server(const ServeOptions& options) {
  check_serve_options(options);
  SignalStop signal_stop;
  // The model loads before anything listens: a broken folder exits 1 without a port ever open.
  std::unique_ptr<ModelService> model = load_model_service(options.model);
  ServeMetrics metrics;
  httplib::Server server;
  server.new_task_queue = [threads = options.http_threads] {
    return new httplib::ThreadPool(threads);
  };
  server.set_payload_max_length(options.max_body_bytes);
  server.set_read_timeout(std::chrono::seconds(10));
  server.set_write_timeout(std::chrono::seconds(10));
  // Without TCP_NODELAY a keep-alive client waited ~40 ms for every answer (Nagle's algorithm
  // holding the body until the client's delayed ACK of the headers): 60 ms a request at
  // concurrency 1 under wrk, 13 ms with curl's fresh connections (bench/serve.sh).
  server.set_tcp_nodelay(true);
  server.set_keep_alive_timeout(5);
  server.set_keep_alive_max_count(1000);
  signal_stop.watch(server);
  Service service(options, *model, metrics);

  server.set_pre_routing_handler([](const httplib::Request&, httplib::Response&) {
    request_started = Clock::now();
    return httplib::Server::HandlerResponse::Unhandled;
  });
  server.set_logger([&metrics](const httplib::Request& req, const httplib::Response& res) {
    const double seconds =
        request_started == Clock::time_point{}
            ? 0.0
            : std::chrono::duration<double>(Clock::now() - request_started).count();
    request_started = {};
    metrics.count_request(route_label(req.path), res.status, seconds);
  });
  // Every 4xx/5xx answer has a JSON body, also those httplib gives itself (404, 413, 400).
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string message = fmt::format("{} {}: HTTP {}", req.method, req.path, res.status);
        if (res.status == 404)
          message +=
              "; routes: POST /v1/predict, POST /v1/translate, GET /health, GET /v1/info, GET "
              "/metrics, GET /";
        if (res.status == 413)
          message = "request body too large (--max-body-bytes); hint: split the request";
        res.set_content(error_body(message), kJson);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
        std::string message = "internal error";
        try {
          if (error) std::rethrow_exception(error);
        } catch (const std::exception& e) {
          message = e.what();
        } catch (...) {
        }
        reply_error(res, 500, message);
      });

  server.Post("/v1/predict", [&service](const httplib::Request& req, httplib::Response& res) {
    service.answer(req, res, /*translate=*/false);
  });
  server.Post("/v1/translate", [&service](const httplib::Request& req, httplib::Response& res) {
    service.answer(req, res, /*translate=*/true);
  });
  // Both answers are fixed once the model is loaded: built once, not per request (a health
  // check every second would rebuild the label list each time).
  nlohmann::ordered_json info = model->info();
  info["max_inputs"] = options.max_inputs;
  info["max_beam"] = options.max_beam;
  const std::string info_body = info.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string health_body =
      nlohmann::ordered_json{{"status", "ok"}, {"task", info["task"]}}.dump();
  server.Get("/health", [&health_body](const httplib::Request&, httplib::Response& res) {
    res.set_content(health_body, kJson);
  });
  server.Get("/v1/info", [&info_body](const httplib::Request&, httplib::Response& res) {
    res.set_content(info_body, kJson);
  });
  server.Get("/metrics", [&metrics, &service](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.render(service.batcher().queued_inputs()),
                    "text/plain; version=0.0.4; charset=utf-8");
  });
  server.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(serve_page_html(), "text/html; charset=utf-8");
  });

  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
  } else if (!server.bind_to_port(options.host, port)) {
    port = -1;
  }
  if (port < 0) {
    throw Error(fmt::format(
        "serving: cannot listen on {}:{}: the address is in use or not this machine's; hint: "
        "another --port (0 picks a free one) or --host",
        options.host,
        options.port));
  }
  std::fprintf(stderr, "ftune serve: listening on http://%s:%d\n", options.host.c_str(), port);
  std::fflush(stderr);
  if (!signal_stop.requested())
    server.listen_after_bind();  // returns after stop(), once every connection's answer is sent
  service.batcher().stop();
  std::fprintf(stderr, "ftune serve: stopped\n");
}

}  // namespace ftune
