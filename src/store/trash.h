// Trees on their way out. Removing a tree costs one unlink per entry (a million-file
// codebase takes an hour on a slow disk), so neither DeleteCodebase nor start-up waits
// for it: the tree is renamed whole into <codebase_path>/.trash (same filesystem, one
// rename) and a background thread removes what is there at idle CPU and I/O priority.
// A server killed meanwhile leaves the rest in .trash; the next start's thread finishes it.
// Nothing in .trash is referenced: a codebase created meanwhile (even one reusing a name)
// has its own directory outside it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace agentfense::store {

class Trash {
 public:
  // Background removal work other than emptying the trash (trees on another filesystem);
  // it must return soon after `stop` is raised.
  using Job = std::function<void(const std::atomic<bool>& stop)>;

  // `dir` is made on first use.
  explicit Trash(std::string dir) : dir_(std::move(dir)) {}
  Trash(const Trash&) = delete;
  Trash& operator=(const Trash&) = delete;
  // Stops the remover between two unlinks and joins it: shutdown never waits for a tree.
  ~Trash();

  // Renames `name` in `dir_fd` into the trash under a fresh name starting with `label`
  // and wakes the remover; false (nothing moved) when there is no `name`.
  bool take(int dir_fd, const std::string& name, const std::string& label);
  // Runs `job` on the remover's thread (before its next pass over the trash).
  void later(Job job);
  // Starts the remover (the server does once it listens): it empties the trash, then
  // waits for more. Before, take() and later() only queue.
  void start();
  // Blocks until the remover has nothing queued (tests); false when it was not started.
  bool wait_idle();

 private:
  void run();
  void empty_trash();

  const std::string dir_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Job> jobs_;
  bool pending_ = true;  // the trash may hold something (at first: what a killed run left)
  bool busy_ = false;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace agentfense::store
