// The control socket's messages (layer/control_protocol.h): what one side encodes the
// other decodes to the same thing, the wire format is the documented one, and anything
// malformed is refused with an error that names what was wrong.
#include "layer/control_protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace agentfense::layer::control {
namespace {

using nlohmann::json;
using Strings = std::vector<std::string>;

constexpr Op kAllOps[] = {Op::kPing,    Op::kChanges,    Op::kDiff,     Op::kCommit, Op::kDiscard,
                          Op::kRefresh, Op::kAuditBegin, Op::kAuditEnd, Op::kStats};

// A name that is not UTF-8 and one with a space and a newline: both must survive.
const std::string kOddName = "/bin/\xff\xfe.dat";
const std::string kSpacedName = "/a dir/line\nbreak";

bool same_change(const Change& a, const Change& b) {
  return a.path == b.path && a.kind == b.kind && a.type == b.type;
}

template <typename Fn>
std::string protocol_error(Fn&& fn) {
  try {
    fn();
  } catch (const ProtocolError& error) {
    return error.what();
  }
  return "no ProtocolError";
}

std::string request_error(std::string_view line) {
  return protocol_error([&] { decode_request(line); });
}

std::string reply_error(Op op, std::string_view line) {
  return protocol_error([&] { decode_reply(op, line); });
}

TEST(ControlRequest, EveryOpRoundTrips) {
  for (const Op op : kAllOps) {
    Request request{.op = op};
    if (op == Op::kDiff || op == Op::kCommit || op == Op::kRefresh)
      request.paths = {"/src", kOddName, kSpacedName};
    if (op == Op::kAuditBegin || op == Op::kAuditEnd) request.command = "c7";
    const std::string line = encode_request(request);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;  // one message, one line
    EXPECT_TRUE(json::accept(line)) << line;                // valid UTF-8 JSON
    const Request decoded = decode_request(line);
    EXPECT_EQ(decoded.op, op) << op_name(op);
    EXPECT_EQ(decoded.paths, request.paths) << op_name(op);
    EXPECT_EQ(decoded.command, request.command) << op_name(op);
  }
}

TEST(ControlRequest, TheWireFormatIsTheDocumentedOne) {
  EXPECT_EQ(encode_request({.op = Op::kPing}), R"({"op":"ping"})");
  EXPECT_EQ(encode_request({.op = Op::kCommit, .paths = {"/a", "/b c"}}),
            R"({"op":"commit","paths":["/a","/b c"]})");
  EXPECT_EQ(encode_request({.op = Op::kCommit}), R"({"op":"commit","paths":[]})");
  EXPECT_EQ(encode_request({.op = Op::kRefresh, .paths = {kOddName}}),
            R"({"op":"refresh","paths":["\"/bin/\\377\\376.dat\""]})");
  EXPECT_EQ(encode_request({.op = Op::kAuditEnd, .command = "c1"}),
            R"({"command":"c1","op":"audit_end"})");
}

TEST(ControlRequest, PathsAreNormalizedAndMayBeLeftOut) {
  EXPECT_EQ(decode_request(R"({"op":"diff","paths":["src//a/","/b/./c"]})").paths,
            (Strings{"/src/a", "/b/c"}));
  EXPECT_EQ(decode_request(R"({"op":"commit"})").paths, Strings{});
  EXPECT_EQ(decode_request(R"({"op":"commit","paths":null})").paths, Strings{});
  // Members an op does not take are ignored.
  EXPECT_EQ(decode_request(R"({"op":"ping","paths":5,"command":false})").op, Op::kPing);
}

TEST(ControlRequest, MalformedRequestsAreRefusedWithTheirFault) {
  EXPECT_EQ(request_error("this is not json").find("request is not valid JSON"), 0u);
  EXPECT_EQ(request_error("[1,2]"), "request must be a JSON object");
  EXPECT_EQ(request_error("{}"), "request needs a string member \"op\"");
  EXPECT_EQ(request_error(R"({"op":3})"), "request needs a string member \"op\"");
  EXPECT_EQ(request_error(R"({"op":"frobnicate"})"),
            "unknown op 'frobnicate' (expected ping, changes, diff, commit, discard, "
            "refresh, audit_begin, audit_end or stats)");
  EXPECT_EQ(request_error(R"({"op":"commit","paths":"/a"})"),
            "\"paths\" must be a list of strings");
  EXPECT_EQ(request_error(R"({"op":"commit","paths":["/a",7]})"),
            "\"paths\" must be a list of strings");
  EXPECT_EQ(request_error(R"({"op":"refresh","paths":["/a/../b"]})"),
            "bad path '/a/../b': path '/a/../b' contains '..'");
  EXPECT_EQ(request_error(R"({"op":"diff","paths":["/a\u0000b"]})"),
            "bad path '/a\\x00b': path contains a NUL byte");
  EXPECT_NE(request_error(R"({"op":"diff","paths":["\"/a\\9\""]})").find("malformed quoted path"),
            std::string::npos);
  EXPECT_EQ(request_error(R"({"op":"audit_begin"})"), "\"command\" must be a non-empty string");
  EXPECT_EQ(request_error(R"({"op":"audit_end","command":""})"),
            "\"command\" must be a non-empty string");
}

