// Incremental SHA-256 (OpenSSL EVP) so uploads are hashed chunk by chunk as they stream.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string>
#include <string_view>

namespace agentfense::store {

class Sha256 {
 public:
  Sha256();
  void update(std::string_view bytes);
  // "sha256:<64 lowercase hex>"; the hasher must not be used afterwards.
  std::string finish_checksum();

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

}  // namespace agentfense::store
