#include "log/kafka_group.h"

#include <librdkafka/rdkafka.h>


namespace watershed::log {

namespace {

// The partitions of `list` on `topic`, in list order.
std::vector<uint32_t> PartitionsOf(const rd_kafka_topic_partition_list_t* list, const std::string& topic) {
  std::vector<uint32_t> out;
  for (int i = 0; i < list->cnt; ++i)
    if (topic == list->elems[i].topic && list->elems[i].partition >= 0)
      out.push_back(static_cast<uint32_t>(list->elems[i].partition));
  return out;
}

}  // namespace

struct KafkaGroupCallbacks {
  static void OnRebalance(rd_kafka_t*, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* partitions,
                          void* opaque) {
    static_cast<KafkaGroup*>(opaque)->Rebalance(static_cast<int>(err), partitions);
  }
};

KafkaGroup::KafkaGroup(const KafkaGroupOptions& options, PartitionsCallback on_assigned,
                       PartitionsCallback on_revoked)
    : options_(options), on_assigned_(std::move(on_assigned)), on_revoked_(std::move(on_revoked)) {}

Result<std::unique_ptr<KafkaGroup>> KafkaGroup::Start(const KafkaGroupOptions& options,
                                                      PartitionsCallback on_assigned,
                                                      PartitionsCallback on_revoked) {
  std::unique_ptr<KafkaGroup> g(new KafkaGroup(options, std::move(on_assigned), std::move(on_revoked)));
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  std::vector<std::pair<std::string, std::string>> settings = {
      {"bootstrap.servers", options.brokers},
      {"group.id", options.group_id},
      {"partition.assignment.strategy", "cooperative-sticky"},
      // Offsets live in Watershed's checkpoints: never commit, never store.
      {"enable.auto.commit", "false"},
      {"enable.auto.offset.store", "false"},
      {"auto.offset.reset", "latest"},
      {"session.timeout.ms", std::to_string(options.session_timeout_ms)},
      {"heartbeat.interval.ms", std::to_string(options.heartbeat_interval_ms)},
  };
  settings.insert(settings.end(), options.extra_config.begin(), options.extra_config.end());
  for (const auto& [k, v] : settings) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return Status::InvalidArgument("kafka group config " + k + ": " + errstr);
    }
  }
  rd_kafka_conf_set_rebalance_cb(conf, KafkaGroupCallbacks::OnRebalance);
  rd_kafka_conf_set_opaque(conf, g.get());
  g->consumer_ = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
  if (!g->consumer_) {
    rd_kafka_conf_destroy(conf);
    return Status::InvalidArgument(std::string("kafka group consumer: ") + errstr);
  }
  rd_kafka_poll_set_consumer(g->consumer_);
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, options.topic.c_str(), RD_KAFKA_PARTITION_UA);
  rd_kafka_resp_err_t err = rd_kafka_subscribe(g->consumer_, topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (err) {
    rd_kafka_destroy(g->consumer_);
    g->consumer_ = nullptr;
    g->closed_ = true;
    return Status::InvalidArgument(std::string("kafka group subscribe: ") + rd_kafka_err2str(err));
  }
  g->poller_ = std::thread([p = g.get()] { p->PollLoop(); });
  return g;
}

KafkaGroup::~KafkaGroup() { Close().IgnoreError(); }

void KafkaGroup::PollLoop() {
  while (!stop_.load(std::memory_order_relaxed)) {
    // Serves rebalances; records cannot arrive (every partition is paused),
    // errors are transient (librdkafka retries) and leave the group as is.
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_, options_.poll_interval_ms);
    if (m) rd_kafka_message_destroy(m);
  }
}

void KafkaGroup::Rebalance(int err, void* opaque_list) {
  auto* list = static_cast<rd_kafka_topic_partition_list_t*>(opaque_list);
  const std::string protocol = rd_kafka_rebalance_protocol(consumer_);
  const bool cooperative = protocol == "COOPERATIVE";
  const std::vector<uint32_t> ps = PartitionsOf(list, options_.topic);
  {
    std::lock_guard lock(owned_mu_);
    protocol_ = protocol;
  }
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    rd_kafka_error_t* e = nullptr;
    if (cooperative) {
      e = rd_kafka_incremental_assign(consumer_, list);
    } else {
      rd_kafka_assign(consumer_, list);
    }
    if (e) rd_kafka_error_destroy(e);
    // Membership only: the records are read by KafkaLog readers.
    rd_kafka_pause_partitions(consumer_, list);
    {
      std::lock_guard lock(owned_mu_);
      owned_.insert(ps.begin(), ps.end());
    }
    if (!ps.empty() && on_assigned_) on_assigned_(ps);
  } else {
    // Revoke (or lost) first, then release: the group reassigns the
    // partitions only after this member rejoins, i.e. after this returns.
    if (!ps.empty() && on_revoked_) on_revoked_(ps);
    {
      std::lock_guard lock(owned_mu_);
      for (uint32_t p : ps) owned_.erase(p);
    }
    if (cooperative) {
      if (rd_kafka_error_t* e = rd_kafka_incremental_unassign(consumer_, list)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(consumer_, nullptr);
    }
  }
}

Status KafkaGroup::Close() {
  std::lock_guard close_lock(close_mu_);
  if (closed_) return Status::Ok();
  closed_ = true;
  stop_ = true;
  if (poller_.joinable()) poller_.join();
  // Serves the final revoke (on this thread) and leaves the group.
  rd_kafka_resp_err_t err = rd_kafka_consumer_close(consumer_);
  rd_kafka_destroy(consumer_);
  consumer_ = nullptr;
  if (err) return Status::Unavailable(std::string("kafka group close: ") + rd_kafka_err2str(err));
  return Status::Ok();
}

void KafkaGroup::AbandonForTest() {
  std::lock_guard close_lock(close_mu_);
  if (closed_) return;
  closed_ = true;
  stop_ = true;
  if (poller_.joinable()) poller_.join();
  rd_kafka_destroy_flags(consumer_, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  consumer_ = nullptr;
}

std::vector<uint32_t> KafkaGroup::Owned() const {
  std::lock_guard lock(owned_mu_);
  return {owned_.begin(), owned_.end()};
}

}  // namespace watershed::log

namespace watershed::log {

std::string KafkaGroup::RebalanceProtocol() const {
  std::lock_guard lock(owned_mu_);
  return protocol_;
}

}  // namespace watershed::log
