#include "auth/verifier.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <functional>
#include <random>

namespace watershed::auth {
namespace {

constexpr int64_t kMaxLeewaySeconds = 86400;

constexpr AuthError InvalidClaims(std::string_view message) { return {AuthErrorCode::kInvalidClaims, message}; }

char Lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// sub: a JSON integer >= 0, or a string of 1-20 decimal digits, fitting uint64.
bool ReadUserId(simdjson::dom::element v, uint64_t* out) {
  if (v.is_string()) {
    std::string_view s = v.get_string().value_unsafe();
    if (s.empty() || s.size() > 20) return false;
    if (!std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) return false;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
    return ec == std::errc() && end == s.data() + s.size();
  }
  return v.get(*out) == simdjson::SUCCESS;
}

// NumericDate (RFC 7519 §2): seconds, possibly fractional; fractions are
// dropped towards minus infinity.
bool ReadNumericDate(simdjson::dom::element v, int64_t* out) {
  switch (v.type()) {
    case simdjson::dom::element_type::INT64:
      *out = v.get_int64().value_unsafe();
      return true;
    case simdjson::dom::element_type::DOUBLE: {
      double d = std::floor(v.get_double().value_unsafe());
      // +-2^62: far beyond any real date, and the cast below stays defined.
      if (!(d > -4.6e18 && d < 4.6e18)) return false;
      *out = static_cast<int64_t>(d);
      return true;
    }
    default:
      return false;  // UINT64 beyond int64, strings, ...
  }
}

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : INT64_MIN;
  return r;
}

// Parses JSON text that may lack simdjson's padding by copying it into a
// reusable padded buffer.
simdjson::error_code ParsePadded(std::string_view text, simdjson::dom::element* root) {
  thread_local simdjson::dom::parser parser;
  thread_local std::string buffer;
  buffer.reserve(text.size() + simdjson::SIMDJSON_PADDING);
  buffer.assign(text);
  return parser.parse(buffer).get(*root);
}

}  // namespace

AuthResult<std::string_view> ExtractBearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer";
  if (authorization.empty()) return AuthError{AuthErrorCode::kTokenMissing, "no bearer token"};
  bool bearer = authorization.size() >= kScheme.size() &&
                (authorization.size() == kScheme.size() || authorization[kScheme.size()] == ' ');
  for (size_t i = 0; bearer && i < kScheme.size(); ++i) bearer = Lower(authorization[i]) == kScheme[i];
  if (!bearer) return AuthError{AuthErrorCode::kTokenMissing, "authorization scheme is not Bearer"};
  std::string_view token = authorization.substr(std::min(authorization.size(), kScheme.size() + 1));
  if (token.empty()) return AuthError{AuthErrorCode::kTokenMissing, "empty bearer token"};
  // Whitespace inside the token is not scanned for here (it costs more than
  // the rest of a cache hit): no verified token contains any, so the cache
  // misses and the strict base64url decoding refuses it as token_malformed.
  return token;
}

