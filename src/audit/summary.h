// The reviewer's one-page view of a trail: files read, files changed, attempts denied
// (by path) and commands run, built from the events in one pass.
//
// Bounded whatever the trail holds (an agent decides how many distinct paths it touches,
// each up to 8,191 bytes): each path list keeps its first kMaxListedPaths paths or
// kMaxListedPathBytes of them, and the commands their first kMaxListedCommands or
// kMaxListedCommandBytes of command text; events on further paths, and further commands,
// are counted in "<list>_omitted". A listed command keeps its first kMaxCommandTextBytes
// (a command may be 128 KiB: 530 of them once made a summary no gRPC reply could carry).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

namespace agentfense::audit {

class Summary {
 public:
  static constexpr std::size_t kMaxListedPaths = 20000;
  static constexpr std::size_t kMaxListedPathBytes = 2 << 20;
  static constexpr std::size_t kMaxListedCommands = 10000;
  static constexpr std::size_t kMaxListedCommandBytes = 2 << 20;
  static constexpr std::size_t kMaxCommandTextBytes = 1024;

  void add(const nlohmann::json& event);
  // {"events", "first", "last", "files_read", "files_written", "denied", "commands",
  //  "dropped", and each list's "_omitted" count}; documented in docs/audit.md.
  nlohmann::ordered_json to_json() const;
  // Readable text of to_json().
  std::string to_text() const;

 private:
  struct PathUse {
    std::set<std::string> ops;
    std::uint64_t count = 0;
  };
  struct Uses {
    std::map<std::string, PathUse> by_path;
    std::size_t path_bytes = 0;
    std::uint64_t omitted = 0;  // events on paths past the bound
    void note(const std::string& path, const std::string& op, std::uint64_t count);
  };
  std::uint64_t events_ = 0;
  std::uint64_t dropped_ = 0;
  std::string first_, last_;
  Uses read_, written_, denied_;
  void note_command(const nlohmann::json& event, const std::string& op);
  nlohmann::ordered_json commands_ = nlohmann::ordered_json::array();
  std::size_t command_bytes_ = 0;
  std::uint64_t commands_omitted_ = 0;
};

}  // namespace agentfense::audit
