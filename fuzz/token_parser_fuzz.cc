// Fuzzes bearer-token verification and the parsers under it.
// Properties checked (a violation traps):
//  * no input crashes, leaks or trips a sanitizer;
//  * a verification result is the same with and without the token cache,
//    and the same again on a second (cached) call;
//  * accepted claims only carry known role bits;
//  * strict base64url: whatever decodes re-encodes to the same text;
//  * an extracted bearer token is a suffix of the header value.
// Keys are set up once: an HS256 secret and a JWKS with one RSA and one EC
// P-256 public key (the seed corpus holds tokens signed with their private
// halves, which are not kept).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "auth/base64url.h"
#include "auth/key_set.h"
#include "auth/verifier.h"

namespace {

using namespace watershed::auth;

constexpr int64_t kNow = 1'700'000'000;  // fixed so runs are reproducible
constexpr std::string_view kSecret = "watershed-fuzz-hs256-secret-0123456789";
constexpr std::string_view kJwks =
    R"({"keys":[{"kty":"RSA","use":"sig","alg":"RS256","kid":"fuzz-rsa",)"
    R"("n":"vZaGc580SqX6GAHN_2DTSBpN0qJFLsxjmPN3stp_o9gRd-pgSgjZnhO73-AgZAQ5PoRp9vo96tm6VKFqzu3WFCCmgt7_ATsnB_7XbUnGIJfjU-)"
    R"(ivNaVDwbZ4Juv_Xyg0nQHYHnj7sNI7eJj0RUUGW00xykjD871-8IjrDsp37uqRPH3a9qEJ077ZHUU4G7HXG9A_hWwIe__OiZSc74mJGIMp6ByTmU7K-)"
    R"(kiENvm21zbZKjfgp9_A7dhIX1FeFym4EAhS3SQh_f2jRt3gKqJaw4JyWZYHfhnLINEawUagVM-PU2nR1vCgSW61dwcWfZ0h-v494qkNbrQthEN4_3z-xQ",)"
    R"("e":"AQAB"},{"kty":"EC","crv":"P-256","use":"sig","alg":"ES256","kid":"fuzz-ec",)"
    R"("x":"9Dbuo1Cw3iIQRg1xvGONHiv1KxCI-17QkLeswdb6e5M","y":"MkBJ6_4Ja8dp1uqig9EW-nbPW1ViQfOJFAeqQEBZ-nI"}]})";

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

struct Fixture {
  std::shared_ptr<const KeySetHolder> keys;
  std::unique_ptr<Verifier> plain;
  std::unique_ptr<Verifier> cached;
};

const Fixture& GetFixture() {
  static const Fixture* fixture = [] {
    auto keys = ParseJwks(kJwks, kSecret);
    Check(keys.ok() && (*keys)->public_key_count() == 2);
    auto* f = new Fixture;
    f->keys = std::make_shared<KeySetHolder>(*keys);
    VerifierOptions opts;
    opts.issuer = "https://id.example";
    opts.audience = "watershed";
    f->plain = std::make_unique<Verifier>(opts, f->keys);
    f->cached = std::make_unique<Verifier>(opts, f->keys,
                                           std::make_unique<TokenCache>(TokenCacheOptions{.capacity = 64, .shards = 4}));
    return f;
  }();
  return *fixture;
}

bool SameResult(const AuthResult<Claims>& a, const AuthResult<Claims>& b) {
  if (a.ok() != b.ok()) return false;
  return a.ok() ? *a == *b : a.error().code == b.error().code;
}

void FuzzToken(std::string_view input) {
  const Fixture& f = GetFixture();
  AuthResult<Claims> plain = f.plain->Verify(input, kNow);
  AuthResult<Claims> first = f.cached->Verify(input, kNow);
  AuthResult<Claims> second = f.cached->Verify(input, kNow);
  Check(SameResult(plain, first));
  Check(SameResult(plain, second));
  if (plain.ok()) Check((plain->roles.bits() & ~0x0fu) == 0);
  if (!plain.ok()) Check(!plain.error().message.empty());

  auto bearer = ExtractBearerToken(input);
  if (bearer.ok()) {
    Check(!bearer->empty());
    Check(bearer->data() + bearer->size() == input.data() + input.size());
  }
}

void FuzzParsers(std::string_view input) {
  auto jwks = ParseJwks(input);
  if (jwks.ok()) Check((*jwks)->public_key_count() > 0);

  auto claims = ParseClaims(input, VerifierOptions{});
  if (claims.ok()) Check((claims->roles.bits() & ~0x0fu) == 0);

  std::string bytes;
  if (Base64UrlDecode(input, &bytes)) Check(Base64UrlEncode(bytes) == input);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  FuzzToken(input);
  FuzzParsers(input);
  return 0;
}
