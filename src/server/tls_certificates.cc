#include "server/tls_certificates.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/errors.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "server/file_stamp.h"

namespace agentfense::server {
namespace {

struct FreeX509 {
  void operator()(X509* x) const { X509_free(x); }
};
struct FreeKey {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct FreeBio {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct FreeChain {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
struct FreeStore {
  void operator()(X509_STORE* s) const { X509_STORE_free(s); }
};
struct FreeNames {
  void operator()(STACK_OF(X509_NAME) * s) const { sk_X509_NAME_pop_free(s, X509_NAME_free); }
};

// OpenSSL's reason for the last failure, and the error queue emptied.
std::string openssl_reason() {
  const unsigned long code = ERR_peek_last_error();
  char text[256] = "unknown OpenSSL error";
  if (code != 0) ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

std::string read_pem(const std::string& key, const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw UserError("cannot read " + key + " " + path + ": " + std::strerror(errno));
  std::string text;
  char buffer[8192];
  while (true) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) throw UserError("cannot read " + key + " " + path + ": " + std::strerror(errno));
    if (got == 0) return text;
    text.append(buffer, static_cast<std::size_t>(got));
  }
}

std::unique_ptr<BIO, FreeBio> memory_bio(const std::string& text) {
  std::unique_ptr<BIO, FreeBio> bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  if (!bio) throw std::bad_alloc();
  return bio;
}

// Written beside the target and renamed over it, 0600: gRPC never reads half of it.
void replace_file(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  UniqueFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) throw SystemError("create " + temp, errno);
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t wrote = ::write(fd.get(), text.data() + done, text.size() - done);
    if (wrote < 0 && errno == EINTR) continue;
    check_syscall(wrote, "write " + temp);
    done += static_cast<std::size_t>(wrote);
  }
  check_syscall(::fsync(fd.get()), "fsync " + temp);
  check_syscall(::rename(temp.c_str(), path.c_str()), "rename " + temp);
}

}  // namespace

struct TlsCertificates::Material {
  std::string cert_pem, key_pem, client_ca_pem;  // as read: what the mirror holds
  std::unique_ptr<X509, FreeX509> cert;
  std::unique_ptr<STACK_OF(X509), FreeChain> chain;
  std::unique_ptr<EVP_PKEY, FreeKey> key;
  std::unique_ptr<X509_STORE, FreeStore> client_store;
  std::unique_ptr<STACK_OF(X509_NAME), FreeNames> client_names;
};

struct TlsCertificates::Stamps {
  FileStamp cert, key, client_ca;
  explicit Stamps(const TlsFiles& files)
      : cert(stamp_of(files.cert)),
        key(stamp_of(files.key)),
        client_ca(stamp_of(files.client_ca)) {}
  bool operator==(const Stamps&) const = default;
};

namespace {

std::shared_ptr<TlsCertificates::Material> load(const TlsFiles& files) {
  auto m = std::make_shared<TlsCertificates::Material>();
  m->cert_pem = read_pem("server.tls.cert", files.cert);
  m->key_pem = read_pem("server.tls.key", files.key);

  auto cert_bio = memory_bio(m->cert_pem);
  m->cert.reset(PEM_read_bio_X509_AUX(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!m->cert)
    throw UserError("server.tls.cert " + files.cert + " holds no PEM certificate (" +
                    openssl_reason() + ")");
  m->chain.reset(sk_X509_new_null());
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr))
    sk_X509_push(m->chain.get(), extra);
  ERR_clear_error();  // the end of the text reads as an error

  auto key_bio = memory_bio(m->key_pem);
  m->key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!m->key)
    throw UserError("server.tls.key " + files.key + " holds no unencrypted PEM private key (" +
                    openssl_reason() + ")");
  if (X509_check_private_key(m->cert.get(), m->key.get()) != 1) {
    ERR_clear_error();
    throw UserError("server.tls.key " + files.key +
                    " is not the key of the certificate in server.tls.cert " + files.cert);
  }

  if (!files.client_ca.empty()) {
    m->client_ca_pem = read_pem("server.tls.client_ca", files.client_ca);
    auto ca_bio = memory_bio(m->client_ca_pem);
    m->client_store.reset(X509_STORE_new());
    m->client_names.reset(sk_X509_NAME_new_null());
    while (X509* ca = PEM_read_bio_X509(ca_bio.get(), nullptr, nullptr, nullptr)) {
      const std::unique_ptr<X509, FreeX509> owned(ca);
      if (X509_STORE_add_cert(m->client_store.get(), ca) != 1 ||
          sk_X509_NAME_push(m->client_names.get(), X509_NAME_dup(X509_get_subject_name(ca))) <= 0)
        throw UserError("server.tls.client_ca " + files.client_ca + ": " + openssl_reason());
    }
    ERR_clear_error();
    if (sk_X509_NAME_num(m->client_names.get()) == 0)
      throw UserError("server.tls.client_ca " + files.client_ca + " holds no PEM certificate");
  }
  return m;
}

}  // namespace

