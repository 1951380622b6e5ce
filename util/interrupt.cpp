// Signal handling with sigaction. The handler only stores the signal number (async-signal-safe);
// a second signal calls _exit, which is async-signal-safe too.
#include "util/interrupt.h"

#include <atomic>
#include <cstdio>
#include <cstring>

#include <signal.h>
#include <unistd.h>

namespace ftune {
namespace {

std::atomic<int> g_pending{0};
// Fixed buffers: the handler may read them but not allocate.
char g_first_note[256] = "";
char g_remove_path[4096] = "";
struct sigaction g_previous_int;
struct sigaction g_previous_term;

void handle_signal(int signal_number) {
  int expected = 0;
  if (!g_pending.compare_exchange_strong(expected, signal_number)) {
    static const char kMessage[] = "\nftune: second signal, exiting without saving\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
    if (g_remove_path[0] != '\0') ::unlink(g_remove_path);
    ::_exit(128 + signal_number);
  }
  static const char kPrefix[] = "\nftune: ";
  static const char kSuffix[] = " (signal again to quit now)\n";
  (void)!::write(STDERR_FILENO, kPrefix, sizeof kPrefix - 1);
  (void)!::write(STDERR_FILENO, g_first_note, std::strlen(g_first_note));
  (void)!::write(STDERR_FILENO, kSuffix, sizeof kSuffix - 1);
}

}  // namespace

InterruptGuard::InterruptGuard(const std::string& first_signal_note) {
  g_pending = 0;
  g_remove_path[0] = '\0';
  std::snprintf(g_first_note, sizeof g_first_note, "%s", first_signal_note.c_str());
  struct sigaction action {};
  action.sa_handler = handle_signal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &g_previous_int);
  ::sigaction(SIGTERM, &action, &g_previous_term);
}

InterruptGuard::~InterruptGuard() {
  ::sigaction(SIGINT, &g_previous_int, nullptr);
  ::sigaction(SIGTERM, &g_previous_term, nullptr);
  g_remove_path[0] = '\0';
}

void InterruptGuard::remove_on_immediate_exit(const std::string& path) {
  if (path.size() >= sizeof g_remove_path) return;  // cannot hold it; the destructor path remains
  std::memcpy(g_remove_path, path.c_str(), path.size() + 1);
}

int InterruptGuard::pending_signal() { return g_pending.load(); }

}  // namespace ftune
