#include "auth/base64url.h"

#include <gtest/gtest.h>

#include <random>

namespace watershed::auth {
namespace {

std::string Decode(std::string_view text, bool* ok) {
  std::string out;
  *ok = Base64UrlDecode(text, &out);
  return out;
}

TEST(Base64UrlTest, Rfc4648TestVectors) {
  // RFC 4648 §10 (these contain no '+' or '/', so base64 and base64url agree;
  // padding removed as JWS requires).
  const std::pair<std::string_view, std::string_view> vectors[] = {
      {"", ""},         {"f", "Zg"},         {"fo", "Zm8"},       {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64UrlEncode(plain), encoded);
    bool ok = false;
    EXPECT_EQ(Decode(encoded, &ok), plain);
    EXPECT_TRUE(ok) << encoded;
  }
}

TEST(Base64UrlTest, UsesUrlSafeAlphabet) {
  const std::string bytes("\xfb\xff\xbf", 3);  // "+/+/" in standard base64
  EXPECT_EQ(Base64UrlEncode(bytes), "-_-_");
  bool ok = false;
  EXPECT_EQ(Decode("-_-_", &ok), bytes);
  EXPECT_TRUE(ok);
}

TEST(Base64UrlTest, RefusesNonStrictInput) {
  const std::string_view bads[] = {"Zg==", "Zg=", "Zm9v=", "Zm 9v", "Zm9v\n", " Zm9v", "Zm9v\t", "+/+/", "Zm9v+", "Z",
                               "Zm9vY", "Zh", "Zm9", "Zm9vYh", "Zm9vYmF", "Zm.v", std::string_view("Zm\09v", 5)};
  for (std::string_view bad : bads) {
    bool ok = true;
    Decode(bad, &ok);
    EXPECT_FALSE(ok) << "accepted: " << bad;
  }
}

TEST(Base64UrlTest, RoundTripsEveryLengthAndByte) {
  std::mt19937 rng(7);
  for (size_t len = 0; len < 200; ++len) {
    std::string bytes(len, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    std::string text = Base64UrlEncode(bytes);
    EXPECT_EQ(text.find('='), std::string::npos);
    bool ok = false;
    EXPECT_EQ(Decode(text, &ok), bytes);
    EXPECT_TRUE(ok);
  }
}

TEST(Base64UrlTest, EveryCharacterOutsideTheAlphabetIsRefused) {
  const std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (int c = 0; c < 256; ++c) {
    std::string text = "AAAA";
    text[1] = static_cast<char>(c);
    bool ok = false;
    Decode(text, &ok);
    EXPECT_EQ(ok, alphabet.find(static_cast<char>(c)) != std::string_view::npos) << c;
  }
}

}  // namespace
}  // namespace watershed::auth
