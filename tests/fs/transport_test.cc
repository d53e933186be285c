// Requests travel over io_uring when the kernel offers it (fs/uring_transport.h), and the
// fs works the same through /dev/fuse alone (the whole suite runs both ways, see
// CMakeLists.txt). The kernel offers io_uring only with fuse.enable_uring=Y, which
// scripts/setup.sh sets; CI runs it.
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "fs/uring_transport.h"
#include "fs_fixture.h"

namespace agentfense::fs::testing {
namespace {

using policy::Level;
using policy::Rule;
using namespace std::chrono_literals;

bool kernel_offers_uring() {
  std::ifstream param("/sys/module/fuse/parameters/enable_uring");
  std::string value;
  return param >> value && value == "Y";
}

bool uring_disabled_here() {
  const char* env = std::getenv("AF_TEST_FUSE_URING");
  return env && std::string(env) == "0";
}

// For as_agent: a request that is never answered ends with the alarm (exit status 128 +
// SIGALRM) instead of hanging the test.
long stat_within_10s(const char* path) {
  ::alarm(10);
  struct stat st;
  return ::stat(path, &st);
}

class Transport : public MountedFs {};

TEST_F(Transport, RequestsTravelOverIoUringWhenTheKernelOffersIt) {
  if (!kernel_offers_uring()) GTEST_SKIP() << "fuse.enable_uring is off on this host";
  base_file("src/a.txt", "hello\n");
  mount({Rule{"/**", Level::kWrite}});
  ASSERT_EQ(agent_sh("true"), 0);  // the kernel's INIT is answered by now
  if (uring_disabled_here()) {
    EXPECT_EQ(session().uring(), nullptr);
    return;
  }
  ASSERT_NE(session().uring(), nullptr);
  const std::uint64_t before = session().uring()->served();
  std::string out;
  // Lookups, reads, creates, writes and a large write (payload beyond what each entry
  // keeps resident) all answered through the rings, with the right data.
  ASSERT_EQ(agent_sh("cat src/a.txt && mkdir d && echo x > d/f && cat d/f && "
                     "head -c 3000000 /dev/zero | tr '\\0' y > big && wc -c < big && "
                     "tr -d y < big | wc -c && ls d",
                     &out),
            0);
  EXPECT_EQ(out, "hello\nx\n3000000\n0\nf\n");
  EXPECT_GE(session().uring()->served() - before, 10u);
}

// The kernel delivers an entry's next request through the task that submitted its pending
// command; once that task has exited, the request fails with ECANCELED. The libfuse worker
// that answers INIT is such a task if it registers the entries, and it can exit (idle
// workers beyond idle_workers do) before every entry served a request. Here it exits right
// after INIT; every queue's entries still serve.
TEST_F(Transport, RingsServeAfterTheWorkerThatAnsweredInitExits) {
  if (!kernel_offers_uring() || uring_disabled_here()) GTEST_SKIP() << "no io_uring here";
  // Names not looked up before, from every CPU, so every queue's first entry gets a request.
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  for (long cpu = 0; cpu < cpus; ++cpu) base_file("cpu" + std::to_string(cpu), "x");
  idle_workers_ = 1;  // the INIT worker started a second one: it is the extra idle one
  mount({Rule{"/**", Level::kRead}});
  // The kernel sends INIT at mount: wait for the rings, then for that worker to be gone.
  for (int i = 0; i < 1000 && !session().uring(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_NE(session().uring(), nullptr);
  std::this_thread::sleep_for(200ms);
  const auto stat_on_cpu = [](const char* path, long cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof set, &set) < 0) return -1L;
    return stat_within_10s(path);
  };
  for (long cpu = 0; cpu < cpus; ++cpu) {
    const std::string name = "cpu" + std::to_string(cpu);
    EXPECT_EQ(as_agent(stat_on_cpu, at(name).c_str(), cpu), 0) << name;
    EXPECT_EQ(as_agent(stat_on_cpu, at("absent_" + name).c_str(), cpu), ENOENT) << name;
  }
  EXPECT_GE(session().uring()->served(), static_cast<std::uint64_t>(cpus));
}

}  // namespace
}  // namespace agentfense::fs::testing
