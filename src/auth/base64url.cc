#include "auth/base64url.h"

#include <array>
#include <cstdint>

namespace watershed::auth {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr uint8_t kInvalid = 0xff;

constexpr std::array<uint8_t, 256> MakeDecodeTable() {
  std::array<uint8_t, 256> t{};
  for (auto& v : t) v = kInvalid;
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(kAlphabet[i])] = i;
  return t;
}
constexpr std::array<uint8_t, 256> kDecode = MakeDecodeTable();

}  // namespace

void AppendBase64Url(std::string_view bytes, std::string* out) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  size_t n = bytes.size();
  out->reserve(out->size() + (n * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8) | p[i + 2];
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
    out->push_back(kAlphabet[v & 63]);
  }
  if (n - i == 1) {
    uint32_t v = uint32_t{p[i]} << 16;
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
  } else if (n - i == 2) {
    uint32_t v = (uint32_t{p[i]} << 16) | (uint32_t{p[i + 1]} << 8);
    out->push_back(kAlphabet[(v >> 18) & 63]);
    out->push_back(kAlphabet[(v >> 12) & 63]);
    out->push_back(kAlphabet[(v >> 6) & 63]);
  }
}

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  AppendBase64Url(bytes, &out);
  return out;
}

bool Base64UrlDecode(std::string_view text, std::string* out) {
  out->clear();
  const size_t n = text.size();
  if (n % 4 == 1) return false;
  out->reserve(n / 4 * 3 + 2);
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint8_t a = kDecode[p[i]], b = kDecode[p[i + 1]], c = kDecode[p[i + 2]], d = kDecode[p[i + 3]];
    if ((a | b | c | d) & 0xc0) return false;  // kInvalid has the high bits set
    uint32_t v = (uint32_t{a} << 18) | (uint32_t{b} << 12) | (uint32_t{c} << 6) | d;
    out->push_back(static_cast<char>(v >> 16));
    out->push_back(static_cast<char>((v >> 8) & 0xff));
    out->push_back(static_cast<char>(v & 0xff));
  }
  const size_t rest = n - i;
  if (rest == 2) {
    uint8_t a = kDecode[p[i]], b = kDecode[p[i + 1]];
    if (((a | b) & 0xc0) || (b & 0x0f) != 0) return false;
    out->push_back(static_cast<char>((a << 2) | (b >> 4)));
  } else if (rest == 3) {
    uint8_t a = kDecode[p[i]], b = kDecode[p[i + 1]], c = kDecode[p[i + 2]];
    if (((a | b | c) & 0xc0) || (c & 0x03) != 0) return false;
    out->push_back(static_cast<char>((a << 2) | (b >> 4)));
    out->push_back(static_cast<char>(((b & 0x0f) << 4) | (c >> 2)));
  }
  return true;
}

}  // namespace watershed::auth
