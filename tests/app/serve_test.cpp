// `ftune serve` end to end (issue #17): the real executable on a free loopback port, real HTTP
// clients (cpp-httplib's) on several threads. Answers are checked against `ftune predict` /
// `ftune translate` on the same texts and against transformers' logits (expected.json).
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "tests/app/cli_testing.h"
#include "tests/app/problem_data.h"

namespace ftune::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kModel = "tests/fixtures/bert-cls";
const std::string kTexts = "tests/fixtures/bert-cls/texts.jsonl";
const std::string kExpected = "tests/fixtures/bert-cls/expected.json";
const std::string kMarian = "tests/fixtures/marian-mt";
const std::string kMarianInputs = "tests/fixtures/marian-mt/inputs.json";
// Served logits against transformers' (same float32 model, other batches and kernels).
constexpr double kLogitRtol = 1e-5;
constexpr double kLogitAtol = 1e-6;

// A running `ftune serve --port 0`: started in the constructor, which waits for its
// "listening on http://127.0.0.1:PORT" line; SIGKILLed by the destructor if still running.
class Server {
 public:
  Server(const std::vector<std::string>& extra, const fs::path& err_file) : err_file_(err_file) {
    std::vector<std::string> args = {"--threads", "1", "serve", "--port", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = start_ftune(args, err_file);
    const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
    ready_ = wait_until_ready(pid_, [&] {
      std::smatch match;
      const std::string err = read_text_file(err_file_);
      if (!std::regex_search(err, match, listening)) return false;
      port_ = std::stoi(match[1]);
      return true;
    });
  }
  ~Server() {
    if (!reaped_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  bool ready() const { return ready_; }
  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string err() const { return read_text_file(err_file_); }
  httplib::Client client() const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(std::chrono::seconds(120));
    return client;
  }
  // Sends `signal_number` and returns the exit code (128 + signal when killed by one).
  int stop(int signal_number = SIGTERM) {
    ::kill(pid_, signal_number);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  fs::path err_file_;
  pid_t pid_ = -1;
  int port_ = -1;
  bool ready_ = false;
  bool reaped_ = false;
};

std::vector<std::string> read_texts(const std::string& file) {
  std::vector<std::string> texts;
  for (const auto& line : read_json_lines(file)) texts.push_back(line["text"]);
  return texts;
}

json post(httplib::Client& client, const std::string& route, const json& body, int* status) {
  auto response = client.Post(route, body.dump(), "application/json");
  if (!response) {
    *status = -1;
    return json();
  }
  *status = response->status;
  return json::parse(response->body, nullptr, /*allow_exceptions=*/false);
}

// The value of an unlabelled Prometheus sample ("ftune_batches_total 3"), -1 if absent.
double metric(const std::string& text, const std::string& name) {
  std::smatch match;
  if (!std::regex_search(text, match, std::regex("\n" + name + " ([0-9.e+-]+)\n"))) return -1;
  return std::stod(match[1]);
}

// GET /metrics until its text holds `sample` (at most 2 s), the last answer either way. A request
// is counted once its answer is written (httplib's logger), so a client can hold an answer a
// moment before the count moves; seen under load (23 of 24, and a 504 not yet counted).
httplib::Result metrics_with(httplib::Client& client, const std::string& sample) {
  auto metrics = client.Get("/metrics");
  for (int tries = 0; tries < 100 && metrics && metrics->body.find(sample) == std::string::npos;
       ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    metrics = client.Get("/metrics");
  }
  return metrics;
}

class ServeTest : public CliTest {};

// Eight clients at once, one text per request: every answer equals `ftune predict`'s line for
// that text (label exactly, probabilities and logits to float tolerance) and transformers'
// logits; the requests shared model runs (fewer batches than requests).
TEST_F(ServeTest, ConcurrentClientsGetPredictAnswersFromSharedBatches) {
  const fs::path predictions = dir_ / "predictions.jsonl";
  auto predicted = run_ftune({"--threads",
                              "1",
                              "predict",
                              "--model",
                              kModel,
                              "--data",
                              kTexts,
                              "--output",
                              predictions.string()});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  const auto expected_lines = read_json_lines<json>(predictions);
  const json reference = json::parse(read_text_file(kExpected));
  const auto texts = read_texts(kTexts);
  ASSERT_EQ(expected_lines.size(), texts.size());

  Server server({"--model", kModel, "--max-wait-ms", "50"}, dir_ / "serve.err");
  ASSERT_TRUE(server.ready()) << server.err();
  constexpr int kClients = 8;
  constexpr int kRounds = 3;
  std::vector<std::thread> clients;
  std::mutex mutex;
  std::vector<std::string> failures;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto client = server.client();
      for (int round = 0; round < kRounds; ++round) {
        const size_t i = static_cast<size_t>(c * kRounds + round) % texts.size();
        int status = 0;
        const json answer = post(client, "/v1/predict", {{"inputs", {texts[i]}}}, &status);
        std::lock_guard<std::mutex> lock(mutex);
        if (status != 200) {
          failures.push_back("text " + std::to_string(i) + ": HTTP " + std::to_string(status) +
                             " " + answer.dump());
          continue;
        }
        const json& got = answer["outputs"][0];
        const auto& want = expected_lines[i];
        if (got["label"] != want["label"] || got["label_id"] != want["label_id"]) {
          failures.push_back("text " + std::to_string(i) + ": label " + got.dump() + " vs " +
                             want.dump());
        }
        for (size_t j = 0; j < want["logits"].size(); ++j) {
          const double served = got["logits"][j];
          const double file = want["logits"][j];
          const double hf = reference["logits"][i][j];
          if (std::abs(served - hf) > kLogitAtol + kLogitRtol * std::abs(hf) ||
              std::abs(served - file) > kLogitAtol + kLogitRtol * std::abs(file) ||
              std::abs(double(got["probs"][j]) - double(want["probs"][j])) > 1e-6) {
            failures.push_back("text " + std::to_string(i) + " logit " + std::to_string(j) +
                               ": served " + std::to_string(served) + ", predict " +
                               std::to_string(file) + ", transformers " + std::to_string(hf));
          }
        }
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();

  auto client = server.client();
  const std::string all_counted = "ftune_requests_total{route=\"/v1/predict\",code=\"200\"} 24";
  auto metrics = metrics_with(client, all_counted);
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metric(metrics->body, "ftune_inputs_total"), kClients * kRounds) << metrics->body;
  const double batches = metric(metrics->body, "ftune_batches_total");
  EXPECT_GT(batches, 0);
  EXPECT_LT(batches, kClients * kRounds) << "no two requests shared a model run";
  EXPECT_NE(metrics->body.find(all_counted), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("ftune_request_duration_seconds_count 24"), std::string::npos);
  EXPECT_EQ(server.stop(), 0) << server.err();
}

// Several inputs in one request come back in their order; pairs in both spellings; a text over
// --max-length is cut, as predict cuts it, and the answer says which.
TEST_F(ServeTest, ManyInputsPairsAndTruncationAreAnswered) {
  // Two files: in a file with a text_pair column, every row is a pair.
  const fs::path pairs = dir_ / "pairs.jsonl";
  const fs::path singles = dir_ / "singles.jsonl";
  const std::string long_text = [] {
    std::string text;
    for (int i = 0; i < 40; ++i) text += "how much money is in my account ";
    return text;
  }();
  write_text_file(pairs, json({{"text", "move money"}, {"text_pair", "to savings"}}).dump() + "\n");
  write_text_file(singles,
                  json({{"text", long_text}}).dump() + "\n" +
                      json({{"text", "what is my balance"}}).dump() + "\n");
  std::vector<json> want;
  for (const fs::path& data : {pairs, singles}) {
    const fs::path predictions = dir_ / (data.stem().string() + ".predictions.jsonl");
    auto predicted = run_ftune({"--threads",
                                "1",
                                "predict",
                                "--model",
                                kModel,
                                "--data",
                                data.string(),
                                "--output",
                                predictions.string(),
                                "--max-length",
                                "16"});
    ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
    for (const auto& line : read_json_lines<json>(predictions)) want.push_back(line);
  }
  ASSERT_EQ(want.size(), 3u);

  Server server({"--model", kModel, "--max-length", "16"}, dir_ / "serve.err");
  ASSERT_TRUE(server.ready()) << server.err();
  auto client = server.client();
  int status = 0;
  for (const json& pair : {json({{"text", "move money"}, {"text_pair", "to savings"}}),
                           json::array({"move money", "to savings"})}) {
    const json answer =
        post(client, "/v1/predict", {{"inputs", {pair, long_text, "what is my balance"}}}, &status);
    ASSERT_EQ(status, 200) << answer.dump();
    ASSERT_EQ(answer["outputs"].size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
      EXPECT_EQ(answer["outputs"][i]["label"], want[i]["label"]) << i;
      for (size_t j = 0; j < want[i]["logits"].size(); ++j) {
        EXPECT_NEAR(answer["outputs"][i]["logits"][j], want[i]["logits"][j], 1e-5) << i;
      }
    }
    EXPECT_EQ(answer["truncated"], json::array({1})) << answer.dump();
    EXPECT_NE(answer.value("warning", "").find("16 tokens"), std::string::npos) << answer.dump();
  }
  const json short_answer = post(client, "/v1/predict", {{"inputs", {"hello"}}}, &status);
  EXPECT_FALSE(short_answer.contains("truncated")) << short_answer.dump();
  EXPECT_EQ(server.stop(), 0);
}

// Malformed requests get 400 with a JSON error naming the field; other faults their own codes.
TEST_F(ServeTest, BadRequestsGetErrorsNamingTheField) {
  Server server({"--model", kModel, "--max-body-bytes", "2000", "--max-inputs", "3"},
                dir_ / "serve.err");
  ASSERT_TRUE(server.ready()) << server.err();
  auto client = server.client();
  struct Case {
    std::string body;
    int status;
    std::string field;  // "" : no field (the body as a whole)
    std::string says;
  };
  const std::vector<Case> cases = {
      {"{\"inputs\": [\"a\"", 400, "", "parse error"},
      {"[\"a text\"]", 400, "", "expected a JSON object, got a array"},
      {"{}", 400, "inputs", "missing"},
      {"{\"inputs\": \"a text\"}", 400, "inputs", "expected an array, got a string"},
      {"{\"inputs\": []}", 400, "inputs", "expected 1 to 3 inputs, got 0"},
      {"{\"inputs\": [\"a\", \"b\", \"c\", \"d\"]}", 400, "inputs", "got 4"},
      {"{\"inputs\": [\"a\", 7]}", 400, "inputs[1]", "got an integer"},
      {"{\"inputs\": [\"a\", \"  \"]}", 400, "inputs[1]", "only whitespace"},
      {"{\"inputs\": [\"a\"], \"beam\": 2}", 400, "beam", "unknown"},
      {"{\"inputs\": [{\"txt\": \"a\"}]}", 400, "inputs[0].txt", "unknown"},
      {"{\"inputs\": [[\"a\", \"b\", \"c\"]]}", 400, "inputs[0]", "array of 3"},
      {"{\"inputs\": [{\"text\": \"a\", \"text_pair\": null}]}",
       400,
       "inputs[0].text_pair",
       "got a null"},
      {"{\"inputs\": [\"" + std::string(3000, 'a') + "\"]}", 413, "", "too large"},
  };
  for (const auto& c : cases) {
    auto response = client.Post("/v1/predict", c.body, "application/json");
    ASSERT_TRUE(response) << c.body.substr(0, 80);
    EXPECT_EQ(response->status, c.status) << c.body.substr(0, 80) << " -> " << response->body;
    const json error = json::parse(response->body, nullptr, false);
    ASSERT_TRUE(error.contains("error")) << response->body;
    EXPECT_EQ(error["error"].value("field", ""), c.field) << c.body.substr(0, 80);
    EXPECT_NE(error["error"]["message"].get<std::string>().find(c.says), std::string::npos)
        << c.body.substr(0, 80) << " -> " << response->body;
  }
  auto missing = client.Get("/v2/predict");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("POST /v1/predict"), std::string::npos) << missing->body;
  auto wrong_route = client.Post("/v1/translate", "{\"inputs\": [\"a\"]}", "application/json");
  ASSERT_TRUE(wrong_route);
  EXPECT_EQ(wrong_route->status, 404);
  EXPECT_NE(wrong_route->body.find("hint: POST /v1/predict"), std::string::npos);
  // The server is still fine afterwards.
  int status = 0;
  post(client, "/v1/predict", {{"inputs", {"what is my balance"}}}, &status);
  EXPECT_EQ(status, 200);
  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");
  EXPECT_EQ(server.stop(), 0);
}

// A flood past --max-queue gets 503 with Retry-After (never a hang or a crash), the rest are
// answered, and once it has passed the server answers again.
TEST_F(ServeTest, FloodGets503ThenRecovers) {
  Server server({"--model",
                 kModel,
                 "--max-queue",
                 "4",
                 "--max-inputs",
                 "2",
                 "--max-wait-ms",
                 "300",
                 "--max-batch-tokens",
                 "100000"},
                dir_ / "serve.err");
  ASSERT_TRUE(server.ready()) << server.err();
  constexpr int kClients = 12;
  std::atomic<int> ok{0};
  std::atomic<int> overloaded{0};
  std::atomic<int> other{0};
  std::atomic<int> retry_after{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      auto client = server.client();
      auto response = client.Post("/v1/predict",
                                  "{\"inputs\": [\"what is my balance\", \"send money\"]}",
                                  "application/json");
      if (response && response->status == 200) {
        ++ok;
      } else if (response && response->status == 503) {
        ++overloaded;
        if (response->get_header_value("Retry-After") == "1") ++retry_after;
      } else {
        ++other;
      }
    });
  }
  for (auto& client : clients) client.join();
  EXPECT_GE(ok.load(), 2);
  EXPECT_GE(overloaded.load(), 1);
  EXPECT_EQ(retry_after.load(), overloaded.load());
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok + overloaded, kClients);
  auto client = server.client();
  int status = 0;
  post(client, "/v1/predict", {{"inputs", {"what is my balance"}}}, &status);
  EXPECT_EQ(status, 200);
  auto metrics = client.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metric(metrics->body, "ftune_rejected_total"), overloaded.load()) << metrics->body;
  EXPECT_EQ(server.stop(), 0);
}

