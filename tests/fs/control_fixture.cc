#include "control_fixture.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace agentfense::fs::testing {

using policy::Level;
using policy::Rule;

void ControlledFs::TearDown() {
  client_.reset();
  server_.reset();  // before the session it works on
  ops_.reset();
  MountedFs::TearDown();
}

void ControlledFs::mount_writable() {
  mount({Rule{"/**", Level::kWrite}});
  ops_ = std::make_unique<ControlOps>(session().filesystem(), session().raw());
  server_ = std::make_unique<ControlServer>(
      socket_path(), [this](std::string_view line) { return ops_->handle(line); });
  client_ = std::make_unique<supervisor::ControlClient>(socket_path());
}

nlohmann::json ControlledFs::call(const nlohmann::json& request) {
  // By hand, so that these tests pin the wire format itself.
  nlohmann::json response =
      nlohmann::json::parse(client_->exchange(request.dump(), std::chrono::seconds(30)));
  if (response.at("ok") != true) throw supervisor::ControlError(response.value("error", ""));
  return response;
}

std::vector<std::string> ControlledFs::changes() {
  std::vector<std::string> out;
  const nlohmann::json response = call({{"op", "changes"}});  // outlives the loop
  for (const auto& change : response.at("changes")) {
    out.push_back(change["kind"].get<std::string>() + " " + change["path"].get<std::string>());
  }
  return out;
}

void ControlledFs::host_writes(const std::string& rel, const std::string& content) const {
  std::ofstream(base_path(rel), std::ios::trunc) << content;
}

std::string ControlledFs::read_base(const std::string& rel) const {
  std::ifstream in(base_path(rel), std::ios::binary);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void ControlledFs::expect_kept(const nlohmann::json& report, const nlohmann::json& refused,
                               const std::string& rel, const std::string& content) const {
  EXPECT_EQ(conflicts(report), refused) << report.dump();
  EXPECT_EQ(read_base(rel), content) << rel;
}

bool ControlledFs::base_has(const std::string& rel) const {
  struct stat st;
  return ::lstat(base_path(rel).c_str(), &st) == 0;
}

SecondMount::SecondMount(const std::string& base, const std::string& root) : mnt_(root + "/mnt2") {
  EXPECT_EQ(::mkdir(mnt_.c_str(), 0755), 0);
  policy_ = std::make_unique<policy::Policy>(policy::Policy::compile({Rule{"/**", Level::kWrite}}));
  base_fd_ = ::open(base.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  MountOptions options;
  options.base_dirfd = base_fd_;
  options.state_dir = root + "/state2";
  options.mountpoint = mnt_;
  options.policy = policy_.get();
  options.owner_uid = kAgentUid;
  options.owner_gid = kAgentGid;
  session_ = std::make_unique<Session>(options);
  ops_ = std::make_unique<ControlOps>(session_->filesystem(), session_->raw());
  loop_ = std::thread([this] { session_->run(); });
}

SecondMount::~SecondMount() {
  if (::umount2(mnt_.c_str(), MNT_DETACH) < 0) session_->exit();
  loop_.join();
  ops_.reset();
  session_.reset();
  ::close(base_fd_);
}

}  // namespace agentfense::fs::testing
