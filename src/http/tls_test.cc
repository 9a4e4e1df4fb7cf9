// TLS end to end: an HttpServer with a certificate made in the test, spoken
// to by the HttpClient, by a bare OpenSSL client (to hold one
// connection open across requests) and by raw sockets (plain HTTP, garbage,
// silence on the TLS port).

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/testing/temp_dir.h"
#include "http/http_client.h"
#include "http/http_server.h"
#include "http/testing/raw_http.h"

namespace watershed::http {
namespace {

using ::watershed::testing::TempDir;

constexpr uint64_t kBodyLimit = 4 << 10;
// Bounds every blocking socket call of the tests, so a server bug fails a
// test instead of hanging it. Far above any timeout the server applies.
constexpr int kSocketTimeoutMs = 10'000;

// ---- certificates ----

struct PemPair {
  std::string key;
  std::string cert;
};

std::string ToPem(const std::function<int(BIO*)>& write) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  EXPECT_EQ(write(bio.get()), 1);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

// A fresh P-256 key and a self-signed certificate for it, valid for a day,
// naming `common_name` and the given subjectAltName (e.g. "DNS:localhost").
PemPair SelfSigned(const std::string& common_name, const std::string& subject_alt_name) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"),
                                                          EVP_PKEY_free);
  EXPECT_NE(key, nullptr);
  std::unique_ptr<X509, decltype(&X509_free)> x509(X509_new(), X509_free);
  X509_set_version(x509.get(), X509_VERSION_3);
  static std::atomic<long> serial{1};
  ASN1_INTEGER_set(X509_get_serialNumber(x509.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x509.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x509.get()), 24 * 3600);
  X509_set_pubkey(x509.get(), key.get());
  X509_NAME* name = X509_get_subject_name(x509.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(x509.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x509.get(), x509.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_key_usage, "critical,digitalSignature,keyCertSign"},
                            std::pair{NID_subject_alt_name, subject_alt_name.c_str()}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value);
    EXPECT_NE(ext, nullptr) << value;
    X509_add_ext(x509.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  EXPECT_GT(X509_sign(x509.get(), key.get(), EVP_sha256()), 0);
  PemPair out;
  out.key = ToPem([&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr);
  });
  out.cert = ToPem([&](BIO* b) { return PEM_write_bio_X509(b, x509.get()); });
  return out;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << contents;
  ASSERT_TRUE(f.good()) << path;
}

// ---- raw clients ----

using testing::RawResponse;

// A blocking TCP connection to 127.0.0.1:port with bounded send and receive.
using RawSocket = testing::RawConn;

// A bare OpenSSL client over a RawSocket: one TLS connection, held open
// for as many requests as the test sends.
class TlsConn {
 public:
  // Trusts only the certificates in ca_file and expects "localhost".
  TlsConn(uint16_t port, const std::string& ca_file, int max_version = 0) : socket_(port) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    if (max_version != 0) SSL_CTX_set_max_proto_version(ctx_, max_version);
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, socket_.fd());
    SSL_set_tlsext_host_name(ssl_, "localhost");
    SSL_set1_host(ssl_, "localhost");
  }
  ~TlsConn() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  bool Handshake() { return SSL_connect(ssl_) == 1; }
  int version() const { return SSL_version(ssl_); }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      int n = SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One response: status line, headers, then Content-Length bytes.
  RawResponse ReadResponse() {
    return testing::ReadHttpResponse(&buf_, [this] { return Fill(); });
  }

  // True when the server ends the connection (close_notify, EOF, reset)
  // before the socket timeout.
  bool WaitClosed() {
    for (;;) {
      char tmp[4096];
      int n = SSL_read(ssl_, tmp, sizeof tmp);
      if (n > 0) continue;
      return SSL_get_error(ssl_, n) != SSL_ERROR_WANT_READ;  // WANT_READ: the receive timeout expired
    }
  }

 private:
  bool Fill() {
    char tmp[16384];
    int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  RawSocket socket_;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

std::string Get(const std::string& target, const std::string& extra_headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extra_headers + "\r\n";
}

// ---- fixture ----

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PemPair pair = SelfSigned("localhost", "DNS:localhost,IP:127.0.0.1");
    cert_ = dir_.Path("cert.pem");
    key_ = dir_.Path("key.pem");
    WriteFile(cert_, pair.cert);
    WriteFile(key_, pair.key);
    auto s = HttpServer::Start(Options(), Handle);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s.value());
    port_ = server_->port();
    ASSERT_TRUE(server_->tls());
  }
  void TearDown() override {
    if (server_) server_->Stop();
  }

  // Long enough that a busy test machine never trips it; the slow-client
  // tests below shorten it.
  virtual int IdleTimeoutMs() const { return 30'000; }

  HttpServerOptions Options() const {
    HttpServerOptions o;
    o.port = 0;
    o.threads = 2;
    o.body_limit = kBodyLimit;
    o.idle_timeout_ms = IdleTimeoutMs();
    o.tls_cert_file = cert_;
    o.tls_key_file = key_;
    return o;
  }

  // /hello answers a greeting; /echo answers the body and the Authorization
  // header it was sent (as X-Seen-Authorization).
  static void Handle(HttpRequest&& req, Responder respond) {
    HttpResponse r;
    r.content_type = "text/plain";
    if (req.target == "/hello") {
      r.body = "hello over tls";
    } else if (req.target == "/echo") {
      r.body = std::move(req.body);
      r.headers.emplace_back("X-Seen-Authorization", std::string(req.Header("authorization")));
    } else {
      r = JsonError(404, "not_found", "no such path");
    }
    respond(std::move(r));
  }

  ClientOptions TlsClient(const std::string& ca_file, const std::string& host = "localhost") const {
    ClientOptions o;
    o.host = host;
    o.port = port_;
    o.timeout_ms = kSocketTimeoutMs;
    o.tls = true;
    o.ca_file = ca_file;
    return o;
  }

  // A certificate for "localhost" that the server does not have: trusting
  // only it means trusting nothing the server can show.
  std::string OtherCa() {
    std::string path = dir_.Path("other_ca.pem");
    WriteFile(path, SelfSigned("localhost", "DNS:localhost,IP:127.0.0.1").cert);
    return path;
  }

  void ExpectServesTls() {
    HttpClient client(TlsClient(cert_));
    auto r = client.Get("/hello");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hello over tls");
  }

  TempDir dir_{"tls"};
  std::string cert_, key_;
  std::unique_ptr<HttpServer> server_;
  uint16_t port_ = 0;
};

