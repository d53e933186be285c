// Entries of a serialized request counted before it is parsed (request_wire_check.h).
#include "server/request_wire_check.h"

#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <gtest/gtest.h>

#include "sandbox.pb.h"
#include "server/api.h"

namespace agentfense::server {
namespace {

// The message of the ApiError CheckRepeatedCounts throws for `wire`, or "" when it passes.
std::string Refusal(const std::string& wire, const google::protobuf::Descriptor& type,
                    std::size_t limit) {
  google::protobuf::io::ArrayInputStream input(wire.data(), static_cast<int>(wire.size()), 7);
  try {
    CheckRepeatedCounts(input, type, limit);
    return "";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.code(), StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(error.reason(), kReasonRequestTooLarge);
    return error.what();
  }
}

TEST(RequestWireCheck, CountsRepeatedAndMapFieldsUpToTheLimit) {
  v1::CreateSandboxRequest request;
  for (int i = 0; i < 3; ++i) request.add_permissions()->set_pattern("**");
  (*request.mutable_labels())["a"] = "b";
  const auto& type = *v1::CreateSandboxRequest::descriptor();
  EXPECT_EQ(Refusal(request.SerializeAsString(), type, 3), "");
  request.add_permissions();
  EXPECT_EQ(Refusal(request.SerializeAsString(), type, 3),
            "permissions has more than 3 entries; the limit is 3 (counted before the request "
            "is parsed)");

  v1::ExecRequest exec;
  for (int i = 0; i < 4; ++i) (*exec.mutable_env())["V" + std::to_string(i)] = "x";
  EXPECT_NE(Refusal(exec.SerializeAsString(), *v1::ExecRequest::descriptor(), 3).find("env has"),
            std::string::npos);
}

TEST(RequestWireCheck, CountsUnknownFieldsInsideGroupsToo) {
  // One unknown group (field 99) holding four unknown varints: the parser keeps them all.
  std::string wire = "\x9b\x06";  // tag 99, start group
  for (int i = 0; i < 4; ++i) wire += std::string("\x08\x00", 2);
  wire += "\x9c\x06";  // tag 99, end group
  const auto& type = *v1::GetSandboxRequest::descriptor();
  EXPECT_EQ(Refusal(wire, type, 5), "");
  EXPECT_NE(Refusal(wire, type, 4).find("more than 4 fields this server does not know"),
            std::string::npos);
}

TEST(RequestWireCheck, StopsQuietlyAtMalformedInput) {
  const auto& type = *v1::CreateSandboxRequest::descriptor();
  EXPECT_EQ(Refusal("\x12\x7f", type, 1), "");                   // a length past the end
  EXPECT_EQ(Refusal("\x0c", type, 1), "");                       // an end group never opened
  EXPECT_EQ(Refusal(std::string(300, '\x13'), type, 1000), "");  // groups nested too deep
}

}  // namespace
}  // namespace agentfense::server
