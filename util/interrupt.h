// SIGINT/SIGTERM during long work: the first signal asks the running loop to stop at the next
// safe point (the trainer then writes a resumable checkpoint); a second one exits at once.
#pragma once

#include <string>

#include "util/error.h"

namespace ftune {

// Thrown by a loop that stopped on a signal, after saving what it had; main() exits 128 + signal.
class Interrupted : public Error {
 public:
  Interrupted(int signal_number, const std::string& message)
      : Error(message), signal_number_(signal_number) {}
  int signal_number() const { return signal_number_; }

 private:
  int signal_number_;
};

// Installs the handlers for its lifetime and restores the previous ones afterwards. The first
// signal prints "ftune: <first_signal_note> (signal again to quit now)".
class InterruptGuard {
 public:
  explicit InterruptGuard(
      const std::string& first_signal_note = "stopping after this step and saving a checkpoint");
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // 0 while no signal arrived, else the first signal's number.
  static int pending_signal();
  // A file that the second signal's immediate exit unlinks (unlink is async-signal-safe): the
  // temporary of an output being written, which no destructor would remove then. Cleared with
  // the guard.
  void remove_on_immediate_exit(const std::string& path);
};

}  // namespace ftune
