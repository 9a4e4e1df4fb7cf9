// `watershed token`: prints a signed bearer token for development, tests and
// the demo, from the same configuration `serve` reads (so issuer, audience
// and the HS256 secret match), or from an RS256/ES256 private key file.
// `--generate-key` makes such a key and prints its JWKS for auth-jwks-file.

#include <cstdio>
#include <sstream>

#include "app/admin_audit.h"
#include "app/auth_setup.h"
#include "app/commands.h"
#include "app/config.h"
#include "app/flags.h"
#include "auth/signer.h"

namespace watershed::app {
namespace {

constexpr const char* kHelp =
    "usage: watershed token --sub ID --region REGION --roles ROLE[,ROLE...] [--ttl 1h] [flags]\n"
    "       watershed token --generate-key RS256|ES256 --kid KID --key FILE\n\n"
    "Prints a signed JWT for user ID (roles: viewer, creator, analyst, admin).\n"
    "By default it is HS256 with the secret `serve` uses (auth-secret-file, or\n"
    "<data-dir>/auth/hs256.secret); --key FILE --kid KID sign RS256/ES256 instead\n"
    "(the key type decides). Issuer and audience come from auth-issuer and\n"
    "auth-audience. Accepts every `serve` setting (--config FILE, --data-dir ...).\n\n"
    "--generate-key writes a new private key to FILE (mode 0600) and prints the\n"
    "JWKS of its public half, to put in the auth-jwks-file.\n";

std::vector<ConfigKey> TokenKeys() {
  std::vector<ConfigKey> keys = ServeConfigKeys();
  keys.insert(keys.end(), {
                              {"sub", "", "user id (decimal)"},
                              {"region", "", "the user's home region"},
                              {"roles", "", "comma-separated roles"},
                              {"ttl", "1h", "lifetime of the token"},
                              {"key", "", "PEM private key file (RS256 / ES256)"},
                              {"kid", "", "key id written to the token header"},
                              {"generate-key", "", "RS256 or ES256: write a new key to --key, print its JWKS"},
                          });
  return keys;
}

int GenerateKey(const Config& c) {
  auto alg = auth::ParseAlgorithm(c.Get("generate-key"));
  if (!alg || *alg == auth::Algorithm::kHs256) return Fail("token", "--generate-key must be RS256 or ES256", 2);
  if (c.Get("key").empty() || c.Get("kid").empty())
    return Fail("token", "--generate-key needs --key FILE and --kid KID", 2);
  auto pem = auth::GeneratePrivateKeyPem(*alg);
  if (!pem.ok()) return Fail("token", pem.status().message(), 1);
  auto jwks = auth::PublicJwksFromPem(*pem, c.Get("kid"));
  if (!jwks.ok()) return Fail("token", jwks.status().message(), 1);
  FileSystem* fs = FileSystem::Default();
  if (fs->FileExists(c.Get("key"))) return Fail("token", c.Get("key") + " exists; refusing to overwrite a key", 2);
  if (Status s = CreatePrivateFile(c.Get("key"), *pem); !s.ok()) return Fail("token", s.message(), 1);
  std::printf("%s\n", jwks->c_str());
  return 0;
}

}  // namespace

int TokenCommand(const std::vector<std::string>& args) {
  for (const auto& a : args)
    if (a == "--help" || a == "-h") {
      std::printf("%s\nSettings (default) [environment variable]:\n%s", kHelp, DescribeKeys(TokenKeys()).c_str());
      return 0;
    }
  auto config = Config::Load(TokenKeys(), args);
  if (!config.ok()) return Fail("token", config.status().message() + "\n" + kHelp, 2);
  const Config& c = *config;
  if (!c.Get("generate-key").empty()) return GenerateKey(c);

  auto sub = ParseNumber<uint64_t>("--sub (a user id)", c.Get("sub"));
  if (!sub.ok()) return Fail("token", sub.status().message() + "\n" + kHelp, 2);
  auto region = ParseRegion(c.Get("region"));
  if (!region) return Fail("token", "--region must be one of " + RegionNamesText(), 2);
  auth::RoleSet role_set;
  std::stringstream roles(c.Get("roles"));
  for (std::string name; std::getline(roles, name, ',');) {
    auto role = auth::ParseRole(name);
    if (!role) return Fail("token", "unknown role '" + name + "' (viewer, creator, analyst, admin)", 2);
    role_set.Add(*role);
  }
  if (role_set.empty()) return Fail("token", "--roles needs at least one of viewer, creator, analyst, admin", 2);
  auto ttl = c.GetDurationMs("ttl");
  if (!ttl.ok() || *ttl < 1000) return Fail("token", "--ttl must be a duration of at least 1s, e.g. 15m, 1h, 7d", 2);
  const auth::TokenClaims t =
      NewTokenClaims(*sub, *region, role_set, *ttl / 1000, c.Get("auth-issuer"), c.Get("auth-audience"));

  auth::SigningKey key;
  if (!c.Get("key").empty()) {
    auto pem = ReadWholeFile(FileSystem::Default(), c.Get("key"));
    if (!pem.ok()) return Fail("token", pem.status().message(), 1);
    if (c.Get("kid").empty()) return Fail("token", "--key needs --kid (the JWKS entry that verifies it)", 2);
    key.key = *pem;
    key.kid = c.Get("kid");
    key.alg = auth::Algorithm::kRs256;
  } else {
    auto secret = ResolveHs256Secret(c, FileSystem::Default(), SecretMissing::kWaitForServe);
    if (!secret.ok()) return Fail("token", secret.status().message(), 1);
    if (secret->empty())
      return Fail("token", "auth-jwks-file is set and there is no HS256 secret: sign with --key and --kid", 2);
    key.key = *secret;
  }
  // Minting is audited before the token is signed (with a governance-file; fail closed).
  auto audit = AdminAudit::Open(c);
  if (!audit.ok()) return Fail("token", audit.status().message(), 2);
  std::vector<std::string> words = {"token"};
  words.insert(words.end(), args.begin(), args.end());
  if (Status s = (*audit)->Begin(words, "token"); !s.ok()) return Fail("token", NotAudited(s), 1);
  auto token = auth::SignToken(t, key);
  if (!token.ok() && !c.Get("key").empty() && key.alg == auth::Algorithm::kRs256) {
    key.alg = auth::Algorithm::kEs256;  // a PKCS#8 PEM does not name its key type: an EC key fails RS256
    token = auth::SignToken(t, key);
  }
  if (!token.ok()) return (*audit)->End(Fail("token", token.status().message(), 1), token.status().message());
  std::printf("%s\n", token->c_str());
  return (*audit)->End(0);
}

}  // namespace watershed::app
