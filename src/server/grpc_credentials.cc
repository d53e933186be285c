#include "server/grpc_credentials.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

namespace agentfense::server {

PresentedCredentials PresentedBy(const grpc::ServerContext& context) {
  PresentedCredentials presented;
  const auto& metadata = context.client_metadata();
  const auto [first, last] = metadata.equal_range("authorization");
  if (first != last) {
    presented.authorization = std::next(first) == last
                                  ? std::string(first->second.data(), first->second.size())
                                  : std::string();
  }
  if (const auto auth = context.auth_context()) {
    const auto names = auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME);
    if (!names.empty())
      presented.certificate_cn = std::string(names.front().data(), names.front().size());
  }
  return presented;
}

std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const TlsFiles& tls) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  using grpc::experimental::FileWatcherCertificateProvider;
  const auto provider =
      tls.client_ca.empty()
          ? std::make_shared<FileWatcherCertificateProvider>(tls.key, tls.cert, kTlsReloadSeconds)
          : std::make_shared<FileWatcherCertificateProvider>(tls.key, tls.cert, tls.client_ca,
                                                             kTlsReloadSeconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (!tls.client_ca.empty()) {
    options.watch_root_certs();
    // Requested, verified when presented, but optional: an API key is the other way in.
    options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace agentfense::server
