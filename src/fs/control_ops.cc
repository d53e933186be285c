#include "fs/control_ops.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <shared_mutex>

#include "common/dir_stream.h"
#include "common/errors.h"
#include "fs/kernel_notices.h"
#include "fs/node_rebind.h"
#include "layer/changes.h"
#include "layer/control_protocol.h"
#include "layer/listed_paths.h"
#include "layer/review_token.h"
#include "layer/tree_bytes.h"

namespace agentfense::fs {
namespace {

using layer::control::Op;
using layer::control::Reply;
using layer::control::Request;

// Everything that replaces or removes upper files: no data write may be in flight
// (layer_gate) and no namespace change (mutation_mu). Kernel notices are sent by the
// caller once both are released (kernel_notices.h).
struct LayerLocks {
  explicit LayerLocks(Filesystem& fs) : gate(fs.layer_gate()), mutation(fs.mutation_mu()) {}
  std::unique_lock<std::shared_mutex> gate;
  std::unique_lock<std::mutex> mutation;
};

class Dispatcher {
 public:
  Dispatcher(Filesystem& fs, fuse_session* session, OpenWatch* opens, PrewarmChild* prewarm)
      : fs_(fs), session_(session), opens_(opens), prewarm_(prewarm) {}

  Reply run(const Request& request) {
    switch (request.op) {
      case Op::kPing:
        return {};
      case Op::kChanges:
        return changes();
      case Op::kDiff:
        return diff(request.paths);
      case Op::kCommit:
        return commit(request.paths, request.max_bytes, request.review_token);
      case Op::kDiscard:
        return discard();
      case Op::kRefresh:
        return refresh(request.paths);
      case Op::kAuditBegin:
      case Op::kAuditEnd:
        return audit(request);
      case Op::kStats:
        return stats();
    }
    throw UserError("unknown op");
  }

 private:
  // What this sandbox can see decides what a listing, diff or commit may show or touch.
  layer::Scope scope() const { return layer::Scope(fs_.access().policy()); }

  Reply stats() {
    const RequestCounters& counters = fs_.counters();
    return {.stats = {.readdir = counters.readdir.load(),
                      .reads = counters.reads.load(),
                      .prefetched_files = counters.prefetched_files.load(),
                      .getattr = counters.getattr.load(),
                      .prewarm = !prewarm_              ? "off"
                                 : prewarm_->finished() ? "done"
                                                        : "walking"}};
  }

  Reply audit(const Request& request) {
    audit::Recorder* recorder = fs_.access().recorder();
    if (!recorder) throw UserError("auditing is off for this mount");
    if (request.op == Op::kAuditBegin) {
      recorder->begin_command(request.command);
      return {};
    }
    // The command's processes are gone: their closes are queued in the kernel.
    if (opens_) opens_->drain(std::chrono::seconds(2));
    if (!recorder->end_command(request.command))
      throw UserError("the audit trail could not be written");
    return {.dropped = recorder->dropped_total(), .pending = layer_pending()};
  }

  // Whether a commit could find anything: an entry in upper or a journal record. Under
  // the mutation lock, as for changes(): every namespace change (copy-up, create,
  // whiteout) holds it, so an empty answer means the layer really was empty then. A data
  // write in flight goes to an upper file that is already there. Unsure reads as pending.
  bool layer_pending() {
    std::lock_guard lock(fs_.mutation_mu());
    if (!fs_.journal().empty()) return true;
    DirStream upper(fs_.journal().upper_fd());
    return !upper || upper.next() != nullptr || upper.error() != 0;
  }

  Reply changes() {
    Reply reply;
    std::lock_guard lock(fs_.mutation_mu());  // a consistent upper + journal snapshot
    reply.changes =
        layer::list_first_changes(fs_.base_fd(), fs_.journal(), scope(), &reply.changes_omitted);
    return reply;
  }

