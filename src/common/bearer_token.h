// Secrets presented as "Authorization: Bearer TOKEN" (RFC 6750): the server's API keys
// and `agentfense mcp --http`'s endpoint token.
#pragma once

#include <string>
#include <string_view>

namespace agentfense {

// The token of "Bearer TOKEN" (scheme case-insensitive, spaces around the token
// allowed), or empty when the header is not one (another scheme, no token, a token with
// spaces or control characters).
std::string bearer_token(const std::string& header);

// Compares without an early exit, so timing says nothing about how much of `token`
// `presented` matched (only whether the lengths differ).
bool same_token(std::string_view presented, std::string_view token);

}  // namespace agentfense