AuthResult<Claims> ParseClaims(std::string_view payload_json, const VerifierOptions& options) {
  simdjson::dom::element root;
  simdjson::dom::object obj;
  if (ParsePadded(payload_json, &root) != simdjson::SUCCESS)
    return AuthError{AuthErrorCode::kTokenMalformed, "token payload is not JSON"};
  if (root.get(obj) != simdjson::SUCCESS)
    return AuthError{AuthErrorCode::kTokenMalformed, "token payload is not a JSON object"};

  enum : uint32_t { kSub = 1, kRegion = 2, kRoles = 4, kExp = 8, kNbf = 16, kIat = 32, kIss = 64, kAud = 128 };
  constexpr std::pair<std::string_view, uint32_t> kKnown[] = {{"sub", kSub}, {"region", kRegion}, {"roles", kRoles},
                                                              {"exp", kExp}, {"nbf", kNbf},       {"iat", kIat},
                                                              {"iss", kIss}, {"aud", kAud}};
  uint32_t seen = 0;
  Claims c;
  bool issuer_ok = options.issuer.empty();
  bool audience_ok = options.audience.empty();
  for (simdjson::dom::key_value_pair field : obj) {
    const std::string_view name = field.key;
    uint32_t bit = 0;
    for (const auto& [known, b] : kKnown)
      if (name == known) bit = b;
    if (bit == 0) continue;  // other claims are allowed and ignored
    if (seen & bit) return InvalidClaims("a claim appears twice");
    seen |= bit;
    const simdjson::dom::element v = field.value;
    switch (bit) {
      case kSub: {
        uint64_t id = 0;
        if (!ReadUserId(v, &id)) return InvalidClaims("\"sub\" must be a user id (decimal)");
        c.user = UserId(id);
        break;
      }
      case kRegion: {
        std::string_view text;
        std::optional<Region> region;
        if (v.get(text) != simdjson::SUCCESS || !(region = ParseRegion(text)))
          return InvalidClaims("\"region\" must be one of the deployment's region-names");
        c.region = *region;
        break;
      }
      case kRoles: {
        simdjson::dom::array roles;
        if (v.get(roles) != simdjson::SUCCESS) return InvalidClaims("\"roles\" must be an array of strings");
        for (simdjson::dom::element r : roles) {
          std::string_view role;
          if (r.get(role) != simdjson::SUCCESS) return InvalidClaims("\"roles\" must be an array of strings");
          if (auto parsed = ParseRole(role)) c.roles.Add(*parsed);  // unknown roles: ignored
        }
        break;
      }
      case kExp:
        if (!ReadNumericDate(v, &c.exp)) return InvalidClaims("\"exp\" must be a NumericDate");
        break;
      case kNbf: {
        int64_t t = 0;
        if (!ReadNumericDate(v, &t)) return InvalidClaims("\"nbf\" must be a NumericDate");
        c.nbf = t;
        break;
      }
      case kIat: {
        int64_t t = 0;
        if (!ReadNumericDate(v, &t)) return InvalidClaims("\"iat\" must be a NumericDate");
        c.iat = t;
        break;
      }
      case kIss: {
        std::string_view iss;
        if (v.get(iss) != simdjson::SUCCESS) return InvalidClaims("\"iss\" must be a string");
        if (!options.issuer.empty()) issuer_ok = iss == options.issuer;
        break;
      }
      case kAud: {
        std::string_view aud;
        simdjson::dom::array list;
        if (v.get(aud) == simdjson::SUCCESS) {
          if (!options.audience.empty()) audience_ok = aud == options.audience;
        } else if (v.get(list) == simdjson::SUCCESS) {
          for (simdjson::dom::element a : list) {
            if (a.get(aud) != simdjson::SUCCESS)
              return InvalidClaims("\"aud\" must be a string or an array of strings");
            if (!options.audience.empty() && aud == options.audience) audience_ok = true;
          }
        } else {
          return InvalidClaims("\"aud\" must be a string or an array of strings");
        }
        break;
      }
    }
  }
  if (!(seen & kSub)) return InvalidClaims("token has no \"sub\"");
  if (!(seen & kRegion)) return InvalidClaims("token has no \"region\"");
  if (!(seen & kRoles)) return InvalidClaims("token has no \"roles\"");
  if (!(seen & kExp)) return InvalidClaims("token has no \"exp\"");
  if (!issuer_ok) return AuthError{AuthErrorCode::kWrongIssuer, "token issuer is not accepted"};
  if (!audience_ok) return AuthError{AuthErrorCode::kWrongAudience, "token audience does not include this service"};
  return c;
}

AuthResult<Verified> CheckTokenTimes(const Claims& claims, int64_t now_seconds, int64_t leeway_seconds) {
  const int64_t leeway = std::clamp<int64_t>(leeway_seconds, 0, kMaxLeewaySeconds);
  if (now_seconds >= SaturatingAdd(claims.exp, leeway)) return AuthError{AuthErrorCode::kExpired, "token has expired"};
  if (claims.nbf && now_seconds < SaturatingAdd(*claims.nbf, -leeway))
    return AuthError{AuthErrorCode::kNotYetValid, "token is not valid yet"};
  return Verified{};
}

