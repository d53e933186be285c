// Each test tries to reach something the boundary must hide, from inside the sandbox.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>

#include "sandbox_fixture.h"

namespace agentfense::runtime {
namespace {

using Isolation = SandboxTest;

std::string status_field(const std::string& status, const std::string& field) {
  const auto at = status.find(field + ":");
  if (at == std::string::npos) return "<missing>";
  const auto value = status.find_first_not_of(" \t", at + field.size() + 1);
  return status.substr(value, status.find('\n', value) - value);
}

TEST_F(Isolation, RunsAsAgent1000InsideAndUnprivilegedOutside) {
  const std::string marker = "1000." + unique_marker();
  ExecSpec spec = shell("id -u; id -g; id -G; id -un; exec sleep " + marker);
  spec.timeout = std::chrono::seconds(2);
  std::string host_view, streamed;
  spec.on_output = [&](Stream, std::string_view chunk) {
    streamed.append(chunk);
    // Once the command prints, look at it from the host: which uid does it really have?
    if (chunk.find("agent") == std::string_view::npos) return;
    const std::string query =
        "for p in $(pgrep -f '[s]leep " + marker + "'); do ps -o uid=,gid= -p $p; done";
    for (int attempt = 0; attempt < 100 && host_view.empty(); ++attempt) {
      ::usleep(10000);  // `exec sleep` may not have happened yet
      FILE* ps = ::popen(query.c_str(), "r");
      for (char buf[256]; ps && fgets(buf, sizeof buf, ps);) host_view += buf;
      if (ps) ::pclose(ps);  // exit status irrelevant: the text is what we check
    }
  };
  EXPECT_TRUE(run_sandboxed(spec).timed_out);  // the sleep outlives its 2 s
  EXPECT_EQ(streamed, "1000\n1000\n1000\nagent\n");
  EXPECT_NE(host_view.find("60999 60999"), std::string::npos) << host_view;
}

TEST_F(Isolation, NoCapabilitiesNoNewPrivsAndSeccomp) {
  const ExecResult r = run_shell("cat /proc/self/status");
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(status_field(r.stdout_data, "CapEff"), "0000000000000000");
  EXPECT_EQ(status_field(r.stdout_data, "CapPrm"), "0000000000000000");
  EXPECT_EQ(status_field(r.stdout_data, "CapBnd"), "0000000000000000");
  EXPECT_EQ(status_field(r.stdout_data, "NoNewPrivs"), "1");
  EXPECT_EQ(status_field(r.stdout_data, "Seccomp"), "2");
}

TEST_F(Isolation, HostSecretsAreAbsent) {
  const ExecResult r = run_shell(
      "for p in /etc/shadow /etc/gshadow /root /home /var /etc/ssl/private /old_root; do "
      "  test -e $p && echo visible $p; done; ls /etc; ls -A /run");
  EXPECT_EQ(r.stdout_data.find("visible"), std::string::npos) << r.stdout_data;
  // /run is not the host's: only the runtime's own read-only files (command aliases,
  // the session driver's source file) live there.
  EXPECT_EQ(r.stdout_data,
            "alternatives\ngitconfig\ngroup\nhostname\nhosts\nld.so.cache\nlocaltime\n"
            "nsswitch.conf\npasswd\nresolv.conf\nssl\nagentfense\n");
}

TEST_F(Isolation, GeneratedEtcIsMinimalAndReadOnly) {
  const ExecResult r =
      run_shell("cat /etc/passwd; wc -c < /etc/resolv.conf; echo x >> /etc/passwd || echo ro");
  EXPECT_NE(r.stdout_data.find("agent:x:1000:1000:agent:/tmp:/bin/bash\n"), std::string::npos);
  EXPECT_NE(r.stdout_data.find("\n0\nro\n"), std::string::npos) << r.stdout_data;
}

TEST_F(Isolation, UsrIsReadOnly) {
  EXPECT_NE(run_shell("touch /usr/bin/af-planted").exit_code, 0);
  EXPECT_NE(::access("/usr/bin/af-planted", F_OK), 0);
}

TEST_F(Isolation, TmpIsPrivate) {
  const std::string marker = unique_marker();
  const std::string host_file = "/tmp/af-host-" + marker;
  std::ofstream(host_file) << "host";
  const ExecResult r =
      run_shell("test -e " + host_file + " && echo leak; touch /tmp/af-in-" + marker);
  std::remove(host_file.c_str());
  EXPECT_EQ(r.stdout_data, "");
  EXPECT_NE(::access(("/tmp/af-in-" + marker).c_str(), F_OK), 0);
}

TEST_F(Isolation, HostnameAndPidNamespace) {
  const ExecResult r = run_shell("hostname; ls /proc | grep -c '^[0-9]'");
  // bwrap's init, sh, ls, grep: nothing from the host.
  EXPECT_EQ(r.stdout_data.substr(0, 11), "agentfense\n");
  EXPECT_LE(std::stoi(r.stdout_data.substr(11)), 5);
}

TEST_F(Isolation, NetworkIsOffByDefault) {
  // A real listener on the host's loopback must be unreachable from inside.
  const UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));

  const ExecResult r = run_python(
      "import socket\n"
      "print(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))\n"
      "try:\n  socket.create_connection(('127.0.0.1', " +
      port +
      "), timeout=2); print('connected')\n"
      "except OSError as e: print('refused')\n");
  EXPECT_EQ(r.stdout_data, "['lo']\nrefused\n") << r.stderr_data;
}

// With network on: network_test.cc.

TEST_F(Isolation, OnlyStdioFdsReachTheCommand) {
  // An fd the supervisor forgot to mark close-on-exec must not leak in.
  const UniqueFd leaky(::open("/etc/hostname", O_RDONLY));
  ASSERT_TRUE(leaky.valid());
  const ExecResult r = run_shell("ls /proc/self/fd");
  // 0-2, plus the fd ls uses to read the directory.
  EXPECT_EQ(r.stdout_data, "0\n1\n2\n3\n") << r.stdout_data;
}

}  // namespace
}  // namespace agentfense::runtime
