#include "runtime/cgroup_counters.h"

#include <fstream>

namespace agentfense::runtime {

std::optional<std::uint64_t> read_cgroup_counter(const std::string& file, std::string_view key) {
  if (file.empty()) return std::nullopt;
  std::ifstream lines(file);
  for (std::string name; lines >> name;) {
    std::uint64_t value = 0;
    if (!(lines >> value)) return std::nullopt;  // not a flat-keyed file
    if (name == key) return value;
  }
  return std::nullopt;
}

}  // namespace agentfense::runtime
