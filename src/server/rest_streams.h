// Streaming between httplib and the Api for the REST gateway, without ever holding a
// whole upload or download in memory.
//
// Uploads: httplib pushes body bytes, UploadFiles/UploadArchive pull chunks with
// `next`. PipeBodyInto runs the Api call on a worker thread and feeds it the body in
// kRestUploadChunkBytes pieces through a small Handoff. A client that disconnects
// mid-body makes `next` throw ApiError(CANCELLED), never return false, so a truncated
// body is never taken for a complete one. If the Api stops early (an error), the rest
// of the body is read and discarded so the error response reaches the client intact.
//
// Downloads and exec streams: the Api pushes with `emit`, httplib's chunked content
// provider pulls. StreamResponse runs the Api call on a worker thread and waits for its
// first message: an error before it is thrown to the caller and becomes an ordinary
// HTTP error; after it, the response has begun, so `render_late_error` supplies a last
// piece of body (NDJSON: an {"error": ...} line) or, returning nullopt, the connection
// is cut so the client sees an incomplete body. `emit` returns false once the client
// is gone (a write failed) or the response was abandoned.
//
// Both run the Api call as the request's caller (caller_scope.h) on their worker.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "server/api.h"
#include "server/caller_scope.h"
#include "server/rest_connection.h"
#include "server/rest_handoff.h"
#include "server/rest_router.h"

namespace agentfense::server {

inline constexpr std::size_t kRestUploadChunkBytes = 1 << 20;
inline constexpr std::size_t kRestHandoffDepth = 4;
// Cap for bodies the gateway must buffer (JSON requests, WriteSandboxFile): the same as
// the gRPC message limit, so both transports accept the same requests.
inline constexpr std::size_t kRestMaxBufferedBodyBytes = 64 << 20;

// The whole body; ApiError(INVALID_ARGUMENT) beyond `limit`, ApiError(CANCELLED) when
// the client disconnects.
std::string ReadWholeBody(const BodyReader& body, std::size_t limit = kRestMaxBufferedBodyBytes);

// Feeds `body` into `consume` running on a worker thread; returns what it returns or
// rethrows what it throws.
template <typename Result>
Result PipeBodyInto(const BodyReader& body,
                    const std::function<Result(const Next<std::string>&)>& consume);

template <typename T>
void StreamResponse(
    httplib::Response& response, const std::string& content_type,
    std::function<void(const Emit<T>&)> produce, std::function<std::string(const T&)> render,
    std::function<std::optional<std::string>(std::exception_ptr)> render_late_error);

// ---- implementation ----

template <typename Result>
Result PipeBodyInto(const BodyReader& body,
                    const std::function<Result(const Next<std::string>&)>& consume) {
  Handoff<std::string> pipe(kRestHandoffDepth);
  std::optional<Result> result;
  std::exception_ptr failure;
  const Next<std::string> next = [&pipe](std::string& data) {
    if (auto piece = pipe.Pop()) {
      data = std::move(*piece);
      return true;
    }
    if (auto error = pipe.error()) std::rethrow_exception(error);
    return false;
  };
  std::thread worker([&, caller = current_caller()] {
    const CallerScope as_caller(caller);
    try {
      result.emplace(consume(next));
    } catch (...) {
      failure = std::current_exception();
    }
    pipe.Cancel();  // nothing more will be consumed: let the reader drain
  });

  std::string buffer;
  bool consumer_gone = false;
  bool complete = false;
  try {
    complete = body([&](const char* data, std::size_t length) {
      if (consumer_gone) return true;  // drain, keeping the HTTP framing intact
      buffer.append(data, length);
      if (buffer.size() >= kRestUploadChunkBytes) {
        consumer_gone = !pipe.Push(std::move(buffer));
        buffer.clear();
      }
      return true;
    });
    if (complete && !buffer.empty() && !consumer_gone) pipe.Push(std::move(buffer));
  } catch (...) {
    pipe.Finish(std::current_exception());
    worker.join();
    throw;
  }
  pipe.Finish(complete ? nullptr : std::make_exception_ptr(request_body_incomplete()));
  worker.join();
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

template <typename T>
struct ResponseStream {
  Handoff<T> pipe{kRestHandoffDepth};
  std::thread worker;
  // The response (or the handler, on an early error) is done with the stream: make a
  // still-running producer's emit return false, then wait for it.
  ~ResponseStream() {
    pipe.Cancel();
    if (worker.joinable()) worker.join();
  }
};

template <typename T>
void StreamResponse(
    httplib::Response& response, const std::string& content_type,
    std::function<void(const Emit<T>&)> produce, std::function<std::string(const T&)> render,
    std::function<std::optional<std::string>(std::exception_ptr)> render_late_error) {
  auto stream = std::make_shared<ResponseStream<T>>();
  // The worker gets a raw pointer: it must not own the stream, whose destructor joins it.
  stream->worker =
      std::thread([raw = stream.get(), produce = std::move(produce), caller = current_caller()] {
        const CallerScope as_caller(caller);
        try {
          produce([raw](const T& message) { return raw->pipe.Push(message); });
          raw->pipe.Finish();
        } catch (...) {
          raw->pipe.Finish(std::current_exception());
        }
      });
  std::optional<T> first = stream->pipe.Pop();
  if (!first) {
    if (auto error = stream->pipe.error()) std::rethrow_exception(error);
    response.set_content("", content_type);
    return;
  }
  std::string pending = render(*first);
  response.set_chunked_content_provider(
      content_type,
      [stream, pending = std::move(pending), render = std::move(render),
       late = std::move(render_late_error)](std::size_t, httplib::DataSink& sink) mutable {
        std::string piece = std::move(pending);
        pending.clear();
        if (piece.empty()) {
          if (std::optional<T> next = stream->pipe.Pop()) {
            piece = render(*next);
          } else if (auto error = stream->pipe.error()) {
            std::optional<std::string> tail = late(error);
            if (!tail) return false;  // cut the connection: the body is incomplete
            if (!tail->empty()) sink.write(tail->data(), tail->size());
            sink.done();
            return true;
          } else {
            sink.done();
            return true;
          }
        }
        // An empty piece must not reach sink.write: httplib reads it as end of data.
        if (!piece.empty() && !sink.write(piece.data(), piece.size())) {
          stream->pipe.Cancel();
          return false;
        }
        return true;
      });
}

}  // namespace agentfense::server
