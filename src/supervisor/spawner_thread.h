// One permanent thread that starts every long-lived child (fs processes, session
// shells). Why: those children arm PR_SET_PDEATHSIG so they die with the server, and
// the kernel delivers that signal when the *thread* that forked them exits, not the
// process. gRPC retires idle handler threads (and `agentfense mcp` runs each tool call on
// a thread of its own), which would silently kill a sandbox's mount or a session's shell
// minutes after it was created. Forking from a thread that
// lives as long as the server keeps "dies with the server" and nothing else.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace agentfense::supervisor {

class SpawnerThread {
 public:
  SpawnerThread();
  SpawnerThread(const SpawnerThread&) = delete;
  SpawnerThread& operator=(const SpawnerThread&) = delete;
  ~SpawnerThread();  // finishes queued work, then joins

  // Runs `work` on the spawner thread and waits for it; rethrows what it threw.
  void run(const std::function<void()>& work);

 private:
  void loop();

  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace agentfense::supervisor
