// Keeps codebases' size/file_count current after commits without making a command wait
// for a walk of the whole tree (seconds on a large imported repository): commits mark
// the codebase, one background thread recounts it, and marks that arrive meanwhile
// coalesce into one more walk. Readers may briefly see the previous figures.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace agentfense::server {

class StatsRefresher {
 public:
  using Recount = std::function<void(const std::string& codebase_id)>;
  explicit StatsRefresher(Recount recount);
  StatsRefresher(const StatsRefresher&) = delete;
  StatsRefresher& operator=(const StatsRefresher&) = delete;
  ~StatsRefresher();  // finishes pending recounts, then joins

  void mark(const std::string& codebase_id);

 private:
  void loop();

  Recount recount_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::set<std::string> pending_;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the members above exist
};

}  // namespace agentfense::server
