// How many entries a serialized request holds, counted on the wire before it is parsed.
//
// Parsing costs far more memory than the bytes sent where an entry is tiny: a 62 MiB
// CreateSandboxRequest of 31 million empty `permissions` (two bytes each) took the server
// to 1.8 GB while it was parsed. The per-field limits (10,000 rules, 64 labels, 256 env
// variables) are checked only after parsing, so this pass refuses a request whose
// repeated or map field, summed over every message of the request, or whose fields the
// server does not know (kept by the parser too), hold more than kMaxRepeatedEntries. It
// allocates nothing per entry and stops quietly at malformed input: the parse that follows
// reports that.
#pragma once

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/zero_copy_stream.h>

#include <cstddef>

namespace agentfense::server {

inline constexpr std::size_t kMaxRepeatedEntries = 100'000;

// Throws ApiError(INVALID_ARGUMENT, reason REQUEST_TOO_LARGE) naming the first field (or
// the unknown fields) past the limit; `type` is the message `wire` holds.
void CheckRepeatedCounts(google::protobuf::io::ZeroCopyInputStream& wire,
                         const google::protobuf::Descriptor& type,
                         std::size_t limit = kMaxRepeatedEntries);

}  // namespace agentfense::server
