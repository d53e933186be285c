// Opaque page tokens for keyset pagination over (created_at, id).
//
// A token names the last row of the previous page; the next page is every row strictly
// after it in (created_at, id) order. Unlike offsets, pages stay stable while rows are
// inserted or deleted. Tokens are base64url text of "<kind>|<created_at_us>|<id>"; the kind
// ("cb", "sb") stops a codebase token from being replayed against the sandbox list. A
// token that does not decode to exactly that shape is INVALID_ARGUMENT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace agentfense::store {

struct PageCursor {
  int64_t created_at_us = 0;
  std::string id;
};

std::string encode_page_token(std::string_view kind, const PageCursor& cursor);

// nullopt for an empty token (first page); throws ApiError(INVALID_ARGUMENT) for a garbled,
// forged or foreign-kind token.
std::optional<PageCursor> decode_page_token(std::string_view kind, std::string_view token);

// 0 -> 50; capped at 1000; negative -> INVALID_ARGUMENT.
int effective_page_size(int requested);

// A page of sandboxes also ends once it holds this much (its next_page_token goes on):
// a sandbox record with its rules and labels is up to ~450 KB, and a page of 64 of them
// was 29 MB; one tenant's 32 unread pages took the server to 1.9 GB (sweep V, V4).
inline constexpr std::size_t kMaxPageBytes = std::size_t{4} << 20;

// base64url without padding (RFC 4648 §5).
std::string base64url_encode(std::string_view bytes);
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace agentfense::store