// A commit's bound travels with it, and its refusal comes back as RoomExceeded.
TEST(ControlRequest, ACommitCarriesItsRoomAndItsRefusalTheBytes) {
  const Request request = decode_request(encode_request({.op = Op::kCommit, .max_bytes = 42}));
  EXPECT_EQ(request.max_bytes, 42);
  EXPECT_EQ(decode_request(R"({"op":"commit"})").max_bytes, -1);
  EXPECT_THROW(decode_request(R"({"op":"commit","max_bytes":-1})"), ProtocolError);
  EXPECT_THROW(decode_request(R"({"op":"commit","max_bytes":"9"})"), ProtocolError);
  try {
    decode_reply(Op::kCommit, encode_room_exceeded("too big\nfor it", 43));
    ADD_FAILURE() << "no RoomExceeded";
  } catch (const RoomExceeded& refused) {
    EXPECT_EQ(refused.bytes(), 43);
    EXPECT_STREQ(refused.what(), "too big for it");
  }
  EXPECT_THROW(decode_reply(Op::kCommit, encode_failure("other")), Refused);
}

TEST(ControlRequest, ACommitCarriesItsReviewTokenAndADiffReturnsOne) {
  const Request request =
      decode_request(encode_request({.op = Op::kCommit, .review_token = "abc"}));
  EXPECT_EQ(request.review_token, "abc");
  EXPECT_EQ(decode_request(R"({"op":"commit"})").review_token, "");
  EXPECT_THROW(decode_request(R"({"op":"commit","review_token":5})"), ProtocolError);
  const Reply diff =
      decode_reply(Op::kDiff, encode_reply(Op::kDiff, {.diff = "d", .review_token = "t"}));
  EXPECT_EQ(diff.review_token, "t");
  EXPECT_THROW(decode_reply(Op::kCommit, encode_review_outdated("changed")), ReviewOutdated);
}

