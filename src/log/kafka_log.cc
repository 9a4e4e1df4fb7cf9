#include "log/kafka_log.h"

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "core/event_codec.h"
#include "log/kafka_topic_check.h"

namespace watershed::log {

struct KafkaLog::Shared {
  explicit Shared(uint32_t n) : ends(n) {}

  // Raises the cached end of `partition` to `end`; wakes waiters if it rose.
  void NoteEnd(uint32_t partition, int64_t end) {
    if (end < 0 || partition >= ends.size()) return;
    auto& e = ends[partition];
    uint64_t cur = e.load(std::memory_order_acquire);
    bool raised = false;
    while (cur < static_cast<uint64_t>(end))
      if (e.compare_exchange_weak(cur, static_cast<uint64_t>(end), std::memory_order_acq_rel)) {
        raised = true;
        break;
      }
    if (raised) Bump();
  }
  void Bump() {
    std::lock_guard lock(mu);
    version.fetch_add(1, std::memory_order_acq_rel);
    cv.notify_all();
  }
  void CloseWaiters() {
    std::lock_guard lock(mu);
    closed = true;
    cv.notify_all();
  }

  std::vector<std::atomic<uint64_t>> ends;
  std::atomic<uint64_t> version{0};
  std::mutex mu;  // pairs with cv
  std::condition_variable cv;
  bool closed = false;  // guarded by mu
};

struct KafkaLog::Batch {
  std::atomic<size_t> remaining;
  std::mutex mu;
  Status first_error;  // guarded by mu
  AppendCallback done;
};

namespace {

std::string ErrText(rd_kafka_resp_err_t err) {
  return std::string(rd_kafka_err2name(err)) + ": " + rd_kafka_err2str(err);
}

// What a failed delivery means to the caller. Transient broker trouble and
// timeouts are kUnavailable (the gateway answers 503 and the client retries
// the batch); the producer's fatal state and misconfiguration are not.
Status DeliveryStatus(rd_kafka_t* rk, rd_kafka_resp_err_t err, const std::string& where) {
  std::string msg = "kafka delivery to " + where + " failed: " + ErrText(err);
  switch (err) {
    case RD_KAFKA_RESP_ERR__FATAL: {
      char reason[512] = "";
      rd_kafka_resp_err_t fatal = rd_kafka_fatal_error(rk, reason, sizeof reason);
      return Status::Internal(msg + " (producer fatal error " + rd_kafka_err2name(fatal) + ": " + reason +
                              "; restart the server)");
    }
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
      return Status::TooLarge(msg);
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
      return Status::FailedPrecondition(msg);
    default:
      return Status::Unavailable(msg);
  }
}

Status SetConf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char errstr[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    // The value is left out, also where librdkafka quotes it: it may be a
    // password (kafka-property.*).
    std::string why = errstr;
    for (size_t at = 0; !value.empty() && (at = why.find(value, at)) != std::string::npos; at += 7)
      why.replace(at, value.size(), "<value>");
    return Status::InvalidArgument("kafka config " + key + ": " + why);
  }
  return Status::Ok();
}

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;

// librdkafka's log lines as its default logger prints them, but its
// AUTOCREATE warning once per process, not once per client: a broker without
// Metadata v4 (librdkafka's mock cluster, Kafka before 0.11) cannot be told
// allow.auto.create.topics=false, and every reader is a client of its own.
void LogLine(const rd_kafka_t* rk, int level, const char* facility, const char* message) {
  if (std::strcmp(facility, "AUTOCREATE") == 0) {
    static std::once_flag once;
    std::call_once(once, [] {
      std::fprintf(
          stderr,
          "watershed: kafka: these brokers cannot be asked not to auto-create topics (no Metadata v4: "
          "librdkafka's mock cluster or Kafka before 0.11); harmless: Watershed checks (or creates) its topics "
          "before it uses them (docs/deploy.md)\n");
    });
    return;
  }
  std::fprintf(stderr, "%%%d|%s|%s| %s\n", level, facility, rk ? rd_kafka_name(rk) : "", message);
}

Result<ConfPtr> CommonConf(const KafkaLogOptions& o) {
  ConfPtr conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), LogLine);
  RETURN_IF_ERROR(SetConf(conf.get(), "bootstrap.servers", o.brokers));
  // A typo in a topic name must not create a topic with broker defaults.
  RETURN_IF_ERROR(SetConf(conf.get(), "allow.auto.create.topics", "false"));
  for (const auto& [k, v] : o.extra_config) RETURN_IF_ERROR(SetConf(conf.get(), k, v));
  return conf;
}

