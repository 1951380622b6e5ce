// `ftune eval`: load the model folder, read the labelled data, evaluate, report.
#include "lib/eval/evaluate.h"

#include <algorithm>

#include <fmt/format.h>
#include <torch/torch.h>

#include "lib/eval/translation_eval.h"
#include "lib/io/bert_folder.h"
#include "lib/io/bert_token_folder.h"
#include "lib/io/marian_folder.h"
#include "lib/metrics/bleu.h"
#include "lib/report/charts.h"
#include "lib/report/run_history.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace ftune {
namespace {

// Before anything is read: the model folder exists, and --report-json can be written without
// landing on an input.
void check_eval_paths(const EvalOptions& options) {
  require_model_folder(options.model_dir);
  if (options.report_json) {
    require_writable_parent(*options.report_json);
    refuse_output_over_input(
        *options.report_json,
        "--report-json",
        {{"--data", options.data}, {"--weights", options.weights.value_or("")}});
  }
  if (options.output_dir) {
    std::error_code error;
    std::filesystem::create_directories(*options.output_dir, error);
    require_writable_parent(*options.output_dir / kEvalResultsFile);
  }
}

// EvalOptions::output_dir, resolved: a run's best/ or last/ gets its evaluation next to it.
std::optional<std::filesystem::path> resolve_output_dir(const EvalOptions& options) {
  if (options.output_dir) return options.output_dir;
  const auto model = normal_folder(options.model_dir);
  if (std::filesystem::exists(model.parent_path() / kTrainLogFile)) return options.model_dir;
  return std::nullopt;
}

// eval_results.json and the confusion matrix's picture; the paths written. A run's own folder
// that cannot be written (read-only copy) costs a note, not the evaluation.
std::vector<std::filesystem::path> write_eval_outputs(const EvalOptions& options,
                                                      nlohmann::json document,
                                                      const ClassificationReport* report) {
  const auto dir = resolve_output_dir(options);
  if (!dir) return {};
  document["data"] = options.data.string();
  document["model"] = options.model_dir.string();
  std::vector<std::filesystem::path> written;
  try {
    write_file_atomically(*dir / kEvalResultsFile, document.dump(2) + "\n");
    written.push_back(*dir / kEvalResultsFile);
    if (report && !report->labels.empty()) {
      ConfusionMatrix matrix;
      const auto model = normal_folder(options.model_dir);  // "runs/x/best" for "runs/x/best/"
      matrix.title = fmt::format("Confusion matrix: {} on {}",
                                 (model.parent_path().filename() / model.filename()).string(),
                                 options.data.filename().string());
      matrix.labels = report->labels;
      matrix.counts = report->confusion;
      write_file_atomically(*dir / kConfusionMatrixFile, render_confusion_matrix(matrix));
      written.push_back(*dir / kConfusionMatrixFile);
    }
  } catch (const IoError& e) {
    if (options.output_dir) throw;
    fmt::print(stderr, "note: {}; hint: --output-dir DIR writes them elsewhere\n", e.what());
  }
  return written;
}

}  // namespace

EvalResult run_eval(const EvalOptions& options) {
  check_eval_paths(options);
  const Runtime runtime = resolve_runtime(options.runtime);
  // Labels are checked against config.json before the (possibly large) weights are read.
  const BertConfig config = BertConfig::read((options.model_dir / "config.json").string());
  auto tokenizer = WordPieceTokenizer::load_from_folder(options.model_dir.string());
  require_vocabulary_fits(tokenizer, config, options.model_dir);
  const size_t max_length = clamp_max_length(config, options.max_length);
  TextExamples examples = read_text_examples(options.data,
                                             options.columns,
                                             tokenizer,
                                             max_length,
                                             /*read_labels=*/true,
                                             options.table);
  // Regression labels are numbers; classification labels must be the model's.
  std::vector<double> targets;
  std::vector<int64_t> label_ids;
  std::vector<std::vector<uint8_t>> label_rows;
  if (config.is_regression()) {
    targets = numeric_labels(examples);
  } else if (config.is_multi_label()) {
    label_rows = map_label_sets(examples, config.id2label);
  } else {
    label_ids = map_label_ids(examples, config.id2label);
  }

  ClassifierLoadOptions load_options;
  load_options.weights = options.weights;
  Classifier classifier = load_classifier(options.model_dir, load_options);
  quantize_if_asked(*classifier.model, runtime);
  pack_linear_layers_onednn_if_chosen(*classifier.model, runtime);
  at::Tensor logits;
  {
    InferenceScope inference(*classifier.model, runtime);
    logits = compute_logits(classifier.model,
                            examples.encodings,
                            tokenizer.pad_id(),
                            options.batch_size,
                            "eval");  // (N, L)
  }
  EvalResult result =
      config.is_regression() ? compute_regression_result(logits, targets)
      : config.is_multi_label()
          ? compute_multilabel_result(logits, label_rows, config.id2label, config.label_thresholds)
          : compute_eval_result(logits, label_ids, config.id2label);
  result.skipped_rows = examples.skipped_rows;
  const nlohmann::json document = eval_result_to_json(result);
  if (options.report_json) write_file_atomically(*options.report_json, document.dump(2) + "\n");
  const bool single_label = !result.regression && !result.multilabel;
  result.written = write_eval_outputs(options, document, single_label ? &result.report : nullptr);
  return result;
}

