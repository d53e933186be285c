#include "store/upload_limits.h"

#include "common/api_error.h"

namespace agentfense::store {

std::string describe_bytes(std::int64_t bytes) {
  static constexpr struct {
    std::int64_t scale;
    const char* unit;
  } kUnits[] = {{std::int64_t{1} << 40, "TiB"},
                {std::int64_t{1} << 30, "GiB"},
                {std::int64_t{1} << 20, "MiB"},
                {std::int64_t{1} << 10, "KiB"}};
  for (const auto& unit : kUnits) {
    if (bytes != 0 && bytes % unit.scale == 0) {
      return std::to_string(bytes / unit.scale) + " " + unit.unit;
    }
  }
  return std::to_string(bytes) + " bytes";
}

void throw_over_limit(const std::string& what, const char* key, std::int64_t limit, bool bytes) {
  throw ApiError(StatusCode::RESOURCE_EXHAUSTED,
                 what + " exceeds " + key + " (" +
                     (bytes ? describe_bytes(limit) : std::to_string(limit)) + ")",
                 kReasonQuotaExceeded);
}

}  // namespace agentfense::store
