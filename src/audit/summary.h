// The reviewer's one-page view of a trail: files read, files changed, attempts denied
// (by path) and commands run, built from the events in one pass.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace agentfense::audit {

class Summary {
 public:
  void add(const nlohmann::json& event);
  // {"events", "first", "last", "files_read", "files_written", "denied", "commands",
  //  "dropped"}; documented in docs/audit.md.
  nlohmann::ordered_json to_json() const;
  // Readable text of to_json().
  std::string to_text() const;

 private:
  struct PathUse {
    std::set<std::string> ops;
    std::uint64_t count = 0;
  };
  std::uint64_t events_ = 0;
  std::uint64_t dropped_ = 0;
  std::string first_, last_;
  std::map<std::string, PathUse> read_, written_, denied_;
  nlohmann::ordered_json commands_ = nlohmann::ordered_json::array();
};

}  // namespace agentfense::audit
