// The Kafka transport's ceiling: librdkafka's producer and consumer alone,
// with KafkaLog's message shape and producer settings, against a running
// cluster (usually `watershed kafka-mock`). What KafkaLog and the server add
// on top is the difference between its figures and these.
//
//   kafka_transport_bench --brokers HOST:PORT[,...] [--topic watershed.us]
//       [--events 300000] [--partitions 8] [--seed 1]
//
// Messages: workload events encoded with AppendEventBinary, key = story id
// (8 bytes big-endian), partition = PartitionOf(story, partitions, aligned), stamped
// with the producer's clock: what KafkaLog::AppendAsync hands librdkafka.
// Payloads are encoded before the clock starts, so the produce figure is
// librdkafka's alone (KafkaLog encodes on the append path).
//
// produce: from the first produce call until every delivery report arrived.
// consume: one consumer, assign() of all partitions at the high watermarks
// read before producing, until it has received the N messages.
// MB/s counts key + value bytes (1 MB = 1e6 bytes); cpu is this process's
// user+sys seconds per million events (the broker's CPU is not included).
// Output, one line per phase:
//   produce: N events in T s (R events/s, B MB/s), F failed, cpu C s/M events
//   consume: N events in T s (R events/s, B MB/s), cpu C s/M events
// Exit status 1 on any failed delivery, missing or misplaced message.

#include <librdkafka/rdkafka.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/event.h"
#include "core/event_codec.h"
#include "core/partitioning.h"
#include "workload/generator.h"

using namespace watershed;
using Steady = std::chrono::steady_clock;

namespace {

struct Args {
  std::string brokers;
  std::string topic = "watershed.us";
  uint64_t events = 300'000;
  uint32_t partitions = 8;
  uint64_t seed = 1;
};

bool ParseArgs(int argc, char** argv, Args* a) {
  std::map<std::string, std::string> kv;
  for (int i = 1; i < argc; i += 2) {
    const std::string key = argv[i];
    if (key.rfind("--", 0) != 0 || i + 1 >= argc) return false;
    kv[key.substr(2)] = argv[i + 1];
  }
  for (const auto& [k, v] : kv) {
    if (k == "brokers") a->brokers = v;
    else if (k == "topic") a->topic = v;
    else if (k == "events") a->events = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "partitions") a->partitions = static_cast<uint32_t>(std::strtoul(v.c_str(), nullptr, 10));
    else if (k == "seed") a->seed = std::strtoull(v.c_str(), nullptr, 10);
    else return false;
  }
  return !a->brokers.empty() && !a->topic.empty() && a->events > 0 && a->partitions > 0;
}

bool Set(rd_kafka_conf_t* conf, const char* key, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key, value.c_str(), errstr, sizeof errstr) == RD_KAFKA_CONF_OK) return true;
  std::fprintf(stderr, "kafka_transport_bench: %s=%s: %s\n", key, value.c_str(), errstr);
  return false;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

struct Message {
  uint32_t partition;
  char key[8];
  std::string value;
};

// Delivery-report tallies; the callback runs inside rd_kafka_poll on the
// main thread, so plain counters suffice.
struct Reports {
  uint64_t ok = 0;
  uint64_t failed = 0;
  rd_kafka_resp_err_t first_error = RD_KAFKA_RESP_ERR_NO_ERROR;
};

void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* r = static_cast<Reports*>(opaque);
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    ++r->ok;
    return;
  }
  if (r->failed++ == 0) r->first_error = m->err;
}

