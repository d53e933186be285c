// The control socket of a live mount: the requests a supervisor (the server, `agentfense
// run`, `agentfense mcp`) sends to the fs process that owns a sandbox's write layer, and
// the replies. One JSON object per line each way; this header is the only place that
// builds or reads them: the fs process decodes requests and encodes replies, every
// client encodes requests and decodes replies.
//
//   {"op":"ping"}                       -> {"ok":true}
//   {"op":"changes"}                    -> {"ok":true,"changes":[{"path","kind","type"}],
//                                           "changes_omitted":N}
//   {"op":"diff","paths":[..]}          -> {"ok":true,"diff":"..."}        (no paths = all)
//   {"op":"commit","paths":[..]}        -> {"ok":true,"applied","denied","conflicts",
//                                           "reasons","notes","applied_omitted",
//                                           "denied_omitted","conflicts_omitted"}
//        (lists bounded as layer/listed_paths.h says; a reply without the counts reads
//        as omitting nothing)
//   {"op":"discard"}                    -> {"ok":true}
//   {"op":"refresh","paths":[..]}       -> {"ok":true}
//   {"op":"audit_begin","command":"ID"} -> {"ok":true}   events now carry the command id
//   {"op":"audit_end","command":"ID"}   -> {"ok":true,"dropped":N,"pending":B} once the
//        command's events (its repeat counts too) are written and synced: acknowledged
//        (docs/audit.md); {"ok":false,...} when auditing is off or the disk refused.
//        "pending" is false only when the write layer holds nothing at all (upper empty,
//        no journal record): a commit then has nothing to apply and can be skipped
//   {"op":"stats"}                      -> {"ok":true,"requests":{"readdir","reads",
//        "prefetched_files","getattr"},"prewarm":"off"|"walking"|"done"}  what reached the daemon
//        so far (tests, diagnostics) and the warm-up walk's state (fs/prewarm_walk.h)
//   any failure                         -> {"ok":false,"error":"one line"}
//
// JSON is UTF-8 and file names need not be: paths travel as path_to_wire text (lossless,
// common/text_safety.h), reasons and notes as printable text (changes_wire.h). Decoding
// restores the raw paths.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/errors.h"
#include "layer/changes.h"

namespace agentfense::layer::control {

enum class Op {
  kPing,
  kChanges,
  kDiff,
  kCommit,
  kDiscard,
  kRefresh,
  kAuditBegin,
  kAuditEnd,
  kStats,
};

// "ping", "changes", ..., "audit_end": the op's name on the wire.
const char* op_name(Op op);

// "added", "modified", "deleted": a change's kind on the wire.
const char* kind_name(ChangeKind kind);
std::optional<ChangeKind> kind_from_name(std::string_view name);

struct Request {
  Op op = Op::kPing;
  // kDiff, kCommit: the selection (change_selection.h; empty = every change). kRefresh:
  // the paths whose cached views to drop. Normalized workspace paths, raw bytes.
  std::vector<std::string> paths;
  std::string command;  // kAuditBegin, kAuditEnd: the command's id, never empty
  // kCommit: the most bytes the commit may write (regular files, once per name), checked
  // under the commit's locks; -1: no bound. The caller's own check before the request
  // cannot see what the sandbox's processes write in between.
  std::int64_t max_bytes = -1;
  // kCommit: the review token (layer/review_token.h) of a diff of the same selection;
  // the commit is refused when the changes are no longer those. Empty: not checked.
  std::string review_token;
};

// The fs process's request counters and warm-up state ("stats").
struct DaemonStats {
  std::uint64_t readdir = 0;
  std::uint64_t reads = 0;
  std::uint64_t prefetched_files = 0;
  std::uint64_t getattr = 0;
  std::string prewarm;  // "off", "walking" or "done"
};

// What a successful reply carries; only the members of the request's op are sent.
struct Reply {
  std::vector<Change> changes;      // kChanges: the first (layer/listed_paths.h)
  std::size_t changes_omitted = 0;  // kChanges: how many more there are
  std::string diff;                 // kDiff
  std::string review_token;         // kDiff: of the changes the diff selected
  CommitResult commit;              // kCommit
  std::uint64_t dropped = 0;        // kAuditEnd: events the audit trail has lost so far
  // kAuditEnd: false only when the write layer was empty as the command ended; a reply
  // without it reads as true (nothing is skipped on a daemon's silence).
  bool pending = true;
  DaemonStats stats;  // kStats
};

// A message that does not follow the protocol; what() names what was wrong.
class ProtocolError : public UserError {
 public:
  using UserError::UserError;
};

// The fs process refused the request ({"ok":false}); what() is its error text.
class Refused : public UserError {
 public:
  using UserError::UserError;
};

// The fs process refused a commit over its max_bytes ({"ok":false,"room_exceeded":N}).
class RoomExceeded : public Refused {
 public:
  RoomExceeded(const std::string& message, std::int64_t bytes) : Refused(message), bytes_(bytes) {}
  std::int64_t bytes() const { return bytes_; }  // what the commit would have written

 private:
  std::int64_t bytes_;
};

// The fs process refused a commit whose changes differ from the review it was given
// ({"ok":false,"review_outdated":true}).
class ReviewOutdated : public Refused {
 public:
  using Refused::Refused;
};

// One line without its newline.
std::string encode_request(const Request& request);
// Throws ProtocolError: not JSON, not an object, an unknown op, "paths" that are not a
// list of workspace paths, an audit op without a command.
Request decode_request(std::string_view line);

std::string encode_reply(Op op, const Reply& reply);
// {"ok":false}; line breaks in `message` become spaces (the reply is one line).
std::string encode_failure(std::string_view message);
std::string encode_room_exceeded(std::string_view message, std::int64_t bytes);
std::string encode_review_outdated(std::string_view message);
// The reply to a request of `op`. Throws Refused for {"ok":false}, ProtocolError for
// anything that is not a well-formed reply to `op`.
Reply decode_reply(Op op, std::string_view line);

}  // namespace agentfense::layer::control
