// Checks a trail's hash chain and sequence (chain.h) line by line.
#pragma once

#include <cstdint>
#include <istream>
#include <string>

namespace agentfense::audit {

struct VerifyResult {
  bool ok = true;
  std::uint64_t lines = 0;     // lines checked (all of them when ok)
  std::string head;            // hash of the last line: compare it with a copy kept elsewhere
  std::uint64_t bad_line = 0;  // 1-based; 0 when ok
  std::string problem;
};

VerifyResult verify(std::istream& in);

}  // namespace agentfense::audit
