// Bearer-token verification cost (src/auth): µs per Verify() for HS256,
// RS256 (2048-bit) and ES256 (P-256), without the verified-token cache (every
// call parses, checks the signature and the claims) and with a warm cache
// hit (token compare + time checks), also with two threads hitting at once.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "auth/signer.h"
#include "auth/verifier.h"

namespace watershed::auth {
namespace {

constexpr int64_t kNow = 1'700'000'000;
constexpr int kTokensPerAlg = 8;  // one per benchmark thread, and then some

struct Setup {
  std::shared_ptr<KeySetHolder> keys;
  std::vector<std::string> tokens[3];  // by Algorithm
};

std::string Must(Result<std::string> r) {
  if (!r.ok()) std::abort();
  return std::move(r).value();
}

const Setup& GetSetup() {
  static const Setup setup = [] {
    Setup s;
    const std::string secret = "bench-secret-bench-secret-bench-secret";
    const std::string rsa = Must(GeneratePrivateKeyPem(Algorithm::kRs256));
    const std::string ec = Must(GeneratePrivateKeyPem(Algorithm::kEs256));
    std::string rsa_jwks = Must(PublicJwksFromPem(rsa, "rsa"));
    std::string ec_jwks = Must(PublicJwksFromPem(ec, "ec"));
    // Two one-key documents -> one two-key document.
    std::string jwks = rsa_jwks.substr(0, rsa_jwks.size() - 2) + "," + ec_jwks.substr(9);
    auto keys = ParseJwks(jwks, secret);
    if (!keys.ok()) std::abort();
    s.keys = std::make_shared<KeySetHolder>(*keys);
    const SigningKey signing[3] = {{Algorithm::kHs256, secret, ""}, {Algorithm::kRs256, rsa, "rsa"},
                                   {Algorithm::kEs256, ec, "ec"}};
    for (int alg = 0; alg < 3; ++alg)
      for (int i = 0; i < kTokensPerAlg; ++i) {
        TokenClaims t;
        t.claims.user = UserId(1000 + static_cast<uint64_t>(i));
        t.claims.region = Region::kEu;
        t.claims.roles.Add(Role::kViewer);
        t.claims.roles.Add(Role::kCreator);
        t.claims.exp = kNow + 3600;
        t.claims.iat = kNow;
        t.issuer = "https://id.watershed.example";
        t.audience = {"watershed"};
        s.tokens[alg].push_back(Must(SignToken(t, signing[alg])));
      }
    return s;
  }();
  return setup;
}

VerifierOptions Options() {
  VerifierOptions o;
  o.issuer = "https://id.watershed.example";
  o.audience = "watershed";
  return o;
}

void BM_VerifyNoCache(benchmark::State& state) {
  const Setup& s = GetSetup();
  const auto alg = static_cast<size_t>(state.range(0));
  Verifier verifier(Options(), s.keys);
  const std::string& token = s.tokens[alg][0];
  for (auto _ : state) {
    auto claims = verifier.Verify(token, kNow);
    if (!claims.ok()) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(claims);
  }
  state.SetLabel(std::string(AlgorithmName(static_cast<Algorithm>(alg))));
}
BENCHMARK(BM_VerifyNoCache)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond);

// One verifier (and cache) shared by all benchmark threads; each thread
// presents its own token, as different users would.
Verifier* SharedCachedVerifier() {
  static Verifier* v = new Verifier(Options(), GetSetup().keys, std::make_unique<TokenCache>());
  return v;
}

void BM_VerifyCacheHit(benchmark::State& state) {
  const Setup& s = GetSetup();
  const auto alg = static_cast<size_t>(state.range(0));
  Verifier* verifier = SharedCachedVerifier();
  const std::string& token = s.tokens[alg][static_cast<size_t>(state.thread_index()) % kTokensPerAlg];
  if (!verifier->Verify(token, kNow).ok()) state.SkipWithError("verification failed");  // warms the cache
  for (auto _ : state) {
    auto claims = verifier->Verify(token, kNow);
    if (!claims.ok()) state.SkipWithError("verification failed");
    benchmark::DoNotOptimize(claims);
  }
  state.SetLabel(std::string(AlgorithmName(static_cast<Algorithm>(alg))));
}
BENCHMARK(BM_VerifyCacheHit)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMicrosecond)->Threads(1)->Threads(2);

}  // namespace
}  // namespace watershed::auth

BENCHMARK_MAIN();
