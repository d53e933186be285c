// Per-principal request rate (quotas.requests_per_second, quotas.request_burst): a token
// bucket per principal id holding up to `burst` requests, refilled at `rate` per second.
// Every RPC and REST request takes one; a call with none left answers RESOURCE_EXHAUSTED
// (HTTP 429) naming the limit and when to retry, before any of it runs.
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "server/principal.h"

namespace agentfense::server {

class RequestRate {
 public:
  using Clock = std::chrono::steady_clock;

  // Takes one request of `principal`'s rate at `now`, or throws ApiError.
  void take(const Principal& principal, Clock::time_point now = Clock::now());

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point refilled;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace agentfense::server
