// The store keeps times as int64 microseconds since the epoch: exact to compare and order
// (page tokens), and precise enough for every API timestamp.
#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <chrono>
#include <cstdint>

namespace agentfense::store {

inline int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline google::protobuf::Timestamp to_timestamp(int64_t us) {
  google::protobuf::Timestamp out;
  int64_t seconds = us / 1'000'000;
  int64_t micros = us % 1'000'000;
  if (micros < 0) {  // Timestamp nanos must be non-negative
    micros += 1'000'000;
    seconds -= 1;
  }
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(micros * 1000));
  return out;
}

inline int64_t to_us(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1'000'000 + ts.nanos() / 1000;
}

}  // namespace agentfense::store