// ---- serving ----

TEST_F(TlsTest, TrustedClientGetsAnswers) {
  for (const std::string host : {"localhost", "127.0.0.1"}) {  // DNS and IP subjectAltName
    SCOPED_TRACE(host);
    HttpClient client(TlsClient(cert_, host));
    for (int i = 0; i < 3; ++i) {
      auto r = client.Get("/hello");
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->body, "hello over tls");
      EXPECT_EQ(r->Header("content-type"), "text/plain");
    }
    std::string big(3000, 'x');
    auto r = client.Request("POST", "/echo", big, "text/plain");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, big);
  }
}

TEST_F(TlsTest, KeepAliveServesManyRequestsOnOneConnection) {
  TlsConn c(port_, cert_);
  ASSERT_TRUE(c.Handshake());
  EXPECT_EQ(c.version(), TLS1_3_VERSION);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(c.Send(Get("/hello")));
    RawResponse r = c.ReadResponse();
    ASSERT_TRUE(r.complete) << i;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello over tls");
  }
  // Two requests in one write: answered in order.
  ASSERT_TRUE(c.Send(Get("/nope") + Get("/hello")));
  EXPECT_EQ(c.ReadResponse().status, 404);
  EXPECT_EQ(c.ReadResponse().status, 200);
  // Connection: close ends the TLS session in order.
  ASSERT_TRUE(c.Send(Get("/hello", "Connection: close\r\n")));
  RawResponse last = c.ReadResponse();
  EXPECT_EQ(last.status, 200);
  EXPECT_EQ(last.Header("connection"), "close");
  EXPECT_TRUE(c.WaitClosed());
}

TEST_F(TlsTest, Tls12ClientsAreServed) {
  TlsConn c(port_, cert_, TLS1_2_VERSION);
  ASSERT_TRUE(c.Handshake());
  EXPECT_EQ(c.version(), TLS1_2_VERSION);
  ASSERT_TRUE(c.Send(Get("/hello")));
  EXPECT_EQ(c.ReadResponse().status, 200);
}

TEST_F(TlsTest, BodyAndHeaderLimitsStillApply) {
  HttpClient client(TlsClient(cert_));
  auto r = client.Request("POST", "/echo", std::string(kBodyLimit + 1, 'x'), "text/plain");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->body.find("body_too_large"), std::string::npos) << r->body;

  TlsConn c(port_, cert_);
  ASSERT_TRUE(c.Handshake());
  ASSERT_TRUE(c.Send(Get("/hello", "X-Pad: " + std::string(20 << 10, 'a') + "\r\n")));
  RawResponse big = c.ReadResponse();
  EXPECT_EQ(big.status, 431);
  EXPECT_TRUE(c.WaitClosed());

  // The server goes on serving.
  ExpectServesTls();
}

