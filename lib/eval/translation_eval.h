// Evaluating a translation model, shared by the trainer and `ftune eval --task translate`:
// teacher-forced loss and, with generation, sacreBLEU's BLEU and chrF of the decoded outputs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lib/data/seq2seq_data.h"
#include "lib/eval/eval_metrics.h"
#include "lib/generate/search.h"
#include "lib/generate/shortlist.h"
#include "lib/io/marian_folder.h"
#include "lib/metrics/bleu.h"

namespace ftune {

struct TranslationEvalOptions {
  size_t batch_size = 16;
  double label_smoothing = 0.0;
  std::optional<GenerationOptions> generation;  // decode and score BLEU/chrF; nullopt: loss only
  // Decode each batch against the shortlist's candidates for its sources (the model prepared
  // with decode_through_subsets_only() before packing). nullptr: the whole vocabulary.
  const VocabShortlist* shortlist = nullptr;
  bool show_progress = true;
};

struct TranslationEval {
  EvalMetrics metrics;                  // loss; "bleu" and "chrf" with generation
  std::vector<std::string> hypotheses;  // the decoded outputs, with generation
  std::optional<BleuScore> bleu;        // with generation: the corpus scores behind metrics
  std::optional<ChrfScore> chrf;
};

// Loss: the mean over batches of the batch's mean token loss, weighted by batch size (as Hugging
// Face's evaluation loop averages). Runs on the model's device, under the caller's autocast.
TranslationEval evaluate_translation(MarianBundle& model, const TranslationExamples& examples,
                                     const TranslationEvalOptions& options);

}  // namespace ftune
