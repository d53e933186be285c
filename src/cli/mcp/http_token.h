// The secret every request to `agentfense mcp --http` carries as "Authorization: Bearer
// TOKEN". Loopback is not an access boundary: every local user, and every local service
// that can be made to fetch a URL, reaches 127.0.0.1, and the endpoint runs commands as
// its owner's sandbox (and, with --server, with the owner's API key). The token is
// $AGENTFENSE_MCP_TOKEN when set (a launcher chooses it and gives it to its MCP client),
// else 32 random bytes as hex; `--http-token-file PATH` writes it to a new file only its
// owner can read, removed again at exit.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace agentfense::cli::mcp {

inline constexpr const char* kTokenVariable = "AGENTFENSE_MCP_TOKEN";

class HttpToken {
 public:
  // Throws UserError for a token in the environment that is not a usable secret, or a
  // token file that exists already or cannot be created (nothing is left behind).
  explicit HttpToken(const std::string& token_file);
  ~HttpToken();
  HttpToken(const HttpToken&) = delete;
  HttpToken& operator=(const HttpToken&) = delete;

  const std::string& value() const { return value_; }
  // What the endpoint line tells the owner to send: the header with the token itself, or
  // naming where it is when it came from the environment or went to a file (so it is
  // not copied into whatever keeps stderr).
  const std::string& header_hint() const { return hint_; }

 private:
  void write_file(const std::string& path);

  std::string value_;
  std::string hint_;
  std::string file_;  // the token file this created, removed at exit if still that file
  dev_t file_dev_ = 0;
  ino_t file_ino_ = 0;
};

}  // namespace agentfense::cli::mcp
