// The permanent threads that start every long-lived child (fs processes, session
// shells). Why: those children arm PR_SET_PDEATHSIG so they die with the server, and
// the kernel delivers that signal when the *thread* that forked them exits, not the
// process. gRPC retires idle handler threads (and `agentfense mcp` runs each tool call on
// a thread of its own), which would silently kill a sandbox's mount or a session's shell
// minutes after it was created. Forking from a thread that
// lives as long as the server keeps "dies with the server" and nothing else.
//
// Work runs on the thread that forks, waiting included (a mount coming up may take
// seconds), so one thread would make every start and every new session wait for the
// slowest one in front of it. Instead a call that finds no thread idle adds one; threads
// never exit before the destructor, so there are as many as calls ever ran at once.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

namespace agentfense::supervisor {

class SpawnerThread {
 public:
  SpawnerThread();
  SpawnerThread(const SpawnerThread&) = delete;
  SpawnerThread& operator=(const SpawnerThread&) = delete;
  ~SpawnerThread();  // finishes queued work, then joins

  // Runs `work` on a spawner thread and waits for it; rethrows what it threw.
  void run(const std::function<void()>& work);
  // Threads started so far (for tests).
  std::size_t threads() const;

 private:
  void loop();

  mutable std::mutex mu_;
  std::condition_variable wake_;
  struct Item {
    const std::function<void()>* work;
    std::promise<void>* done;  // set once the thread that ran `work` counts as idle again
  };
  std::deque<Item> queue_;
  std::size_t idle_ = 0;  // threads not running work (started ones included)
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace agentfense::supervisor
