#include "server/audit_trails.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "audit/trail_file.h"
#include "common/errors.h"
#include "common/log.h"

namespace agentfense::server {
namespace {

namespace fs = std::filesystem;
constexpr const char* kTrailSuffix = ".jsonl";
constexpr const char* kOwnerSuffix = ".owner";

}  // namespace

AuditTrails::AuditTrails(std::string dir, AuditRetention retention)
    : dir_(std::move(dir)), retention_(retention) {
  fs::create_directories(dir_);
  check_syscall(::chmod(dir_.c_str(), 0700), "chmod " + dir_);
}

std::string AuditTrails::path(const std::string& sandbox_id) const {
  return dir_ + "/" + sandbox_id + kTrailSuffix;
}

bool AuditTrails::exists(const std::string& sandbox_id) const {
  // Ids come from clients: only an id the server could have made names a trail, so that
  // "../x" can never reach a file outside the audit directory.
  if (sandbox_id.empty() || sandbox_id.size() > 128 ||
      sandbox_id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "0123456789_-") != std::string::npos)
    return false;
  struct stat st {};
  return ::lstat(path(sandbox_id).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void AuditTrails::record(const std::string& sandbox_id, const std::string& op,
                         nlohmann::ordered_json details, bool allowed) {
  log::Fields fields = {{"sandbox_id", sandbox_id}};
  for (const auto& [key, value] : details.items()) fields[key] = value;
  log::info("audit." + op, fields);
  audit::Event event;
  event.kind = audit::kKindSecurity;
  event.op = op;
  event.allowed = allowed;
  event.details = std::move(details);
  try {
    const std::lock_guard lock(mu_);
    audit::TrailFile trail(path(sandbox_id), sandbox_id);
    trail.append(std::span<const audit::Event>(&event, 1));
    trail.sync();
  } catch (const std::exception& error) {
    log::error("audit.write_failed",
               {{"sandbox_id", sandbox_id}, {"op", op}, {"error", error.what()}});
  }
}

void AuditTrails::set_owner(const std::string& sandbox_id, const std::string& owner) {
  const std::string file = dir_ + "/" + sandbox_id + kOwnerSuffix;
  std::ofstream out(file, std::ios::trunc);
  out << owner;
  if (!out) log::error("audit.owner_write_failed", {{"sandbox_id", sandbox_id}});
}

std::optional<std::string> AuditTrails::owner(const std::string& sandbox_id) const {
  if (!exists(sandbox_id)) return std::nullopt;
  std::ifstream in(dir_ + "/" + sandbox_id + kOwnerSuffix);
  std::string owner;
  if (!in || !std::getline(in, owner)) return std::string();
  return owner;
}

int AuditTrails::apply_retention(const std::function<bool(const std::string&)>& in_use) {
  struct Trail {
    std::string id;
    fs::file_time_type written;
    std::uintmax_t bytes;
  };
  std::vector<Trail> trails;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!name.ends_with(kTrailSuffix) || !entry.is_regular_file(ec)) continue;
    trails.push_back({name.substr(0, name.size() - std::string(kTrailSuffix).size()),
                      entry.last_write_time(ec), entry.file_size(ec)});
  }
  std::sort(trails.begin(), trails.end(),
            [](const Trail& a, const Trail& b) { return a.written < b.written; });
  const auto now = fs::file_time_type::clock::now();
  int removed = 0;
  auto remove = [&](const Trail& trail, const char* why) {
    std::error_code ignored;  // a trail already gone is what we wanted
    fs::remove(path(trail.id), ignored);
    fs::remove(dir_ + "/" + trail.id + kOwnerSuffix, ignored);
    ++removed;
    log::info("audit.trail_removed",
              {{"sandbox_id", trail.id}, {"bytes", trail.bytes}, {"why", why}});
  };
  // Per owner, its destroyed sandboxes' trails, oldest first, and their bytes.
  struct Owned {
    std::deque<Trail> trails;
    std::uintmax_t bytes = 0;
  };
  std::map<std::string, Owned> owners;
  std::uintmax_t total = 0;
  // A sandbox that still exists keeps its trail whole: removing it would lose the record
  // of who created it with which rules while it can still run commands. Nor does it
  // count toward max_bytes, which it could not help to meet.
  for (const Trail& trail : trails) {
    if (in_use(trail.id)) continue;
    if (retention_.max_age.count() > 0 && trail.written < now - retention_.max_age) {
      remove(trail, "audit.retention");
      continue;
    }
    Owned& owned = owners[owner(trail.id).value_or("")];
    owned.trails.push_back(trail);
    owned.bytes += trail.bytes;
    total += trail.bytes;
  }
  // Over the budget, the owner holding the most bytes loses its oldest trail: a tenant's
  // trails are removed only while it holds at least as much as any other, so one tenant
  // can never make another's record go (docs/security.md), and each keeps a fair share.
  while (retention_.max_bytes > 0 && total > static_cast<std::uintmax_t>(retention_.max_bytes)) {
    auto most = std::max_element(owners.begin(), owners.end(), [](const auto& a, const auto& b) {
      return a.second.bytes < b.second.bytes;
    });
    Owned& owned = most->second;
    const Trail oldest = owned.trails.front();
    owned.trails.pop_front();
    owned.bytes -= oldest.bytes;
    total -= oldest.bytes;
    if (owned.trails.empty()) owners.erase(most);
    remove(oldest, "audit.max_bytes");
  }
  return removed;
}

}  // namespace agentfense::server