TEST_F(TlsTest, ClientSendsExtraHeadersAndSeesResponseHeaders) {
  HttpClient client(TlsClient(cert_));
  ASSERT_TRUE(client.SetHeader("Authorization", "Bearer first").ok());
  ASSERT_TRUE(client.SetHeader("authorization", "Bearer second").ok());  // replaces, whatever the case
  for (int i = 0; i < 2; ++i) {
    auto r = client.Request("POST", "/echo", "hi", "text/plain");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->Header("x-seen-authorization"), "Bearer second");
  }
  ASSERT_TRUE(client.SetHeader("Authorization", "").ok());  // stops sending it
  auto r = client.Request("POST", "/echo", "hi", "text/plain");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Header("x-seen-authorization"), "");

  EXPECT_EQ(client.SetHeader("Bad Name", "x").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client.SetHeader("X-Evil", "a\r\nInjected: yes").code(), StatusCode::kInvalidArgument);
}

// ---- verification ----

TEST_F(TlsTest, UntrustedServerFailsVerification) {
  {
    HttpClient client(TlsClient(OtherCa()));
    auto r = client.Get("/hello");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
    EXPECT_NE(r.status().message().find("certificate verify failed"), std::string::npos) << r.status().ToString();
  }
  {
    // The system's trust store does not know a certificate made a moment ago.
    HttpClient client(TlsClient(""));
    auto r = client.Get("/hello");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
  }
  {
    // Unless told not to check.
    ClientOptions o = TlsClient(OtherCa());
    o.insecure_skip_verify = true;
    HttpClient client(o);
    auto r = client.Get("/hello");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
  }
  ExpectServesTls();
}

TEST_F(TlsTest, CertificateMustNameTheHost) {
  // A trusted certificate for another name.
  PemPair other = SelfSigned("elsewhere", "DNS:elsewhere.example");
  WriteFile(cert_, other.cert);
  WriteFile(key_, other.key);
  ASSERT_TRUE(server_->ReloadTls().ok());
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    SCOPED_TRACE(host);
    HttpClient client(TlsClient(cert_, host));
    auto r = client.Get("/hello");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(r.status().message().find("mismatch"), std::string::npos) << r.status().ToString();
  }
}

TEST_F(TlsTest, UnreadableCaFileIsReported) {
  HttpClient client(TlsClient(dir_.Path("missing_ca.pem")));
  auto r = client.Get("/hello");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("missing_ca.pem"), std::string::npos) << r.status().ToString();
}

// ---- clients that do not speak TLS ----

TEST_F(TlsTest, PlainHttpClientIsToldToUseTls) {
  {
    HttpClient plain("127.0.0.1", port_, kSocketTimeoutMs);
    auto r = plain.Get("/hello");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 400);
    EXPECT_NE(r->body.find("tls_required"), std::string::npos) << r->body;
  }
  ExpectServesTls();
}

TEST_F(TlsTest, GarbageBytesCloseOnlyThatConnection) {
  for (std::string garbage : {std::string("hello world\r\n\r\n"), std::string("\x16\x03\x01\x00\x05garbage", 12),
                              std::string(300, '\0')}) {
    SCOPED_TRACE(garbage.size());
    RawSocket s(port_);
    TlsConn bystander(port_, cert_);  // a client mid-session is not disturbed
    ASSERT_TRUE(bystander.Handshake());
    ASSERT_TRUE(s.Send(garbage));
    EXPECT_TRUE(s.WaitClosed());
    EXPECT_EQ(s.received().find("HTTP/1.1 200"), std::string::npos);
    ASSERT_TRUE(bystander.Send(Get("/hello")));
    EXPECT_EQ(bystander.ReadResponse().status, 200);
  }
  ExpectServesTls();
}

