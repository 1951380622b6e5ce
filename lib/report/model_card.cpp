// The model card and the run summary. YAML is written by hand: every string scalar as a JSON
// string, which YAML reads as a double-quoted scalar, so file names cannot break the front matter.
#include "lib/report/model_card.h"

#include <cmath>

#include <fmt/format.h>

#include "lib/report/svg.h"
#include "lib/schedule/early_stopping.h"
#include "util/atomic_file.h"

namespace ftune {
namespace {

std::string yaml_string(const std::string& text) { return nlohmann::json(text).dump(); }

std::string setting_text(const nlohmann::ordered_json& settings, const char* key,
                         const std::string& fallback = "") {
  const auto it = settings.find(key);
  if (it == settings.end() || it->is_null()) return fallback;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::string file_name(const std::string& path) {
  return path.empty() ? "" : std::filesystem::path(path).filename().string();
}

std::string task_title(const std::string& tag) {
  if (tag == "token-classification") return "Token Classification";
  if (tag == "translation") return "Translation";
  if (tag == "fill-mask") return "Fill-Mask";
  return "Text Classification";
}

std::string format_duration(double seconds) {
  const auto total = static_cast<int64_t>(std::lround(seconds));
  if (total < 60) return fmt::format("{} s", total);
  if (total < 3600) return fmt::format("{} min {} s", total / 60, total % 60);
  return fmt::format("{} h {} min", total / 3600, (total % 3600) / 60);
}

// The last logged training loss at or before `step` (the card's "Training loss" column, as
// Hugging Face's table shows the loss logged before each evaluation).
std::optional<double> train_loss_at(const TrainHistory& history, int64_t step) {
  std::optional<double> loss;
  for (const auto& point : history.train_loss) {
    if (point.step > step) break;
    loss = point.value;
  }
  return loss;
}

}  // namespace

const EvalRecord* RunFacts::best_eval() const {
  if (!best_step) return nullptr;
  for (const auto& eval : history.evals) {
    if (eval.step == *best_step) return &eval;
  }
  return nullptr;
}

std::string RunFacts::stop_reason() const {
  if (!history.summary) {
    return "unfinished: trainer_log.jsonl has no closing record (still running, interrupted or "
           "killed); continue it with --resume-from-checkpoint latest";
  }
  const auto& summary = *history.summary;
  if (summary.value("stopped_early", false)) {
    return fmt::format("early stopping: {} did not improve for {} evaluations",
                       metric,
                       setting_text(settings, "early_stopping_patience", "patience"));
  }
  const int64_t step = summary.value("step", int64_t{0});
  if (settings.value("max_steps", int64_t{0}) > 0) {
    return fmt::format("finished: --max-steps {} reached", step);
  }
  return fmt::format("finished: {} epochs ({} steps)", setting_text(settings, "epochs", "?"), step);
}

RunFacts read_run_facts(const std::filesystem::path& run_dir) {
  RunFacts run;
  run.settings = read_train_settings(run_dir);
  run.history = read_train_history(run_dir / kTrainLogFile);
  run.name = normal_folder(run_dir).filename().string();
  run.metric = setting_text(run.settings, "metric_for_best_model", "loss");
  if (run.history.summary) {
    run.metric = run.history.summary->value("metric_for_best_model", run.metric);
  }
  run.greater_is_better = metric_greater_is_better(run.metric);
  run.best_step = find_best_step(run.history, run.metric, run.greater_is_better);
  if (run.history.summary && (*run.history.summary)["best_step"].is_number_integer()) {
    run.best_step = (*run.history.summary)["best_step"].get<int64_t>();
  }
  return run;
}

std::string pipeline_tag(const nlohmann::ordered_json& settings) {
  const std::string task = setting_text(settings, "task", "classify");
  if (task == "ner") return "token-classification";
  if (task == "translate") return "translation";
  if (task == "pretrain") return "fill-mask";
  return "text-classification";
}

std::string render_model_card(const RunFacts& run) {
  const auto& s = run.settings;
  const std::string tag = pipeline_tag(s);
  const std::string base_model = setting_text(s, "model");
  const std::string train_file = setting_text(s, "train_file");
  const std::string valid_file = setting_text(s, "valid_file");
  const EvalRecord* best = run.best_eval();

  std::string out = "---\nlibrary_name: transformers\n";
  if (!base_model.empty()) out += "base_model: " + yaml_string(base_model) + "\n";
  out += "pipeline_tag: " + tag + "\ntags:\n- ftune\n- " + tag + "\n";
  if (best) {
    out += "metrics:\n";
    for (const auto& [name, value] : best->metrics) out += "- " + yaml_string(name) + "\n";
  }
  out += "model-index:\n- name: " + yaml_string(run.name) + "\n";
  if (!best) {
    out += "  results: []\n";
  } else {
    const std::string dataset = file_name(valid_file.empty() ? train_file : valid_file);
    out += "  results:\n  - task:\n      type: " + tag +
           "\n      name: " + yaml_string(task_title(tag)) +
           "\n    dataset:\n      name: " + yaml_string(dataset) +
           "\n      type: " + yaml_string(dataset) + "\n      split: validation\n    metrics:\n";
    for (const auto& [name, value] : best->metrics) {
      out += fmt::format("    - type: {}\n      value: {}\n      name: {}\n",
                         yaml_string(name),
                         nlohmann::json(value).dump(),
                         yaml_string("validation " + name));
    }
  }
  out += "---\n\n";

  out += fmt::format("# {}\n\n", run.name);
  out += fmt::format("This model is a fine-tuned version of `{}` on `{}`{}, trained with ftune {}.",
                     base_model.empty() ? "?" : base_model,
                     file_name(train_file),
                     s.contains("train_examples")
                         ? fmt::format(" ({} training examples)", s["train_examples"].dump())
                         : "",
                     setting_text(s, "ftune_version", "?"));
  if (best) {
    out += fmt::format(
        " This folder holds the best checkpoint, step {} (epoch {}) of the run; on the "
        "validation set `{}`{} it reaches:\n\n| metric | value |\n|---|---|\n",
        best->step,
        format_short(best->epoch),
        file_name(valid_file),
        s.contains("valid_examples") ? fmt::format(" ({} examples)", s["valid_examples"].dump())
                                     : "");
    for (const auto& [name, value] : best->metrics) {
      out += fmt::format("| {} | {:.4f} |\n", name, value);
    }
  } else {
    out += " The run had no evaluation (no --valid), so no validation metrics.\n";
  }
  out += "\nLoad it with `AutoModelFor";
  out += tag == "token-classification" ? "TokenClassification"
         : tag == "translation"        ? "Seq2SeqLM"
         : tag == "fill-mask"          ? "MaskedLM"
                                       : "SequenceClassification";
  out +=
      ".from_pretrained(folder)` and `AutoTokenizer.from_pretrained(folder)`, or with `ftune "
      "predict --model folder`.\n\n## Training procedure\n\n";
  out += fmt::format("{}.\n\n### Training hyper-parameters\n\n", run.stop_reason());
  for (const char* key : {"learning_rate",
                          "batch_size",
                          "gradient_accumulation_steps",
                          "world_size",
                          "epochs",
                          "max_steps",
                          "lr_scheduler",
                          "warmup_ratio",
                          "warmup_steps",
                          "weight_decay",
                          "max_grad_norm",
                          "max_length",
                          "seed",
                          "precision",
                          "device",
                          "metric_for_best_model",
                          "early_stopping_patience"}) {
    if (s.contains(key) && !s[key].is_null())
      out += fmt::format("- {}: {}\n", key, setting_text(s, key));
  }
  if (!run.history.evals.empty()) {
    out += "\n### Training results\n\n| Step | Epoch | Training loss |";
    const auto& names = run.history.evals.front().metrics;
    for (const auto& [name, value] : names) out += fmt::format(" Validation {} |", name);
    out += "\n|---|---|---|";
    for (size_t i = 0; i < names.size(); ++i) out += "---|";
    out += "\n";
    for (const auto& eval : run.history.evals) {
      const auto loss = train_loss_at(run.history, eval.step);
      out += fmt::format("| {}{} | {} | {} |",
                         eval.step,
                         run.best_step && *run.best_step == eval.step ? " (best)" : "",
                         format_short(eval.epoch),
                         loss ? fmt::format("{:.4f}", *loss) : "no log");
      for (const auto& [name, value] : names) {
        const auto v = eval.find(name);
        out += v ? fmt::format(" {:.4f} |", *v) : " |";
      }
      out += "\n";
    }
  }
  const std::string command = setting_text(s, "command_line");
  if (!command.empty()) out += fmt::format("\n### Command\n\n```\n{}\n```\n", command);
  out += fmt::format("\n### Framework versions\n\n- ftune {}\n",
                     setting_text(s, "ftune_version", "?"));
  if (s.contains("libtorch_version")) {
    out += fmt::format("- LibTorch {}\n", setting_text(s, "libtorch_version"));
  }
  return out;
}

void write_model_card(const std::filesystem::path& run_dir,
                      const std::filesystem::path& model_dir) {
  write_file_atomically(model_dir / kModelCardFile, render_model_card(read_run_facts(run_dir)));
}

std::vector<std::pair<std::string, std::string>> summarize_run(const RunFacts& run) {
  const auto& s = run.settings;
  std::vector<std::pair<std::string, std::string>> rows = {{"run", run.name}};
  if (!s.empty()) {
    rows.emplace_back("task",
                      fmt::format("{} ({}), model {}",
                                  setting_text(s, "task", "classify"),
                                  pipeline_tag(s),
                                  setting_text(s, "model", "?")));
    std::string data = fmt::format("train {}{}",
                                   setting_text(s, "train_file"),
                                   s.contains("train_examples")
                                       ? fmt::format(" ({} examples)", s["train_examples"].dump())
                                       : "");
    if (!setting_text(s, "valid_file").empty()) {
      data += fmt::format(", valid {}{}",
                          setting_text(s, "valid_file"),
                          s.contains("valid_examples")
                              ? fmt::format(" ({} examples)", s["valid_examples"].dump())
                              : "");
    }
    rows.emplace_back("data", data);
  }
  rows.emplace_back("ended", run.stop_reason());
  if (run.history.summary) {
    const auto& summary = *run.history.summary;
    rows.emplace_back("time",
                      fmt::format("{} training, {:.1f} samples/s, final training loss {:.4f}",
                                  format_duration(summary.value("train_runtime", 0.0)),
                                  summary.value("train_samples_per_second", 0.0),
                                  summary.value("train_loss", 0.0)));
  }
  if (const EvalRecord* best = run.best_eval()) {
    std::string text =
        fmt::format("step {} (epoch {}), validation", best->step, format_short(best->epoch));
    for (const auto& [name, value] : best->metrics) text += fmt::format(" {} {:.4f}", name, value);
    rows.emplace_back("best", text);
  } else if (run.history.evals.empty()) {
    rows.emplace_back("best", "no evaluations (trained without --valid)");
  }
  rows.emplace_back(
      "evaluations",
      fmt::format("{}, logged steps: {}", run.history.evals.size(), run.history.train_loss.size()));
  return rows;
}

std::string format_run_summary(const RunFacts& run) {
  std::string out;
  for (const auto& [key, value] : summarize_run(run)) out += key + ": " + value + "\n";
  return out;
}

}  // namespace ftune
