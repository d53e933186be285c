#include "server/config/key_suggestion.h"

#include <algorithm>

namespace agentfense::server {
namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> previous(b.size() + 1);
  std::vector<size_t> current(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) previous[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    current[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t substitute = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitute});
    }
    std::swap(previous, current);
  }
  return previous[b.size()];
}

std::string_view last_segment(std::string_view key) {
  const size_t dot = key.rfind('.');
  return dot == std::string_view::npos ? key : key.substr(dot + 1);
}

}  // namespace

std::optional<std::string> suggest_key(std::string_view unknown,
                                       const std::vector<std::string>& known) {
  // A typo changes a few characters; more than a third of the key is a different word.
  size_t best_distance = std::max<size_t>(2, unknown.size() / 3) + 1;
  std::optional<std::string> best;
  for (const std::string& candidate : known) {
    const size_t distance = edit_distance(unknown, candidate);
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  if (best) return best;
  for (const std::string& candidate : known) {
    if (last_segment(candidate) == last_segment(unknown)) return candidate;
  }
  return std::nullopt;
}

}  // namespace agentfense::server
