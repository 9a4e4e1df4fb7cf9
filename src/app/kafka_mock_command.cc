// `watershed kafka-mock`: librdkafka's mock Kafka cluster in a process of its
// own, for development and the crash test of the Kafka configuration (the
// Watershed server can then be killed while "Kafka" keeps the data). It is
// an in-memory test double with librdkafka's limits (no durability, no
// CreateTopics, producer sequence numbers not checked) — never production.

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "app/commands.h"
#include "core/event.h"

namespace watershed::app {

int KafkaMockCommand(const std::vector<std::string>& args) {
  static const char* kHelp =
      "usage: watershed kafka-mock [--brokers 3] [--partitions 8] [--topic-prefix watershed]\n\n"
      "Runs librdkafka's in-memory mock cluster with one topic per region\n"
      "(<prefix>.us, <prefix>.eu, <prefix>.apac), prints its bootstrap servers on\n"
      "the first line of stdout, and serves until SIGINT/SIGTERM. For tests and\n"
      "development only: it keeps nothing on disk.\n";
  Flags f;
  std::string error;
  if (!Flags::Parse(args, {"brokers", "partitions", "topic-prefix", "help!"}, &f, &error) || !f.positional().empty()) {
    std::fprintf(stderr, "watershed kafka-mock: %s\n%s", error.empty() ? "unexpected argument" : error.c_str(), kHelp);
    return 2;
  }
  if (f.Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const int brokers = std::atoi(f.Get("brokers", "3").c_str());
  const int partitions = std::atoi(f.Get("partitions", "8").c_str());
  if (brokers < 1 || brokers > 16 || partitions < 1 || partitions > 1024) {
    std::fprintf(stderr, "watershed kafka-mock: --brokers must be 1..16 and --partitions 1..1024\n");
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  char errstr[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) {
    std::fprintf(stderr, "watershed kafka-mock: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (cluster == nullptr) {
    std::fprintf(stderr, "watershed kafka-mock: cannot start the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  const std::string prefix = f.Get("topic-prefix", "watershed");
  for (int r = 0; r < kRegionCount; ++r) {
    const std::string topic = prefix + "." + std::string(RegionName(static_cast<Region>(r)));
    if (rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(cluster, topic.c_str(), partitions, std::min(brokers, 3))) {
      std::fprintf(stderr, "watershed kafka-mock: topic %s: %s\n", topic.c_str(), rd_kafka_err2name(err));
      return 1;
    }
  }
  std::printf("%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  return 0;
}

}  // namespace watershed::app