// Stamps first: a file replaced while it is read counts as changed at the next check.
TlsCertificates::TlsCertificates(TlsFiles files, std::string mirror_dir)
    : files_(std::move(files)),
      mirror_dir_(std::move(mirror_dir)),
      attempted_(std::make_unique<Stamps>(files_)),
      material_(load(files_)) {
  std::filesystem::create_directories(mirror_dir_);
  check_syscall(::chmod(mirror_dir_.c_str(), 0700), "chmod " + mirror_dir_);
  write_mirror(*material_);
}

TlsCertificates::~TlsCertificates() = default;

TlsFiles TlsCertificates::mirrored() const {
  const std::string identity = mirror_dir_ + "/identity.pem";
  return {.cert = identity,
          .key = identity,
          .client_ca = files_.client_ca.empty() ? "" : mirror_dir_ + "/client_ca.pem"};
}

void TlsCertificates::write_mirror(const Material& material) const {
  const TlsFiles mirror = mirrored();
  // Client CA first: a new CA and a new identity are both in place before gRPC's next look.
  if (!mirror.client_ca.empty()) replace_file(mirror.client_ca, material.client_ca_pem);
  replace_file(mirror.cert, material.key_pem + "\n" + material.cert_pem);
}

std::shared_ptr<const TlsCertificates::Material> TlsCertificates::current() const {
  const std::lock_guard lock(mutex_);
  return material_;
}

bool TlsCertificates::configure(SSL_CTX& context) {
  const auto material = current();
  static const unsigned char kSessionContext[] = "agentfense-rest";
  if (SSL_CTX_set_min_proto_version(&context, TLS1_2_VERSION) != 1 ||
      // A default identity, replaced per handshake by select_certificate.
      SSL_CTX_use_certificate(&context, material->cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(&context, material->key.get()) != 1 ||
      SSL_CTX_set_session_id_context(&context, kSessionContext, sizeof kSessionContext - 1) != 1)
    return false;
  SSL_CTX_set_cert_cb(&context, &TlsCertificates::select_certificate, this);
  // Requested and verified when presented, but optional: an API key is the other way in.
  if (!files_.client_ca.empty()) SSL_CTX_set_verify(&context, SSL_VERIFY_PEER, nullptr);
  return true;
}

int TlsCertificates::select_certificate(SSL* ssl, void* self) {
  const auto material = static_cast<TlsCertificates*>(self)->current();
  if (SSL_use_certificate(ssl, material->cert.get()) != 1 ||
      SSL_use_PrivateKey(ssl, material->key.get()) != 1 ||
      SSL_set1_chain(ssl, material->chain.get()) != 1)
    return 0;
  if (material->client_store) {
    if (SSL_set1_verify_cert_store(ssl, material->client_store.get()) != 1) return 0;
    SSL_set_client_CA_list(ssl, SSL_dup_CA_list(material->client_names.get()));
  }
  return 1;
}

bool TlsCertificates::reload(bool force) {
  const std::lock_guard reloading(reload_mutex_);
  auto stamps = std::make_unique<Stamps>(files_);
  if (!force && *stamps == *attempted_) return false;
  attempted_ = std::move(stamps);
  std::shared_ptr<const Material> fresh;
  try {
    fresh = load(files_);
  } catch (const UserError& error) {
    // Half-renewed files (a new certificate before its key): keep serving the previous
    // set; the next change of the files is tried again.
    log::error("tls.reload_failed", {{"error", error.what()}, {"kept", "the previous set"}});
    return false;
  }
  write_mirror(*fresh);
  {
    const std::lock_guard lock(mutex_);
    material_ = std::move(fresh);
  }
  log::info("tls.reloaded", {{"cert", files_.cert}});
  return true;
}

std::optional<std::string> TlsCertificates::verified_client_cn(const SSL* ssl) {
  if (ssl == nullptr) return std::nullopt;
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return std::nullopt;
  X509_NAME* subject = X509_get_subject_name(peer);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return std::nullopt;
  unsigned char* utf8 = nullptr;
  const int length =
      ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
  if (length < 0) return std::nullopt;
  std::string cn(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(length));
  OPENSSL_free(utf8);
  return cn;
}

}  // namespace agentfense::server
