// Both transports over one FakeApi on loopback port 0, with real clients: generated
// gRPC stubs and an httplib::Client.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "common/errors.h"
#include "fake_api.h"
#include "server/grpc_service.h"
#include "server/rest_gateway.h"

namespace agentfense::server::testing {

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rest_port_ = rest_.listen("127.0.0.1:0");
    grpc_port_ = grpc_.Start("127.0.0.1:0");
    http_ = std::make_unique<httplib::Client>("127.0.0.1", rest_port_);
    http_->set_read_timeout(20, 0);
    auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(grpc_port_),
                                       grpc::InsecureChannelCredentials());
    sandboxes_ = v1::SandboxService::NewStub(channel);
    codebases_ = v1::CodebaseService::NewStub(channel);
  }

  void TearDown() override {
    http_.reset();
    rest_.stop();
    grpc_.Stop(std::chrono::milliseconds(500));
  }

  static nlohmann::json Json(const httplib::Result& result) {
    EXPECT_TRUE(result) << "HTTP request failed: " << httplib::to_string(result.error());
    if (!result) return nullptr;
    return nlohmann::json::parse(result->body);
  }

  FakeApi api_;
  RestGateway rest_{api_, api_};
  GrpcTransport grpc_{api_, api_};
  int rest_port_ = 0;
  int grpc_port_ = 0;
  std::unique_ptr<httplib::Client> http_;
  std::unique_ptr<v1::SandboxService::Stub> sandboxes_;
  std::unique_ptr<v1::CodebaseService::Stub> codebases_;
};

}  // namespace agentfense::server::testing
