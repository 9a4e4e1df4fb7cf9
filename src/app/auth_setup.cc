#include "app/auth_setup.h"

#include <sys/random.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <cstdio>
#include <thread>

#include "auth/base64url.h"
#include "core/clock.h"

namespace watershed::app {

std::string DefaultSecretPath(const Config& config) {
  return JoinPath(JoinPath(config.Get("data-dir"), "auth"), "hs256.secret");
}

AuthKeyFiles AuthKeyFilesFrom(const Config& config) {
  return {config.Get("auth-secret-file"), config.Get("auth-jwks-file"), DefaultSecretPath(config)};
}

Result<AuthSettings> ParseAuthSettings(const Config& config) {
  AuthSettings a;
  ASSIGN_OR_RETURN(a.on, config.GetBool("auth"));
  a.keys = AuthKeyFilesFrom(config);
  ASSIGN_OR_RETURN(int64_t leeway_ms, config.GetDurationMs("auth-leeway", 86'400'000));
  a.verifier.issuer = config.Get("auth-issuer");
  a.verifier.audience = config.Get("auth-audience");
  a.verifier.leeway_seconds = leeway_ms / 1000;
  ASSIGN_OR_RETURN(a.cache_entries, config.GetInt("auth-cache-entries"));
  ASSIGN_OR_RETURN(a.jwks_reload_ms, config.GetDurationMs("auth-jwks-reload"));
  return a;
}

Result<std::string> ResolveHs256Secret(const Config& config, FileSystem* fs, SecretMissing missing) {
  return ResolveHs256Secret(AuthKeyFilesFrom(config), fs, missing);
}

Result<std::string> ResolveHs256Secret(const AuthKeyFiles& keys, FileSystem* fs, SecretMissing missing) {
  std::string path = keys.secret_file;
  if (path.empty()) {
    if (!keys.jwks_file.empty()) return std::string();
    path = keys.default_secret_file;
    if (missing == SecretMissing::kWaitForServe) {
      // `watershed serve ... &` followed at once by `watershed token`: the
      // server creates the secret within its first milliseconds.
      for (int i = 0; i < 100 && !fs->FileExists(path); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (!fs->FileExists(path))
        return Status::NotFound("no HS256 secret at " + path +
                                " (start `watershed serve` with this --data-dir once to create it, or give "
                                "--auth-secret-file)");
    }
    if (!fs->FileExists(path)) {
      unsigned char random[32];
      if (getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random))
        return Status::IoError("getrandom failed for the HS256 secret");
      RETURN_IF_ERROR(CreateDirsDurably(fs, DirName(path)));
      if (::chmod(DirName(path).c_str(), 0700) != 0)  // before the secret exists: no window where others list it
        return Status::IoError("chmod 0700 " + DirName(path) + ": " + std::strerror(errno));
      Status created = CreatePrivateFile(path, auth::Base64UrlEncode({reinterpret_cast<char*>(random), 32}) + "\n");
      // Another process created it first: use theirs.
      if (!created.ok() && created.code() != StatusCode::kFailedPrecondition) return created;
    }
  }
  return ReadHs256Secret(fs, path);
}

Result<std::string> ReadHs256Secret(FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(std::string secret, ReadWholeFile(fs, path));
  while (!secret.empty() && std::isspace(static_cast<unsigned char>(secret.back()))) secret.pop_back();
  if (secret.size() < auth::kMinHs256SecretBytes)
    return Status::InvalidArgument("HS256 secret in " + path + " is " + std::to_string(secret.size()) +
                                   " bytes; at least " + std::to_string(auth::kMinHs256SecretBytes) + " are required");
  return secret;
}

auth::TokenClaims NewTokenClaims(uint64_t user, Region region, auth::RoleSet roles, int64_t ttl_seconds,
                                 const std::string& issuer, const std::string& audience) {
  auth::TokenClaims t;
  t.claims.user = auth::UserId(user);
  t.claims.region = region;
  t.claims.roles = roles;
  const int64_t now = Clock::Real()->NowMs() / 1000;
  t.claims.iat = now;
  t.claims.exp = now + ttl_seconds;
  t.issuer = issuer;
  if (!audience.empty()) t.audience = {audience};
  return t;
}

Result<std::unique_ptr<AuthRuntime>> AuthRuntime::Start(const AuthSettings& settings, FileSystem* fs) {
  if (!settings.on) return std::unique_ptr<AuthRuntime>();
  const int64_t cache_entries = settings.cache_entries;
  const int64_t reload_ms = settings.jwks_reload_ms;
  ASSIGN_OR_RETURN(std::string secret, ResolveHs256Secret(settings.keys, fs, SecretMissing::kCreate));

  std::unique_ptr<AuthRuntime> rt(new AuthRuntime());
  std::shared_ptr<auth::KeySetHolder> holder;
  if (const std::string& jwks = settings.keys.jwks_file; !jwks.empty()) {
    ASSIGN_OR_RETURN(rt->jwks_, auth::JwksFile::Open(jwks, secret, fs));
    holder = rt->jwks_->holder();
  } else {
    ASSIGN_OR_RETURN(auto keys, auth::KeySetFromSecret(secret));
    holder = std::make_shared<auth::KeySetHolder>(std::move(keys));
  }
  std::unique_ptr<auth::TokenCache> cache;
  if (cache_entries > 0)
    cache = std::make_unique<auth::TokenCache>(auth::TokenCacheOptions{.capacity = static_cast<size_t>(cache_entries)});
  rt->verifier_ = std::make_unique<auth::Verifier>(settings.verifier, holder, std::move(cache));
  if (rt->jwks_ && reload_ms > 0) rt->reloader_ = std::thread([p = rt.get(), reload_ms] { p->ReloadLoop(reload_ms); });
  return rt;
}

void AuthRuntime::ReloadLoop(int64_t interval_ms) {
  std::unique_lock lock(mu_);
  while (!stop_cv_.wait_for(lock, std::chrono::milliseconds(interval_ms), [&] { return stop_; })) {
    lock.unlock();
    // A bad or missing file keeps the previous keys (JwksFile::Reload); say so.
    if (Status s = jwks_->Reload(); !s.ok())
      std::fprintf(stderr, "watershed: JWKS reload of %s failed, keeping the previous keys: %s\n",
                   jwks_->path().c_str(), s.ToString().c_str());
    lock.lock();
  }
}

AuthRuntime::~AuthRuntime() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (reloader_.joinable()) reloader_.join();
}

}  // namespace watershed::app