  Reply diff(const layer::ChangeSelection& only) {
    // No data write either while the diff and its review token are taken: the token must
    // describe exactly what the diff shows (an agent flipping a file between the two
    // would otherwise get content the reviewer never saw committed under the token).
    LayerLocks locks(fs_);
    Reply reply;
    reply.review_token = layer::review_token(fs_.base_fd(), fs_.journal(), scope(), only);
    reply.diff = layer::diff_first_changes(fs_.base_fd(), fs_.journal(), scope(), only);
    return reply;
  }

  Reply commit(const layer::ChangeSelection& only, std::int64_t max_bytes,
               const std::string& reviewed) {
    Reply reply;
    KernelNotices notices;
    {
      LayerLocks locks(fs_);
      // Under the locks: what is committed below is exactly what this token describes.
      if (!reviewed.empty() &&
          layer::review_token(fs_.base_fd(), fs_.journal(), scope(), only) != reviewed)
        throw layer::control::ReviewOutdated(
            "the changes are no longer those of the review (a process in the sandbox changed "
            "them since); review them again");
      // Measured here, under the locks: the caller's own measure before the request could
      // not see what the sandbox's running processes wrote since (a file flipped between
      // 0 and 300 MiB got 300 MiB past a 100 MiB codebase limit). Counted as the store
      // counts (layer/tree_bytes.h): every name, and a block per directory and symlink.
      if (max_bytes >= 0) {
        const std::int64_t pending = layer::charged_bytes_below(fs_.journal().upper_fd());
        if (pending > max_bytes)
          throw layer::control::RoomExceeded(
              "the changes hold " + std::to_string(pending) + " bytes, more than the " +
                  std::to_string(max_bytes) + " bytes of room left for them",
              pending);
      }
      reply.commit = layer::commit(fs_.base_fd(), fs_.journal(), scope(), only);
      // Every node: the commit also removes emptied upper directories above what it
      // applied and rewrites markers elsewhere. A report that left applied paths out
      // (layer/listed_paths.h) cannot say which: then everything counts as changed.
      notices = rebind_nodes(
          fs_, {"/"},
          reply.commit.applied_omitted > 0 ? std::vector<std::string>{"/"} : reply.commit.applied);
      fs_.recount_quota();  // committed entries left upper; files still open stay charged
    }
    notify(notices);
    return reply;
  }

  Reply discard() {
    KernelNotices notices;
    {
      LayerLocks locks(fs_);
      std::vector<std::string> changed;
      for (const layer::Change& change :
           layer::list_changes(fs_.base_fd(), fs_.journal(), scope())) {
        changed.push_back(change.path);  // deleted entries reappear: negative dentries
      }
      layer::discard(fs_.journal());
      notices = rebind_nodes(fs_, {"/"}, changed);
      fs_.recount_quota();  // after the rebind: files the agent keeps open stay charged
    }
    notify(notices);
    return {};
  }

  Reply refresh(const std::vector<std::string>& paths) {
    KernelNotices notices;
    {
      LayerLocks locks(fs_);
      notices = rebind_nodes(fs_, paths, paths);
    }
    notify(notices);
    return {};
  }

  // Bumps the content epoch first: a prefetch that read old content while the layers
  // changed then drops what it stored (prefetch.h).
  void notify(const KernelNotices& notices) {
    fs_.bump_content_epoch();
    send_notices(session_, notices);
  }

  Filesystem& fs_;
  fuse_session* session_;
  OpenWatch* opens_;
  PrewarmChild* prewarm_;
};

}  // namespace

std::string ControlOps::handle(std::string_view request_line) {
  try {
    const Request request = layer::control::decode_request(request_line);
    return layer::control::encode_reply(request.op,
                                        Dispatcher(fs_, session_, opens_, prewarm_).run(request));
  } catch (const layer::control::RoomExceeded& full) {
    return layer::control::encode_room_exceeded(full.what(), full.bytes());
  } catch (const layer::control::ReviewOutdated& outdated) {
    return layer::control::encode_review_outdated(outdated.what());
  } catch (const std::exception& e) {
    return layer::control::encode_failure(e.what());
  } catch (...) {
    return layer::control::encode_failure("internal error");
  }
}

}  // namespace agentfense::fs
