#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "core/file_system.h"
#include "core/hex.h"
#include "core/testing/temp_dir.h"
#include "keys/envelope.h"
#include "keys/key_provider.h"

namespace watershed::keys {
namespace {

using ::watershed::testing::TempDir;

TEST(AeadTest, SealsAndOpensAndRejectsAnyChange) {
  const SecretKey key = SecretKey::Random();
  const std::string nonce = RandomNonce();
  auto sealed = Seal(key, nonce, "ctx", "hello watershed");
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->size(), 15 + kTagBytes);
  EXPECT_EQ(sealed->find("hello"), std::string::npos);
  auto opened = Open(key, nonce, "ctx", *sealed);
  ASSERT_TRUE(opened.ok());
  EXPECT_EQ(*opened, "hello watershed");

  for (size_t i = 0; i < sealed->size(); ++i) {  // every flipped byte, the tag's too
    std::string bad = *sealed;
    bad[i] ^= 0x01;
    auto r = Open(key, nonce, "ctx", bad);
    ASSERT_FALSE(r.ok()) << i;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  }
  EXPECT_FALSE(Open(key, nonce, "other ctx", *sealed).ok());
  EXPECT_FALSE(Open(SecretKey::Random(), nonce, "ctx", *sealed).ok());
  EXPECT_FALSE(Open(key, RandomNonce(), "ctx", *sealed).ok());
  EXPECT_FALSE(Open(key, nonce, "ctx", sealed->substr(0, 10)).ok());
}

// NIST's GCM test vector (gcmEncryptExtIV256.rsp, Count 0 with 128-bit
// plaintext): proves it is AES-256-GCM, not just a round trip.
TEST(AeadTest, MatchesAKnownAnswer) {
  auto h = [](std::string_view hex) {
    std::string out;
    for (size_t i = 0; i < hex.size(); i += 2)
      out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
    return out;
  };
  const SecretKey key(h("31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22"));
  auto sealed = Seal(key, h("0d18e06c7c725ac9e362e1ce"), "", h("2db5168e932556f8089a0622981d017d"));
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(*sealed, h("fa4362189661d163fcd6a56d8bf0405a") + h("d636ac1bbedd5cc3ee727dc2ab4a9489"));
}

// The cached-context cipher: the same bytes as Seal, context reused across
// messages, every change refused.
TEST(AeadTest, GcmCipherMatchesSealAndReusesItsContext) {
  const SecretKey key = SecretKey::Random();
  GcmCipher cipher(key);
  for (int i = 0; i < 3; ++i) {
    const std::string nonce = RandomNonce(), plain = "message " + std::to_string(i);
    std::string sealed(plain.size() + kTagBytes, '\0');
    ASSERT_TRUE(cipher.SealTo(nonce, "aad", plain, sealed.data()).ok());
    EXPECT_EQ(sealed, Seal(key, nonce, "aad", plain).value());
    std::string back;
    ASSERT_TRUE(cipher.OpenTo(nonce, "aad", sealed, &back).ok());
    EXPECT_EQ(back, plain);
    sealed[i] ^= 0x20;
    Status bad = cipher.OpenTo(nonce, "aad", sealed, &back);
    EXPECT_EQ(bad.code(), StatusCode::kCorruption);
    EXPECT_TRUE(back.empty()) << "no unauthenticated plaintext is handed out";
    sealed[i] ^= 0x20;
    EXPECT_FALSE(cipher.OpenTo(nonce, "other", sealed, &back).ok());
  }
}

TEST(AeadTest, Base64KnownAnswers) {
  EXPECT_EQ(Base64(""), "");
  EXPECT_EQ(Base64("f"), "Zg==");
  EXPECT_EQ(Base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64(SecretKey::Random().view()).size(), 44u);  // what DuckDB decodes as a 32-byte key
}

class LocalKeysTest : public ::testing::Test {
 protected:
  TempDir dir_{"watershed_keys"};
};

TEST_F(LocalKeysTest, CreateRotateWrapUnwrap) {
  LocalKeyStore eu(dir_.path(), "eu");
  auto missing = NewLocalKeyProvider(dir_.path(), "eu")->Wrap(SecretKey::Random());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("watershed keys create --region eu"), std::string::npos);

