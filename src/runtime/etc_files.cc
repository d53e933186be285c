#include "runtime/etc_files.h"

#include "runtime/memfd.h"
#include "runtime/network_helper.h"

namespace agentfense::runtime {
namespace {

std::string passwd() {
  // nobody: ids not mapped into the user namespace (files of other host users on the
  // workspace) show up as the overflow id 65534.
  return "root:x:0:0:root:/root:/usr/sbin/nologin\n"
         "agent:x:" +
         std::to_string(kAgentUid) + ":" + std::to_string(kAgentGid) + ":agent:" + kAgentHome +
         ":/bin/bash\n"
         "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
}

std::string group() {
  return "root:x:0:\nagent:x:" + std::to_string(kAgentGid) + ":\nnogroup:x:65534:\n";
}

std::string hosts() {
  return "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
         "127.0.1.1\tagentfense\n";
}

std::string nsswitch() {
  return "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"
         "networks: files\nprotocols: files\nservices: files\n";
}

// With network on, names resolve through the network helper's DNS forwarder, which
// asks the host's resolvers (network_helper.h); the host's own file is never copied in.
std::string sandbox_resolv_conf() {
  return std::string("nameserver ") + kSandboxNameserver + "\n";
}

}  // namespace

std::vector<GeneratedFile> generate_etc_files(bool network) {
  std::vector<GeneratedFile> files;
  auto add = [&files](const std::string& dest, const std::string& content) {
    files.push_back({sealed_memfd("agentfense" + dest, content), dest});
  };
  add("/etc/passwd", passwd());
  add("/etc/group", group());
  add("/etc/hosts", hosts());
  add("/etc/hostname", "agentfense\n");
  add("/etc/nsswitch.conf", nsswitch());
  add("/etc/resolv.conf", network ? sandbox_resolv_conf() : std::string());
  return files;
}

}  // namespace agentfense::runtime
