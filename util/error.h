// The one error hierarchy of ftune: everything thrown on purpose is an Error, whichever layer
// throws it (tokenizer/, models/, lib/, util/), so one `catch (const Error&)` sees them all. Every
// error is thrown once, with a message of the shape
// `<action>: <subject> '<name>': expected <x>, got <y>; hint: <fix>`, and printed once by main().
// No LibTorch and no other ftune header here: this is the bottom of every dependency.
#pragma once

#include <stdexcept>
#include <string>

namespace ftune {

// main() prints `error: <what>`.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A weights file or checkpoint folder that cannot be read or does not fit the model.
class CheckpointError : public Error {
 public:
  using Error::Error;
};

// A config.json that cannot describe a model ftune builds, or an option that contradicts one.
class ConfigError : public Error {
 public:
  using Error::Error;
};

// A dataset row or file that cannot be used (names file:line).
class DataError : public Error {
 public:
  using Error::Error;
};

// A file or folder that cannot be read or written.
class IoError : public Error {
 public:
  using Error::Error;
};

// A tokenizer file that cannot be loaded, or text it cannot encode.
class TokenizerError : public Error {
 public:
  using Error::Error;
};

}  // namespace ftune
