// rediss://: TLS to a real redis-server (--tls-port) through the
// in-process tunnel, with certificates made here by the openssl CLI.

#include <gtest/gtest.h>

#include <cstdlib>

#include "core/testing/temp_dir.h"
#include "serve/redis_live_store.h"
#include "serve/redis_node_client.h"
#include "serve/testing/live_store_conformance.h"
#include "serve/testing/redis_server.h"

namespace watershed::serve {
namespace {

constexpr int kTimeoutMs = 2000;

class RedisTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A self-signed certificate for 127.0.0.1 (its own CA), and an unrelated one.
    for (const char* name : {"server", "stranger"}) {
      const std::string cmd = "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=" + std::string(name) +
                              " -addext subjectAltName=IP:127.0.0.1 -keyout " + dir_.Path(name) + ".key -out " +
                              dir_.Path(name) + ".pem 2>/dev/null";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    }
  }
  // TLS only, on the helper's port, client certificates required.
  void StartServer(testing::RedisServer& server, RedisSecurity client) {
    server.AddArgs({"--port", "0", "--tls-port", std::to_string(server.port()), "--tls-cert-file",
                    dir_.Path("server.pem"), "--tls-key-file", dir_.Path("server.key"), "--tls-ca-cert-file",
                    dir_.Path("server.pem"), "--requirepass", "pw"});
    server.SetAuth(std::move(client));
    ASSERT_TRUE(server.Start()) << "redis-server with TLS did not start on port " << server.port();
  }
  RedisSecurity Client(const std::string& ca) {
    RedisSecurity s{"", "pw", {}};
    s.tls = {true, dir_.Path(ca + ".pem"), dir_.Path("server.pem"), dir_.Path("server.key")};
    return s;
  }
  ::watershed::testing::TempDir dir_{"redis_tls"};
};

TEST_F(RedisTlsTest, TheLiveStoreWorksOverTlsAndSurvivesARestartOfTheServer) {
  testing::RedisServer server;
  StartServer(server, Client("server"));
  auto store = NewRedisNodeLiveStore("127.0.0.1", server.port(), kTimeoutMs, {}, Client("server"));
  testing::CheckProgress(*store);

  auto client = ConnectRedisNode("127.0.0.1", server.port(), kTimeoutMs, Client("server"));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  // A large pipelined exchange both ways through the tunnel.
  std::vector<RedisCommand> cmds;
  const std::string value(100'000, 'v');
  for (int i = 0; i < 50; ++i) cmds.push_back({"", {"SET", "k" + std::to_string(i), value}});
  for (int i = 0; i < 50; ++i) cmds.push_back({"", {"GET", "k" + std::to_string(i)}});
  auto replies = (*client)->Execute(cmds);
  ASSERT_TRUE(replies.ok()) << replies.status().ToString();
  EXPECT_EQ(replies->back().str, value);

  server.Kill();
  EXPECT_FALSE((*client)->Execute({{"", {"PING"}}}).ok());
  ASSERT_TRUE(server.Start());
  auto again = (*client)->Execute({{"", {"PING"}}});  // dials a new tunnel
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->at(0).str, "PONG");
}

TEST_F(RedisTlsTest, AnUntrustedServerOrAPlaintextClientIsRefused) {
  testing::RedisServer server;
  StartServer(server, Client("server"));
  auto untrusted = ConnectRedisNode("127.0.0.1", server.port(), kTimeoutMs, Client("stranger"));
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(untrusted.status().message().find("certificate"), std::string::npos) << untrusted.status().message();

  RedisSecurity no_client_cert = Client("server");
  no_client_cert.tls.cert_file = no_client_cert.tls.key_file = "";
  auto anonymous = ConnectRedisNode("127.0.0.1", server.port(), kTimeoutMs, no_client_cert);
  EXPECT_FALSE(anonymous.ok());  // tls-auth-clients: the server wants a certificate

  auto plain = ConnectRedisNode("127.0.0.1", server.port(), 500, {"", "pw", {}});
  EXPECT_FALSE(plain.ok());  // AUTH in plaintext gets no answer a TLS port accepts
}

TEST_F(RedisTlsTest, ACertificateForAnotherHostIsRefused) {
  testing::RedisServer server;
  StartServer(server, Client("server"));
  // The certificate names 127.0.0.1 only: dialled as "localhost" it does not verify.
  auto refused = ConnectRedisNode("localhost", server.port(), kTimeoutMs, Client("server"));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("mismatch"), std::string::npos) << refused.status().message();
}

}  // namespace
}  // namespace watershed::serve
