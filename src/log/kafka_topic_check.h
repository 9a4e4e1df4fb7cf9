#pragma once
// The topic setting the Kafka log depends on: message.timestamp.type must be
// LogAppendTime. A record's append time is then the partition leader's
// clock, monotonic per partition whatever the number of gateways; the
// processors' dedup horizon and watermark are computed from it. With
// CreateTime it would be each gateway's clock instead, so one skewed
// gateway would move them.
//
// Two checks (KafkaLog runs both):
//  - At open, CheckTopicTimestampType asks the cluster (Admin API
//    DescribeConfigs) and refuses another value with kFailedPrecondition.
//    DescribeConfigs is sent to the controller; a cluster that names none
//    (librdkafka's mock cluster) or does not answer is reported "unchecked"
//    with the reason, and opening goes on.
//  - Per record, CheckRecordTimestampType: a reader refuses (sticky,
//    kFailedPrecondition) the first record whose timestamp is not a log
//    append time, so an unchecked topic never silently feeds CreateTime to
//    the processors. librdkafka's mock cluster stores CreateTime and cannot
//    be configured: KafkaLogOptions::accept_create_time lets it be used.

#include <cstdint>
#include <string>

#include "core/status.h"

typedef struct rd_kafka_s rd_kafka_t;

namespace watershed::log {

struct TopicTimestampCheck {
  bool checked = false;  // the cluster answered, with LogAppendTime
  std::string unchecked_reason;
};

// Asks for `topic`'s message.timestamp.type, waiting up to timeout_ms.
// kFailedPrecondition when it is another value (the message says how to fix
// it); otherwise what was checked.
Result<TopicTimestampCheck> CheckTopicTimestampType(rd_kafka_t* rk, const std::string& topic, int timeout_ms);

// The verdict on a message.timestamp.type value (exposed for tests).
Status CheckTimestampTypeValue(const std::string& topic, const std::string& value);

// The verdict on one record: `type` is rd_kafka_timestamp_type_t as
// rd_kafka_message_timestamp() reports it; `where` is "topic [partition]".
Status CheckRecordTimestampType(int type, const std::string& where, uint64_t offset);

}  // namespace watershed::log