void PrintPhase(const char* phase, uint64_t n, double seconds, uint64_t bytes, const std::string& extra,
                double cpu) {
  std::printf("%s: %llu events in %.2f s (%.0f events/s, %.1f MB/s)%s, cpu %.2f s/M events\n", phase,
              static_cast<unsigned long long>(n), seconds, static_cast<double>(n) / seconds,
              static_cast<double>(bytes) / seconds / 1e6, extra.c_str(), cpu * 1e6 / static_cast<double>(n));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (!ParseArgs(argc, argv, &args)) {
    std::fprintf(stderr,
                 "usage: kafka_transport_bench --brokers HOST:PORT[,...] [--topic watershed.us] "
                 "[--events 300000] [--partitions 8] [--seed 1]\n");
    return 2;
  }

  // Build every message first: the measured loop does only librdkafka work.
  std::vector<Message> messages(args.events);
  std::vector<uint64_t> per_partition(args.partitions, 0);
  uint64_t total_bytes = 0;
  {
    workload::WorkloadOptions wo;
    wo.seed = args.seed;
    workload::Generator gen(wo);
    for (Message& m : messages) {
      const Event e = gen.Next();
      m.partition = PartitionOf(e.story_id, args.partitions, PartitionScheme::kAligned);
      for (int i = 0; i < 8; ++i) m.key[i] = static_cast<char>(e.story_id.value >> (56 - 8 * i));
      AppendEventBinary(e, &m.value);
      ++per_partition[m.partition];
      total_bytes += sizeof m.key + m.value.size();
    }
  }

  // The producer exactly as KafkaLog::Start configures it (defaults of
  // KafkaLogOptions: delivery timeout 30 s, linger 2 ms, no compression).
  Reports reports;
  rd_kafka_conf_t* pconf = rd_kafka_conf_new();
  char errstr[512];
  if (!Set(pconf, "bootstrap.servers", args.brokers) || !Set(pconf, "allow.auto.create.topics", "false") ||
      !Set(pconf, "enable.idempotence", "true") || !Set(pconf, "acks", "all") ||
      !Set(pconf, "delivery.timeout.ms", "30000") || !Set(pconf, "linger.ms", "2") ||
      !Set(pconf, "compression.codec", "none"))
    return 1;
  rd_kafka_conf_set_dr_msg_cb(pconf, &OnDelivery);
  rd_kafka_conf_set_opaque(pconf, &reports);
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, pconf, errstr, sizeof errstr);
  if (!producer) {
    std::fprintf(stderr, "kafka_transport_bench: producer: %s\n", errstr);
    return 1;
  }
  rd_kafka_topic_t* topic = rd_kafka_topic_new(producer, args.topic.c_str(), nullptr);

  // Where this run starts: the high watermarks before producing. The queries
  // also open the connections to the partition leaders before timing starts.
  std::vector<int64_t> start(args.partitions, 0);
  for (uint32_t p = 0; p < args.partitions; ++p) {
    int64_t lo = 0, hi = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_query_watermark_offsets(producer, args.topic.c_str(), static_cast<int32_t>(p), &lo, &hi, 10'000);
    if (err) {
      std::fprintf(stderr, "kafka_transport_bench: watermarks of %s [%u]: %s\n", args.topic.c_str(), p,
                   rd_kafka_err2name(err));
      return 1;
    }
    start[p] = hi;
  }

  // --- produce ---
  double cpu0 = CpuSeconds();
  auto t0 = Steady::now();
  const int64_t stamp = Clock::Real()->NowMs();
  uint64_t refused = 0;
  uint64_t produced = 0;
  for (Message& m : messages) {
    rd_kafka_vu_t vu[6] = {};
    vu[0].vtype = RD_KAFKA_VTYPE_RKT;
    vu[0].u.rkt = topic;
    vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
    vu[1].u.i32 = static_cast<int32_t>(m.partition);
    vu[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[2].u.i = RD_KAFKA_MSG_F_COPY;
    vu[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[3].u.mem = {m.value.data(), m.value.size()};
    vu[4].vtype = RD_KAFKA_VTYPE_KEY;
    vu[4].u.mem = {m.key, sizeof m.key};
    vu[5].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vu[5].u.i64 = stamp;
    rd_kafka_resp_err_t err;
    for (;;) {
      rd_kafka_error_t* error = rd_kafka_produceva(producer, vu, 6);
      err = error ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;
      if (error) rd_kafka_error_destroy(error);
      // A full local queue is back-pressure, not failure: serve reports and
      // retry (KafkaLog instead fails the batch and the client retries).
      if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) break;
      rd_kafka_poll(producer, 1);
    }
    if (err) {
      if (refused++ == 0)
        std::fprintf(stderr, "kafka_transport_bench: produce to [%u]: %s\n", m.partition, rd_kafka_err2name(err));
      continue;
    }
    if ((++produced & 1023) == 0) rd_kafka_poll(producer, 0);  // serve reports as we go
  }
  const auto produce_deadline = Steady::now() + std::chrono::seconds(60);
  while (reports.ok + reports.failed < produced && Steady::now() < produce_deadline) rd_kafka_poll(producer, 10);
  const double produce_s = std::chrono::duration<double>(Steady::now() - t0).count();
  const uint64_t failed = args.events - reports.ok;
  PrintPhase("produce", args.events, produce_s, total_bytes, ", " + std::to_string(failed) + " failed",
             CpuSeconds() - cpu0);
  if (reports.failed > 0)
    std::fprintf(stderr, "kafka_transport_bench: first delivery error: %s\n", rd_kafka_err2name(reports.first_error));
  rd_kafka_topic_destroy(topic);
  rd_kafka_flush(producer, 5'000);
  rd_kafka_destroy(producer);
  if (failed > 0) return 1;

  // --- consume ---
  // The fetch settings of KafkaLog's readers; a group id only because
  // librdkafka's assign() needs one (nothing is committed).
  rd_kafka_conf_t* cconf = rd_kafka_conf_new();
  if (!Set(cconf, "bootstrap.servers", args.brokers) || !Set(cconf, "allow.auto.create.topics", "false") ||
      !Set(cconf, "group.id", "watershed-transport-bench") || !Set(cconf, "enable.auto.commit", "false") ||
      !Set(cconf, "enable.auto.offset.store", "false") || !Set(cconf, "auto.offset.reset", "error") ||
      !Set(cconf, "fetch.wait.max.ms", "100") || !Set(cconf, "queued.max.messages.kbytes", "16384"))
    return 1;
  rd_kafka_t* consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, errstr, sizeof errstr);
  if (!consumer) {
    std::fprintf(stderr, "kafka_transport_bench: consumer: %s\n", errstr);
    return 1;
  }
  rd_kafka_poll_set_consumer(consumer);
  {
    // Bootstrap connection and metadata before the clock starts.
    const rd_kafka_metadata_t* md = nullptr;
    if (rd_kafka_metadata(consumer, 1, nullptr, &md, 10'000) == RD_KAFKA_RESP_ERR_NO_ERROR)
      rd_kafka_metadata_destroy(md);
  }
  rd_kafka_topic_partition_list_t* assignment =
      rd_kafka_topic_partition_list_new(static_cast<int>(args.partitions));
  for (uint32_t p = 0; p < args.partitions; ++p)
    rd_kafka_topic_partition_list_add(assignment, args.topic.c_str(), static_cast<int32_t>(p))->offset = start[p];

  cpu0 = CpuSeconds();
  t0 = Steady::now();
  if (rd_kafka_resp_err_t err = rd_kafka_assign(consumer, assignment)) {
    std::fprintf(stderr, "kafka_transport_bench: assign: %s\n", rd_kafka_err2name(err));
    return 1;
  }
  rd_kafka_topic_partition_list_destroy(assignment);
  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(consumer);
  std::vector<uint64_t> got(args.partitions, 0);
  uint64_t received = 0, received_bytes = 0, errors = 0;
  auto last_progress = Steady::now();
  constexpr size_t kChunk = 512;  // as KafkaLog's reader
  rd_kafka_message_t* batch[kChunk];
  while (received < args.events && errors == 0 && Steady::now() - last_progress < std::chrono::seconds(30)) {
    const ssize_t n = rd_kafka_consume_batch_queue(queue, 100, batch, kChunk);
    for (ssize_t i = 0; i < n; ++i) {
      rd_kafka_message_t* m = batch[i];
      if (m->err) {
        if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF && errors++ == 0)
          std::fprintf(stderr, "kafka_transport_bench: consume [%d]: %s%s\n", static_cast<int>(m->partition),
                       rd_kafka_err2name(m->err),
                       m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET
                           ? " (start offset no longer retained; librdkafka's mock keeps only the last 5 MiB "
                             "or 100000 batches of a partition: use fewer --events)"
                           : "");
      } else if (m->partition >= 0 && static_cast<uint32_t>(m->partition) < args.partitions) {
        ++got[static_cast<uint32_t>(m->partition)];
        ++received;
        received_bytes += m->key_len + m->len;
      }
      rd_kafka_message_destroy(m);
    }
    if (n > 0) last_progress = Steady::now();
  }
  const double consume_s = std::chrono::duration<double>(Steady::now() - t0).count();
  const double consume_cpu = CpuSeconds() - cpu0;
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(consumer);
  rd_kafka_destroy(consumer);

  bool ok = errors == 0 && received == args.events && received_bytes == total_bytes;
  for (uint32_t p = 0; p < args.partitions; ++p)
    if (got[p] != per_partition[p]) ok = false;
  if (received != args.events) {
    std::fprintf(stderr, "kafka_transport_bench: consumed %llu of %llu events\n",
                 static_cast<unsigned long long>(received), static_cast<unsigned long long>(args.events));
    return 1;
  }
  PrintPhase("consume", received, consume_s, received_bytes, "", consume_cpu);
  if (!ok) {
    std::fprintf(stderr, "kafka_transport_bench: consumed messages differ from those produced (per partition "
                         "counts or bytes), %llu errors\n",
                 static_cast<unsigned long long>(errors));
    return 1;
  }
  return 0;
}
