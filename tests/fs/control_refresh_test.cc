// refresh: another sandbox's commit changed the base under a live mount whose kernel
// caches (attributes, pages, listings, negative entries) last 3600 s; after a refresh of
// the changed paths the mount shows exactly the new base. Also: the control protocol's
// error answers, and the socket's lifetime.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "control_fixture.h"

namespace agentfense::fs::testing {
namespace {

using nlohmann::json;

class ControlRefresh : public ControlledFs {};

void replace_by_rename(const std::string& path, const std::string& content) {
  std::ofstream(path + ".tmp", std::ios::binary) << content;
  ASSERT_EQ(::rename((path + ".tmp").c_str(), path.c_str()), 0);
}

TEST_F(ControlRefresh, FilesPushedIntoThePageCacheShowTheNewBaseAfterRefresh) {
  // Read-level files are pushed into the kernel's page cache when a neighbour is read
  // (prefetch.h); a refresh must drop those pages like any others.
  for (int i = 0; i < 6; ++i) base_file("docs/f" + std::to_string(i), "old " + std::to_string(i));
  mount({policy::Rule{"/**", policy::Level::kRead}});
  ControlOps ops(session().filesystem(), session().raw());
  std::string out;
  ASSERT_EQ(agent_sh("ls -l docs >/dev/null && cat $(ls -U docs | sed 's|^|docs/|') >/dev/null"),
            0);
  EXPECT_GT(session().counters().prefetched_files.load(), 0u);
  json paths = json::array();
  for (int i = 0; i < 6; ++i) {
    replace_by_rename(base_path("docs/f" + std::to_string(i)), "new content " + std::to_string(i));
    paths.push_back("/docs/f" + std::to_string(i));
  }
  EXPECT_EQ(json::parse(ops.handle(json{{"op", "refresh"}, {"paths", paths}}.dump())),
            (json{{"ok", true}}));
  ASSERT_EQ(agent_sh("cat docs/f0 docs/f1 docs/f2 docs/f3 docs/f4 docs/f5", &out), 0);
  EXPECT_EQ(out, "new content 0new content 1new content 2new content 3new content 4new content 5");
}

TEST_F(ControlRefresh, RefreshShowsTheNewBaseInAnotherMount) {
  base_file("mod.txt", "v1\n");
  base_file("del.txt", "bye\n");
  base_file("keep/inplace", "aaaa\n");
  mount_writable();
  SecondMount other(base_, root_);
  const std::string b = other.mountpoint();
  std::string out;
  // Warm every cache of mount B, including negative entries for the names to come.
  ASSERT_EQ(agent_sh("cd " + b +
                         " && cat mod.txt del.txt keep/inplace && ls && ls keep && "
                         "test ! -e new.txt && test ! -e newdir",
                     &out),
            0);
  EXPECT_EQ(out, "v1\nbye\naaaa\ndel.txt\nkeep\nmod.txt\ninplace\n");

  // "Another sandbox's commit": renames over, deletes, adds, rewrites in place.
  replace_by_rename(base_path("mod.txt"), "version 2\n");
  ASSERT_EQ(::unlink(base_path("del.txt").c_str()), 0);
  base_file("new.txt", "new\n");
  base_file("newdir/inner", "inner\n");
  { std::ofstream(base_path("keep/inplace"), std::ios::binary) << "bbbb\n"; }
  // Without a refresh the cached negative entry still hides the new file.
  EXPECT_NE(agent_sh("cd " + b + " && test -e new.txt"), 0);

  EXPECT_EQ(json::parse(other.ops().handle(
                R"({"op":"refresh","paths":["/mod.txt","/del.txt","/new.txt","/newdir",)"
                R"("/keep/inplace"]})")),
            (json{{"ok", true}}));
  EXPECT_EQ(agent_sh("cd " + b + " && ls && cat mod.txt new.txt newdir/inner keep/inplace", &out),
            0);
  EXPECT_EQ(out, "keep\nmod.txt\nnew.txt\nnewdir\nversion 2\nnew\ninner\nbbbb\n");
  EXPECT_NE(agent_sh("cd " + b + " && test -e del.txt"), 0);
  // The mount with the control socket of this fixture refreshes the same way.
  EXPECT_EQ(call({{"op", "refresh"}, {"paths", {"/new.txt"}}}), (json{{"ok", true}}));
  EXPECT_EQ(agent_sh("cat new.txt", &out), 0);
  EXPECT_EQ(out, "new\n");
}

// A raw connection, to send what the client library never would.
class RawConnection {
 public:
  explicit RawConnection(const std::string& path) : fd_(::socket(AF_UNIX, SOCK_STREAM, 0)) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  }
  ~RawConnection() { ::close(fd_); }
  json ask(const std::string& line) {
    EXPECT_EQ(::write(fd_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    std::string response;
    char c;
    while (::read(fd_, &c, 1) == 1 && c != '\n') response += c;
    return json::parse(response);
  }

 private:
  int fd_;
};

TEST_F(ControlRefresh, ProtocolErrorsAreAnsweredAndServingContinues) {
  mount_writable();
  struct stat st;
  ASSERT_EQ(::lstat(socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  RawConnection raw(socket_path());
  json answer = raw.ask("this is not json\n");
  EXPECT_EQ(answer["ok"], false);
  EXPECT_NE(answer["error"].get<std::string>().find("not valid JSON"), std::string::npos);
  answer = raw.ask(R"({"op":"frobnicate"})"
                   "\n");
  EXPECT_EQ(answer["ok"], false);
  EXPECT_NE(answer["error"].get<std::string>().find("unknown op 'frobnicate'"), std::string::npos);
  answer = raw.ask(R"({"op":"commit","paths":"/a"})"
                   "\n");
  EXPECT_EQ(answer["error"], "\"paths\" must be a list of strings");
  answer = raw.ask(R"({"op":"refresh","paths":["/a/../b"]})"
                   "\n");
  EXPECT_EQ(answer["ok"], false);
  answer = raw.ask("[1,2]\n");
  EXPECT_EQ(answer["error"], "request must be a JSON object");
  // Two requests in one write, answered in order on the same connection.
  EXPECT_EQ(raw.ask(R"({"op":"ping"})"
                    "\n"
                    R"({"op":"changes"})"
                    "\n"),
            (json{{"ok", true}}));
  EXPECT_EQ(raw.ask(""), (json{{"ok", true}, {"changes", json::array()}, {"changes_omitted", 0}}));

  EXPECT_THROW(call({{"op", "nope"}}), supervisor::ControlError);
  EXPECT_EQ(call({{"op", "ping"}}), (json{{"ok", true}}));
}

TEST_F(ControlRefresh, SocketIsRemovedWhenTheServerStops) {
  const std::string path = root_ + "/standalone.sock";
  {
    ControlServer server(path, [](std::string_view) { return std::string("{\"ok\":true}"); });
    supervisor::ControlClient client(path);
    EXPECT_NO_THROW(client.call({.op = layer::control::Op::kPing}, std::chrono::seconds(5)));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_THROW(supervisor::ControlClient{path}, SystemError);
}

// Address space mapped by this process (VmSize), in KiB.
long mapped_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmSize:", 0) == 0) return std::stol(line.substr(7));
  return -1;
}

// Each connection is served on a thread. Exited threads that were never joined kept their
// 8 MiB stacks mapped until the mount ended: the supervisor opens a connection per call
// beyond its pool, so a tenant's concurrent calls grew the fs process without bound.
TEST_F(ControlRefresh, FinishedConnectionsDoNotKeepTheirStacks) {
  const std::string path = root_ + "/standalone.sock";
  ControlServer server(path, [](std::string_view) { return std::string("{\"ok\":true}"); });
  const auto ping_once = [&] {
    supervisor::ControlClient client(path);
    client.call({.op = layer::control::Op::kPing}, std::chrono::seconds(5));
  };
  for (int i = 0; i < 8; ++i) ping_once();  // the first thread stacks and arenas
  const long before = mapped_kib();
  constexpr int kConnections = 300;  // 2.4 GB of stacks if none were joined
  for (int i = 0; i < kConnections; ++i) ping_once();
  const long grown_kib = mapped_kib() - before;
  ASSERT_GE(before, 0);
  // Joined threads leave a few cached stacks and malloc arenas (64 MiB of address space
  // each) behind; 300 unjoined ones were 2.4 GB.
  EXPECT_LT(grown_kib, 512 * 1024)
      << "mapped " << grown_kib / 1024 << " MiB more after " << kConnections << " connections";
}

}  // namespace
}  // namespace agentfense::fs::testing
