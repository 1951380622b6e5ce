// The two pictures of a run, as SVG documents: learning curves (training loss, validation loss
// and the best-model metric against the step, the best step and an early stop marked) and a
// confusion matrix (counts, colours by share of the true label's row, label names for up to a
// few hundred classes). Data in, text out: the callers write the files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ftune {

struct CurvePoint {
  int64_t step = 0;
  double value = 0;
};

struct LearningCurves {
  std::string title;                   // e.g. the output folder's name
  std::vector<CurvePoint> train_loss;  // logged steps
  std::vector<CurvePoint> eval_loss;   // evaluations
  std::string metric;                  // --metric-for-best-model ("loss" plots eval_loss again)
  std::vector<CurvePoint> eval_metric;
  std::optional<int64_t> best_step;        // marked with its value
  std::optional<int64_t> early_stop_step;  // the evaluation that stopped the run
  int64_t last_step = 0;                   // the x axis ends here or at the last point
};

std::string render_learning_curves(const LearningCurves& curves);

// `ftune sweep`'s picture: each trial's best metric (x: the trial number), the best one marked.
std::string render_trial_metrics(const std::string& title, const std::string& metric,
                                 const std::vector<CurvePoint>& trials, int64_t best_trial);

struct ConfusionMatrix {
  std::string title;
  std::vector<std::string> labels;           // row i and column i
  std::vector<std::vector<int64_t>> counts;  // [true][predicted], labels.size() square
};

// Cells coloured by count / row total (white = 0, dark blue = the whole row; a non-zero cell at
// least a tenth of the scale), counts written in cells big enough to hold them and in every
// non-zero cell's tooltip. ConfigError-free: a matrix that is
// not square is a caller's bug (std::invalid_argument).
std::string render_confusion_matrix(const ConfusionMatrix& matrix);

}  // namespace ftune
