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
#include "app/flags.h"
#include "core/event.h"

namespace watershed::app {

int KafkaMockCommand(const std::vector<std::string>& args) {
  static const char* kHelp =
      "usage: watershed kafka-mock [--brokers 3] [--partitions 8] [--topic-prefix watershed]\n\n"
      "Runs librdkafka's in-memory mock cluster with one topic per region\n"
      "(<prefix>.<region> for each of region-names: WATERSHED_REGION_NAMES), prints its bootstrap servers on\n"
      "the first line of stdout, and serves until SIGINT/SIGTERM. For tests and\n"
      "development only: it keeps nothing on disk. Its topics keep CreateTime\n"
      "timestamps, so give the processes log = kafka-mock://<those servers>.\n";
  auto parsed = Flags::Parse(args, {"brokers", "partitions", "topic-prefix", "help!"});
  if (!parsed.ok()) return Fail("kafka-mock", parsed.status().message() + "\n" + kHelp, 2);
  const Flags& f = *parsed;
  if (!f.positional().empty()) return Fail("kafka-mock", "unexpected argument '" + f.positional()[0] + "'", 2);
  if (f.Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  auto brokers = f.GetNumber<int>("brokers", 3, 1, 16);
  if (!brokers.ok()) return Fail("kafka-mock", brokers.status().message(), 2);
  auto partitions = f.GetNumber<int>("partitions", 8, 1, 1024);
  if (!partitions.ok()) return Fail("kafka-mock", partitions.status().message(), 2);
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  char errstr[256];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (rk == nullptr) return Fail("kafka-mock", errstr);
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, *brokers);
  if (cluster == nullptr) {
    rd_kafka_destroy(rk);
    return Fail("kafka-mock", "cannot start the mock cluster");
  }
  const std::string prefix = f.Get("topic-prefix", "watershed");
  for (int r = 0; r < RegionCount(); ++r) {
    const std::string topic = prefix + "." + std::string(RegionName(static_cast<Region>(r)));
    if (rd_kafka_resp_err_t err =
            rd_kafka_mock_topic_create(cluster, topic.c_str(), *partitions, std::min(*brokers, 3)))
      return Fail("kafka-mock", "topic " + topic + ": " + rd_kafka_err2name(err));
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
