// The error hierarchy of ftune. Every error is thrown once, with a message of the shape
// `<action>: <subject> '<name>': expected <x>, got <y>; hint: <fix>`, and printed once by main().
#pragma once

#include <stdexcept>
#include <string>

#include "models/config_error.h"
#include "tokenizer/tokenizer.h"

namespace ftune {

// Error is the base of everything ftune throws on purpose; main() prints `error: <what>`.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

class CheckpointError : public Error {
 public:
  using Error::Error;
};

class DataError : public Error {
 public:
  using Error::Error;
};

class IoError : public Error {
 public:
  using Error::Error;
};

// ConfigError (models/config_error.h) and TokenizerError (tokenizer/tokenizer.h) come from the
// lower layers and are std::runtime_errors too.

}  // namespace ftune
