// A progress bar on a terminal (stderr), plain periodic log lines otherwise. No LibTorch.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ftune {

class ProgressBar {
 public:
  // A disabled bar prints nothing (ranks other than 0 of a distributed run).
  ProgressBar(std::string label, int64_t total, bool enabled = true);
  ~ProgressBar();
  // Advances to `done` units; `status` is shown after the bar ("loss 0.4123 lr 4.1e-05").
  void update(int64_t done, const std::string& status = "");
  void finish();
  // Prints a line without breaking the bar.
  void print_line(const std::string& line);

 private:
  void draw(bool force);

  std::string label_;
  int64_t total_;
  int64_t done_ = 0;
  int64_t drawn_done_ = -1;  // what the last drawn line showed
  std::string status_;
  bool interactive_;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace ftune