bool is_token_classifier_folder(const std::filesystem::path& model_dir) {
  require_model_folder(model_dir);
  return is_token_classifier(BertConfig::read((model_dir / "config.json").string()));
}

NerEvalResult run_ner_eval(const EvalOptions& options) {
  check_eval_paths(options);
  const Runtime runtime = resolve_runtime(options.runtime);
  // Tags are checked against config.json before the (possibly large) weights are read.
  const BertConfig config = BertConfig::read((options.model_dir / "config.json").string());
  auto tokenizer = WordPieceTokenizer::load_from_folder(options.model_dir.string());
  require_vocabulary_fits(tokenizer, config, options.model_dir);
  const size_t max_length = clamp_max_length(config, options.max_length);
  const TaggedSentences sentences = read_tagged_sentences(options.data, /*read_tags=*/true);
  const auto tag_ids = map_tag_ids(sentences, config.id2label);
  const auto windows = encode_word_windows(
      sentences, tokenizer, max_length, options.stride.value_or(default_stride(max_length)));

  ClassifierLoadOptions load_options;
  load_options.weights = options.weights;
  TokenClassifier classifier = load_token_classifier(options.model_dir, load_options);
  quantize_if_asked(*classifier.model, runtime);
  pack_linear_layers_onednn_if_chosen(*classifier.model, runtime);
  at::Tensor logits;
  {
    InferenceScope inference(*classifier.model, runtime);
    logits = compute_window_logits(
        classifier.model, windows, tokenizer.pad_id(), options.batch_size, 0, "eval");
  }
  NerEvalResult result = compute_ner_result(
      logits, sentences, windows, tag_ids, classifier.config.id2label, options.seqeval_mode);
  const nlohmann::json document = ner_result_to_json(result);
  if (options.report_json) write_file_atomically(*options.report_json, document.dump(2) + "\n");
  result.written = write_eval_outputs(options, document, nullptr);
  return result;
}

std::string run_translate_eval(const EvalOptions& options) {
  const Runtime runtime = resolve_runtime(options.runtime);
  MarianBundle bundle = load_marian_folder(options.model_dir, options.weights);
  const std::optional<VocabShortlist> shortlist =
      load_vocab_shortlist(options.vocab_shortlist, bundle);
  quantize_if_asked(*bundle.model, runtime, [&] { return bundle.model->quantize_int8(); });
  pack_onednn_if_chosen(runtime, *bundle.model, [&](int64_t min, bool bf16) {
    return bundle.model->pack_onednn(min, bf16);
  });
  const auto limit = static_cast<size_t>(bundle.config.max_position_embeddings);
  TranslationExamples examples =
      read_translation_examples(options.data,
                                options.pair_columns,
                                *bundle.tokenizer,
                                std::min(options.max_length, limit),
                                std::min(options.max_target_length, limit),
                                options.table);
  TranslationEvalOptions eval_options;
  eval_options.batch_size = options.batch_size;
  eval_options.generation = options.generation;
  eval_options.shortlist = shortlist ? &*shortlist : nullptr;
  TranslationEval eval;
  {
    InferenceScope inference(*bundle.model, runtime);
    eval = evaluate_translation(bundle, examples, eval_options);
  }
  const BleuScore& bleu = *eval.bleu;  // eval_options.generation is set: scored once, above
  const ChrfScore& chrf = *eval.chrf;
  return fmt::format("evaluated {} pairs of {}\nloss {:.4f}\n{}\nBLEU|{}\n{}\nchrF2|{}\n",
                     examples.sources.size(),
                     options.data.string(),
                     eval.metrics.loss,
                     bleu.format(),
                     bleu.signature,
                     chrf.format(),
                     chrf.signature);
}

}  // namespace ftune
