// What a gRPC client presented to authenticate (call_gate.h), and the server credentials
// (plain or TLS) the gRPC transport listens with.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>

#include "server/call_gate.h"
#include "server/tls_files.h"

namespace agentfense::server {

// The "authorization" metadata (a call that sends it twice presents an empty, hence
// malformed, one) and the verified client certificate's subject CN.
PresentedCredentials PresentedBy(const grpc::ServerContext& context);

// Insecure without TLS files. With them, TLS whose certificate, key and client CA are
// re-read from their files every kTlsReloadSeconds by gRPC's file-watcher provider (the
// server points it at TlsCertificates' checked mirror), so a renewed certificate is
// served without a restart; with a client CA, a client certificate is requested and,
// when presented, must verify.
std::shared_ptr<grpc::ServerCredentials> GrpcServerCredentials(const TlsFiles& tls);

}  // namespace agentfense::server