Verifier::Verifier(VerifierOptions options, std::shared_ptr<const KeySetHolder> keys, std::unique_ptr<TokenCache> cache)
    : options_(std::move(options)),
      keys_(std::move(keys)),
      cache_(std::move(cache)),
      refused_seed_((uint64_t{std::random_device{}()} << 32) | std::random_device{}()),
      refused_(std::make_unique<std::array<std::atomic<uint64_t>, kRefusedSlots>>()) {}

Verifier::~Verifier() = default;

namespace {
// The refusal message of a refused-token cache hit (the first refusal's
// message is not kept; its code is).
constexpr std::string_view kRefusedAgain = "token was refused before";
bool TimeIndependent(AuthErrorCode code) {
  return code != AuthErrorCode::kTokenMissing && code != AuthErrorCode::kExpired &&
         code != AuthErrorCode::kNotYetValid;
}
}  // namespace

uint64_t Verifier::RefusedTag(std::string_view token, uint64_t generation) const {
  // libstdc++'s seeded Murmur-style hash of the bytes (what std::hash uses, with our seed).
  uint64_t h = std::_Hash_bytes(token.data(), token.size(), static_cast<size_t>(refused_seed_));
  return h ^ ((generation + 1) * 0x9E3779B97F4A7C15ull & ~uint64_t{kRefusedSlots - 1});
}

std::optional<AuthResult<Claims>> Verifier::VerifyCheaply(std::string_view token, int64_t now_seconds) const {
  if (token.empty()) return AuthError{AuthErrorCode::kTokenMissing, "empty token"};
  if (token.size() > options_.max_token_bytes)
    return AuthError{AuthErrorCode::kTokenMalformed, "token is larger than the limit"};
  const uint64_t generation = keys_->generation();
  if (cache_) {
    // The generation alone (one atomic load) decides a hit: no key-set
    // reference count is touched on the fast path.
    if (std::optional<Claims> hit = cache_->Lookup(token, generation)) {
      if (auto times = CheckTokenTimes(*hit, now_seconds, options_.leeway_seconds); !times.ok()) return times.error();
      return *hit;
    }
  }
  const uint64_t tag = RefusedTag(token, generation);
  const uint64_t slot = (*refused_)[tag & (kRefusedSlots - 1)].load(std::memory_order_relaxed);
  if (slot != 0 && (slot & ~uint64_t{0xFF}) == (tag & ~uint64_t{0xFF}))
    return AuthError{static_cast<AuthErrorCode>(slot & 0xFF), kRefusedAgain};
  return std::nullopt;
}

AuthResult<Claims> Verifier::Verify(std::string_view token, int64_t now_seconds) const {
  if (auto cheap = VerifyCheaply(token, now_seconds)) return std::move(*cheap);
  return VerifyUncached(token, now_seconds);
}

AuthResult<Claims> Verifier::VerifyUncached(std::string_view token, int64_t now_seconds) const {
  const std::shared_ptr<const KeySet> keys = keys_->Get();
  const uint64_t generation = keys->generation();
  auto refuse = [&](const AuthError& e) -> AuthError {
    if (TimeIndependent(e.code)) {
      const uint64_t tag = RefusedTag(token, generation);
      (*refused_)[tag & (kRefusedSlots - 1)].store((tag & ~uint64_t{0xFF}) | static_cast<uint8_t>(e.code),
                                                   std::memory_order_relaxed);
    }
    return e;
  };
  thread_local JwsParts jws;
  if (auto parsed = ParseCompactJws(token, options_.max_token_bytes, &jws); !parsed.ok()) return refuse(parsed.error());
  signature_checks_.fetch_add(1, std::memory_order_relaxed);
  if (auto signature = VerifyJwsSignature(jws, *keys); !signature.ok()) return refuse(signature.error());
  AuthResult<Claims> claims = ParseClaims(jws.payload, options_);
  if (!claims.ok()) return refuse(claims.error());
  if (auto times = CheckTokenTimes(*claims, now_seconds, options_.leeway_seconds); !times.ok()) return times.error();
  if (cache_) cache_->Insert(token, generation, *claims);
  return claims;
}

}  // namespace watershed::auth
