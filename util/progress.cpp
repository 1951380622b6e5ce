// Progress display. On a terminal: one redrawn line with a bar, rate and ETA. Elsewhere (CI,
// pipes, log files): a plain line at most every 10 seconds and at the end.
#include "util/progress.h"

#include <cstdio>

#include <fmt/format.h>
#include <unistd.h>

namespace ftune {
namespace {

std::string format_duration(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "?";
  auto total = static_cast<int64_t>(seconds + 0.5);
  if (total >= 3600)
    return fmt::format("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60);
  return fmt::format("{:02}:{:02}", total / 60, total % 60);
}

}  // namespace

ProgressBar::ProgressBar(std::string label, int64_t total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      interactive_(::isatty(STDERR_FILENO) != 0),
      enabled_(enabled),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

ProgressBar::~ProgressBar() {
  if (enabled_ && !finished_ && interactive_ && done_ > 0) std::fputc('\n', stderr);
}

void ProgressBar::update(int64_t done, const std::string& status) {
  done_ = done;
  status_ = status;
  draw(false);
}

void ProgressBar::finish() {
  if (finished_ || !enabled_) return;
  draw(true);
  if (interactive_) std::fputc('\n', stderr);
  finished_ = true;
}

void ProgressBar::print_line(const std::string& line) {
  if (!enabled_) return;
  if (interactive_) std::fputs("\r\033[K", stderr);
  std::fputs(line.c_str(), stderr);
  std::fputc('\n', stderr);
  if (interactive_) draw(true);
}

void ProgressBar::draw(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const double since_draw = std::chrono::duration<double>(now - last_draw_).count();
  const bool at_end = done_ >= total_;
  if (!force && !at_end && since_draw < (interactive_ ? 0.1 : 10.0)) return;
  if (!interactive_ && done_ == drawn_done_) return;  // a log file gets each state once
  // In a log, work that finished within one reporting interval is not worth a line.
  if (!interactive_ && drawn_done_ < 0 &&
      std::chrono::duration<double>(now - start_).count() < 10.0) {
    return;
  }
  last_draw_ = now;
  drawn_done_ = done_;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  const double eta = rate > 0 ? (total_ - done_) / rate : -1.0;
  const double fraction = total_ > 0 ? static_cast<double>(done_) / total_ : 1.0;
  std::string text;
  if (interactive_) {
    constexpr int kWidth = 24;
    const int filled = static_cast<int>(fraction * kWidth);
    text = fmt::format("\r\033[K{} [{}{}] {}/{} {:.1f}/s eta {} {}",
                       label_,
                       std::string(filled, '#'),
                       std::string(kWidth - filled, '.'),
                       done_,
                       total_,
                       rate,
                       format_duration(eta),
                       status_);
  } else {
    text = fmt::format("{} {}/{} ({:.0f}%) {:.1f}/s elapsed {} {}\n",
                       label_,
                       done_,
                       total_,
                       fraction * 100.0,
                       rate,
                       format_duration(elapsed),
                       status_);
  }
  std::fputs(text.c_str(), stderr);
  std::fflush(stderr);
}

}  // namespace ftune
