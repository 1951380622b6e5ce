// report.html. HTML text is escaped as XML (escape_xml covers what HTML needs); the SVG pictures
// are inlined as they are, since an <svg> element is valid HTML5.
#include "lib/report/html_report.h"

#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "lib/report/charts.h"
#include "lib/report/svg.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"

namespace ftune {
namespace {

constexpr const char* kStyle = R"(
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
tr.best td { background: #eaf6ea; font-weight: bold; }
.picture { overflow-x: auto; }
.summary td { text-align: left; }
.note { color: #666; }
pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; }
)";

std::string html(const std::string& text) { return escape_xml(text); }

// A metric: 4 decimals, as the reports print them.
std::string json_cell(const nlohmann::json& value) {
  if (value.is_number_float()) return html(fmt::format("{:.4f}", value.get<double>()));
  if (value.is_string()) return html(value.get<std::string>());
  return html(value.dump());
}

std::string summary_table(const RunFacts& run) {
  std::string out = "<table class=\"summary\">\n";
  for (const auto& [key, value] : summarize_run(run)) {
    out += fmt::format("<tr><th>{}</th><td>{}</td></tr>\n", html(key), html(value));
  }
  return out + "</table>\n";
}

std::string evaluations_table(const RunFacts& run) {
  if (run.history.evals.empty()) return "<p class=\"note\">No evaluations.</p>\n";
  const auto& names = run.history.evals.front().metrics;
  std::string out = "<table>\n<tr><th>step</th><th>epoch</th>";
  for (const auto& [name, value] : names) out += "<th>" + html(name) + "</th>";
  out += "</tr>\n";
  for (const auto& eval : run.history.evals) {
    const bool best = run.best_step && *run.best_step == eval.step;
    out += fmt::format("<tr{}><td>{}{}</td><td>{}</td>",
                       best ? " class=\"best\"" : "",
                       eval.step,
                       best ? " (best)" : "",
                       html(format_short(eval.epoch)));
    for (const auto& [name, value] : names) {
      const auto v = eval.find(name);
      out += v ? fmt::format("<td>{:.4f}</td>", *v) : "<td></td>";
    }
    out += "</tr>\n";
  }
  return out + "</table>\n";
}

// scikit-learn's / seqeval's output_dict: label -> {precision, recall, f1-score, support}, plus
// "accuracy" (a number) and the averages.
std::string per_class_table(const nlohmann::json& report) {
  std::string out =
      "<table>\n<tr><th>class</th><th>precision</th><th>recall</th><th>f1-score</th>"
      "<th>support</th></tr>\n";
  auto add_row = [&](const std::string& label, const nlohmann::json& row) {
    out += "<tr><td>" + html(label) + "</td>";
    for (const char* key : {"precision", "recall", "f1-score", "support"}) {
      out += "<td>" + (row.contains(key) ? json_cell(row[key]) : "") + "</td>";
    }
    out += "</tr>\n";
  };
  // The classes in the report's order, then accuracy and the averages, as scikit-learn prints.
  auto is_summary = [](const std::string& key) {
    return key == "accuracy" || (key.size() > 4 && key.compare(key.size() - 4, 4, " avg") == 0);
  };
  for (const auto& [label, row] : report.items()) {
    if (row.is_object() && !is_summary(label)) add_row(label, row);
  }
  if (report.contains("accuracy") && report["accuracy"].is_number()) {
    out += "<tr><td>accuracy</td><td></td><td></td><td>" + json_cell(report["accuracy"]) +
           "</td><td></td></tr>\n";
  }
  for (const char* average : {"micro avg", "macro avg", "weighted avg", "samples avg"}) {
    if (report.contains(average) && report[average].is_object()) add_row(average, report[average]);
  }
  return out + "</table>\n";
}

std::string settings_table(const nlohmann::ordered_json& settings) {
  if (settings.empty()) {
    return "<p class=\"note\">No train_settings.json (a run of an older ftune).</p>\n";
  }
  std::string out = "<table class=\"summary\">\n";
  for (const auto& [key, value] : settings.items()) {
    if (key == "command_line") continue;
    // As written (5e-05 stays 5e-05), not as a metric.
    const std::string text = value.is_string() ? value.get<std::string>() : value.dump();
    out += "<tr><th>" + html(key) + "</th><td>" + html(text) + "</td></tr>\n";
  }
  out += "</table>\n";
  if (settings.contains("command_line") && settings["command_line"].is_string()) {
    out += "<pre>" + html(settings["command_line"].get<std::string>()) + "</pre>\n";
  }
  return out;
}

}  // namespace

std::optional<ConfusionMatrix> confusion_matrix_from_eval(const nlohmann::json& eval_results,
                                                          const std::string& title) {
  if (!eval_results.is_object() || !eval_results.contains("confusion_matrix")) return std::nullopt;
  const auto& cm = eval_results["confusion_matrix"];
  if (!cm.is_object() || !cm.contains("labels") || !cm.contains("matrix")) return std::nullopt;
  ConfusionMatrix matrix;
  matrix.title = title;
  try {
    matrix.labels = cm["labels"].get<std::vector<std::string>>();
    matrix.counts = cm["matrix"].get<std::vector<std::vector<int64_t>>>();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  if (matrix.counts.size() != matrix.labels.size()) return std::nullopt;
  for (const auto& row : matrix.counts) {
    if (row.size() != matrix.labels.size()) return std::nullopt;
  }
  return matrix;
}

std::string write_run_report(const std::filesystem::path& run_dir,
                             const std::filesystem::path& html_file) {
  if (!std::filesystem::is_directory(run_dir)) {
    throw IoError(
        fmt::format("reporting: run folder '{}': expected a training run's --output-dir, "
                    "got {}",
                    run_dir.string(),
                    std::filesystem::exists(run_dir) ? "a file" : "nothing there"));
  }
  if (!std::filesystem::exists(run_dir / kTrainLogFile)) {
    throw IoError(
        fmt::format("reporting: run folder '{}': expected {} (what `ftune train` writes "
                    "there), got none; hint: --run takes the folder given to ftune train "
                    "--output-dir",
                    run_dir.string(),
                    kTrainLogFile));
  }
  const RunFacts run = read_run_facts(run_dir);
  std::optional<nlohmann::json> eval_results;
  std::string notes;
  for (const char* folder : {"best", "last"}) {
    const auto path = run_dir / folder / kEvalResultsFile;
    std::ifstream in(path);
    if (!in) continue;
    std::stringstream text;
    text << in.rdbuf();
    try {
      eval_results = parse_json_capped(text.str(), path.string());
    } catch (const JsonError& e) {
      notes += fmt::format("note: {} left out: {}\n", path.string(), e.what());
      continue;
    }
    notes += fmt::format(
        "evaluation: {} (on {})\n", path.string(), eval_results->value("data", std::string("?")));
    break;
  }
  const std::string tag = pipeline_tag(run.settings);
  const bool has_classes = tag == "text-classification" || tag == "token-classification";
  if (!eval_results && has_classes && std::filesystem::exists(run_dir / "best")) {
    notes += fmt::format(
        "hint: `ftune eval --model {} --data FILE` adds the per-class table and the confusion "
        "matrix to the report\n",
        (run_dir / "best").string());
  }
  write_file_atomically(html_file, render_report_html(run, eval_results));
  return format_run_summary(run) + notes;
}

std::string render_report_html(const RunFacts& run,
                               const std::optional<nlohmann::json>& eval_results) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<title>ftune run " + html(run.name) + "</title>\n<style>" + kStyle + "</style>\n";
  out += "</head>\n<body>\n<h1>ftune run: " + html(run.name) + "</h1>\n";
  out += summary_table(run);

  out += "<h2>Learning curves</h2>\n<div class=\"picture\">\n";
  out += render_learning_curves(
      make_learning_curves(run.history, run.metric, run.greater_is_better, run.name));
  out += "</div>\n";

  out += "<h2>Evaluation of the best checkpoint</h2>\n";
  if (!eval_results) {
    out += "<p class=\"note\">No eval_results.json in best/: run <code>ftune eval --model " +
           html(run.name) +
           "/best --data FILE</code> to add the per-class table and the confusion matrix.</p>\n";
  } else {
    const auto& results = *eval_results;
    if (results.contains("data") && results["data"].is_string()) {
      out += "<p>Evaluated on <code>" + html(results["data"].get<std::string>()) + "</code>";
      if (results.contains("metrics") && results["metrics"].is_object()) {
        out += ":";
        for (const auto& [key, value] : results["metrics"].items()) {
          out += " " + html(key) + " " + json_cell(value) + ";";
        }
      }
      out += "</p>\n";
    }
    if (results.contains("classification_report") && results["classification_report"].is_object()) {
      out += per_class_table(results["classification_report"]);
    }
    if (const auto matrix = confusion_matrix_from_eval(results, "Confusion matrix")) {
      out += "<div class=\"picture\">\n" + render_confusion_matrix(*matrix) + "</div>\n";
    }
  }

  out += "<h2>Evaluations during training</h2>\n" + evaluations_table(run);
  out += "<h2>Settings</h2>\n" + settings_table(run.settings);
  out += "<p class=\"note\">Written by ftune report from trainer_log.jsonl, train_settings.json";
  if (eval_results) out += " and best/eval_results.json";
  out += ".</p>\n</body>\n</html>\n";
  return out;
}

}  // namespace ftune
