// FUSE over io_uring (kernel 6.14+, `fuse.enable_uring=Y`): the kernel queues each request
// on the queue of the CPU its caller runs on, and a thread of ours waiting on that queue
// takes it from its own io_uring and answers with one COMMIT_AND_FETCH, which also waits
// for the next request. The classic /dev/fuse path costs a read and a write per request
// and wakes whichever daemon thread slept; on this VM a round trip there is 33-60 us,
// over io_uring 7-10 us. libfuse 3.14 has no io_uring support, so this is a thin transport under
// it: requests are handed to fuse_session_process_buf() and the replies libfuse writes are routed
// back here by the channel (kernel_channel.h), by their unique id.
//
// Only requests travel this way; FORGET and INTERRUPT still come through /dev/fuse (the
// libfuse loop keeps reading it) and notifications still go out through it.
//
// Threads: kThreadsPerQueue per possible CPU, each with its own ring and one ring entry
// (one request in flight per thread). More than one per queue because a handler may block
// (a prefetch push waits on page locks of another READ in flight, prefetch.h): with
// kThreadsPerQueue above the pushers' limit a queue always has a free thread.
//
// A request's names and write data live in its entry's payload buffer, and the reply is
// copied into that same buffer before the entry is handed back for the next request: a
// handler must not read its request's memory (a name, write data) after it replied.
#pragma once

#include <fuse_lowlevel.h>
#include <linux/fuse.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace agentfense::fs {

class UringTransport {
 public:
  // Serves requests of `session` arriving on `device_fd` once start() succeeded.
  UringTransport(fuse_session* session, int device_fd);
  UringTransport(const UringTransport&) = delete;
  UringTransport& operator=(const UringTransport&) = delete;
  ~UringTransport();  // stops and joins the threads

  // Starts a thread per ring entry of every queue, which registers its entry and serves
  // it, once the INIT reply agreed on FUSE_OVER_IO_URING; returns when every registration
  // was answered. Payload buffers hold `max_payload` bytes (the kernel requires
  // max(max_write, max_pages pages)). False (logged) when an entry was refused; the
  // entries registered before it still serve (running()), and the kernel keeps to
  // /dev/fuse unless every queue got one.
  bool start(std::size_t max_payload);
  // A reply libfuse is writing: true when it answered a request of ours (it was handed
  // to the kernel through that request's ring), false for anything else.
  bool take_reply(const iovec* iov, int count);
  bool running() const { return running_.load(); }
  // The session is ending: each thread finishes the request it serves and takes no more,
  // and the errors its ring then reports (the device closed under it) are expected, not
  // logged. The destructor joins them.
  void begin_stop() { stopping_ = true; }
  // begin_stop(), then waits for the threads to end. Replies they send meanwhile still
  // go back through their rings, so the channel must keep routing to this transport
  // until it returns (Session::stop_uring).
  void join();
  // Requests taken from the rings so far (tests, diagnostics).
  std::uint64_t served() const { return served_.load(); }

 private:
  struct Entry;
  struct Ring;

  // Starts the thread of one more entry of queue `qid` and waits until its registration
  // was answered: what was refused, or empty (the entry serves).
  std::string add_entry(std::uint16_t qid);
  // On that thread: the ring and the entry's registration; what was refused, or empty.
  std::string register_entry(Ring& ring) noexcept;
  void serve(Ring& ring);
  void handle(Entry& entry);
  bool submit(Entry& entry, std::uint32_t command);
  void send(Entry& entry, const fuse_out_header& out, std::size_t payload);
  void trim(Entry& entry, std::size_t reply);
  Entry* claim(std::uint64_t unique);

  fuse_session* const session_;
  const int device_fd_;
  std::size_t max_payload_ = 0;
  std::vector<std::unique_ptr<Ring>> rings_;
  std::vector<std::thread> threads_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<std::uint64_t> served_{0};
  std::mutex inflight_mu_;                              // a leaf lock
  std::unordered_map<std::uint64_t, Entry*> inflight_;  // unique -> entry answering it
};

}  // namespace agentfense::fs
