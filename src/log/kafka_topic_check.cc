#include "log/kafka_topic_check.h"

#include <librdkafka/rdkafka.h>

#include <memory>

namespace watershed::log {
namespace {

constexpr const char* kSetting = "message.timestamp.type";

std::string FixHint(const std::string& topic) {
  return "set it with `kafka-configs.sh --bootstrap-server BROKER --alter --entity-type topics --entity-name " + topic +
         " --add-config " + kSetting +
         "=LogAppendTime`; records written before keep their CreateTime and are refused when read, so recreate a "
         "topic that holds any (docs/deploy.md)";
}

// Whether the cluster names a controller among its brokers: DescribeConfigs
// goes to the controller, and librdkafka's mock cluster names none.
bool HasController(rd_kafka_t* rk, int timeout_ms) {
  const int32_t controller = rd_kafka_controllerid(rk, timeout_ms);
  if (controller < 0) return false;
  const rd_kafka_metadata_t* md = nullptr;
  if (rd_kafka_metadata(rk, 0, nullptr, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR) return false;
  bool found = false;
  for (int i = 0; i < md->broker_cnt; ++i) found = found || md->brokers[i].id == controller;
  rd_kafka_metadata_destroy(md);
  return found;
}

struct Deleters {
  void operator()(rd_kafka_ConfigResource_t* r) const { rd_kafka_ConfigResource_destroy(r); }
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};

}  // namespace

Status CheckTimestampTypeValue(const std::string& topic, const std::string& value) {
  if (value == "LogAppendTime") return Status::Ok();
  return Status::FailedPrecondition("kafka topic " + topic + " has " + kSetting + "=" + value +
                                    "; Watershed needs LogAppendTime (append times must be the brokers' clock: "
                                    "the processors' dedup horizon and watermark are computed from them): " +
                                    FixHint(topic));
}

Status CheckRecordTimestampType(int type, const std::string& where, uint64_t offset) {
  if (type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME) return Status::Ok();
  const std::string got = type == RD_KAFKA_TIMESTAMP_CREATE_TIME ? "a CreateTime timestamp" : "no timestamp";
  const std::string topic = where.substr(0, where.find(' '));
  return Status::FailedPrecondition("kafka " + where + " offset " + std::to_string(offset) + " has " + got +
                                    ", not a log append time: the topic must have " + kSetting +
                                    "=LogAppendTime (the processors' dedup horizon and watermark are computed "
                                    "from append times); " +
                                    FixHint(topic));
}

Result<TopicTimestampCheck> CheckTopicTimestampType(rd_kafka_t* rk, const std::string& topic, int timeout_ms) {
  TopicTimestampCheck out;
  if (!HasController(rk, timeout_ms)) {
    out.unchecked_reason = "the brokers name no controller to send DescribeConfigs to (librdkafka's mock cluster)";
    return out;
  }
  char errstr[512];
  std::unique_ptr<rd_kafka_ConfigResource_t, Deleters> resource(
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  std::unique_ptr<rd_kafka_AdminOptions_t, Deleters> options(
      rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS));
  rd_kafka_AdminOptions_set_request_timeout(options.get(), timeout_ms, errstr, sizeof errstr);
  std::unique_ptr<rd_kafka_queue_t, Deleters> queue(rd_kafka_queue_new(rk));
  rd_kafka_ConfigResource_t* resources[] = {resource.get()};
  rd_kafka_DescribeConfigs(rk, resources, 1, options.get(), queue.get());
  std::unique_ptr<rd_kafka_event_t, Deleters> ev(rd_kafka_queue_poll(queue.get(), timeout_ms + 1000));
  if (!ev) {
    out.unchecked_reason = "DescribeConfigs timed out";
    return out;
  }
  if (rd_kafka_event_error(ev.get())) {
    out.unchecked_reason = std::string("DescribeConfigs failed: ") + rd_kafka_err2name(rd_kafka_event_error(ev.get())) +
                           " (" + rd_kafka_event_error_string(ev.get()) + ")";
    return out;
  }
  size_t n = 0;
  const rd_kafka_ConfigResource_t** results =
      rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev.get()), &n);
  if (n != 1 || rd_kafka_ConfigResource_error(results[0])) {
    out.unchecked_reason = std::string("DescribeConfigs answered ") +
                           (n == 1 ? rd_kafka_err2name(rd_kafka_ConfigResource_error(results[0])) : "no resource");
    return out;
  }
  size_t m = 0;
  const rd_kafka_ConfigEntry_t** entries = rd_kafka_ConfigResource_configs(results[0], &m);
  for (size_t i = 0; i < m; ++i) {
    const char* name = rd_kafka_ConfigEntry_name(entries[i]);
    const char* value = rd_kafka_ConfigEntry_value(entries[i]);
    if (!name || std::string(name) != kSetting) continue;
    RETURN_IF_ERROR(CheckTimestampTypeValue(topic, value ? value : "(none)"));
    out.checked = true;
    return out;
  }
  out.unchecked_reason = std::string("DescribeConfigs did not list ") + kSetting;
  return out;
}

}  // namespace watershed::log