  auto first = eu.Create(false);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(eu.Current().value(), *first);  // the first key becomes current
  struct stat st;
  ASSERT_EQ(::stat((eu.dir() + "/" + *first + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat(eu.dir().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto provider = NewLocalKeyProvider(dir_.path(), "eu");
  auto d1 = NewDataKey(*provider);
  ASSERT_TRUE(d1.ok());
  EXPECT_EQ(d1->wrapped.key_id, *first);
  EXPECT_EQ(d1->wrapped.blob.find(std::string(d1->key.view())), std::string::npos);

  auto second = eu.Create(true);  // rotate
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*second, *first);
  EXPECT_EQ(eu.Current().value(), *second);
  auto d2 = NewDataKey(*provider);
  ASSERT_TRUE(d2.ok());
  EXPECT_EQ(d2->wrapped.key_id, *second);
  // Keys wrapped before the rotation still unwrap.
  auto k1 = provider->Unwrap(d1->wrapped);
  ASSERT_TRUE(k1.ok());
  EXPECT_TRUE(*k1 == d1->key);
  auto keys = eu.List();
  ASSERT_TRUE(keys.ok());
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_FALSE((*keys)[0].current);
  EXPECT_TRUE((*keys)[1].current);
}

// The provider caches KEKs, but a retired key stops unwrapping at once and
// a key file made readable by others is refused again.
TEST_F(LocalKeysTest, CachedKeysFollowTheirFiles) {
  LocalKeyStore eu(dir_.path(), "eu");
  auto first = eu.Create(true);
  ASSERT_TRUE(first.ok());
  auto provider = NewLocalKeyProvider(dir_.path(), "eu");
  auto d1 = NewDataKey(*provider);
  ASSERT_TRUE(d1.ok());
  ASSERT_TRUE(provider->Unwrap(d1->wrapped).ok());  // cached now
  ASSERT_TRUE(eu.Create(true).ok());
  auto d2 = NewDataKey(*provider);
  ASSERT_TRUE(d2.ok());
  ASSERT_TRUE(eu.Retire(*first).ok());
  auto gone = provider->Unwrap(d1->wrapped);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(provider->Unwrap(d2->wrapped).ok());
  ASSERT_EQ(::chmod((eu.dir() + "/" + d2->wrapped.key_id + ".key").c_str(), 0644), 0);
  EXPECT_FALSE(provider->Unwrap(d2->wrapped).ok());
}

TEST_F(LocalKeysTest, ARegionNeverUnwrapsAnotherRegionsKeys) {
  LocalKeyStore eu(dir_.path(), "eu"), us(dir_.path(), "us");
  ASSERT_TRUE(eu.Create(false).ok());
  auto eu_provider = NewLocalKeyProvider(dir_.path(), "eu");
  auto d = NewDataKey(*eu_provider);
  ASSERT_TRUE(d.ok());
  auto us_provider = NewLocalKeyProvider(dir_.path(), "us");
  auto r = us_provider->Unwrap(d->wrapped);  // us has no such key file
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);

  // Even the same key bytes under the same id in us do not unwrap eu's blob:
  // the additional data binds the region.
  ASSERT_TRUE(FileSystem::Default()->CreateDirs(us.dir()).ok());
  ASSERT_TRUE(
      CreatePrivateFile(us.dir() + "/" + d->wrapped.key_id + ".key",
                        ReadWholeFile(FileSystem::Default(), eu.dir() + "/" + d->wrapped.key_id + ".key").value())
          .ok());
  r = us_provider->Unwrap(d->wrapped);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
}

TEST_F(LocalKeysTest, RefusesBadNamesAndKeysOthersCanRead) {
  EXPECT_FALSE(LocalKeyStore(dir_.path(), "../etc").Create(false).ok());
  EXPECT_FALSE(LocalKeyStore(dir_.path(), "EU").Create(false).ok());
  LocalKeyStore eu(dir_.path(), "eu");
  auto id = eu.Create(false);
  ASSERT_TRUE(id.ok());
  EXPECT_FALSE(eu.Load("../x").ok());
  EXPECT_FALSE(eu.SetCurrent("nope").ok());
  // A symbolic link in place of a key file is refused, even to a good key.
  const std::string real = eu.dir() + "/" + *id + ".key";
  ASSERT_EQ(::symlink(real.c_str(), (eu.dir() + "/linked.key").c_str()), 0);
  auto linked = eu.Load("linked");
  ASSERT_FALSE(linked.ok());
  EXPECT_NE(linked.status().message().find("symbolic link"), std::string::npos) << linked.status().message();
  ASSERT_EQ(::chmod(real.c_str(), 0644), 0);
  auto r = eu.Load(*id);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("chmod 600"), std::string::npos) << r.status().message();
}

TEST_F(LocalKeysTest, EnvelopeRoundTripTamperAndRewrap) {
  LocalKeyStore eu(dir_.path(), "eu");
  auto k1 = eu.Create(false);
  ASSERT_TRUE(k1.ok());
  auto provider = NewLocalKeyProvider(dir_.path(), "eu");
  const std::string plain(10'000, 'x');
  auto sealed = SealMessage(*provider, "checkpoint p3", plain);
  ASSERT_TRUE(sealed.ok());
  EXPECT_TRUE(IsSealed(*sealed));
  EXPECT_EQ(OpenMessage(*provider, "checkpoint p3", *sealed).value(), plain);
  EXPECT_FALSE(OpenMessage(*provider, "checkpoint p4", *sealed).ok());  // moved to another role
  for (size_t i : {size_t{0}, size_t{5}, sealed->size() / 2, sealed->size() - 1}) {
    std::string bad = *sealed;
    bad[i] ^= 0x40;
    EXPECT_FALSE(OpenMessage(*provider, "checkpoint p3", bad).ok()) << i;
  }
  for (size_t n = 0; n < 80; ++n) EXPECT_FALSE(OpenMessage(*provider, "checkpoint p3", sealed->substr(0, n)).ok()) << n;

  auto k2 = eu.Create(true);
  ASSERT_TRUE(k2.ok());
  auto rewrapped = RewrapMessage(*provider, *sealed);
  ASSERT_TRUE(rewrapped.ok());
  EXPECT_EQ(SealedKey(*sealed)->key_id, *k1);
  EXPECT_EQ(SealedKey(*rewrapped)->key_id, *k2);
  EXPECT_EQ(rewrapped->substr(rewrapped->size() - plain.size() - kTagBytes),
            sealed->substr(sealed->size() - plain.size() - kTagBytes));  // ciphertext untouched
  EXPECT_EQ(OpenMessage(*provider, "checkpoint p3", *rewrapped).value(), plain);
  // With the old key gone, only the rewrapped message opens.
  ASSERT_TRUE(FileSystem::Default()->RemoveFile(eu.dir() + "/" + *k1 + ".key").ok());
  EXPECT_FALSE(OpenMessage(*provider, "checkpoint p3", *sealed).ok());
  EXPECT_TRUE(OpenMessage(*provider, "checkpoint p3", *rewrapped).ok());
}

// A stand-in KMS: a script keeping data keys in a vault directory and
// handing out random blob handles, speaking the exec protocol.
class ExecKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    script_ = dir_.path() + "/kms.sh";
    std::ofstream(script_) << "#!/bin/sh\n"
                              "vault="
                           << dir_.path()
                           << "/vault; mkdir -p $vault/$2\n"
                              "case $1 in\n"
                              "  wrap) h=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \\n'); cat > $vault/$2/$h;"
                              " echo \"kms-1 $h\";;\n"
                              "  unwrap) [ \"$3\" = kms-1 ] || { echo \"unknown key $3\" >&2; exit 3; };"
                              " read h; cat $vault/$2/$h || exit 4;;\n"
                              "  *) exit 9;;\n"
                              "esac\n";
    ASSERT_EQ(::chmod(script_.c_str(), 0700), 0);
  }
  TempDir dir_{"watershed_kms"};
  std::string script_;
};

