// What the HTTP transport's request bodies may hold in memory together. Each body is
// bounded (message_limits.h), but each connection has a thread of its own and nothing
// bounded how many bodies were held at once: 24 connections sending 64 MiB bodies took
// `agentfense mcp --http` from 14 MiB to 2.3 GB (attack sweep M2). A body is charged its
// Content-Length before a byte of it is read, and refused (503) when that does not fit.
// (The server's MemoryBudget does the same for its calls, with its API errors.)
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>

namespace agentfense::cli::mcp {

class BodyBudget {
 public:
  explicit BodyBudget(std::size_t bytes) : left_(bytes) {}
  BodyBudget(const BodyBudget&) = delete;
  BodyBudget& operator=(const BodyBudget&) = delete;

  // Held while the body (and the message parsed from it) is; gives its bytes back when
  // the last copy goes.
  class Share {
   public:
    Share(BodyBudget& budget, std::size_t bytes) : budget_(budget), bytes_(bytes) {}
    Share(const Share&) = delete;
    Share& operator=(const Share&) = delete;
    ~Share() { budget_.give_back(bytes_); }

   private:
    BodyBudget& budget_;
    const std::size_t bytes_;
  };

  // A share of `bytes`, or null when less than that is left.
  std::shared_ptr<Share> take(std::size_t bytes);

 private:
  void give_back(std::size_t bytes);

  std::mutex mu_;
  std::size_t left_;
};

}  // namespace agentfense::cli::mcp
