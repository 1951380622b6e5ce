// Signal handling with sigaction. The handler only stores the signal number (async-signal-safe);
// a second signal calls _exit, which is async-signal-safe too.
#include "lib/interrupt.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>

namespace ftune {
namespace {

std::atomic<int> g_pending{0};
struct sigaction g_previous_int;
struct sigaction g_previous_term;

void handle_signal(int signal_number) {
  int expected = 0;
  if (!g_pending.compare_exchange_strong(expected, signal_number)) {
    static const char kMessage[] = "\nftune: second signal, exiting without saving\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    ::_exit(128 + signal_number);
  }
  static const char kMessage[] =
      "\nftune: stopping after this step and saving a checkpoint (signal again to quit now)\n";
  (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
}

}  // namespace

InterruptGuard::InterruptGuard() {
  g_pending = 0;
  struct sigaction action {};
  action.sa_handler = handle_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &g_previous_int);
  ::sigaction(SIGTERM, &action, &g_previous_term);
}

InterruptGuard::~InterruptGuard() {
  ::sigaction(SIGINT, &g_previous_int, nullptr);
  ::sigaction(SIGTERM, &g_previous_term, nullptr);
}

int InterruptGuard::pending_signal() { return g_pending.load(); }

}  // namespace ftune
