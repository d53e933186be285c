// Conversions between google.protobuf Timestamp/Duration and std::chrono.
#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <chrono>

namespace agentfense::server {

inline google::protobuf::Timestamp to_timestamp(std::chrono::system_clock::time_point t) {
  const auto ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  google::protobuf::Timestamp ts;
  ts.set_seconds(ns / 1'000'000'000);
  ts.set_nanos(static_cast<int>(ns % 1'000'000'000));
  return ts;
}

inline google::protobuf::Timestamp now_timestamp() {
  return to_timestamp(std::chrono::system_clock::now());
}

inline std::chrono::system_clock::time_point from_timestamp(const google::protobuf::Timestamp& ts) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(ts.seconds()) + std::chrono::nanoseconds(ts.nanos())));
}

inline std::chrono::milliseconds to_millis(const google::protobuf::Duration& d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::seconds(d.seconds()) +
                                                               std::chrono::nanoseconds(d.nanos()));
}

inline google::protobuf::Duration to_duration(std::chrono::nanoseconds d) {
  google::protobuf::Duration out;
  out.set_seconds(d.count() / 1'000'000'000);
  out.set_nanos(static_cast<int>(d.count() % 1'000'000'000));
  return out;
}

}  // namespace agentfense::server
