// API keys: random bearer tokens the server stores only as SHA-256 hashes.
//
// A key is "afk_" followed by 43 base62 characters: 256 bits from the kernel's CSPRNG.
// Its first 12 characters ("afk_" and 8 more) are its key id, shown by `keys list`,
// written in the keys file and in logs to tell keys apart; the remaining 35 characters
// (over 200 bits) stay secret.
//
// Why plain SHA-256 and not a password hash (bcrypt, argon2): those are slow on purpose
// so that a stolen hash of a *guessable* password takes long to reverse. A 256-bit random
// key cannot be guessed, so a fast hash already makes a stolen keys file useless, and the
// server can check a key on every request without adding latency.
#pragma once

#include <string>
#include <string_view>

namespace agentfense::server {

inline constexpr std::string_view kApiKeyPrefix = "afk_";
inline constexpr std::size_t kApiKeyIdLength = 12;

// A new key (throws SystemError when no randomness is available).
std::string generate_api_key();

// "sha256:<64 lowercase hex>" of the key as sent.
std::string hash_api_key(std::string_view key);

// The key id of a well-formed key ("afk_3kX9q2Lm"), empty for anything else.
std::string api_key_id(std::string_view key);

}  // namespace agentfense::server