TEST(TlsPlainServerTest, TlsClientOnPlainPortFailsClearly) {
  HttpServerOptions o;
  o.port = 0;
  auto s = HttpServer::Start(o, [](HttpRequest&&, Responder respond) { respond(HttpResponse{}); });
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE((*s)->tls());
  EXPECT_EQ((*s)->ReloadTls().code(), StatusCode::kFailedPrecondition);
  ClientOptions c;
  c.port = (*s)->port();
  c.tls = true;
  c.insecure_skip_verify = true;
  c.timeout_ms = kSocketTimeoutMs;
  HttpClient client(c);
  auto r = client.Get("/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kFailedPrecondition) << r.status().ToString();
  EXPECT_NE(r.status().message().find("does the server speak TLS?"), std::string::npos) << r.status().ToString();
}

// ---- slow clients ----

class TlsSlowClientTest : public TlsTest {
 protected:
  int IdleTimeoutMs() const override { return 300; }
};

TEST_F(TlsSlowClientTest, ClientThatNeverHandshakesIsClosed) {
  RawSocket silent(port_);
  RawSocket half(port_);
  ASSERT_TRUE(half.Send(std::string("\x16\x03\x01\x02\x00", 5)));  // a ClientHello record header, no body
  ExpectServesTls();
  EXPECT_TRUE(silent.WaitClosed()) << "the silent connection was not closed";
  EXPECT_EQ(silent.received(), "");
  EXPECT_TRUE(half.WaitClosed()) << "the half handshake was not closed";
  ExpectServesTls();
}

TEST_F(TlsSlowClientTest, IdleTlsConnectionIsClosed) {
  TlsConn c(port_, cert_);
  ASSERT_TRUE(c.Handshake());
  ASSERT_TRUE(c.Send(Get("/hello")));
  EXPECT_EQ(c.ReadResponse().status, 200);
  EXPECT_TRUE(c.WaitClosed()) << "the idle connection was not closed";
}

// ---- configuration ----

TEST_F(TlsTest, StartRejectsBadCredentials) {
  auto start = [&](const std::string& cert, const std::string& key) {
    HttpServerOptions o = Options();
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    auto s = HttpServer::Start(o, Handle);
    return s.ok() ? Status::Ok() : s.status();
  };
  Status missing_cert = start(dir_.Path("nope.pem"), key_);
  EXPECT_EQ(missing_cert.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing_cert.message().find("nope.pem"), std::string::npos) << missing_cert.ToString();
  EXPECT_NE(missing_cert.message().find("No such file"), std::string::npos) << missing_cert.ToString();

  Status missing_key = start(cert_, dir_.Path("nokey.pem"));
  EXPECT_EQ(missing_key.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(missing_key.message().find("nokey.pem"), std::string::npos) << missing_key.ToString();

  std::string other_key = dir_.Path("other_key.pem");
  WriteFile(other_key, SelfSigned("localhost", "DNS:localhost").key);
  Status mismatch = start(cert_, other_key);
  EXPECT_EQ(mismatch.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(mismatch.message().find("mismatch"), std::string::npos) << mismatch.ToString();

  std::string not_pem = dir_.Path("not_pem.pem");
  WriteFile(not_pem, "this is not a certificate\n");
  EXPECT_EQ(start(not_pem, key_).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(start(cert_, not_pem).code(), StatusCode::kInvalidArgument);

  EXPECT_EQ(start(cert_, "").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(start("", key_).code(), StatusCode::kInvalidArgument);
}

TEST_F(TlsTest, ReloadSwitchesCredentialsForNewConnections) {
  TlsConn before(port_, cert_);
  ASSERT_TRUE(before.Handshake());
  std::string old_cert = dir_.Path("old_cert.pem");
  std::filesystem::copy_file(cert_, old_cert);
  HttpClient kept(TlsClient(old_cert));
  ASSERT_TRUE(kept.Get("/hello").ok());

  // A broken file leaves the old credentials in place.
  WriteFile(key_, "garbage");
  EXPECT_EQ(server_->ReloadTls().code(), StatusCode::kInvalidArgument);
  ExpectServesTls();

  PemPair renewed = SelfSigned("localhost", "DNS:localhost,IP:127.0.0.1");
  WriteFile(cert_, renewed.cert);
  WriteFile(key_, renewed.key);
  ASSERT_TRUE(server_->ReloadTls().ok());
  ExpectServesTls();  // trusts the new certificate only
  HttpClient stale(TlsClient(old_cert));
  EXPECT_EQ(stale.Get("/hello").status().code(), StatusCode::kFailedPrecondition);

  // Connections made before keep working; for the HttpClient that trusts
  // only the old certificate, this shows it kept its connection alive.
  ASSERT_TRUE(before.Send(Get("/hello")));
  EXPECT_EQ(before.ReadResponse().status, 200);
  for (int i = 0; i < 3; ++i) {
    auto r = kept.Get("/hello");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
  }
}

TEST_F(TlsTest, ConcurrentClients) {
  constexpr int kThreads = 4, kRequests = 20;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      HttpClient client(TlsClient(cert_));
      for (int i = 0; i < kRequests; ++i) {
        auto r = client.Get("/hello");
        if (r.ok() && r->status == 200 && r->body == "hello over tls") ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kRequests);
}

}  // namespace
}  // namespace watershed::http
