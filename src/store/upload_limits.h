// How much an upload may bring into the codebase store (issue 9: a 3 MB tar.gz became a
// 3 GiB codebase). Every limit is checked while the bytes arrive, so a refused upload
// stops early and leaves nothing: the data only ever reached a staging directory, which
// is removed. Refusals are ApiError(RESOURCE_EXHAUSTED, kReasonQuotaExceeded) naming the
// config key and its value. Each limit: 0 = no limit.
#pragma once

#include <cstdint>
#include <string>

namespace agentfense::store {

struct UploadLimits {
  // Bytes received by one upload request (a file, or an archive as sent).
  std::int64_t max_upload_bytes = std::int64_t{1} << 30;
  // Bytes of regular files one codebase may hold after an upload. An archive counts its
  // whole expanded size against what is left, without crediting files it replaces.
  std::int64_t max_codebase_bytes = std::int64_t{10} << 30;
  // Bytes one archive may expand to (sizes as declared, so sparse entries count whole).
  std::int64_t max_archive_bytes = std::int64_t{4} << 30;
  // Entries (files, directories, links) one archive may hold.
  std::int64_t max_archive_entries = 1'000'000;
  // Expanded bytes per compressed byte received, once an archive has expanded beyond
  // kArchiveRatioFreeBytes: a small archive cannot unpack into gigabytes.
  std::int64_t max_archive_ratio = 100;
};

// How much a codebase may still grow by, and the setting that bounds it (named when a
// refusal says why): storage.max_codebase_bytes, or the stored-bytes quota of the
// principal the codebase is charged to when that leaves less room.
struct Room {
  std::int64_t bytes = -1;  // -1 = no limit
  std::string key = "storage.max_codebase_bytes";
  std::int64_t limit = 0;
};

// What any archive may expand to before max_archive_ratio applies.
inline constexpr std::int64_t kArchiveRatioFreeBytes = std::int64_t{64} << 20;

// Throws ApiError(RESOURCE_EXHAUSTED, kReasonQuotaExceeded):
// "<what> exceeds <key> (<limit>)", the limit in bytes when `bytes`.
[[noreturn]] void throw_over_limit(const std::string& what, const char* key, std::int64_t limit,
                                   bool bytes = true);

// "64 MiB", "1 GiB", "1000 bytes": the largest binary unit that divides exactly.
std::string describe_bytes(std::int64_t bytes);

}  // namespace agentfense::store