Result<rd_kafka_t*> NewClient(rd_kafka_type_t type, ConfPtr conf) {
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof errstr);
  if (!rk) return Status::InvalidArgument(std::string("kafka client: ") + errstr);
  conf.release();  // owned by rk now
  return rk;
}

std::string Where(const KafkaLogOptions& o, uint32_t partition) {
  return o.topic + " [" + std::to_string(partition) + "]";
}

void OnQueueEvent(rd_kafka_t*, void* opaque) { static_cast<KafkaLog::Shared*>(opaque)->Bump(); }

// A cursor over one partition: a simple (group-less) consumer started at
// `from` on its own queue, whose fetches run in librdkafka's threads.
class KafkaLogReader final : public LogReader {
 public:
  KafkaLogReader(std::shared_ptr<KafkaLog::Shared> shared, std::string where, uint32_t partition, uint64_t from,
                 const KafkaLogOptions& o)
      : shared_(std::move(shared)),
        where_(std::move(where)),
        partition_(partition),
        next_(from),
        accept_create_time_(o.accept_create_time),
        partitions_(o.partitions),
        scheme_(o.partition_scheme),
        region_(o.region) {}

  ~KafkaLogReader() override {
    if (started_) rd_kafka_consume_stop(rkt_, static_cast<int32_t>(partition_));
    if (queue_) rd_kafka_queue_destroy(queue_);
    if (rkt_) rd_kafka_topic_destroy(rkt_);
    if (rk_) rd_kafka_destroy(rk_);
  }

  Status Start(const KafkaLogOptions& o) {
    ASSIGN_OR_RETURN(ConfPtr conf, CommonConf(o));
    RETURN_IF_ERROR(SetConf(conf.get(), "enable.auto.commit", "false"));
    RETURN_IF_ERROR(SetConf(conf.get(), "enable.auto.offset.store", "false"));
    RETURN_IF_ERROR(SetConf(conf.get(), "enable.partition.eof", "true"));
    // Reading from a deleted offset is an error, never a silent jump.
    RETURN_IF_ERROR(SetConf(conf.get(), "auto.offset.reset", "error"));
    RETURN_IF_ERROR(SetConf(conf.get(), "fetch.wait.max.ms", std::to_string(o.fetch_wait_max_ms)));
    RETURN_IF_ERROR(SetConf(conf.get(), "queued.max.messages.kbytes", "16384"));
    ASSIGN_OR_RETURN(rk_, NewClient(RD_KAFKA_CONSUMER, std::move(conf)));
    rkt_ = rd_kafka_topic_new(rk_, o.topic.c_str(), nullptr);
    if (!rkt_) return Status::Internal("kafka topic handle " + o.topic + ": " + ErrText(rd_kafka_last_error()));
    queue_ = rd_kafka_queue_new(rk_);
    rd_kafka_queue_cb_event_enable(queue_, &OnQueueEvent, shared_.get());
    if (rd_kafka_consume_start_queue(rkt_, static_cast<int32_t>(partition_), static_cast<int64_t>(next_),
                                     queue_) == -1)
      return Status::Unavailable("kafka consume " + where_ + ": " + ErrText(rd_kafka_last_error()));
    started_ = true;
    return Status::Ok();
  }

