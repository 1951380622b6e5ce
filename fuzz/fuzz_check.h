// FUZZ_CHECK: an invariant a parser promised in its header; a broken one aborts, so libFuzzer
// saves the input as a crash. Not for expected errors: those are ftune::Error and are caught.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition)                                                                 \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)
