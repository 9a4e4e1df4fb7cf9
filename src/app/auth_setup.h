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

// What ResolveHs256Secret does when the default secret file is missing:
// create it (serve), or wait up to 5 s for a server that is starting to
// create it, then fail naming the file (the token tool).
enum class SecretMissing { kCreate, kWaitForServe };
// The HS256 secret the configuration names: the bytes of auth-secret-file
// (trailing whitespace trimmed), or of <data-dir>/auth/hs256.secret when
// auth-jwks-file is not set. That default file is created with 32 random
// bytes (base64url text, mode 0600 from the start: CreatePrivateFile).
// Returns "" when the configuration uses JWKS keys only.
Result<std::string> ResolveHs256Secret(const Config& config, FileSystem* fs, SecretMissing missing);
std::string DefaultSecretPath(const Config& config);
// The secret in `path`: trailing whitespace (the newline) trimmed, at least
// auth::kMinHs256SecretBytes long.
Result<std::string> ReadHs256Secret(FileSystem* fs, const std::string& path);

// Claims of a token made here (the token tool, the load generator): issued
// now, valid for ttl_seconds, with the configured issuer and audience.
auth::TokenClaims NewTokenClaims(uint64_t user, Region region, auth::RoleSet roles, int64_t ttl_seconds,
                                 const std::string& issuer, const std::string& audience);

auth::VerifierOptions VerifierOptionsFrom(const Config& config);

class AuthRuntime {
 public:
  // nullptr when auth = off.
  static Result<std::unique_ptr<AuthRuntime>> Start(const Config& config, FileSystem* fs);
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