  Status Read(size_t max_records, std::vector<LogRecord>* out) override {
    if (!error_.ok()) return error_;
    constexpr size_t kChunk = 512;
    rd_kafka_message_t* msgs[kChunk];
    size_t got = 0;
    while (got < max_records && error_.ok()) {
      ssize_t n = rd_kafka_consume_batch_queue(queue_, 0, msgs, std::min(kChunk, max_records - got));
      if (n <= 0) break;
      for (ssize_t i = 0; i < n; ++i) {
        if (error_.ok()) got += Take(msgs[i], out);
        rd_kafka_message_destroy(msgs[i]);
      }
    }
    int64_t lo = 0, hi = 0;
    if (rd_kafka_get_watermark_offsets(rk_, rd_kafka_topic_name(rkt_), static_cast<int32_t>(partition_), &lo,
                                       &hi) == RD_KAFKA_RESP_ERR_NO_ERROR)
      shared_->NoteEnd(partition_, hi);
    shared_->NoteEnd(partition_, static_cast<int64_t>(next_));
    // Records taken before an error are returned first; the error is sticky:
    // the cursor stays at the record it could not pass.
    if (got == 0) return error_;
    return Status::Ok();
  }

  LogOffset position() const override { return LogOffset(next_); }

 private:
  // Appends the record (returns 1) or notes an error; skips events.
  size_t Take(rd_kafka_message_t* m, std::vector<LogRecord>* out) {
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return 0;
    if (m->err) {
      if (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET || m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
        error_ = Status::NotFound("offset " + std::to_string(next_) + " of " + where_ +
                                  " is no longer retained: " + ErrText(m->err));
      else if (m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || m->err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION ||
               m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        error_ = Status::NotFound("kafka " + where_ + ": " + ErrText(m->err));
      // Other consumer errors are transient; librdkafka keeps fetching.
      return 0;
    }
    const uint64_t offset = static_cast<uint64_t>(m->offset);
    if (offset < next_) return 0;  // a refetch of a record already returned
    if (offset > next_) {
      error_ = Status::Corruption("gap in " + where_ + ": expected offset " + std::to_string(next_) + ", got " +
                                  std::to_string(offset) +
                                  " (the topic must not be compacted or written by transactional producers)");
      return 0;
    }
    LogRecord r;
    r.offset = LogOffset(offset);
    rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
    r.append_time = AppendTimeMs(rd_kafka_message_timestamp(m, &type));
    // Never a producer's clock where the broker's is expected (kafka_topic_check.h).
    if (!accept_create_time_) {
      if (Status t = CheckRecordTimestampType(type, where_, offset); !t.ok()) {
        error_ = std::move(t);
        return 0;
      }
    }
    Status s = DecodeEventBinary(std::string_view(static_cast<const char*>(m->payload), m->len), &r.event);
    if (!s.ok()) {
      error_ = Status::Corruption("bad record at " + where_ + " offset " + std::to_string(offset) + ": " +
                                  s.message());
      return 0;
    }
    if (PartitionOf(r.event.story_id, partitions_, scheme_) != partition_) {
      error_ = SchemeMismatch(r.event.story_id, offset);
      return 0;
    }
    if (region_ && r.event.region != *region_) {
      const auto id = static_cast<int>(r.event.region);
      error_ = Status::FailedPrecondition(
          "record at " + where_ + " offset " + std::to_string(offset) + " is of region id " + std::to_string(id) +
          (id < RegionCount() ? " (" + std::string(RegionName(r.event.region)) + " here)" : "") + ", not " +
          std::string(RegionName(*region_)) + "'s id " + std::to_string(static_cast<int>(*region_)) +
          ": every process sharing the topics must list region-names in the same order (here " + RegionNamesText(",") +
          ")");
      return 0;
    }
    out->push_back(std::move(r));
    ++next_;
    return 1;
  }

  Status SchemeMismatch(StoryId story, uint64_t offset) const {
    std::string matches = "neither scheme maps it there (was the topic written by another program?)";
    for (PartitionScheme other : {PartitionScheme::kLegacy, PartitionScheme::kAligned})
      if (other != scheme_ && PartitionOf(story, partitions_, other) == partition_)
        matches = "the " + std::string(PartitionSchemeName(other)) +
                  " scheme maps it there: the topic was written with it; set log-partition-scheme=" +
                  std::string(PartitionSchemeName(other));
    return Status::FailedPrecondition("record at " + where_ + " offset " + std::to_string(offset) + ": story " +
                                      std::to_string(story.value) + " belongs to partition " +
                                      std::to_string(PartitionOf(story, partitions_, scheme_)) + " under the " +
                                      std::string(PartitionSchemeName(scheme_)) + " partition scheme; " + matches);
  }

  std::shared_ptr<KafkaLog::Shared> shared_;
  std::string where_;
  uint32_t partition_;
  uint64_t next_;  // offset of the next record to return
  const bool accept_create_time_;
  const uint32_t partitions_;
  const PartitionScheme scheme_;
  const std::optional<Region> region_;
  Status error_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* rkt_ = nullptr;
  rd_kafka_queue_t* queue_ = nullptr;
  bool started_ = false;
};

}  // namespace

KafkaLog::KafkaLog(const KafkaLogOptions& options)
    : options_(options), shared_(std::make_shared<Shared>(options.partitions)) {}

Result<std::unique_ptr<KafkaLog>> KafkaLog::Open(const KafkaLogOptions& options) {
  if (options.partitions == 0 || options.partitions > 4096)
    return Status::InvalidArgument("partitions must be in 1..4096");
  if (options.brokers.empty()) return Status::InvalidArgument("kafka log needs a bootstrap broker list");
  if (options.topic.empty()) return Status::InvalidArgument("kafka log needs a topic name");
  RETURN_IF_ERROR(CheckPartitionScheme(options.partition_scheme, options.partitions));
  std::unique_ptr<KafkaLog> log(new KafkaLog(options));
  RETURN_IF_ERROR(log->Start());
  return log;
}

Status KafkaLog::Start() {
  ASSIGN_OR_RETURN(ConfPtr conf, CommonConf(options_));
  RETURN_IF_ERROR(SetConf(conf.get(), "enable.idempotence", "true"));
  RETURN_IF_ERROR(SetConf(conf.get(), "acks", "all"));
  RETURN_IF_ERROR(SetConf(conf.get(), "delivery.timeout.ms", std::to_string(options_.delivery_timeout_ms)));
  RETURN_IF_ERROR(SetConf(conf.get(), "linger.ms", std::to_string(options_.linger_ms)));
  RETURN_IF_ERROR(SetConf(conf.get(), "compression.codec", options_.compression));
  rd_kafka_conf_set_dr_msg_cb(conf.get(), [](rd_kafka_t* rk, const rd_kafka_message_t* m, void* opaque) {
    OnDelivery(rk, m, opaque);
  });
  rd_kafka_conf_set_opaque(conf.get(), this);
  ASSIGN_OR_RETURN(producer_, NewClient(RD_KAFKA_PRODUCER, std::move(conf)));
  RETURN_IF_ERROR(EnsureTopic());
  if (!options_.accept_create_time) {
    ASSIGN_OR_RETURN(TopicTimestampCheck check,
                     CheckTopicTimestampType(producer_, options_.topic, std::min(options_.open_timeout_ms, 5000)));
    if (!check.checked)
      std::fprintf(stderr,
                   "watershed: kafka: message.timestamp.type of topic %s not checked at start (%s); each record's "
                   "timestamp type is checked as it is read\n",
                   options_.topic.c_str(), check.unchecked_reason.c_str());
  }
  topic_ = rd_kafka_topic_new(producer_, options_.topic.c_str(), nullptr);
  if (!topic_) return Status::Internal("kafka topic handle " + options_.topic + ": " + ErrText(rd_kafka_last_error()));
  RETURN_IF_ERROR(RefreshEndOffsets(options_.open_timeout_ms));
  RETURN_IF_ERROR(CheckNewestRecords());
  poller_ = std::thread([this] { PollLoop(); });
  refresher_ = std::thread([this] { RefreshLoop(); });
  return Status::Ok();
}

Status KafkaLog::CheckNewestRecords() {
  // A bound on waiting for the fetch, not logic: the real clock (options_.clock may be a test's manual one).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.open_timeout_ms);
  for (uint32_t p = 0; p < options_.partitions; ++p) {
    const LogOffset end = EndOffset(p);
    if (end.value == 0) continue;
    auto reader = NewReader(p, LogOffset(end.value - 1));
    if (!reader.ok() && reader.status().code() == StatusCode::kNotFound) continue;  // all deleted by retention
    if (!reader.ok()) return reader.status();
    std::vector<LogRecord> got;
    while (got.empty()) {
      RETURN_IF_ERROR((*reader)->Read(1, &got));
      if (!got.empty()) break;
      if (std::chrono::steady_clock::now() > deadline)
        return Status::Unavailable("kafka " + Where(options_, p) + ": could not read its newest record (offset " +
                                   std::to_string(end.value - 1) + ") to check the partition scheme within " +
                                   std::to_string(options_.open_timeout_ms) + " ms");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return Status::Ok();
}

Status KafkaLog::EnsureTopic() {
  const int64_t deadline = options_.clock->MonotonicNs() / 1'000'000 + options_.open_timeout_ms;
  auto left_ms = [&] {
    return static_cast<int>(std::max<int64_t>(1, deadline - options_.clock->MonotonicNs() / 1'000'000));
  };
  bool created = false;
  Status last = Status::Unavailable("kafka metadata for " + options_.topic + ": no answer");
  for (bool first = true; options_.clock->MonotonicNs() / 1'000'000 < deadline; first = false) {
    if (!first) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // All topics: a request naming the topic could auto-create it on a broker
    // with auto.create.topics.enable, whatever this client asks.
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err = rd_kafka_metadata(producer_, 1, nullptr, &md, std::min(left_ms(), 2000));
    if (err) {
      last = Status::Unavailable("kafka metadata for " + options_.topic + " from " + options_.brokers + ": " +
                                 ErrText(err));
      continue;
    }
    rd_kafka_resp_err_t topic_err = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
    int found_partitions = 0;
    for (int i = 0; i < md->topic_cnt; ++i)
      if (options_.topic == md->topics[i].topic) {
        topic_err = md->topics[i].err;
        found_partitions = md->topics[i].partition_cnt;
      }
    rd_kafka_metadata_destroy(md);
    if (topic_err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      if (found_partitions != static_cast<int>(options_.partitions))
        return Status::FailedPrecondition("kafka topic " + options_.topic + " has " +
                                          std::to_string(found_partitions) + " partitions; this server has partitions=" +
                                          std::to_string(options_.partitions));
      return Status::Ok();
    }
    if (topic_err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      last = Status::Unavailable("kafka topic " + options_.topic + ": " + ErrText(topic_err));
      continue;  // e.g. LEADER_NOT_AVAILABLE just after creation
    }
    if (created) continue;  // waiting for the new topic to show in metadata
    if (!options_.create_topic)
      return Status::FailedPrecondition("kafka topic " + options_.topic + " does not exist on " + options_.brokers +
                                        "; create it with " + std::to_string(options_.partitions) +
                                        " partitions or allow the server to create it");
    char errstr[512];
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(options_.topic.c_str(), static_cast<int>(options_.partitions),
                                                    options_.replication_factor, errstr, sizeof errstr);
    if (!nt) return Status::InvalidArgument(std::string("kafka new topic: ") + errstr);
    // Broker-set append times (monotonic per partition) and deletion by age only.
    rd_kafka_NewTopic_set_config(nt, "message.timestamp.type", "LogAppendTime");
    rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
    rd_kafka_AdminOptions_t* ao = rd_kafka_AdminOptions_new(producer_, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_operation_timeout(ao, left_ms(), errstr, sizeof errstr);
    rd_kafka_AdminOptions_set_request_timeout(ao, left_ms(), errstr, sizeof errstr);
    rd_kafka_queue_t* q = rd_kafka_queue_new(producer_);
    rd_kafka_CreateTopics(producer_, &nt, 1, ao, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, left_ms() + 1000);
    Status s;
    if (!ev) {
      s = Status::Unavailable("kafka create topic " + options_.topic + ": timed out");
    } else if (rd_kafka_event_error(ev)) {
      s = Status::Unavailable("kafka create topic " + options_.topic + ": " + ErrText(rd_kafka_event_error(ev)) +
                              " (" + rd_kafka_event_error_string(ev) + ")");
    } else {
      size_t cnt = 0;
      const rd_kafka_topic_result_t** res =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &cnt);
      rd_kafka_resp_err_t terr = cnt > 0 ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
      if (terr && terr != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        const char* why = rd_kafka_topic_result_error_string(res[0]);
        s = Status::FailedPrecondition("kafka create topic " + options_.topic + ": " + ErrText(terr) +
                                       (why ? std::string(" (") + why + ")" : ""));
      }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    RETURN_IF_ERROR(s);
    created = true;
  }
  return last;
}

KafkaLog::~KafkaLog() {
  Close();
  if (topic_) rd_kafka_topic_destroy(topic_);
  if (producer_) rd_kafka_destroy(producer_);
}

void KafkaLog::AppendAsync(std::vector<Event> events, AppendCallback done) {
  if (events.empty()) {
    done(Status::Ok());
    return;
  }
  std::unique_lock lock(append_mu_);
  if (closing_) {
    lock.unlock();
    done(Status::Unavailable("kafka log " + options_.topic + " is closed"));
    return;
  }
  auto* batch = new Batch;
  batch->remaining.store(events.size() + 1);  // +1: held until every event is handed over
  batch->done = std::move(done);
  {
    std::lock_guard block(batches_mu_);
    batches_.insert(batch);
  }
  {
    const int64_t stamp = std::max(options_.clock->NowMs(), last_stamp_ms_);
    last_stamp_ms_ = stamp;
    std::string value;
    size_t handed = 0;
    for (const Event& e : events) {
      const uint32_t p = PartitionOf(e.story_id, options_.partitions, options_.partition_scheme);
      value.clear();
      AppendEventBinary(e, &value);
      char key[8];
      for (int i = 0; i < 8; ++i) key[i] = static_cast<char>(e.story_id.value >> (56 - 8 * i));
      in_flight_.fetch_add(1, std::memory_order_relaxed);
      // rd_kafka_produceva, not the rd_kafka_producev macros: those use GNU
      // statement expressions, which -Wpedantic refuses.
      rd_kafka_vu_t vu[7] = {};
      vu[0].vtype = RD_KAFKA_VTYPE_RKT;
      vu[0].u.rkt = topic_;
      vu[1].vtype = RD_KAFKA_VTYPE_PARTITION;
      vu[1].u.i32 = static_cast<int32_t>(p);
      vu[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
      vu[2].u.i = RD_KAFKA_MSG_F_COPY;
      vu[3].vtype = RD_KAFKA_VTYPE_VALUE;
      vu[3].u.mem = {value.data(), value.size()};
      vu[4].vtype = RD_KAFKA_VTYPE_KEY;
      vu[4].u.mem = {key, sizeof key};
      vu[5].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
      vu[5].u.i64 = stamp;
      vu[6].vtype = RD_KAFKA_VTYPE_OPAQUE;
      vu[6].u.ptr = batch;
      rd_kafka_error_t* error = rd_kafka_produceva(producer_, vu, 7);
      const rd_kafka_resp_err_t err = error ? rd_kafka_error_code(error) : RD_KAFKA_RESP_ERR_NO_ERROR;
      if (error) rd_kafka_error_destroy(error);
      if (err) {
        in_flight_.fetch_sub(1, std::memory_order_relaxed);
        // The rest of the batch is not produced; the client retries it whole.
        Finish(batch, DeliveryStatus(producer_, err, Where(options_, p)));
        break;
      }
      ++handed;
    }
    const size_t not_handed = events.size() - handed;
    if (not_handed > 1) batch->remaining.fetch_sub(not_handed - 1);  // one was counted by the Finish above
  }
  lock.unlock();
  Finish(batch, Status::Ok());
}

void KafkaLog::OnDelivery(rd_kafka_t* rk, const void* message, void* opaque) {
  const auto* m = static_cast<const rd_kafka_message_t*>(message);
  auto* log = static_cast<KafkaLog*>(opaque);
  const uint32_t p = static_cast<uint32_t>(m->partition);
  log->in_flight_.fetch_sub(1, std::memory_order_acq_rel);
  if (m->err) {
    log->Finish(static_cast<Batch*>(m->_private), DeliveryStatus(rk, m->err, Where(log->options_, p)));
    return;
  }
  // Raise the end before the callback runs: an acknowledged event is counted
  // in EndOffset. (A retry answered DUPLICATE_SEQUENCE has no offset, -1.)
  if (m->offset >= 0) log->shared_->NoteEnd(p, m->offset + 1);
  log->Finish(static_cast<Batch*>(m->_private), Status::Ok());
}

void KafkaLog::Finish(Batch* batch, const Status& s) {
  if (!s.ok()) {
    std::lock_guard lock(batch->mu);
    if (batch->first_error.ok()) batch->first_error = s;
  }
  if (batch->remaining.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  {
    std::lock_guard lock(batches_mu_);
    batches_.erase(batch);
  }
  Status result;
  {
    std::lock_guard lock(batch->mu);
    result = batch->first_error;
  }
  batch->done(result);
  delete batch;
}

void KafkaLog::PollLoop() {
  while (!stop_.load(std::memory_order_acquire)) rd_kafka_poll(producer_, 50);
  rd_kafka_poll(producer_, 0);
}

void KafkaLog::RefreshLoop() {
  std::unique_lock lock(stop_mu_);
  while (!stop_.load(std::memory_order_acquire)) {
    stop_cv_.wait_for(lock, std::chrono::milliseconds(options_.watermark_refresh_ms));
    if (stop_.load(std::memory_order_acquire)) break;
    lock.unlock();
    RefreshEndOffsets(std::max(1000, options_.watermark_refresh_ms)).IgnoreError();  // retried next round
    lock.lock();
  }
}

Status KafkaLog::RefreshEndOffsets(int timeout_ms) {
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(static_cast<int>(options_.partitions));
  for (uint32_t p = 0; p < options_.partitions; ++p)
    rd_kafka_topic_partition_list_add(list, options_.topic.c_str(), static_cast<int32_t>(p))->offset =
        RD_KAFKA_OFFSET_END;  // as a timestamp: "latest", the high watermark
  rd_kafka_resp_err_t err = rd_kafka_offsets_for_times(producer_, list, timeout_ms);
  Status s;
  if (err) {
    s = Status::Unavailable("kafka end offsets of " + options_.topic + ": " + ErrText(err));
  } else {
    for (int i = 0; i < list->cnt; ++i) {
      const auto& tp = list->elems[i];
      if (tp.err) {
        if (s.ok())
          s = Status::Unavailable("kafka end offset of " + Where(options_, static_cast<uint32_t>(tp.partition)) +
                                  ": " + ErrText(tp.err));
        continue;
      }
      shared_->NoteEnd(static_cast<uint32_t>(tp.partition), tp.offset);
    }
  }
  rd_kafka_topic_partition_list_destroy(list);
  return s;
}

LogOffset KafkaLog::EndOffset(uint32_t partition) const {
  return LogOffset(shared_->ends[partition].load(std::memory_order_acquire));
}

uint64_t KafkaLog::DataVersion() const { return shared_->version.load(std::memory_order_acquire); }

Result<std::unique_ptr<LogReader>> KafkaLog::NewReader(uint32_t partition, LogOffset from) {
  if (partition >= options_.partitions) return Status::InvalidArgument("no such partition");
  int64_t lo = 0, hi = 0;
  rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(producer_, options_.topic.c_str(),
                                                             static_cast<int32_t>(partition), &lo, &hi,
                                                             options_.open_timeout_ms);
  if (err) return Status::Unavailable("kafka watermarks of " + Where(options_, partition) + ": " + ErrText(err));
  shared_->NoteEnd(partition, hi);
  if (from.value > static_cast<uint64_t>(std::max<int64_t>(hi, 0)))
    return Status::InvalidArgument("offset " + std::to_string(from.value) + " is beyond the end (" +
                                   std::to_string(hi) + ") of " + Where(options_, partition));
  if (from.value < static_cast<uint64_t>(std::max<int64_t>(lo, 0)))
    return Status::NotFound("offset " + std::to_string(from.value) + " of " + Where(options_, partition) +
                            " is no longer retained (first is " + std::to_string(lo) + ")");
  auto reader = std::make_unique<KafkaLogReader>(shared_, Where(options_, partition), partition, from.value, options_);
  RETURN_IF_ERROR(reader->Start(options_));
  return std::unique_ptr<LogReader>(std::move(reader));
}

void KafkaLog::WaitForData(uint32_t partition, LogOffset offset, std::chrono::milliseconds timeout) {
  std::unique_lock lock(shared_->mu);
  shared_->cv.wait_for(lock, timeout, [&] { return shared_->closed || EndOffset(partition) > offset; });
}

void KafkaLog::WaitForNewData(uint64_t seen, std::chrono::milliseconds timeout) {
  std::unique_lock lock(shared_->mu);
  shared_->cv.wait_for(lock, timeout, [&] { return shared_->closed || DataVersion() != seen; });
}

void KafkaLog::Close() {
  {
    std::lock_guard lock(append_mu_);
    if (closing_) return;
    closing_ = true;
  }
  if (poller_.joinable()) {
    // The poll thread serves the delivery reports (and so the callbacks)
    // while this thread waits for the outstanding messages.
    const int64_t deadline = options_.clock->MonotonicNs() + int64_t{options_.close_timeout_ms} * 1'000'000;
    while (in_flight_.load(std::memory_order_acquire) > 0 && options_.clock->MonotonicNs() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (in_flight_.load(std::memory_order_acquire) > 0) {
      // Not delivered in time: their reports fail with _PURGE_QUEUE or
      // _PURGE_INFLIGHT (kUnavailable). An in-flight one may still land; a
      // retry of its batch is deduplicated downstream.
      rd_kafka_purge(producer_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      const int64_t purge_deadline = options_.clock->MonotonicNs() + 5'000'000'000;
      while (in_flight_.load(std::memory_order_acquire) > 0 && options_.clock->MonotonicNs() < purge_deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    {
      std::lock_guard lock(stop_mu_);
      stop_.store(true, std::memory_order_release);
      stop_cv_.notify_all();
    }
    poller_.join();
    refresher_.join();
  }
  // Never leave a caller waiting: a batch whose reports did not come is failed.
  std::vector<Batch*> left;
  {
    std::lock_guard lock(batches_mu_);
    left.assign(batches_.begin(), batches_.end());
    batches_.clear();
  }
  for (Batch* b : left) {
    Status s;
    {
      std::lock_guard lock(b->mu);
      s = b->first_error.ok() ? Status::Unavailable("kafka log " + options_.topic + " closed before delivery")
                              : b->first_error;
    }
    b->done(s);
    // librdkafka may still hold the batch as a message opaque; it is never
    // dereferenced again (nobody polls), so it is left to leak rather than freed.
  }
  shared_->CloseWaiters();
}

}  // namespace watershed::log