TEST_F(ExecKeysTest, WrapsAndUnwrapsThroughTheCommand) {
  auto provider = NewExecKeyProvider(script_, "eu");
  auto sealed = SealMessage(*provider, "segment 7", "payload");
  ASSERT_TRUE(sealed.ok()) << sealed.status().ToString();
  EXPECT_EQ(SealedKey(*sealed)->key_id, "kms-1");
  auto opened = OpenMessage(*provider, "segment 7", *sealed);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  EXPECT_EQ(*opened, "payload");
  // The vault is per region: us cannot unwrap eu's blob.
  EXPECT_FALSE(OpenMessage(*NewExecKeyProvider(script_, "us"), "segment 7", *sealed).ok());
}

TEST_F(ExecKeysTest, CommandFailuresAreClearErrors) {
  auto fails = NewExecKeyProvider("echo 'KMS says no' >&2; exit 7; :", "eu");
  auto r = fails->Wrap(SecretKey::Random());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exited with 7"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("KMS says no"), std::string::npos);

  auto garbage = NewExecKeyProvider("cat >/dev/null; echo 'not hex'; :", "eu");
  EXPECT_EQ(garbage->Wrap(SecretKey::Random()).status().code(), StatusCode::kCorruption);

  auto slow = NewExecKeyProvider("sleep 5; :", "eu", 200);
  r = slow->Wrap(SecretKey::Random());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos);

  // Exits without reading: whether our write meets the pipe before or after
  // it closes, the answer is an error, never a SIGPIPE.
  auto deaf = NewExecKeyProvider("exit 0; :", "eu");
  EXPECT_FALSE(deaf->Wrap(SecretKey::Random()).ok());

  // A command that echoes its input to stderr does not put the data key into our errors.
  const SecretKey key = SecretKey::Random();
  auto echo = NewExecKeyProvider("cat >&2; exit 3; :", "eu")->Wrap(key);
  ASSERT_FALSE(echo.ok());
  EXPECT_EQ(echo.status().message().find(LowerHex(key.data(), kKeyBytes)), std::string::npos)
      << echo.status().message();
  EXPECT_NE(echo.status().message().find("<hex>"), std::string::npos) << echo.status().message();
  // A blob larger than a KMS ever makes is refused before it reaches the command.
  EXPECT_EQ(NewExecKeyProvider(script_, "eu")->Unwrap(WrappedKey{"kms-1", std::string(100'000, 'x')}).status().code(),
            StatusCode::kCorruption);

  auto id_injection = NewExecKeyProvider(script_, "eu")->Unwrap(WrappedKey{"x; rm -rf /", "ab"});
  EXPECT_EQ(id_injection.status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace watershed::keys
