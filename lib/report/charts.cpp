// Layout of the learning curves and the confusion matrix. Sizes are in pixels; text widths are
// estimated (0.6 x the font size per character, DejaVu Sans' average), which is enough to keep
// labels clear of each other without measuring fonts.
#include "lib/report/charts.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "lib/report/svg.h"

namespace ftune {
namespace {

constexpr double kCharWidth = 0.6;  // x font size: an average character's width

struct Area {
  double left, top, width, height;
  double right() const { return left + width; }
  double bottom() const { return top + height; }
};

struct Series {
  std::string name;
  std::string color;
  const std::vector<CurvePoint>* points;
  bool markers;      // a dot per point (evaluations)
  bool line = true;  // joined by a line (a curve; not for separate trials)
};

struct Range {
  double low, high;
};

Range value_range(const std::vector<Series>& series) {
  double low = INFINITY, high = -INFINITY;
  for (const auto& s : series) {
    for (const auto& p : *s.points) {
      if (!std::isfinite(p.value)) continue;
      low = std::min(low, p.value);
      high = std::max(high, p.value);
    }
  }
  if (!std::isfinite(low)) return {0, 1};
  if (high == low) return {low - 0.5, high + 0.5};
  const double pad = (high - low) * 0.06;
  return {low - pad, high + pad};
}

SvgTextStyle text_style(double size, const std::string& anchor = "start",
                        const std::string& color = "#222") {
  SvgTextStyle style;
  style.size = size;
  style.anchor = anchor;
  style.color = color;
  return style;
}

// One panel: grid, ticks, axes, the series and their legend.
void draw_panel(SvgCanvas& svg, const Area& area, Range x, const std::vector<Series>& series,
                const std::string& y_label) {
  const Range y = value_range(series);
  auto to_x = [&](double step) {
    return area.left + (step - x.low) / (x.high - x.low) * area.width;
  };
  auto to_y = [&](double value) {
    return area.bottom() - (value - y.low) / (y.high - y.low) * area.height;
  };
  const SvgStroke grid{"#e4e4e4", 1, ""};
  for (const double tick : nice_ticks(y.low, y.high, 5)) {
    svg.add_line({area.left, to_y(tick)}, {area.right(), to_y(tick)}, grid);
    svg.add_text({area.left - 6, to_y(tick) + 4}, format_short(tick), text_style(11, "end"));
  }
  for (const double tick : nice_ticks(x.low, x.high, 8)) {
    svg.add_line({to_x(tick), area.top}, {to_x(tick), area.bottom()}, grid);
    svg.add_text({to_x(tick), area.bottom() + 15}, format_short(tick), text_style(11, "middle"));
  }
  const SvgStroke axis{"#555", 1, ""};
  svg.add_line({area.left, area.bottom()}, {area.right(), area.bottom()}, axis);
  svg.add_line({area.left, area.top}, {area.left, area.bottom()}, axis);
  auto label = text_style(12, "middle", "#333");
  label.rotate = -90;
  svg.add_text({area.left - 46, area.top + area.height / 2}, y_label, label);

  for (const auto& s : series) {
    std::vector<SvgPoint> points;
    for (const auto& p : *s.points) {
      if (std::isfinite(p.value)) points.push_back({to_x(p.step), to_y(p.value)});
    }
    if (s.line) svg.add_polyline(points, {s.color, 1.8, ""});
    if (!s.markers) continue;
    for (const auto& p : *s.points) {
      if (!std::isfinite(p.value)) continue;
      svg.add_circle({to_x(p.step), to_y(p.value)},
                     3.2,
                     s.color,
                     fmt::format("{} {} at step {}", s.name, format_short(p.value), p.step));
    }
  }
  // Legend: one row above the panel, right-aligned, clear of every line and point.
  double x_end = area.right();
  for (auto it = series.rbegin(); it != series.rend(); ++it) {
    if (it->points->empty()) continue;
    const double text_width = static_cast<double>(it->name.size()) * 11 * kCharWidth;
    const double x0 = x_end - text_width - 28;
    svg.add_line({x0, area.top - 10}, {x0 + 22, area.top - 10}, {it->color, 2.4, ""});
    svg.add_text({x0 + 27, area.top - 6}, it->name, text_style(11));
    x_end = x0 - 16;
  }
}

const CurvePoint* find_step(const std::vector<CurvePoint>& points, int64_t step) {
  for (const auto& p : points) {
    if (p.step == step) return &p;
  }
  return nullptr;
}

}  // namespace

std::string render_learning_curves(const LearningCurves& curves) {
  const double width = 760, height = 540;
  SvgCanvas svg(width, height);
  svg.add_text({width / 2, 22},
               curves.title.empty() ? "Learning curves" : "Learning curves: " + curves.title,
               [] {
                 auto style = text_style(15, "middle");
                 style.bold = true;
                 return style;
               }());

  int64_t last = curves.last_step;
  for (const auto* points : {&curves.train_loss, &curves.eval_loss, &curves.eval_metric}) {
    for (const auto& p : *points) last = std::max(last, p.step);
  }
  // 3 % room right of the last step, so that a mark there stays clear of the frame.
  const Range x{0, static_cast<double>(std::max<int64_t>(last, 1)) * 1.03};
  const Area loss_area{72, 58, width - 96, 170};
  const Area metric_area{72, 288, width - 96, 170};

  draw_panel(svg,
             loss_area,
             x,
             {{"training loss", "#1f77b4", &curves.train_loss, false},
              {"validation loss", "#ff7f0e", &curves.eval_loss, true}},
             "loss");
  const std::string metric = curves.metric.empty() ? "loss" : curves.metric;
  const auto& metric_points = metric == "loss" ? curves.eval_loss : curves.eval_metric;
  if (metric_points.empty()) {
    svg.add_text({metric_area.left + metric_area.width / 2, metric_area.top + 90},
                 "no evaluations yet (training without --valid, or before the first one)",
                 text_style(12, "middle", "#777"));
  } else {
    draw_panel(svg,
               metric_area,
               x,
               {{"validation " + metric, "#2ca02c", &metric_points, true}},
               "validation " + metric);
  }
  svg.add_text({metric_area.left + metric_area.width / 2, metric_area.bottom() + 32},
               "step",
               text_style(12, "middle", "#333"));

  // The best step and the early stop: vertical lines through both panels, named in a caption
  // row under the chart (next to their lines they would collide with legends and points).
  auto to_x = [&](int64_t step) {
    return loss_area.left + static_cast<double>(step) / x.high * loss_area.width;
  };
  const double caption_y = height - 14;
  double caption_x = metric_area.left;
  if (curves.best_step) {
    const double bx = to_x(*curves.best_step);
    const SvgStroke best{"#2ca02c", 1.4, "5 4"};
    svg.add_line({bx, loss_area.top}, {bx, loss_area.bottom()}, best);
    svg.add_line({bx, metric_area.top}, {bx, metric_area.bottom()}, best);
    std::string text = fmt::format("best: step {}", *curves.best_step);
    if (const auto* p = find_step(metric_points, *curves.best_step)) {
      text += fmt::format(", {} {}", metric, format_short(p->value));
    }
    svg.add_line({caption_x, caption_y - 4}, {caption_x + 22, caption_y - 4}, best);
    svg.add_text({caption_x + 27, caption_y}, text, text_style(12, "start", "#1b6e1b"));
    caption_x += 27 + static_cast<double>(text.size()) * 12 * kCharWidth + 24;
  }
  if (curves.early_stop_step) {
    const double sx = to_x(*curves.early_stop_step);
    const SvgStroke stop{"#d62728", 1.4, "2 3"};
    svg.add_line({sx, loss_area.top}, {sx, loss_area.bottom()}, stop);
    svg.add_line({sx, metric_area.top}, {sx, metric_area.bottom()}, stop);
    svg.add_line({caption_x, caption_y - 4}, {caption_x + 22, caption_y - 4}, stop);
    svg.add_text({caption_x + 27, caption_y},
                 fmt::format("early stop: step {}", *curves.early_stop_step),
                 text_style(12, "start", "#a31d1d"));
  }
  return svg.str();
}

std::string render_trial_metrics(const std::string& title, const std::string& metric,
                                 const std::vector<CurvePoint>& trials, int64_t best_trial) {
  const double width = 760, height = 330;
  SvgCanvas svg(width, height);
  auto heading = text_style(15, "middle");
  heading.bold = true;
  svg.add_text({width / 2, 22}, title.empty() ? "Sweep" : "Sweep: " + title, heading);
  int64_t last = 1;
  for (const auto& p : trials) last = std::max(last, p.step);
  const Range x{0, static_cast<double>(last) + 1};
  const Area area{72, 58, width - 96, 220};
  draw_panel(svg,
             area,
             x,
             {{"best " + metric + " of each trial", "#1f77b4", &trials, true, false}},
             metric);
  for (const auto& p : trials) {
    if (p.step != best_trial || !std::isfinite(p.value)) continue;
    // The same mapping as draw_panel's, for the marks beside the best trial.
    const Range y = value_range({{"", "", &trials, true, false}});
    const SvgPoint at{
        area.left + (static_cast<double>(p.step) - x.low) / (x.high - x.low) * area.width,
        area.bottom() - (p.value - y.low) / (y.high - y.low) * area.height};
    const SvgStroke mark{"#2ca02c", 2, ""};
    svg.add_line({at.x - 9, at.y}, {at.x - 5, at.y}, mark);
    svg.add_line({at.x + 5, at.y}, {at.x + 9, at.y}, mark);
    svg.add_text({at.x, at.y - 10},
                 fmt::format("best: trial {}, {}", p.step, format_short(p.value)),
                 text_style(12, "middle", "#1b6e1b"));
  }
  svg.add_text(
      {area.left + area.width / 2, area.bottom() + 32}, "trial", text_style(12, "middle", "#333"));
  return svg.str();
}

namespace {

// Matplotlib's "Blues" end points with a middle stop: white, #6baed6, #08306b.
std::string blue_for(double share) {
  struct Rgb {
    double r, g, b;
  };
  const Rgb stops[] = {{255, 255, 255}, {107, 174, 214}, {8, 48, 107}};
  share = std::clamp(share, 0.0, 1.0);
  const int segment = share < 0.5 ? 0 : 1;
  const double t = share < 0.5 ? share / 0.5 : (share - 0.5) / 0.5;
  const Rgb& a = stops[segment];
  const Rgb& b = stops[segment + 1];
  return fmt::format("#{:02x}{:02x}{:02x}",
                     static_cast<int>(std::lround(a.r + (b.r - a.r) * t)),
                     static_cast<int>(std::lround(a.g + (b.g - a.g) * t)),
                     static_cast<int>(std::lround(a.b + (b.b - a.b) * t)));
}

}  // namespace

std::string render_confusion_matrix(const ConfusionMatrix& matrix) {
  const size_t n = matrix.labels.size();
  if (matrix.counts.size() != n) throw std::invalid_argument("confusion matrix: rows != labels");
  for (const auto& row : matrix.counts) {
    if (row.size() != n) throw std::invalid_argument("confusion matrix: columns != labels");
  }
  // Cells shrink with the class count, to 9 px at 100+ classes (a 150-class matrix is then
  // about 1,700 px wide: readable on screen, zoomable since it is vector).
  const double cell = n == 0 ? 40 : std::clamp(900.0 / static_cast<double>(n), 9.0, 64.0);
  const double label_font = std::clamp(cell * 0.75, 8.0, 13.0);
  size_t longest = 1;
  for (const auto& label : matrix.labels) longest = std::max(longest, label.size());
  const double label_extent = static_cast<double>(longest) * label_font * kCharWidth + 10;
  // Column labels stand upright under the columns unless they fit across a cell.
  const bool upright = label_extent > cell;
  const double grid_size = cell * static_cast<double>(n);
  const double left = 40 + label_extent;
  const double top = 64;
  const double bottom_labels = (upright ? label_extent : label_font + 10) + 34;
  // At least as wide as the subtitle (85 characters of 11 px).
  const double width = std::max(left + grid_size + 110, 600.0);
  const double height = top + grid_size + bottom_labels;
  SvgCanvas svg(width, height);

  auto title = text_style(15, "middle");
  title.bold = true;
  svg.add_text({width / 2, 22}, matrix.title.empty() ? "Confusion matrix" : matrix.title, title);
  svg.add_text({width / 2, 42},
               "rows: true label, columns: predicted; colour: share of the row (non-zero: at least "
               "10%)",
               text_style(11, "middle", "#555"));

  const bool counts_fit = cell >= 22;
  const double count_font = std::clamp(cell * 0.32, 8.0, 14.0);
  // The grid on white; only non-zero cells are drawn (with their tooltip), which keeps a
  // 150-class matrix, mostly zeros, at a few hundred kilobytes.
  const SvgStroke grid_line{"#d8d8d8", 0.5, ""};
  for (size_t k = 0; k <= n; ++k) {
    const double at = cell * static_cast<double>(k);
    svg.add_line({left + at, top}, {left + at, top + grid_size}, grid_line);
    svg.add_line({left, top + at}, {left + grid_size, top + at}, grid_line);
  }
  for (size_t i = 0; i < n; ++i) {
    int64_t row_total = 0;
    for (const int64_t count : matrix.counts[i]) row_total += count;
    for (size_t j = 0; j < n; ++j) {
      const int64_t count = matrix.counts[i][j];
      if (count == 0) continue;
      const double share = row_total > 0 ? static_cast<double>(count) / row_total : 0.0;
      const SvgPoint corner{left + cell * static_cast<double>(j),
                            top + cell * static_cast<double>(i)};
      // At least a tenth of the scale, so that one error among 30 rows is still seen.
      svg.add_rect(corner,
                   cell,
                   cell,
                   blue_for(std::max(share, 0.1)),
                   &grid_line,
                   fmt::format("true {}, predicted {}: {} ({:.1f}% of the row)",
                               matrix.labels[i],
                               matrix.labels[j],
                               count,
                               share * 100));
      if (counts_fit) {
        svg.add_text({corner.x + cell / 2, corner.y + cell / 2 + count_font * 0.35},
                     std::to_string(count),
                     text_style(count_font, "middle", share > 0.5 ? "#fff" : "#222"));
      }
    }
    svg.add_text({left - 6, top + cell * (static_cast<double>(i) + 0.5) + label_font * 0.35},
                 matrix.labels[i],
                 text_style(label_font, "end"));
  }
  for (size_t j = 0; j < n; ++j) {
    const double x = left + cell * (static_cast<double>(j) + 0.5);
    if (upright) {
      auto style = text_style(label_font, "end");
      style.rotate = -90;
      svg.add_text({x + label_font * 0.35, top + grid_size + 6}, matrix.labels[j], style);
    } else {
      svg.add_text({x, top + grid_size + label_font + 4},
                   matrix.labels[j],
                   text_style(label_font, "middle"));
    }
  }
  auto axis_label = text_style(12, "middle", "#333");
  svg.add_text({left + grid_size / 2, height - 12}, "predicted label", axis_label);
  axis_label.rotate = -90;
  svg.add_text({16, top + grid_size / 2}, "true label", axis_label);

  // Colour key: 0 % to 100 % of the row.
  const double key_left = left + grid_size + 24;
  const double key_height = std::min(grid_size, 200.0);
  const int key_steps = 20;
  for (int k = 0; k < key_steps; ++k) {
    const double share = 1.0 - (k + 0.5) / key_steps;
    svg.add_rect({key_left, top + key_height * k / key_steps},
                 14,
                 key_height / key_steps + 0.5,
                 blue_for(share));
  }
  svg.add_text({key_left + 20, top + 10}, "100%", text_style(11));
  svg.add_text({key_left + 20, top + key_height}, "0%", text_style(11));
  return svg.str();
}

}  // namespace ftune
