// Conversions between google.protobuf Timestamp/Duration and std::chrono.
#pragma once

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <limits>

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

// A Timestamp or Duration from the wire may hold any int64 of seconds; converted to
// nanoseconds as they were, large ones wrapped (a timeout of 18446744074 s ran as 0.29 s,
// an expiry 9e9 s ahead fell in the year -272). These saturate at what the result holds.

inline std::chrono::system_clock::time_point from_timestamp(const google::protobuf::Timestamp& ts) {
  using Duration = std::chrono::system_clock::duration;
  constexpr std::int64_t kMaxSeconds =
      std::chrono::duration_cast<std::chrono::seconds>(Duration::max()).count() - 1;
  const std::int64_t seconds = std::clamp<std::int64_t>(ts.seconds(), -kMaxSeconds, kMaxSeconds);
  return std::chrono::system_clock::time_point(std::chrono::duration_cast<Duration>(
      std::chrono::seconds(seconds) + std::chrono::nanoseconds(ts.nanos())));
}

inline std::chrono::milliseconds to_millis(const google::protobuf::Duration& d) {
  constexpr std::int64_t kMaxSeconds = std::numeric_limits<std::int64_t>::max() / 1000 - 1;
  const std::int64_t seconds = std::clamp<std::int64_t>(d.seconds(), -kMaxSeconds, kMaxSeconds);
  return std::chrono::milliseconds(seconds * 1000 + d.nanos() / 1'000'000);
}

inline google::protobuf::Duration to_duration(std::chrono::nanoseconds d) {
  google::protobuf::Duration out;
  out.set_seconds(d.count() / 1'000'000'000);
  out.set_nanos(static_cast<int>(d.count() % 1'000'000'000));
  return out;
}

}  // namespace agentfense::server
