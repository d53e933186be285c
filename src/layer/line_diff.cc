#include "layer/line_diff.h"

#include <algorithm>
#include <cstdlib>
#include <vector>

namespace agentfense::layer {
namespace {

// Beyond this many edits the diff degrades to "replace the differing middle block":
// still a correct diff, but bounded time and memory (the trace is O(D^2)).
constexpr int kMaxEditDistance = 2000;

enum class Op { kEqual, kDelete, kInsert };

struct Edit {
  Op op;
  size_t old_pos;  // index into old lines where this edit applies
  size_t new_pos;
};

// Lines keep their trailing '\n', so "x" at end of file differs from "x\n".
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const size_t length = end == std::string_view::npos ? text.size() : end + 1;
    lines.push_back(text.substr(0, length));
    text.remove_prefix(length);
  }
  return lines;
}

// Myers' greedy shortest edit script between a[lo_a, hi_a) and b[lo_b, hi_b); returns
// false when it needs more than kMaxEditDistance edits.
bool myers(const std::vector<std::string_view>& a, size_t lo_a, size_t hi_a,
           const std::vector<std::string_view>& b, size_t lo_b, size_t hi_b,
           std::vector<Edit>& out) {
  const int n = static_cast<int>(hi_a - lo_a);
  const int m = static_cast<int>(hi_b - lo_b);
  const int max_d = std::min(n + m, kMaxEditDistance);
  // Texts whose lengths differ by more than the budget need more edits than it allows
  // (and their final diagonal n - m lies outside v).
  if (std::abs(n - m) > max_d) return false;
  const int offset = max_d + 1;
  std::vector<int> v(2 * max_d + 3, 0);
  std::vector<std::vector<int>> trace;  // trace[d][k + d] = furthest x on diagonal k
  auto equal = [&](int x, int y) { return a[lo_a + x] == b[lo_b + y]; };
  for (int d = 0; d <= max_d; ++d) {
    for (int k = -d; k <= d; k += 2) {
      int x = (k == -d || (k != d && v[offset + k - 1] < v[offset + k + 1]))
                  ? v[offset + k + 1]
                  : v[offset + k - 1] + 1;
      int y = x - k;
      while (x < n && y < m && equal(x, y)) ++x, ++y;
      v[offset + k] = x;
    }
    trace.emplace_back(v.begin() + offset - d, v.begin() + offset + d + 1);
    // Only diagonals -d..d were reached at this d: read n - m's only when it is one.
    const bool done = std::abs(n - m) <= d && (d - (n - m)) % 2 == 0 && v[offset + (n - m)] >= n;
    if (!done) continue;
    std::vector<Edit> reversed;
    int x = n, y = m;
    for (int step = d; step > 0; --step) {
      const std::vector<int>& prev = trace[step - 1];  // indices k + (step - 1)
      auto prev_v = [&](int k) { return prev[k + step - 1]; };
      const int k = x - y;
      const bool down = k == -step || (k != step && prev_v(k - 1) < prev_v(k + 1));
      const int prev_k = down ? k + 1 : k - 1;
      const int prev_x = prev_v(prev_k);
      const int prev_y = prev_x - prev_k;
      while (x > prev_x + (down ? 0 : 1) && y > prev_y + (down ? 1 : 0)) {
        --x, --y;
        reversed.push_back({Op::kEqual, lo_a + x, lo_b + y});
      }
      if (down) {
        --y;
        reversed.push_back({Op::kInsert, lo_a + x, lo_b + y});
      } else {
        --x;
        reversed.push_back({Op::kDelete, lo_a + x, lo_b + y});
      }
    }
    while (x > 0 && y > 0) {
      --x, --y;
      reversed.push_back({Op::kEqual, lo_a + x, lo_b + y});
    }
    out.insert(out.end(), reversed.rbegin(), reversed.rend());
    return true;
  }
  return false;
}

std::vector<Edit> edit_script(const std::vector<std::string_view>& a,
                              const std::vector<std::string_view>& b) {
  size_t prefix = 0;
  while (prefix < a.size() && prefix < b.size() && a[prefix] == b[prefix]) ++prefix;
  size_t suffix = 0;
  while (suffix < a.size() - prefix && suffix < b.size() - prefix &&
         a[a.size() - 1 - suffix] == b[b.size() - 1 - suffix]) {
    ++suffix;
  }
  std::vector<Edit> edits;
  for (size_t i = 0; i < prefix; ++i) edits.push_back({Op::kEqual, i, i});
  const size_t hi_a = a.size() - suffix, hi_b = b.size() - suffix;
  if (!myers(a, prefix, hi_a, b, prefix, hi_b, edits)) {
    for (size_t i = prefix; i < hi_a; ++i) edits.push_back({Op::kDelete, i, prefix});
    for (size_t j = prefix; j < hi_b; ++j) edits.push_back({Op::kInsert, hi_a, j});
  }
  for (size_t i = 0; i < suffix; ++i) edits.push_back({Op::kEqual, hi_a + i, hi_b + i});
  return edits;
}

std::string range(size_t start, size_t count) {
  // GNU diff: an empty range names the line before it; a single line omits ",1".
  const size_t first = count == 0 ? start : start + 1;
  return count == 1 ? std::to_string(first) : std::to_string(first) + "," + std::to_string(count);
}

void append_line(std::string& out, char marker, std::string_view line) {
  out += marker;
  out += line;
  if (line.empty() || line.back() != '\n') out += "\n\\ No newline at end of file\n";
}

}  // namespace

std::string unified_hunks(std::string_view old_text, std::string_view new_text, int context) {
  const std::vector<std::string_view> a = split_lines(old_text);
  const std::vector<std::string_view> b = split_lines(new_text);
  const std::vector<Edit> edits = edit_script(a, b);
  const size_t gap = static_cast<size_t>(2 * context);
  std::string out;
  size_t i = 0;
  while (i < edits.size()) {
    if (edits[i].op == Op::kEqual) {
      ++i;
      continue;
    }
    const size_t start = i >= static_cast<size_t>(context) ? i - context : 0;
    size_t last_change = i;
    for (size_t j = i; j < edits.size(); ++j) {
      if (edits[j].op != Op::kEqual) {
        last_change = j;
      } else if (j - last_change > gap) {
        break;
      }
    }
    const size_t end = std::min(edits.size(), last_change + 1 + context);
    size_t old_count = 0, new_count = 0;
    for (size_t j = start; j < end; ++j) {
      if (edits[j].op != Op::kInsert) ++old_count;
      if (edits[j].op != Op::kDelete) ++new_count;
    }
    out += "@@ -" + range(edits[start].old_pos, old_count) + " +" +
           range(edits[start].new_pos, new_count) + " @@\n";
    for (size_t j = start; j < end; ++j) {
      switch (edits[j].op) {
        case Op::kEqual:
          append_line(out, ' ', a[edits[j].old_pos]);
          break;
        case Op::kDelete:
          append_line(out, '-', a[edits[j].old_pos]);
          break;
        case Op::kInsert:
          append_line(out, '+', b[edits[j].new_pos]);
          break;
      }
    }
    i = end;
  }
  return out;
}

}  // namespace agentfense::layer
