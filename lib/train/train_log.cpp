// The JSONL training log. Each record is one line, flushed as written, so a crash loses at
// most the line being written.
#include "lib/train/train_log.h"

#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"

namespace ftune {

TrainLog::TrainLog(std::filesystem::path path, int64_t resume_step,
                   const std::optional<std::filesystem::path>& events_dir)
    : path_(std::move(path)) {
  if (path_.empty()) return;  // another rank's log: rank 0 writes the file
  if (events_dir) events_ = std::make_unique<EventFileWriter>(*events_dir);
  if (resume_step > 0 && std::filesystem::exists(path_)) {
    std::ifstream in(path_);
    std::string kept, line;
    while (std::getline(in, line)) {
      try {
        auto record = parse_json_capped(line, path_.string());
        if (record.value("step", int64_t{0}) <= resume_step && !record.contains("train_runtime")) {
          kept += line + "\n";
        }
      } catch (const std::exception&) {  // JsonError, or nlohmann's type error in value()
        // a torn last line from a crash: drop it
      }
    }
    write_file_atomically(path_, kept);
  } else if (resume_step == 0) {
    write_file_atomically(path_, "");
  }
  out_.open(path_, std::ios::app);
  if (!out_) throw IoError("writing '" + path_.string() + "': cannot open for appending");
}

void TrainLog::write_line(const std::string& line) {
  if (!out_.is_open()) return;
  out_ << line << '\n';
  out_.flush();
}

void TrainLog::write_step(int64_t step, double epoch, double loss, double learning_rate,
                          double grad_norm, double elapsed) {
  nlohmann::ordered_json record;
  record["step"] = step;
  record["epoch"] = epoch;
  record["loss"] = loss;
  record["learning_rate"] = learning_rate;
  record["grad_norm"] = grad_norm;
  record["elapsed"] = elapsed;
  write_line(record.dump());
  if (events_) {
    events_->add_scalar("train/loss", loss, step);
    events_->add_scalar("train/learning_rate", learning_rate, step);
    events_->add_scalar("train/grad_norm", grad_norm, step);
    events_->add_scalar("train/epoch", epoch, step);
    events_->flush();
  }
}

void TrainLog::write_eval(int64_t step, double epoch, double loss,
                          const std::vector<std::pair<std::string, double>>& metrics) {
  nlohmann::ordered_json record;
  record["step"] = step;
  record["epoch"] = epoch;
  record["eval_loss"] = loss;
  for (const auto& [name, value] : metrics) record["eval_" + name] = value;
  write_line(record.dump());
  if (events_) {
    events_->add_scalar("eval/loss", loss, step);
    for (const auto& [name, value] : metrics) events_->add_scalar("eval/" + name, value, step);
    events_->flush();
  }
}

void TrainLog::write_summary(int64_t step, double epoch, double train_loss, double runtime_seconds,
                             int64_t samples, int64_t steps,
                             const nlohmann::ordered_json& outcome) {
  nlohmann::ordered_json record;
  record["step"] = step;
  record["epoch"] = epoch;
  record["train_loss"] = train_loss;
  record["train_runtime"] = runtime_seconds;
  record["train_samples_per_second"] = runtime_seconds > 0 ? samples / runtime_seconds : 0.0;
  record["train_steps_per_second"] = runtime_seconds > 0 ? steps / runtime_seconds : 0.0;
  for (const auto& [key, value] : outcome.items()) record[key] = value;
  write_line(record.dump());
  if (events_) {
    for (const char* key :
         {"train_loss", "train_runtime", "train_samples_per_second", "train_steps_per_second"}) {
      events_->add_scalar(std::string("train/") + key, record[key].get<double>(), step);
    }
    events_->flush();
  }
}

void TrainLog::write_settings(const std::string& json_text, int64_t step) {
  if (!events_) return;
  // Markdown: a code block keeps the JSON's indentation.
  events_->add_text("args", "```\n" + json_text + "\n```", step);
  events_->flush();
}

}  // namespace ftune
