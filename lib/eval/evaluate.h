// `ftune eval`: a fine-tuned model on labelled data. Classification: loss and the scikit-learn
// report (lib/eval/classification_eval.h); NER: loss and the seqeval report
// (lib/eval/token_classification_eval.h); translation: loss, BLEU and chrF of its translations.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "lib/data/seq2seq_data.h"
#include "lib/data/text_dataset.h"
#include "lib/eval/classification_eval.h"
#include "lib/eval/token_classification_eval.h"
#include "lib/generate/search.h"
#include "lib/tensors/device.h"

namespace ftune {

// `ftune eval`'s options, for both tasks.
struct EvalOptions {
  std::filesystem::path model_dir;
  std::optional<std::filesystem::path> weights;
  std::filesystem::path data;
  TableReadOptions table;
  RuntimeOptions runtime;  // --device, --precision
  size_t batch_size = 32;
  size_t max_length = 128;  // classify: the input; translate: the source
  // classify
  TextColumns columns;
  std::optional<std::filesystem::path> report_json;  // written atomically (eval_result_to_json)
  // Where eval_results.json (the report JSON, plus "data" and "model") and, for single-label
  // classification, confusion_matrix.svg go. Empty: the model folder when `ftune train` wrote it
  // (best/ or last/ of a run: its parent holds trainer_log.jsonl), else nowhere.
  std::optional<std::filesystem::path> output_dir;
  int digits = 2;
  // ner
  std::optional<size_t> stride;  // default_stride(max_length)
  SeqevalMode seqeval_mode = SeqevalMode::kDefault;
  // translate
  PairColumns pair_columns;
  size_t max_target_length = 128;
  GenerationOptions generation;
  std::optional<std::filesystem::path> vocab_shortlist;  // lib/generate/shortlist.h
};

// Classification: loads the model, reads the labelled data, runs it, and writes --report-json
// when asked.
EvalResult run_eval(const EvalOptions& options);

// NER (a BertForTokenClassification folder; CoNLL or JSONL data): loads the model, reads the
// tagged sentences, runs them in windows, and writes --report-json (ner_result_to_json) when
// asked. DataError naming file:line for a tag the model does not know.
NerEvalResult run_ner_eval(const EvalOptions& options);

// Whether `model_dir`'s config.json names BertForTokenClassification (eval and predict then run
// the NER path without --task ner).
bool is_token_classifier_folder(const std::filesystem::path& model_dir);

// Translation: the text to print (loss, BLEU and chrF lines with signatures).
std::string run_translate_eval(const EvalOptions& options);

}  // namespace ftune