TEST(ControlReply, EveryOpRoundTrips) {
  Reply reply;
  reply.changes = {{"/new.txt", ChangeKind::kAdded, 'f'},
                   {kOddName, ChangeKind::kModified, 'l'},
                   {kSpacedName, ChangeKind::kDeleted, 'd'}};
  reply.diff = "diff --git a/x b/x\n+caf\xc3\xa9\n";
  reply.commit.applied = {"/a", kOddName};
  reply.commit.denied = {kSpacedName};
  reply.commit.conflicts = {"/c"};
  reply.commit.reasons = {{kSpacedName, "not writable"}, {"/c", "changed in the codebase"}};
  reply.commit.notes = {{kOddName, "committed with mode 0755 instead of 4755"}};
  reply.changes_omitted = 5;
  reply.commit.applied_omitted = 6;
  reply.commit.denied_omitted = 7;
  reply.commit.conflicts_omitted = 8;
  reply.dropped = 42;
  reply.pending = false;
  reply.stats = {
      .readdir = 7, .reads = 8, .prefetched_files = 9, .getattr = 10, .prewarm = "walking"};
  for (const Op op : kAllOps) {
    const std::string line = encode_reply(op, reply);
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_TRUE(json::accept(line)) << line;
    const Reply decoded = decode_reply(op, line);
    const Reply empty;
    const Reply& expected =
        op == Op::kChanges || op == Op::kDiff || op == Op::kCommit || op == Op::kAuditEnd ? reply
                                                                                          : empty;
    if (op == Op::kChanges) {
      ASSERT_EQ(decoded.changes.size(), expected.changes.size());
      for (std::size_t i = 0; i < expected.changes.size(); ++i)
        EXPECT_TRUE(same_change(decoded.changes[i], expected.changes[i])) << i;
    } else {
      EXPECT_TRUE(decoded.changes.empty()) << op_name(op);  // only the op's members travel
    }
    EXPECT_EQ(decoded.diff, op == Op::kDiff ? reply.diff : "") << op_name(op);
    const CommitResult& commit = op == Op::kCommit ? reply.commit : empty.commit;
    EXPECT_EQ(decoded.commit.applied, commit.applied) << op_name(op);
    EXPECT_EQ(decoded.commit.denied, commit.denied) << op_name(op);
    EXPECT_EQ(decoded.commit.conflicts, commit.conflicts) << op_name(op);
    EXPECT_EQ(decoded.commit.reasons, commit.reasons) << op_name(op);
    EXPECT_EQ(decoded.commit.notes, commit.notes) << op_name(op);
    EXPECT_EQ(decoded.changes_omitted, op == Op::kChanges ? 5u : 0u) << op_name(op);
    EXPECT_EQ(decoded.commit.applied_omitted, commit.applied_omitted) << op_name(op);
    EXPECT_EQ(decoded.commit.denied_omitted, commit.denied_omitted) << op_name(op);
    EXPECT_EQ(decoded.commit.conflicts_omitted, commit.conflicts_omitted) << op_name(op);
    EXPECT_EQ(decoded.dropped, op == Op::kAuditEnd ? 42u : 0u) << op_name(op);
    EXPECT_EQ(decoded.pending, op != Op::kAuditEnd) << op_name(op);  // the default: true
    const DaemonStats& stats = op == Op::kStats ? reply.stats : empty.stats;
    EXPECT_EQ(decoded.stats.readdir, stats.readdir) << op_name(op);
    EXPECT_EQ(decoded.stats.reads, stats.reads) << op_name(op);
    EXPECT_EQ(decoded.stats.prefetched_files, stats.prefetched_files) << op_name(op);
    EXPECT_EQ(decoded.stats.getattr, stats.getattr) << op_name(op);
    EXPECT_EQ(decoded.stats.prewarm, stats.prewarm) << op_name(op);
  }
}

TEST(ControlReply, TheWireFormatIsTheDocumentedOne) {
  EXPECT_EQ(encode_reply(Op::kPing, {}), R"({"ok":true})");
  EXPECT_EQ(
      encode_reply(Op::kChanges, {.changes = {{"/a", ChangeKind::kAdded, 'f'}}}),
      R"({"changes":[{"kind":"added","path":"/a","type":"f"}],"changes_omitted":0,"ok":true})");
  CommitResult commit;
  commit.applied = {"/a"};
  commit.conflicts = {"/b"};
  commit.reasons = {{"/b", "changed"}};
  EXPECT_EQ(encode_reply(Op::kCommit, {.commit = commit}),
            R"({"applied":["/a"],"applied_omitted":0,"conflicts":["/b"],"conflicts_omitted":0,)"
            R"("denied":[],"denied_omitted":0,"notes":{},"ok":true,"reasons":{"/b":"changed"}})");
  // An fs process that does not count reads as omitting nothing; a count must be one.
  EXPECT_EQ(decode_reply(Op::kChanges, R"({"ok":true,"changes":[]})").changes_omitted, 0u);
  EXPECT_EQ(decode_reply(Op::kCommit, R"({"ok":true,"applied":[],"denied":[],"conflicts":[],)"
                                      R"("reasons":{},"notes":{}})")
                .commit.applied_omitted,
            0u);
  EXPECT_THROW(decode_reply(Op::kChanges, R"({"ok":true,"changes":[],"changes_omitted":-1})"),
               ProtocolError);
  EXPECT_EQ(encode_reply(Op::kAuditEnd, {.dropped = 3}),
            R"({"dropped":3,"ok":true,"pending":true})");
  EXPECT_EQ(encode_reply(Op::kAuditEnd, {.dropped = 3, .pending = false}),
            R"({"dropped":3,"ok":true,"pending":false})");
  // A daemon that does not say reads as "something may be pending": nothing is skipped.
  EXPECT_TRUE(decode_reply(Op::kAuditEnd, R"({"ok":true,"dropped":0})").pending);
  EXPECT_EQ(encode_reply(Op::kStats, {.stats = {.readdir = 1, .reads = 2, .prewarm = "off"}}),
            R"({"ok":true,"prewarm":"off","requests":{"getattr":0,"prefetched_files":0,)"
            R"("readdir":1,"reads":2}})");
}

