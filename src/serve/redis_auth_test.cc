// AUTH to a real redis-server that requires it: a password (requirepass)
// and an ACL user; refusals are clear and never show the password.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "core/testing/temp_dir.h"
#include "serve/redis_live_store.h"
#include "serve/redis_node_client.h"
#include "serve/testing/live_store_conformance.h"
#include "serve/testing/redis_server.h"

namespace watershed::serve {
namespace {

constexpr int kTimeoutMs = 2000;

TEST(RedisAuthTest, APasswordOrAnAclUserIsSentAndARefusalIsClear) {
  testing::RedisServer server;
  server.AddArgs({"--requirepass", "s3cret-pass", "--user", "alice", "on", ">alice-pass", "~*", "&*", "+@all"});
  server.SetAuth({"", "s3cret-pass", {}});
  ASSERT_TRUE(server.Start()) << "redis-server did not start on port " << server.port();

  for (const RedisSecurity& auth : {RedisSecurity{"", "s3cret-pass", {}}, RedisSecurity{"alice", "alice-pass", {}}}) {
    RedisLiveStoreOptions options;
    options.prefix = auth.user.empty() ? "default" : auth.user;  // each starts empty
    auto store = NewRedisNodeLiveStore("127.0.0.1", server.port(), kTimeoutMs, options, auth);
    testing::CheckProgress(*store);  // writes and reads through the authenticated connection
  }

  auto none = ConnectRedisNode("127.0.0.1", server.port(), kTimeoutMs);
  ASSERT_TRUE(none.ok());  // connecting needs no AUTH; every command then fails
  auto replies = (*none)->Execute({RedisCommand{"", {"PING"}}});
  ASSERT_TRUE(replies.ok());
  EXPECT_EQ(replies->at(0).type, RedisReply::Type::kError);
  EXPECT_NE(replies->at(0).str.find("NOAUTH"), std::string::npos) << replies->at(0).str;

  auto wrong = ConnectRedisNode("127.0.0.1", server.port(), kTimeoutMs, {"alice", "guess", {}});
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(wrong.status().message().find("AUTH as user 'alice' refused"), std::string::npos)
      << wrong.status().message();
  EXPECT_EQ(wrong.status().message().find("guess"), std::string::npos);
}

TEST(RedisAuthTest, TheAuthFileIsOneLineAndPrivate) {
  ::watershed::testing::TempDir dir("redis_auth");
  auto write = [&](const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = dir.Path(name);
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  };
  auto password = ReadRedisAuthFile(write("p", "only-a-password\n", 0600));
  ASSERT_TRUE(password.ok()) << password.status().ToString();
  EXPECT_EQ(password->user, "");
  EXPECT_EQ(password->password, "only-a-password");
  auto user = ReadRedisAuthFile(write("u", "alice alice-pass", 0600));
  ASSERT_TRUE(user.ok());
  EXPECT_EQ(user->user, "alice");
  EXPECT_EQ(user->password, "alice-pass");

  auto open = ReadRedisAuthFile(write("o", "pw\n", 0644));
  ASSERT_FALSE(open.ok());
  EXPECT_NE(open.status().message().find("chmod 600"), std::string::npos);
  EXPECT_FALSE(ReadRedisAuthFile(write("e", "\n", 0600)).ok());
  EXPECT_FALSE(ReadRedisAuthFile(write("t", "a b c\n", 0600)).ok());
  EXPECT_FALSE(ReadRedisAuthFile(write("l", "pw\nmore\n", 0600)).ok());
  EXPECT_FALSE(ReadRedisAuthFile(dir.Path("missing")).ok());
}

}  // namespace
}  // namespace watershed::serve
