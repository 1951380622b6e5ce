// ConfigError: a config.json that cannot describe a model we build. No LibTorch here, so
// tokenizer-free and torch-free code (and lib/error.h) can share it.
#pragma once

#include <stdexcept>
#include <string>

namespace ftune {

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace ftune
