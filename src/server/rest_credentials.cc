#include "server/rest_credentials.h"

#include "server/tls_certificates.h"

namespace agentfense::server {

PresentedCredentials PresentedBy(const httplib::Request& request) {
  PresentedCredentials presented;
  if (const auto count = request.get_header_value_count("Authorization"); count > 0)
    presented.authorization = count == 1 ? request.get_header_value("Authorization") : "";
  presented.certificate_cn = TlsCertificates::verified_client_cn(request.ssl);
  return presented;
}

}  // namespace agentfense::server
