#include "cli/audit_server.h"

#include "cli/server_client.h"
#include "common/errors.h"
#include "common/text_safety.h"

namespace agentfense::cli {
namespace {

// A follow waits for events as long as the user lets it; a plain read gets its trail at once.
constexpr std::chrono::hours kFollowIdle{24 * 365};
constexpr std::chrono::minutes kReadIdle{5};

// The server takes a name that is not UTF-8 quoted, as the trail writes it.
std::string wire_path(const std::string& path) {
  return path.empty() ? path : path_to_wire(path);
}

}  // namespace

void fetch_server_trail(const ServerTrailQuery& query,
                        const std::function<void(const std::string&)>& sink) {
  const ServerClient client(
      {.url = query.base_url, .api_key = query.api_key, .ca_cert = query.ca_cert});
  std::string target = "/v1/sandboxes/" + url_escape(query.sandbox) + "/audit?";
  const std::pair<const char*, std::string> params[] = {
      {"since", query.filter.since},     {"kind", query.filter.kind},
      {"outcome", query.filter.outcome}, {"path", wire_path(query.filter.path)},
      {"op", query.filter.op},           {"follow", query.follow ? "true" : ""}};
  for (const auto& [name, value] : params) {
    if (!value.empty()) target += std::string(name) + "=" + url_escape(value) + "&";
  }
  target.pop_back();
  std::string partial;
  try {
    client.stream(target, "application/x-ndjson",
                  query.follow ? std::chrono::milliseconds(kFollowIdle) : kReadIdle,
                  [&](std::string_view bytes) {
                    partial.append(bytes);
                    std::size_t start = 0;
                    for (std::size_t nl; (nl = partial.find('\n', start)) != std::string::npos;
                         start = nl + 1) {
                      sink(partial.substr(start, nl - start));
                    }
                    partial.erase(0, start);
                  });
  } catch (const ServerError& error) {
    throw UserError("server answered HTTP " + std::to_string(error.http_status()) + ": " +
                    error.what());
  }
}

}  // namespace agentfense::cli
