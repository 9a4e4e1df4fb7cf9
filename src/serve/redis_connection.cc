#include "serve/redis_connection.h"

#include <hiredis/hiredis.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <sstream>

#include "core/file_system.h"
#include "core/sigpipe.h"
#include "serve/tls_tunnel.h"

namespace watershed::serve {
namespace {

timeval ToTimeval(int ms) { return timeval{ms / 1000, (ms % 1000) * 1000}; }

RedisReply Convert(const redisReply& r) {
  RedisReply out;
  switch (r.type) {
    case REDIS_REPLY_STRING:
      out.type = RedisReply::Type::kString;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_STATUS:
      out.type = RedisReply::Type::kStatus;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = RedisReply::Type::kError;
      out.str.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.elements.reserve(r.elements);
      for (size_t i = 0; i < r.elements; ++i) out.elements.push_back(Convert(*r.element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
      break;
  }
  return out;
}

}  // namespace

Result<RedisSecurity> ReadRedisAuthFile(const std::string& path) {
  auto text = ReadPrivateFile(path, 4096);
  if (!text.ok()) return Status(text.status().code(), "redis-auth-file: " + text.status().message());
  std::istringstream in(*text);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  std::string rest;
  if (std::getline(in, rest) && rest.find_first_not_of(" \r\n") != std::string::npos)
    return Status::InvalidArgument("redis-auth-file " + path + " must hold one line: PASSWORD or USER PASSWORD");
  RedisSecurity auth;
  const size_t space = line.find(' ');
  if (space == std::string::npos) {
    auth.password = line;
  } else {
    auth.user = line.substr(0, space);
    auth.password = line.substr(space + 1);
  }
  if (auth.password.empty() || auth.password.find(' ') != std::string::npos)
    return Status::InvalidArgument("redis-auth-file " + path + " must hold one line: PASSWORD or USER PASSWORD");
  return auth;
}

Result<std::unique_ptr<RedisConnection>> RedisConnection::Open(const std::string& host, int port,
                                                               int connect_timeout_ms, int io_timeout_ms,
                                                               const RedisSecurity& auth) {
  const std::string address = host + ":" + std::to_string(port);
  std::unique_ptr<TlsTunnel> tunnel;
  redisContext* ctx = nullptr;
  if (auth.tls.on) {
    ASSIGN_OR_RETURN(tunnel, TlsTunnel::Open(host, port, connect_timeout_ms, auth.tls));
    const int fd = tunnel->TakeLocalFd();
    ctx = redisConnectFd(fd);
    if (ctx == nullptr) ::close(fd);
  } else {
    ctx = redisConnectWithTimeout(host.c_str(), port, ToTimeval(connect_timeout_ms));
  }
  if (ctx == nullptr) return Status::Unavailable("redis " + address + ": cannot allocate a context");
  std::unique_ptr<RedisConnection> conn(new RedisConnection(ctx, address));
  conn->tunnel_ = std::move(tunnel);
  if (ctx->err != 0) return Status::Unavailable("redis " + address + ": " + ctx->errstr);
  if (redisSetTimeout(ctx, ToTimeval(io_timeout_ms)) != REDIS_OK)
    return Status::Unavailable("redis " + address + ": cannot set the socket timeout");
  if (auth.has_password()) {
    std::vector<std::string> cmd = {"AUTH"};
    if (!auth.user.empty()) cmd.push_back(auth.user);
    cmd.push_back(auth.password);
    RETURN_IF_ERROR(conn->Append(cmd));
    ASSIGN_OR_RETURN(RedisReply reply, conn->Read());
    if (reply.type == RedisReply::Type::kError)
      return Status::FailedPrecondition("redis " + address + ": AUTH" +
                                        (auth.user.empty() ? std::string() : " as user '" + auth.user + "'") +
                                        " refused: " + reply.str);
  }
  return conn;
}

RedisConnection::RedisConnection(redisContext* ctx, std::string address) : ctx_(ctx), address_(std::move(address)) {}

RedisConnection::~RedisConnection() { redisFree(ctx_); }

Status RedisConnection::Append(const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> argvlen;
  argv.reserve(args.size());
  argvlen.reserve(args.size());
  for (const std::string& a : args) {
    argv.push_back(a.data());
    argvlen.push_back(a.size());
  }
  if (redisAppendCommandArgv(ctx_, static_cast<int>(args.size()), argv.data(), argvlen.data()) != REDIS_OK)
    return Error();
  unflushed_ = true;
  return Status::Ok();
}

Status RedisConnection::Flush() {
  // A server (or TLS tunnel) gone mid-write is an error here, not a SIGPIPE
  // that kills a process that does not ignore it. Once per pipeline.
  ScopedSigpipeBlock no_sigpipe;
  int done = 0;
  while (done == 0)
    if (redisBufferWrite(ctx_, &done) != REDIS_OK) return Error();
  unflushed_ = false;
  return Status::Ok();
}

Result<RedisReply> RedisConnection::Read() {
  if (unflushed_) RETURN_IF_ERROR(Flush());  // so that redisGetReply never writes
  void* raw = nullptr;
  if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return Error();
  auto* reply = static_cast<redisReply*>(raw);
  RedisReply out = Convert(*reply);
  freeReplyObject(reply);
  return out;
}

Status RedisConnection::Error() const {
  return Status::Unavailable("redis " + address_ + ": " + (ctx_->errstr[0] != '\0' ? ctx_->errstr : "connection broken"));
}

}  // namespace watershed::serve
