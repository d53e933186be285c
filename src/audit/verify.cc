#include "audit/verify.h"

#include <nlohmann/json.hpp>

#include "audit/chain.h"

namespace agentfense::audit {

VerifyResult verify(std::istream& in) {
  VerifyResult result;
  std::string prev(kGenesis);
  std::uint64_t expected_seq = 1;
  std::string line;
  auto fail = [&](std::string problem) {
    result.ok = false;
    result.bad_line = result.lines + 1;
    result.problem = std::move(problem);
    return result;
  };
  while (std::getline(in, line)) {
    if (in.eof()) return fail("incomplete last line (no newline): the trail was cut mid-write");
    std::string body, hash;
    if (!split_line(line, &body, &hash)) return fail("no hash at the end of the line");
    const auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (!parsed.is_object()) return fail("not a JSON object");
    if (!parsed.contains("seq") || !parsed["seq"].is_number_unsigned() ||
        parsed["seq"].get<std::uint64_t>() != expected_seq) {
      return fail("sequence number is not " + std::to_string(expected_seq) +
                  ": a line before it was removed or reordered");
    }
    if (!parsed.contains("prev") || parsed["prev"] != prev) {
      return fail(
          "prev does not match the hash of the line before: a line was removed, "
          "inserted or changed");
    }
    if (link_hash(prev, body) != hash) return fail("hash mismatch: the line was changed");
    prev = hash;
    ++expected_seq;
    ++result.lines;
  }
  result.head = prev;
  return result;
}

}  // namespace agentfense::audit
