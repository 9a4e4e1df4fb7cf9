#include "serve/redis_node_client.h"

#include "serve/redis_connection.h"

namespace watershed::serve {
namespace {

class RedisNodeClient final : public RedisClient {
 public:
  RedisNodeClient(std::string host, int port, int timeout_ms, RedisSecurity auth)
      : host_(std::move(host)), port_(port), timeout_ms_(timeout_ms), auth_(std::move(auth)) {}

  Status Connect() {
    conn_.reset();
    ASSIGN_OR_RETURN(conn_, RedisConnection::Open(host_, port_, timeout_ms_, timeout_ms_, auth_));
    return Status::Ok();
  }

  Result<std::vector<RedisReply>> Execute(const std::vector<RedisCommand>& commands) override {
    if (!conn_) RETURN_IF_ERROR(Connect());
    // The connection's state is unknown after an I/O error (replies may be
    // half read), so it is dropped; the next Execute dials again.
    auto broken = [this](Status s) {
      conn_.reset();
      return s;
    };
    for (const RedisCommand& c : commands)
      if (Status s = conn_->Append(c.args); !s.ok()) return broken(s);
    std::vector<RedisReply> replies;
    replies.reserve(commands.size());
    for (size_t i = 0; i < commands.size(); ++i) {
      auto reply = conn_->Read();
      if (!reply.ok()) return broken(reply.status());
      replies.push_back(std::move(reply).value());
    }
    return replies;
  }

 private:
  std::string host_;
  int port_;
  int timeout_ms_;
  RedisSecurity auth_;
  std::unique_ptr<RedisConnection> conn_;
};

}  // namespace

Result<std::unique_ptr<RedisClient>> ConnectRedisNode(const std::string& host, int port, int timeout_ms,
                                                      const RedisSecurity& auth) {
  auto client = std::make_unique<RedisNodeClient>(host, port, timeout_ms, auth);
  RETURN_IF_ERROR(client->Connect());
  return std::unique_ptr<RedisClient>(std::move(client));
}

}  // namespace watershed::serve