// A request not answered within --timeout-ms gets 504 (its text is then dropped from the queue),
// and the server goes on answering.
TEST_F(ServeTest, SlowAnswerGets504) {
  Server server({"--model",
                 kModel,
                 "--timeout-ms",
                 "50",
                 "--max-wait-ms",
                 "2000",
                 "--max-batch-tokens",
                 "100000"},
                dir_ / "serve.err");
  ASSERT_TRUE(server.ready()) << server.err();
  auto client = server.client();
  int status = 0;
  const json answer = post(client, "/v1/predict", {{"inputs", {"send money"}}}, &status);
  EXPECT_EQ(status, 504) << answer.dump();
  EXPECT_NE(answer["error"]["message"].get<std::string>().find("--timeout-ms"), std::string::npos)
      << answer.dump();
  const std::string counted = "ftune_requests_total{route=\"/v1/predict\",code=\"504\"} 1";
  auto metrics = metrics_with(client, counted);
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find(counted), std::string::npos) << metrics->body;
  EXPECT_EQ(server.stop(), 0);
}

// SIGTERM while requests wait in the queue: each is answered with 200, then the process exits 0
// and no longer accepts connections.
TEST_F(ServeTest, SigtermAnswersQueuedRequestsThenExitsZero) {
  Server server({"--model", kModel, "--max-wait-ms", "2000", "--max-batch-tokens", "100000"},
                dir_ / "serve.err");
  ASSERT_TRUE(server.ready()) << server.err();
  constexpr int kClients = 5;
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] {
      auto client = server.client();
      auto response =
          client.Post("/v1/predict", "{\"inputs\": [\"send money\"]}", "application/json");
      if (response && response->status == 200) ++ok;
    });
  }
  // All five wait in the queue (the batch waits up to 2 s for more).
  auto watcher = server.client();
  ASSERT_TRUE(wait_until_ready(server.pid(), [&] {
    auto metrics = watcher.Get("/metrics");
    return metrics && metric(metrics->body, "ftune_queued_inputs") == kClients;
  }));
  ::kill(server.pid(), SIGTERM);
  for (auto& client : clients) client.join();
  EXPECT_EQ(ok.load(), kClients) << server.err();
  EXPECT_EQ(server.stop(0), 0) << server.err();  // signal 0: only wait for the exit
  EXPECT_NE(server.err().find("signal 15"), std::string::npos) << server.err();
  auto after = server.client().Get("/health");
  EXPECT_FALSE(after) << "still accepting after SIGTERM";
}

