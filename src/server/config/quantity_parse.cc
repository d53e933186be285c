#include "server/config/quantity_parse.h"

#include <array>
#include <cctype>

#include "common/ascii_case.h"

namespace agentfense::server {
namespace {

struct Unit {
  std::string_view suffix;
  std::int64_t scale;
};

// Largest first: parse_duration requires this order and format_duration relies on it.
constexpr std::array<Unit, 4> kDurationUnits{{
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

constexpr std::array<Unit, 5> kSizeUnits{{
    {"TiB", std::int64_t{1} << 40},
    {"GiB", std::int64_t{1} << 30},
    {"MiB", std::int64_t{1} << 20},
    {"KiB", std::int64_t{1} << 10},
    {"", 1},
}};

// Reads the decimal digits at the front of `text`, consuming them. No sign, no
// overflow: at most 15 digits, far beyond any sensible duration or size.
std::optional<std::int64_t> take_number(std::string_view& text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0 || digits > 15) return std::nullopt;
  std::int64_t value = 0;
  for (size_t i = 0; i < digits; ++i) value = value * 10 + (text[i] - '0');
  text.remove_prefix(digits);
  return value;
}

std::optional<std::int64_t> scaled(std::int64_t value, std::int64_t scale) {
  std::int64_t result = 0;
  if (__builtin_mul_overflow(value, scale, &result)) return std::nullopt;
  return result;
}

// "ms" must be tried before "m", so units are matched longest-first here.
std::optional<size_t> take_duration_unit(std::string_view& text) {
  for (const size_t index : {size_t{3}, size_t{0}, size_t{1}, size_t{2}}) {
    if (text.starts_with(kDurationUnits[index].suffix)) {
      text.remove_prefix(kDurationUnits[index].suffix.size());
      return index;
    }
  }
  return std::nullopt;
}

// Size suffixes are case-insensitive in the letter and lenient in the rest:
// k, K, KB, KiB, kib all mean KiB.
std::optional<std::int64_t> size_scale(std::string_view suffix) {
  const std::string folded = ascii_lower(suffix);
  if (folded.empty() || folded == "b") return 1;
  for (const Unit& unit : kSizeUnits) {
    if (unit.suffix.empty()) continue;
    const std::string letter(1, ascii_lower(unit.suffix[0]));
    if (folded == letter || folded == letter + "b" || folded == letter + "ib") return unit.scale;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::string_view rest = text;
  const std::optional<std::int64_t> first = take_number(rest);
  if (!first) return std::nullopt;
  if (rest.empty()) {
    const std::optional<std::int64_t> ms = scaled(*first, 1000);
    if (!ms) return std::nullopt;
    return std::chrono::milliseconds(*ms);
  }
  std::int64_t total = 0;
  size_t next_allowed_unit = 0;
  std::optional<std::int64_t> number = first;
  while (true) {
    const std::optional<size_t> unit = take_duration_unit(rest);
    if (!unit || *unit < next_allowed_unit) return std::nullopt;
    const std::optional<std::int64_t> part = scaled(*number, kDurationUnits[*unit].scale);
    if (!part || __builtin_add_overflow(total, *part, &total)) return std::nullopt;
    next_allowed_unit = *unit + 1;
    if (rest.empty()) return std::chrono::milliseconds(total);
    number = take_number(rest);
    if (!number) return std::nullopt;
  }
}

std::string format_duration(std::chrono::milliseconds duration) {
  std::int64_t remaining = duration.count();
  if (remaining == 0) return "0s";
  std::string text;
  for (const Unit& unit : kDurationUnits) {
    if (remaining >= unit.scale) {
      text += std::to_string(remaining / unit.scale) + std::string(unit.suffix);
      remaining %= unit.scale;
    }
  }
  return text;
}

std::optional<std::int64_t> parse_size(std::string_view text) {
  std::string_view rest = text;
  const std::optional<std::int64_t> number = take_number(rest);
  if (!number) return std::nullopt;
  const std::optional<std::int64_t> scale = size_scale(rest);
  if (!scale) return std::nullopt;
  return scaled(*number, *scale);
}

std::string format_size(std::int64_t bytes) {
  for (const Unit& unit : kSizeUnits) {
    if (bytes != 0 && bytes % unit.scale == 0)
      return std::to_string(bytes / unit.scale) + std::string(unit.suffix);
  }
  return std::to_string(bytes);
}

}  // namespace agentfense::server
