#include "store/page_token.h"

#include <array>
#include <charconv>

#include "common/api_error.h"

namespace agentfense::store {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr int kDefaultPageSize = 50;
constexpr int kMaxPageSize = 1000;

[[noreturn]] void bad_token() {
  throw ApiError(StatusCode::INVALID_ARGUMENT, "invalid page_token");
}

// Ids are "<prefix>_<hex>": anything else in a token was not produced by us.
bool plausible_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    buffer = (buffer << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(buffer >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (6 - bits)) & 0x3f];
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (size_t i = 0; i < kAlphabet.size(); ++i) value[static_cast<unsigned char>(kAlphabet[i])] = i;
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (unsigned char c : text) {
    if (value[c] < 0) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(value[c]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xff);
    }
  }
  // Non-canonical trailing bits mean the text was not produced by base64url_encode.
  if ((buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::string encode_page_token(std::string_view kind, const PageCursor& cursor) {
  return base64url_encode(std::string(kind) + "|" + std::to_string(cursor.created_at_us) + "|" +
                          cursor.id);
}

std::optional<PageCursor> decode_page_token(std::string_view kind, std::string_view token) {
  if (token.empty()) return std::nullopt;
  const std::optional<std::string> raw = base64url_decode(token);
  if (!raw) bad_token();
  const std::string_view text = *raw;
  const size_t first = text.find('|');
  const size_t second = first == std::string_view::npos ? first : text.find('|', first + 1);
  if (second == std::string_view::npos || text.substr(0, first) != kind) bad_token();
  const std::string_view time = text.substr(first + 1, second - first - 1);
  PageCursor cursor;
  const auto [end, ec] =
      std::from_chars(time.data(), time.data() + time.size(), cursor.created_at_us);
  if (ec != std::errc() || end != time.data() + time.size() || cursor.created_at_us < 0) {
    bad_token();
  }
  cursor.id = std::string(text.substr(second + 1));
  if (!plausible_id(cursor.id)) bad_token();
  return cursor;
}

int effective_page_size(int requested) {
  if (requested < 0) {
    throw ApiError(StatusCode::INVALID_ARGUMENT,
                   "page_size must not be negative (got " + std::to_string(requested) + ")");
  }
  if (requested == 0) return kDefaultPageSize;
  return requested > kMaxPageSize ? kMaxPageSize : requested;
}

}  // namespace agentfense::store
