#include "app/flags.h"

#include <cstdio>

namespace watershed::app {

int Fail(std::string_view command, std::string_view message, int code) {
  std::fprintf(stderr, "watershed %.*s: %.*s\n", static_cast<int>(command.size()), command.data(),
               static_cast<int>(message.size()), message.data());
  return code;
}

Result<Flags> Flags::Parse(const std::vector<std::string>& args, const std::vector<std::string>& known) {
  Flags out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (!a.starts_with("--")) {
      out.positional_.push_back(a);
      continue;
    }
    std::string key = a.substr(2), value;
    bool has_value = false;
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_value = true;
    }
    bool is_bool = false, found = false;
    for (const auto& k : known) {
      if (k == key || k == key + "!") {
        found = true;
        is_bool = k.back() == '!';
      }
    }
    if (!found) return Status::InvalidArgument("unknown flag --" + key);
    if (is_bool && has_value) return Status::InvalidArgument("flag --" + key + " takes no value");
    if (!is_bool && !has_value) {
      if (i + 1 >= args.size()) return Status::InvalidArgument("flag --" + key + " needs a value");
      value = args[++i];
    }
    out.values_.emplace_back(key, is_bool ? "1" : value);
  }
  return out;
}

std::string Flags::Get(const std::string& key, const std::string& fallback) const {
  for (auto it = values_.rbegin(); it != values_.rend(); ++it)
    if (it->first == key) return it->second;
  return fallback;
}

bool Flags::Has(const std::string& key) const {
  for (const auto& [k, v] : values_)
    if (k == key) return true;
  return false;
}

}  // namespace watershed::app
