// SHA-256 (OpenSSL EVP) as AgentFense prints it: 64 lowercase hex digits. Upload
// checksums and API key hashes prefix them with "sha256:", the audit chain does not.
#pragma once

#include <memory>
#include <string>
#include <string_view>

struct evp_md_ctx_st;

namespace agentfense {

// The digest of `data` in one call.
std::string sha256_hex(std::string_view data);

// Incremental, for data that arrives in chunks (uploads are hashed as they stream).
class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  // The digest of everything passed to update(); the hasher must not be used afterwards.
  std::string finish_hex();

 private:
  struct Free {
    void operator()(evp_md_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_md_ctx_st, Free> ctx_;
};

}  // namespace agentfense
