#pragma once
// Turns the auth-* configuration into a running verifier (README "Auth"):
// the HS256 secret (read, or generated on first start), the JWKS file and
// its periodic reload, the verified-token cache. Shared by `serve` and
// `token`, so both resolve keys, issuer and audience the same way.

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "app/config.h"
#include "auth/key_set.h"
#include "auth/signer.h"
#include "auth/verifier.h"
#include "core/file_system.h"

namespace watershed::app {

// Where the keys come from.
struct AuthKeyFiles {
  std::string secret_file;          // auth-secret-file
  std::string jwks_file;            // auth-jwks-file
  std::string default_secret_file;  // <data-dir>/auth/hs256.secret
};
AuthKeyFiles AuthKeyFilesFrom(const Config& config);

// The auth-* settings (and `auth` itself), checked.
struct AuthSettings {
  bool on = true;
  AuthKeyFiles keys;
  int64_t jwks_reload_ms = 30'000;  // 0 = never
  int64_t cache_entries = 16384;    // 0 = no cache
  auth::VerifierOptions verifier;
};
Result<AuthSettings> ParseAuthSettings(const Config& config);

// What ResolveHs256Secret does when the default secret file is missing:
// create it (serve), or wait up to 5 s for a server that is starting to
// create it, then fail naming the file (the token tool).
enum class SecretMissing { kCreate, kWaitForServe };
// The HS256 secret the key files name: the bytes of secret_file (trailing
// whitespace trimmed), or of default_secret_file when jwks_file is not set.
// That default file is created with 32 random bytes (base64url text, mode
// 0600 from the start: CreatePrivateFile). Returns "" when only JWKS keys
// are used.
Result<std::string> ResolveHs256Secret(const AuthKeyFiles& keys, FileSystem* fs, SecretMissing missing);
Result<std::string> ResolveHs256Secret(const Config& config, FileSystem* fs, SecretMissing missing);
std::string DefaultSecretPath(const Config& config);
// The secret in `path`: trailing whitespace (the newline) trimmed, at least
// auth::kMinHs256SecretBytes long.
Result<std::string> ReadHs256Secret(FileSystem* fs, const std::string& path);

// Claims of a token made here (the token tool, the load generator): issued
// now, valid for ttl_seconds, with the configured issuer and audience.
auth::TokenClaims NewTokenClaims(uint64_t user, Region region, auth::RoleSet roles, int64_t ttl_seconds,
                                 const std::string& issuer, const std::string& audience);

class AuthRuntime {
 public:
  // nullptr when auth = off.
  static Result<std::unique_ptr<AuthRuntime>> Start(const AuthSettings& settings, FileSystem* fs);
  ~AuthRuntime();  // stops the reload thread
  const auth::Verifier* verifier() const { return verifier_.get(); }
  // Rereads the JWKS file now (also done every auth-jwks-reload); Ok without one.
  Status ReloadKeys() { return jwks_ ? jwks_->Reload() : Status::Ok(); }

 private:
  AuthRuntime() = default;
  void ReloadLoop(int64_t interval_ms);

  std::unique_ptr<auth::JwksFile> jwks_;
  std::unique_ptr<auth::Verifier> verifier_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread reloader_;
};

}  // namespace watershed::app
