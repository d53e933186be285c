// Issue 9 item 13: a sandbox with network on gets outbound access through its own
// network namespace (slirp4netns), never the host's: services on the host's loopback
// (the AgentFense API among them) stay unreachable, while the host's other addresses
// answer like any outside address would (there is no internet here). The helper dies
// with its sandbox.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "runtime/network_helper.h"
#include "runtime/sandbox_process.h"
#include "runtime/shell_session.h"
#include "sandbox_fixture.h"

namespace agentfense::runtime {
namespace {

using namespace std::chrono_literals;

// A listening TCP socket on `address` (port chosen by the kernel).
struct Listener {
  UniqueFd fd;
  std::string address;
  int port = 0;

  explicit Listener(const std::string& ip) : address(ip) {
    fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
    EXPECT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << ip;
    EXPECT_EQ(::listen(fd.get(), 8), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port = ntohs(addr.sin_port);
  }
};

// The host's first non-loopback IPv4 address on an interface that is up.
std::string host_interface_address() {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return "";
  std::string found;
  for (ifaddrs* i = list; i && found.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    if ((i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP)) continue;
    char text[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
    found = text;
  }
  ::freeifaddrs(list);
  return found;
}

std::string connect_script(const std::vector<std::pair<std::string, int>>& targets) {
  std::string script = "import socket\n";
  for (const auto& [host, port] : targets)
    script += "try:\n  socket.create_connection(('" + host + "', " + std::to_string(port) +
              "), timeout=3); print('" + host +
              " connected')\n"
              "except OSError as e: print('" +
              host + " failed')\n";
  return script;
}

// Processes named slirp4netns that this test process started (directly).
int helpers_of_this_process() {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string line((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    if (line.find("(slirp4netns)") == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (std::sscanf(line.c_str() + line.rfind(')') + 1, " %c %d", &state, &ppid) == 2 &&
        ppid == ::getpid())
      ++count;
  }
  return count;
}

class NetworkTest : public SandboxTest {
 protected:
  ExecResult run_connect(bool network, const std::vector<std::pair<std::string, int>>& targets) {
    ExecSpec spec = shell("");
    spec.argv = {"python3", "-c", connect_script(targets)};
    spec.network = network;
    return run_sandboxed(spec);
  }
};

TEST_F(NetworkTest, HostLoopbackServicesAreUnreachableWithNetworkOn) {
  Listener loopback("127.0.0.1");
  // 10.0.2.2 is slirp4netns's alias for the host's loopback unless disabled.
  const ExecResult r =
      run_connect(true, {{"127.0.0.1", loopback.port}, {"10.0.2.2", loopback.port}});
  EXPECT_EQ(r.stdout_data, "127.0.0.1 failed\n10.0.2.2 failed\n") << r.stderr_data;
}

TEST_F(NetworkTest, OutboundConnectionsWork) {
  const std::string address = host_interface_address();
  ASSERT_FALSE(address.empty()) << "no non-loopback interface to stand in for the outside";
  Listener outside(address);
  EXPECT_EQ(run_connect(true, {{address, outside.port}}).stdout_data, address + " connected\n");
  EXPECT_EQ(run_connect(false, {{address, outside.port}}).stdout_data, address + " failed\n");
}

TEST_F(NetworkTest, TheSandboxHasItsOwnInterfacesAndResolver) {
  ExecSpec spec = shell(
      "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort | tr '\\n' ' '; "
      "cat /etc/resolv.conf");
  spec.network = true;
  const ExecResult r = run_sandboxed(spec);
  EXPECT_EQ(r.stdout_data, "lo tap0 nameserver 10.0.2.3\n") << r.stderr_data;
}

TEST_F(NetworkTest, TheHelperDiesWithTheSandbox) {
  ExecSpec spec = shell("sleep 1 & echo started");
  spec.network = true;
  EXPECT_EQ(run_sandboxed(spec).stdout_data, "started\n");
  EXPECT_EQ(helpers_of_this_process(), 0);
  spec.timeout = 500ms;
  spec.argv = {"sleep", "30"};
  EXPECT_TRUE(run_sandboxed(spec).timed_out);
  EXPECT_EQ(helpers_of_this_process(), 0);
}

// The helper must join the user namespace that owns the sandbox's network namespace,
// whenever it looks. Once the command runs, its process sits in bwrap's nested user
// namespace (--disable-userns): reading its /proc ns/user then gave the nested one, and
// slirp4netns failed with "setns(CLONE_NEWNET): Operation not permitted" (seen in CI
// under load, when the command got there before the supervisor looked). Here the
// helper is attached only after the command is running, every time.
TEST_F(NetworkTest, TheHelperJoinsTheOwnerOfTheNetworkNamespaceWhenTheCommandAlreadyRuns) {
  ExecSpec spec = shell("");
  spec.argv = {"sleep", "30"};  // network off: a namespace of its own with only lo
  SandboxProcess sandbox = SandboxProcess::start(spec);
  ASSERT_NE(sandbox.cgroup(), nullptr);
  pid_t command = -1;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (command < 0 && std::chrono::steady_clock::now() < deadline) {
    for (const pid_t pid : sandbox.cgroup()->members()) {
      std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
      std::string name;
      if (std::getline(comm, name) && name == "sleep") command = pid;
    }
    if (command < 0) std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT(command, 0) << "the command never started";
  const auto [uid, gid] = default_sandbox_ids();
  const NetworkHelper helper =
      NetworkHelper::start({.sandbox_pid = command,
                            .bwrap_pidfd = sandbox.pidfd(),
                            .drop_privileges = true,
                            .uid = uid,
                            .gid = gid,
                            .cgroup_join_fds = sandbox.cgroup()->join_fds()});
  EXPECT_EQ(helpers_of_this_process(), 1);
}

TEST_F(NetworkTest, SessionKeepsItsNetworkAcrossATimeoutAndLosesItOnClose) {
  const std::string address = host_interface_address();
  ASSERT_FALSE(address.empty());
  Listener outside(address);
  SessionSpec s;
  s.workspace_fd = workspace_fd_.get();
  std::tie(s.host_uid, s.host_gid) = default_sandbox_ids();
  s.network = true;
  ShellSession session(s);
  const std::string connect = "python3 -c \"" + connect_script({{address, outside.port}}) + "\"";
  EXPECT_EQ(session.exec(connect, 60s).stdout_data, address + " connected\n");
  EXPECT_EQ(helpers_of_this_process(), 1);
  // A timeout kills the command's processes, not the sandbox's network helper.
  EXPECT_TRUE(session.exec("sleep 30", 300ms).timed_out);
  EXPECT_EQ(session.exec(connect, 60s).stdout_data, address + " connected\n");
  session.close();
  EXPECT_EQ(helpers_of_this_process(), 0);
}

}  // namespace
}  // namespace agentfense::runtime
