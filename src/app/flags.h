#pragma once
// Command-line plumbing shared by the `watershed` subcommands: the flag
// parser, numbers parsed with errors that name their flag or argument, and
// the one way a command reports an error.

#include <charconv>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/status.h"

namespace watershed::app {

// Prints "watershed <command>: <message>" to stderr; returns `code`, the exit
// code (2 for bad usage, 1 for a failure at run time).
int Fail(std::string_view command, std::string_view message, int code = 1);

// All of `text` as a T in [min, max] (std::from_chars: no sign on unsigned
// types, no spaces, nothing after the number). Errors name `what`, e.g.
// "--rate" or "STORY".
template <typename T>
Result<T> ParseNumber(std::string_view what, std::string_view text, T min = std::numeric_limits<T>::lowest(),
                      T max = std::numeric_limits<T>::max()) {
  static_assert(std::is_arithmetic_v<T>);
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  const std::string kind =
      std::is_integral_v<T> ? (std::is_unsigned_v<T> ? "a whole number >= 0" : "a whole number") : "a number";
  if (text.empty() || ec == std::errc::invalid_argument || ptr != end)
    return Status::InvalidArgument(std::string(what) + " must be " + kind + ", got '" + std::string(text) + "'");
  if (ec == std::errc::result_out_of_range) return Status::InvalidArgument(std::string(what) + " is out of range");
  if (value < min || value > max) {
    char buf[64];
    const auto show = [&buf](T v) { return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr); };
    return Status::InvalidArgument(std::string(what) + " must be in " + show(min) + ".." + show(max) + ", got '" +
                                   std::string(text) + "'");
  }
  return value;
}

// --key value | --key=value | --flag; anything not starting with "--" is positional.
class Flags {
 public:
  // `known` lists the accepted keys; a key ending in '!' is a boolean flag.
  // Unknown flags and a missing value are errors.
  static Result<Flags> Parse(const std::vector<std::string>& args, const std::vector<std::string>& known);

  std::string Get(const std::string& key, const std::string& fallback = "") const;
  bool Has(const std::string& key) const;
  // The value of `key` as a number in [min, max]; `fallback` when absent.
  template <typename T>
  Result<T> GetNumber(const std::string& key, T fallback, T min = std::numeric_limits<T>::lowest(),
                      T max = std::numeric_limits<T>::max()) const {
    return Has(key) ? ParseNumber<T>("--" + key, Get(key), min, max) : Result<T>(fallback);
  }
  const std::vector<std::string>& positional() const { return positional_; }
  // Every flag given, in order ("1" as the value of a boolean flag).
  const std::vector<std::pair<std::string, std::string>>& values() const { return values_; }

 private:
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::string> positional_;
};

}  // namespace watershed::app