// A model folder that cannot load: exit 1 with the error, and never a listening line.
TEST_F(ServeTest, BrokenModelExitsOneBeforeListening) {
  const fs::path broken = dir_ / "broken";
  fs::create_directories(broken);
  write_text_file(broken / "config.json", "{\"model_type\": \"bert\", \"hidden_size\": 7}");
  auto result = run_ftune({"serve", "--model", broken.string(), "--port", "0"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find("error: "), std::string::npos) << result.err;
  EXPECT_EQ(result.err.find("listening"), std::string::npos) << result.err;
}

// /v1/translate with a beam: the same lines `ftune translate --beam 4` writes, batched across
// concurrent clients; greedy (beam 1) requests do not share a batch with beam-4 ones.
TEST_F(ServeTest, TranslationMatchesTranslateCommand) {
  const json inputs = json::parse(read_text_file(kMarianInputs));
  std::vector<std::string> sources = inputs["source_texts"];
  sources.resize(4);
  const fs::path source_file = dir_ / "sources.txt";
  std::string joined;
  for (const auto& s : sources) joined += s + "\n";
  write_text_file(source_file, joined);
  std::vector<std::vector<json>> want;
  for (const std::string beam : {"1", "4"}) {
    const fs::path out = dir_ / ("beam" + beam + ".jsonl");
    auto translated = run_ftune({"--threads",
                                 "1",
                                 "translate",
                                 "--model",
                                 kMarian,
                                 "--input",
                                 source_file.string(),
                                 "--output",
                                 out.string(),
                                 "--beam",
                                 beam});
    ASSERT_EQ(translated.exit_code, 0) << translated.err;
    want.push_back(read_json_lines<json>(out));
  }
  Server server({"--model", kMarian, "--max-wait-ms", "50"}, dir_ / "serve.err");
  ASSERT_TRUE(server.ready()) << server.err();
  std::vector<std::thread> clients;
  std::mutex mutex;
  std::vector<std::string> failures;
  for (size_t i = 0; i < sources.size(); ++i) {
    for (int b = 0; b < 2; ++b) {
      clients.emplace_back([&, i, b] {
        auto client = server.client();
        int status = 0;
        const json answer = post(
            client, "/v1/translate", {{"inputs", {sources[i]}}, {"beam", b == 0 ? 1 : 4}}, &status);
        std::lock_guard<std::mutex> lock(mutex);
        const auto& expected = want[static_cast<size_t>(b)][i];
        if (status != 200 || answer["outputs"][0]["translation"] != expected["translation"] ||
            answer["outputs"][0]["ids"] != expected["ids"] ||
            answer["outputs"][0]["score"].is_null() != expected["score"].is_null() ||
            (!expected["score"].is_null() &&
             std::abs(double(answer["outputs"][0]["score"]) - double(expected["score"])) > 1e-5)) {
          failures.push_back("source " + std::to_string(i) + " beam " + (b ? "4" : "1") + ": " +
                             answer.dump() + " vs " + expected.dump());
        }
      });
    }
  }
  for (auto& client : clients) client.join();
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();
  auto client = server.client();
  int status = 0;
  const json greedy_route = post(client, "/v1/predict", {{"inputs", {"a"}}}, &status);
  EXPECT_EQ(status, 404);
  EXPECT_NE(greedy_route.dump().find("/v1/translate"), std::string::npos);
  EXPECT_EQ(server.stop(), 0);
}

// --vocab-shortlist: one request of the eight fixture sources is one batch, decoded as HF
// generate() does with every logit outside that batch's candidates set to -inf
// (tests/fixtures/marian-mt/shortlist); a classifier folder refuses the option before listening.
TEST_F(ServeTest, TranslationWithAShortlistMatchesHuggingFaceMasked) {
  const json inputs = json::parse(read_text_file(kMarianInputs));
  const json want =
      json::parse(read_text_file(kMarian + "/shortlist/expected.json"))["cases"]["greedy"];
  // The fixture's sources were cut to 24 tokens (the sixth is longer).
  Server server({"--model",
                 kMarian,
                 "--vocab-shortlist",
                 kMarian + "/shortlist/vmap.txt",
                 "--max-source-length",
                 "24"},
                dir_ / "serve.err");
  ASSERT_TRUE(server.ready()) << server.err();
  auto client = server.client();
  int status = 0;
  const json answer =
      post(client, "/v1/translate", {{"inputs", inputs["source_texts"]}, {"beam", 1}}, &status);
  ASSERT_EQ(status, 200) << answer.dump();
  ASSERT_EQ(answer["outputs"].size(), 8U) << answer.dump();
  const size_t max_length = want["max_length"].get<size_t>();  // serve decodes up to 64 instead
  size_t cut = 0;
  for (size_t i = 0; i < 8; ++i) {
    auto ids = without_batch_padding(want["sequences"][i], 2073);
    auto got = answer["outputs"][i]["ids"].get<std::vector<int64_t>>();
    if (ids.size() == max_length) {  // HF forced eos at max_length: the rest must agree
      ids.pop_back();
      got.resize(std::min(got.size(), ids.size()));
      ++cut;
    } else {
      EXPECT_EQ(answer["outputs"][i]["translation"], want["decoded"][i]) << "source " << i;
    }
    EXPECT_EQ(got, ids) << "source " << i;
  }
  EXPECT_LT(cut, 8U);
  const auto info = client.Get("/v1/info");
  ASSERT_TRUE(info);
  EXPECT_EQ(json::parse(info->body)["vocab_shortlist"], true) << info->body;
  EXPECT_EQ(server.stop(), 0);

  auto refused = run_ftune({"serve",
                            "--model",
                            kModel,
                            "--port",
                            "0",
                            "--vocab-shortlist",
                            kMarian + "/shortlist/vmap.txt"});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_NE(refused.err.find("--vocab-shortlist"), std::string::npos) << refused.err;
  EXPECT_EQ(refused.err.find("listening"), std::string::npos) << refused.err;
}

// A token classifier: each sentence's words (as an array, and as one text split at spaces) get
// the tags and scores `ftune predict` writes for them; sentence 12 is three windows long.
TEST_F(ServeTest, TokenClassifierAnswersAsPredictDoes) {
  const fs::path train = dir_ / "train.conll";  // written by train_small_ner_model
  auto trained = train_small_ner_model(dir_, kModel);
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const fs::path model = dir_ / "run" / "last";
  const fs::path predictions = dir_ / "tags.jsonl";
  auto predicted = run_ftune({"--threads",
                              "1",
                              "predict",
                              "--model",
                              model.string(),
                              "--data",
                              train.string(),
                              "--output",
                              predictions.string(),
                              "--max-length",
                              "12"});
  ASSERT_EQ(predicted.exit_code, 0) << predicted.err;
  const auto want = read_json_lines<json>(predictions);
  ASSERT_EQ(want.size(), kNerSentences.size());

  Server server({"--model", model.string(), "--max-length", "12"}, dir_ / "serve.err");
  ASSERT_TRUE(server.ready()) << server.err();
  auto client = server.client();
  json words_inputs = json::array();
  json text_inputs = json::array();
  for (const auto& line : want) {
    words_inputs.push_back(line["tokens"]);
    std::string text;
    for (const auto& word : line["tokens"]) text += word.get<std::string>() + "  ";
    text_inputs.push_back(text);
  }
  for (const json& inputs : {words_inputs, text_inputs}) {
    int status = 0;
    const json answer = post(client, "/v1/predict", {{"inputs", inputs}}, &status);
    ASSERT_EQ(status, 200) << answer.dump();
    ASSERT_EQ(answer["outputs"].size(), want.size());
    for (size_t s = 0; s < want.size(); ++s) {
      EXPECT_EQ(answer["outputs"][s]["tokens"], want[s]["tokens"]) << s;
      EXPECT_EQ(answer["outputs"][s]["tags"], want[s]["tags"]) << s;
      for (size_t k = 0; k < want[s]["scores"].size(); ++k) {
        EXPECT_NEAR(answer["outputs"][s]["scores"][k], want[s]["scores"][k], 1e-5) << s;
      }
    }
  }
  auto info = client.Get("/v1/info");
  ASSERT_TRUE(info);
  EXPECT_EQ(json::parse(info->body)["task"], "token_classification");
  EXPECT_EQ(server.stop(), 0);
}

// Debian's python3 with python3-selenium, and chromedriver (chromium-driver); "" when missing.
std::string page_driver_python() {
  const std::string python = "/usr/bin/python3";
  const auto [status, out] =
      capture(python +
              " -c 'import selenium' 2>/dev/null && command -v chromedriver >/dev/null && echo ok");
  return status == 0 && out.find("ok") != std::string::npos ? python : "";
}

// The page at GET / in headless Chromium: a text typed, the button pressed, the answer shown is
// the one the API gives for that text. Screenshots are kept in <build>/test-artifacts/.
TEST_F(ServeTest, PageShowsThePredictionInABrowser) {
  const std::string python = page_driver_python();
  if (python.empty()) {
    GTEST_SKIP() << "needs python3-selenium and chromium-driver (scripts/install-deps.sh)";
  }
  const fs::path artifacts = fs::path(FTUNE_BINARY).parent_path() / "test-artifacts";
  fs::create_directories(artifacts);
  struct Case {
    std::string model, route, text, field, screenshot;
  };
  for (const Case& c : {Case{kModel,
                             "/v1/predict",
                             "how much is in my savings account",
                             "label",
                             "serve-page-classify.png"},
                        Case{kMarian,
                             "/v1/translate",
                             "A man sleeping in a green room.",
                             "translation",
                             "serve-page-translate.png"}}) {
    Server server({"--model", c.model}, dir_ / (c.screenshot + ".err"));
    ASSERT_TRUE(server.ready()) << server.err();
    auto client = server.client();
    int status = 0;
    json body = {{"inputs", {c.text}}};
    // The page asks for the beam it shows, which starts at config.json's num_beams.
    auto info = client.Get("/v1/info");
    ASSERT_TRUE(info);
    if (c.route == "/v1/translate") body["beam"] = json::parse(info->body)["beam"];
    const json api = post(client, c.route, body, &status);
    ASSERT_EQ(status, 200) << api.dump();
    const fs::path screenshot = artifacts / c.screenshot;
    fs::remove(screenshot);
    const auto [code, out] = capture(
        python + " tests/app/serve_page.py http://127.0.0.1:" + std::to_string(server.port()) +
        " '" + c.text + "' " + screenshot.string() + " 2>&1");
    ASSERT_EQ(code, 0) << out;
    const json page = json::parse(out.substr(out.rfind('{')), nullptr, false);
    ASSERT_FALSE(page.is_discarded()) << out;
    EXPECT_EQ(page["error"], "") << out;
    EXPECT_EQ(page["shown"], api["outputs"][0][c.field]) << out;
    EXPECT_NE(page["model"].get<std::string>().find(fs::path(c.model).filename().string()),
              std::string::npos)
        << out;
    EXPECT_GT(fs::file_size(screenshot), 1000u);
    EXPECT_EQ(server.stop(), 0);
  }
}

}  // namespace
}  // namespace ftune::testing
