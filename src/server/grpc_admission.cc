#include "server/grpc_admission.h"

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpcpp/support/proto_buffer_reader.h>

#include <memory>
#include <optional>
#include <utility>

#include "sandbox.pb.h"
#include "server/answer_deadline.h"
#include "server/api.h"
#include "server/call_context.h"
#include "server/caller_scope.h"
#include "server/grpc_credentials.h"
#include "server/request_limits.h"
#include "server/request_wire_check.h"
#include "server/transport_status.h"

namespace agentfense::server {
namespace {

using google::protobuf::MethodDescriptor;
using grpc::internal::MethodHandler;
using grpc::internal::RpcMethod;

constexpr std::size_t kMaxExecRequestBytes = kMaxStdinBytes + (1 << 20);

struct DestroyByteBuffer {
  void operator()(grpc_byte_buffer* buffer) const { grpc_byte_buffer_destroy(buffer); }
};
using Payload = std::unique_ptr<grpc_byte_buffer, DestroyByteBuffer>;

RpcMethod::RpcType TypeOf(const MethodDescriptor& method) {
  if (method.client_streaming())
    return method.server_streaming() ? RpcMethod::BIDI_STREAMING : RpcMethod::CLIENT_STREAMING;
  return method.server_streaming() ? RpcMethod::SERVER_STREAMING : RpcMethod::NORMAL_RPC;
}

[[noreturn]] void TooLarge(const MethodDescriptor& method, std::size_t size, std::size_t limit) {
  throw ApiError(StatusCode::INVALID_ARGUMENT,
                 "the " + method.input_type()->name() + " is " + std::to_string(size) +
                     " bytes; the limit for " + method.name() + " is " + describe_size(limit) +
                     " (send files with UploadFiles or WriteSandboxFile)",
                 kReasonRequestTooLarge);
}

[[noreturn]] void Unparsable(const MethodDescriptor& method) {
  throw ApiError(StatusCode::INVALID_ARGUMENT,
                 "the request is not a valid " + method.input_type()->full_name() +
                     " message: malformed protobuf, or a string field holding bytes that are "
                     "not UTF-8 (proto3 string fields must be UTF-8; send binary data in bytes "
                     "fields)",
                 kReasonInvalidRequest);
}

// Counts the entries of the serialized request over its own slices (shared, not copied).
void CheckEntries(grpc_byte_buffer* payload, const MethodDescriptor& method) {
  grpc_byte_buffer_reader reader;
  if (grpc_byte_buffer_reader_init(&reader, payload) == 0) return;  // the parse reports it
  std::vector<grpc::Slice> slices;
  grpc_slice slice;
  while (grpc_byte_buffer_reader_next(&reader, &slice) != 0)
    slices.emplace_back(slice, grpc::Slice::STEAL_REF);
  grpc_byte_buffer_reader_destroy(&reader);
  grpc::ByteBuffer shared(slices.data(), slices.size());
  grpc::ProtoBufferReader wire(&shared);
  CheckRepeatedCounts(wire, *method.input_type());
}

// A unary or server-streaming method: see the header for what happens before the
// generated handler runs.
class AdmittingHandler final : public MethodHandler {
 public:
  AdmittingHandler(MethodHandler& generated, const MethodDescriptor& method, CallGate* gate,
                   PrincipalShare* share, SendWatchdog* watchdog)
      : generated_(generated),
        method_(method),
        gate_(gate),
        watchdog_(watchdog),
        share_(share),
        limit_(GrpcRequestLimit(method)) {}

  // The request stays serialized until the call is admitted.
  void* Deserialize(grpc_call*, grpc_byte_buffer* request, grpc::Status*, void**) override {
    return request;
  }

