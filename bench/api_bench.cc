// The cost of security per request, in process (no sockets, no log): one
// GET /v1/stories/{id}/metrics through Api::Handle with auth off, and with
// auth + rate limiting on — the same token every time (a cache hit), or a
// new user's HS256 / ES256 token every time (a cache miss: signature check,
// claims, and a new token bucket). The ratio to auth=off is the overhead
// a request pays for authentication, authorization and rate limiting.
// The *HeaderCheck cases take the server's path: Api::CheckHeader on the
// header (token, failed-auth limit, rate limit), then Handle with the
// caller it left. BM_RateLimiterAcquire is the per-user token bucket alone.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "auth/signer.h"
#include "auth/verifier.h"
#include "core/metrics.h"
#include "gateway/api.h"
#include "serve/live_store.h"

namespace watershed::gateway {
namespace {

using http::HttpRequest;
using http::HttpResponse;

constexpr int kUsers = 4096;  // distinct tokens cycled by the miss cases (cache smaller than that)

std::string Must(Result<std::string> r) {
  if (!r.ok()) std::abort();
  return std::move(r).value();
}

struct Fixture {
  std::unique_ptr<serve::LiveStore> store = serve::NewMemoryLiveStore();
  MetricsRegistry metrics;
  std::shared_ptr<auth::KeySetHolder> keys;
  std::unique_ptr<auth::Verifier> verifier;
  std::unique_ptr<Api> api;
  std::vector<std::string> hs_tokens, es_tokens;

  Fixture(bool auth_on, bool cache = true) {
    serve::PartitionWrite w;
    w.stories.push_back({StoryId(1), AuthorId(7), serve::Aggregates{.views = 10}});
    if (!store->Apply(w).ok()) std::abort();
    ApiDeps deps;
    deps.store = store.get();
    deps.metrics = &metrics;
    if (auth_on) {
      const std::string secret = "bench-secret-bench-secret-bench-secret";
      const std::string ec = Must(auth::GeneratePrivateKeyPem(auth::Algorithm::kEs256));
      auto set = auth::ParseJwks(Must(auth::PublicJwksFromPem(ec, "ec")), secret);
      if (!set.ok()) std::abort();
      keys = std::make_shared<auth::KeySetHolder>(*set);
      verifier = std::make_unique<auth::Verifier>(
          auth::VerifierOptions{.issuer = "watershed", .audience = "watershed"}, keys,
          cache ? std::make_unique<auth::TokenCache>(auth::TokenCacheOptions{.capacity = 1024}) : nullptr);
      deps.verifier = verifier.get();
      for (int u = 0; u < kUsers; ++u) {
        auth::TokenClaims t;
        t.claims.user = auth::UserId(1000 + u);
        t.claims.roles.Add(auth::Role::kAnalyst);
        t.claims.exp = 4'000'000'000;
        t.issuer = "watershed";
        t.audience = {"watershed"};
        hs_tokens.push_back(Must(auth::SignToken(t, {auth::Algorithm::kHs256, secret, ""})));
        if (u < 256) es_tokens.push_back(Must(auth::SignToken(t, {auth::Algorithm::kEs256, ec, "ec"})));
      }
    }
    ApiOptions options;
    options.rate_limit = {.requests_per_second = 1e9, .burst = 1e9};  // charged, never refusing
    api = std::make_unique<Api>(std::move(deps), options);
  }

  // header_check: as the HttpServer does it, Api::CheckHeader on the
  // header, then Handle with the caller it left.
  void Get(const std::string* token, bool header_check = false) {
    HttpRequest req;
    req.method = "GET";
    req.target = "/v1/stories/1/metrics";
    req.remote_address = "127.0.0.1";
    if (token) req.headers.emplace_back("authorization", "Bearer " + *token);
    if (header_check && api->CheckHeader(req)) std::abort();
    int status = 0;
    api->Handle(std::move(req), [&status](HttpResponse r) { status = r.status; });
    if (status != 200) std::abort();
  }
};

void BM_AuthOff(benchmark::State& state) {
  Fixture f(false);
  for (auto _ : state) f.Get(nullptr);
}
BENCHMARK(BM_AuthOff);

void BM_AuthOnCacheHit(benchmark::State& state) {
  Fixture f(true);
  for (auto _ : state) f.Get(&f.hs_tokens[0]);
}
BENCHMARK(BM_AuthOnCacheHit);

void BM_AuthOnCacheHitHeaderCheck(benchmark::State& state) {
  Fixture f(true);
  for (auto _ : state) f.Get(&f.hs_tokens[0], /*header_check=*/true);
}
BENCHMARK(BM_AuthOnCacheHitHeaderCheck);

void BM_AuthOnNewUserHs256(benchmark::State& state) {
  Fixture f(true);
  size_t i = 0;
  for (auto _ : state) f.Get(&f.hs_tokens[i++ % f.hs_tokens.size()]);
}
BENCHMARK(BM_AuthOnNewUserHs256);

void BM_AuthOnNewUserHs256HeaderCheck(benchmark::State& state) {
  Fixture f(true);
  size_t i = 0;
  for (auto _ : state) f.Get(&f.hs_tokens[i++ % f.hs_tokens.size()], /*header_check=*/true);
}
BENCHMARK(BM_AuthOnNewUserHs256HeaderCheck);

void BM_AuthOnNewUserEs256(benchmark::State& state) {
  Fixture f(true, /*cache=*/false);  // 256 tokens would all hit a 1024-entry cache
  size_t i = 0;
  for (auto _ : state) f.Get(&f.es_tokens[i++ % f.es_tokens.size()]);
}
BENCHMARK(BM_AuthOnNewUserEs256);

// The rate limiter alone: one token-bucket charge, over 100k users (the
// issue asks for well under a microsecond and no lock everyone waits on).
void BM_RateLimiterAcquire(benchmark::State& state) {
  static UserRateLimiter limiter({.requests_per_second = 1e9, .burst = 1e9});
  uint64_t user = static_cast<uint64_t>(state.thread_index()) * 7919;
  int64_t now = 1'000'000'000;
  for (auto _ : state) {
    benchmark::DoNotOptimize(limiter.Acquire(user = (user + 1) % 100'000, now += 10));
  }
}
BENCHMARK(BM_RateLimiterAcquire)->Threads(1)->Threads(2);

}  // namespace
}  // namespace watershed::gateway

BENCHMARK_MAIN();
