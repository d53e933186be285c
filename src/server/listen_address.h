// "host:port" as written in the config (server.grpc_addr, server.http_addr) split into
// the parts the two transports bind to. ":9000" means every interface.
#pragma once

#include <string>

namespace agentfense::server {

struct ListenAddress {
  std::string host;  // "0.0.0.0" when the address had no host; IPv6 without brackets
  int port = 0;      // 0: any free port
};

// Throws UserError naming the address when it is not host:port with port in 0..65535.
ListenAddress ParseListenAddress(const std::string& address);

// The form gRPC's AddListeningPort expects ("[::1]:0", "0.0.0.0:9000").
std::string GrpcListenUri(const ListenAddress& address);

}  // namespace agentfense::server