  void RunHandler(const HandlerParameter& param) override {
    auto& context = *static_cast<grpc::ServerContext*>(param.server_context);
    Payload payload(static_cast<grpc_byte_buffer*>(param.request));
    grpc::Status status = param.status;
    PrincipalPtr caller;
    std::optional<PrincipalShare::Held> thread;
    void* request = nullptr;
    if (status.ok()) {
      try {
        if (gate_ != nullptr) caller = gate_->admit(PresentedBy(context));
        if (auto taken = take_share(share_, caller)) thread.emplace(std::move(*taken));
        request = Parse(param.call->call(), std::move(payload));
      } catch (...) {
        status = GrpcStatusOf(context, DescribeError(std::current_exception(), method_.name()));
      }
    }
    payload.reset();  // a refused request's bytes are not kept while the refusal is sent
    // The generated handler answers a failed status without running the method.
    const HandlerParameter parsed(param.call, param.server_context, request, status,
                                  param.internal_data, param.call_requester);
    // Declared before the caller's scope: what the answer holds outlives its sending, which
    // must not take longer than its deadline (a client that does not read it is cancelled).
    // The method arms it once it made its answer (grpc_service.cc); a refused call at once.
    AnswerDeadline answer(method_.server_streaming() ? nullptr : watchdog_, context);
    if (!status.ok()) answer.made(0);
    const KeptUntilSent kept;
    if (!caller) return generated_.RunHandler(parsed);
    const CallerScope scope(std::move(caller));
    generated_.RunHandler(parsed);
  }

 private:
  // The request, allocated in the call's arena as the generated handler expects.
  void* Parse(grpc_call* call, Payload payload) {
    if (payload) {
      const std::size_t size = grpc_byte_buffer_length(payload.get());
      if (size > limit_) TooLarge(method_, size, limit_);
      CheckEntries(payload.get(), method_);
    }
    grpc::Status parsed;
    void* request = generated_.Deserialize(call, payload.release(), &parsed, nullptr);
    if (request == nullptr) Unparsable(method_);
    return request;
  }

  MethodHandler& generated_;
  const MethodDescriptor& method_;
  CallGate* const gate_;
  SendWatchdog* const watchdog_;
  PrincipalShare* const share_;
  const std::size_t limit_;
};

// A client-streaming (or bidirectional) method, whose handler runs before any message.
// Its answer, if one message (an upload's result), has its deadline as above.
class PassThroughHandler final : public MethodHandler {
 public:
  PassThroughHandler(MethodHandler& generated, const MethodDescriptor& method,
                     SendWatchdog* watchdog)
      : generated_(generated), watchdog_(method.server_streaming() ? nullptr : watchdog) {}
  void RunHandler(const HandlerParameter& param) override {
    AnswerDeadline answer(watchdog_, *static_cast<grpc::ServerContext*>(param.server_context));
    generated_.RunHandler(param);
  }

 private:
  MethodHandler& generated_;
  SendWatchdog* const watchdog_;
};

}  // namespace

std::size_t GrpcRequestLimit(const MethodDescriptor& method) {
  if (method.input_type() == v1::WriteSandboxFileRequest::descriptor()) return kMaxGrpcMessageBytes;
  if (method.input_type() == v1::ExecRequest::descriptor()) return kMaxExecRequestBytes;
  return kMaxGrpcRequestBytes;
}

grpc::Status GrpcStatusOf(grpc::ServerContext& context, const ErrorInfo& error) {
  if (!error.reason.empty()) context.AddTrailingMetadata(kReasonMetadataKey, error.reason);
  return {TransportStatusOf(error.code).grpc, error.message};
}

AdmittedService::AdmittedService(
    const google::protobuf::ServiceDescriptor& service,
    const std::function<grpc::internal::MethodHandler*(int)>& handler_of, CallGate* gate,
    PrincipalShare* share, SendWatchdog* watchdog) {
  names_.reserve(static_cast<std::size_t>(service.method_count()));
  for (int i = 0; i < service.method_count(); ++i) {
    const MethodDescriptor& method = *service.method(i);
    names_.push_back("/" + service.full_name() + "/" + method.name());
    MethodHandler& generated = *handler_of(i);
    const bool one_request = !method.client_streaming();
    AddMethod(new grpc::internal::RpcServiceMethod(
        names_.back().c_str(), TypeOf(method),
        one_request ? static_cast<MethodHandler*>(
                          new AdmittingHandler(generated, method, gate, share, watchdog))
                    : new PassThroughHandler(generated, method, watchdog)));
  }
}

}  // namespace agentfense::server