TEST(ControlReply, ReasonsAreSentAsPrintableText) {
  // A reason may quote a file name: no control byte reaches the reader.
  CommitResult commit;
  commit.denied = {"/x"};
  commit.reasons = {{"/x", "target '\x1b[2J' leaves the codebase"}};
  const Reply decoded = decode_reply(Op::kCommit, encode_reply(Op::kCommit, {.commit = commit}));
  EXPECT_EQ(decoded.commit.reasons.at("/x"), "target '\\x1b[2J' leaves the codebase");
}

TEST(ControlReply, AFailureIsRefusedWithTheFsProcessMessage) {
  const std::string line = encode_failure("the audit trail\ncould not be written");
  EXPECT_EQ(line, R"({"error":"the audit trail could not be written","ok":false})");
  for (const Op op : kAllOps) {
    try {
      decode_reply(op, line);
      ADD_FAILURE() << op_name(op) << ": no Refused";
    } catch (const Refused& refused) {
      EXPECT_STREQ(refused.what(), "the audit trail could not be written");
    }
  }
  EXPECT_THROW(decode_reply(Op::kPing, R"({"ok":false})"), Refused);
}

TEST(ControlReply, MalformedRepliesAreRefusedWithTheirFault) {
  EXPECT_EQ(reply_error(Op::kPing, "").find("control reply is not valid JSON"), 0u);
  EXPECT_EQ(reply_error(Op::kPing, "[true]"), "control reply must be a JSON object");
  EXPECT_EQ(reply_error(Op::kPing, "{}"), "malformed control reply to 'ping': no boolean \"ok\"");
  EXPECT_EQ(reply_error(Op::kPing, R"({"ok":"yes"})"),
            "malformed control reply to 'ping': no boolean \"ok\"");
  EXPECT_EQ(reply_error(Op::kDiff, R"({"ok":true})"), "malformed control reply to 'diff': no diff");
  EXPECT_EQ(reply_error(Op::kCommit, R"({"ok":true,"denied":[],"conflicts":[]})"),
            "malformed control reply to 'commit': no applied");
  EXPECT_EQ(reply_error(Op::kCommit,
                        R"({"ok":true,"applied":[1],"denied":[],"conflicts":[],"reasons":{},)"
                        R"("notes":{}})"),
            "malformed control reply to 'commit': applied is not a string");
  EXPECT_EQ(
      reply_error(Op::kCommit, R"({"ok":true,"applied":[],"denied":[],"conflicts":[],"reasons":[],)"
                               R"("notes":{}})"),
      "malformed control reply to 'commit': no reasons");
  EXPECT_EQ(reply_error(Op::kChanges, R"({"ok":true,"changes":[7]})"),
            "malformed control reply to 'changes': a change is not an object");
  EXPECT_EQ(reply_error(Op::kChanges,
                        R"({"ok":true,"changes":[{"path":"/a","kind":"renamed","type":"f"}]})"),
            "malformed control reply to 'changes': unknown change kind 'renamed'");
  EXPECT_EQ(reply_error(Op::kChanges,
                        R"({"ok":true,"changes":[{"path":"/a","kind":"added","type":"file"}]})"),
            "malformed control reply to 'changes': type 'file' is not one letter");
  EXPECT_EQ(reply_error(Op::kChanges, R"({"ok":true,"changes":[{"kind":"added","type":"f"}]})"),
            "malformed control reply to 'changes': path is not a string");
  EXPECT_EQ(reply_error(Op::kAuditEnd, R"({"ok":true,"dropped":-1})"),
            "malformed control reply to 'audit_end': no dropped");
  EXPECT_EQ(reply_error(Op::kAuditEnd, R"({"ok":true,"dropped":1,"pending":0})"),
            "malformed control reply to 'audit_end': \"pending\" is not a boolean");
  EXPECT_EQ(reply_error(Op::kStats, R"({"ok":true,"requests":{"readdir":1},"prewarm":"off"})"),
            "malformed control reply to 'stats': no requests.reads");
}

TEST(ControlNames, KindsAndOpsHaveOneSpelling) {
  for (const ChangeKind kind : {ChangeKind::kAdded, ChangeKind::kModified, ChangeKind::kDeleted})
    EXPECT_EQ(kind_from_name(kind_name(kind)), kind);
  EXPECT_EQ(kind_from_name("renamed"), std::nullopt);
  EXPECT_STREQ(op_name(Op::kAuditBegin), "audit_begin");
}

}  // namespace
}  // namespace agentfense::layer::control
