// REST: uploads reach the Api in chunks without buffering, downloads and exec output
// stream as produced, and a departed client makes emit return false.
#include <atomic>
#include <sstream>
#include <thread>

#include "transport_fixture.h"

namespace agentfense::server::testing {
namespace {

using namespace std::chrono_literals;
using RestStreamingTest = TransportTest;

std::string Pattern(size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 7 + i / 4096) & 0xff);
  return data;
}

std::string DataOf(const std::vector<v1::UploadChunk>& chunks, size_t* data_chunks) {
  std::string all;
  *data_chunks = 0;
  for (const auto& chunk : chunks) {
    if (chunk.has_metadata()) continue;
    ++*data_chunks;
    all += chunk.data();
  }
  return all;
}

TEST_F(RestStreamingTest, UploadWithContentLengthArrivesInSeveralChunks) {
  const std::string body = Pattern(3 << 20);
  auto json =
      Json(http_->Put("/v1/codebases/cb_1/content/dir/f.bin", body, "application/octet-stream"));
  ASSERT_FALSE(api_.upload_chunks.empty());
  ASSERT_TRUE(api_.upload_chunks[0].has_metadata());  // metadata first
  const auto& metadata = api_.upload_chunks[0].metadata();
  EXPECT_EQ(metadata.codebase_id(), "cb_1");
  EXPECT_EQ(metadata.file_path(), "/dir/f.bin");
  EXPECT_EQ(metadata.total_size(), 3 << 20);  // from Content-Length
  size_t data_chunks = 0;
  EXPECT_EQ(DataOf(api_.upload_chunks, &data_chunks), body);
  EXPECT_GE(data_chunks, 3u);
  EXPECT_EQ(json["size"], std::to_string(3 << 20));
  EXPECT_EQ(json["checksum"], "sha256:fake");
}

TEST_F(RestStreamingTest, ChunkedUploadArrivesInSeveralChunks) {
  const std::string body = Pattern(3 << 20);
  size_t sent = 0;
  auto result = http_->Put(
      "/v1/codebases/cb_1/content/big.bin",
      [&](size_t, httplib::DataSink& sink) {
        const size_t n = std::min<size_t>(64 << 10, body.size() - sent);
        sink.write(body.data() + sent, n);
        sent += n;
        if (sent == body.size()) sink.done();
        return true;
      },
      "application/octet-stream");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200) << result->body;
  EXPECT_EQ(api_.upload_chunks.at(0).metadata().total_size(), 0);  // unknown size
  size_t data_chunks = 0;
  EXPECT_EQ(DataOf(api_.upload_chunks, &data_chunks), body);
  EXPECT_GE(data_chunks, 3u);
}

TEST_F(RestStreamingTest, UploadRejectedEarlyStillAnswersWithTheError) {
  api_.upload_fail_after_metadata =
      ApiError(StatusCode::NOT_FOUND, "codebase cb_x not found", kReasonCodebaseNotFound);
  auto result =
      http_->Put("/v1/codebases/cb_x/content/a", Pattern(2 << 20), "application/octet-stream");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
  EXPECT_EQ(nlohmann::json::parse(result->body)["reason"], "CODEBASE_NOT_FOUND");
  // The connection is still usable after the unread body was drained.
  EXPECT_EQ(Json(http_->Get("/v1/codebases/cb_1"))["id"], "cb_1");
}

TEST_F(RestStreamingTest, ArchiveUploadCarriesMetadataAndData) {
  const std::string body = Pattern(1500 * 1024);
  auto json = Json(http_->Post("/v1/codebases/cb_2/archive?path=/sub", body, "application/gzip"));
  ASSERT_FALSE(api_.archive_chunks.empty());
  EXPECT_EQ(api_.archive_chunks[0].metadata().codebase_id(), "cb_2");
  EXPECT_EQ(api_.archive_chunks[0].metadata().path(), "/sub");
  EXPECT_EQ(json["bytes"], std::to_string(body.size()));
  EXPECT_GE(api_.archive_chunks.size(), 3u);  // metadata + at least two data chunks
}

TEST_F(RestStreamingTest, DownloadStreamsBeforeTheFileIsComplete) {
  Signal client_saw_first;
  std::atomic<bool> released_in_time = false;
  api_.download = [&](const v1::DownloadFileRequest&, const Emit<v1::FileChunk>& emit) {
    v1::FileChunk chunk;
    chunk.set_data("first;");
    emit(chunk);
    // Only a streaming transport lets the client see the first chunk while we wait.
    released_in_time = client_saw_first.WaitFor(10s);
    chunk.set_data("second");
    emit(chunk);
  };
  std::string received;
  auto result = http_->Get("/v1/codebases/cb_1/content/a/b.txt", [&](const char* data, size_t n) {
    received.append(data, n);
    if (received.find("first;") != std::string::npos) client_saw_first.Raise();
    return true;
  });
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/octet-stream");
  EXPECT_EQ(received, "first;second");
  EXPECT_TRUE(released_in_time);
  EXPECT_EQ(api_.Last<v1::DownloadFileRequest>("DownloadFile").file_path(), "/a/b.txt");
}

TEST_F(RestStreamingTest, DownloadOfMissingFileIsA404) {
  api_.fail_with = ApiError(StatusCode::NOT_FOUND, "no /x", kReasonFileNotFound);
  auto result = http_->Get("/v1/codebases/cb_1/content/x");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
  EXPECT_EQ(nlohmann::json::parse(result->body)["reason"], "FILE_NOT_FOUND");
}

TEST_F(RestStreamingTest, DownloadFailingMidwayCutsTheBody) {
  api_.download = [&](const v1::DownloadFileRequest&, const Emit<v1::FileChunk>& emit) {
    v1::FileChunk chunk;
    chunk.set_data("partial");
    emit(chunk);
    throw ApiError(StatusCode::INTERNAL, "disk went away");
  };
  auto result = http_->Get("/v1/codebases/cb_1/content/x");
  EXPECT_FALSE(result);  // an incomplete chunked body is an error, never a short file
}

std::vector<nlohmann::json> Lines(const std::string& ndjson) {
  std::vector<nlohmann::json> out;
  std::istringstream in(ndjson);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

// httplib::Client::Post has no streaming receiver in 0.11: send() a Request with one.
httplib::Result PostStreaming(httplib::Client& client, const std::string& path,
                              const std::string& body,
                              std::function<bool(const std::string& so_far)> on_data) {
  auto received = std::make_shared<std::string>();
  httplib::Request request;
  request.method = "POST";
  request.path = path;
  request.body = body;
  request.set_header("Content-Type", "application/json");
  request.content_receiver = [received, on_data](const char* data, size_t n, uint64_t, uint64_t) {
    received->append(data, n);
    return on_data(*received);
  };
  auto result = client.send(request);
  if (result) result->body = *received;
  return result;
}

TEST_F(RestStreamingTest, ExecStreamIsNdjsonArrivingAsEmitted) {
  Signal client_saw_first;
  std::atomic<bool> released_in_time = false;
  api_.exec_stream = [&](const v1::ExecRequest&, CallContext&, const Emit<v1::ExecOutput>& emit) {
    v1::ExecOutput output;
    output.set_type(v1::ExecOutput::OUTPUT_TYPE_STDOUT);
    output.set_data("hi\n");
    emit(output);
    released_in_time = client_saw_first.WaitFor(10s);
    output.Clear();
    output.set_type(v1::ExecOutput::OUTPUT_TYPE_EXIT);
    output.set_exit_code(3);
    emit(output);
  };
  auto result = PostStreaming(*http_, "/v1/sandboxes/sb_1/exec:stream", R"({"command":"echo hi"})",
                              [&](const std::string& so_far) {
                                if (so_far.find('\n') != std::string::npos) {
                                  client_saw_first.Raise();
                                }
                                return true;
                              });
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  EXPECT_EQ(result->get_header_value("Content-Type"), "application/x-ndjson");
  EXPECT_TRUE(released_in_time);
  const auto lines = Lines(result->body);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["type"], "OUTPUT_TYPE_STDOUT");
  EXPECT_EQ(lines[0]["data"], "aGkK");  // base64("hi\n")
  EXPECT_EQ(lines[1]["type"], "OUTPUT_TYPE_EXIT");
  EXPECT_EQ(lines[1]["exitCode"], 3);
  EXPECT_EQ(api_.Last<v1::ExecRequest>("ExecStream").sandbox_id(), "sb_1");
}

TEST_F(RestStreamingTest, ExecStreamErrorBeforeOutputIsAnHttpError) {
  api_.fail_with =
      ApiError(StatusCode::NOT_FOUND, "session se_9 not found", kReasonSessionNotFound);
  auto result =
      http_->Post("/v1/sessions/se_9/exec:stream", R"({"command":"ls"})", "application/json");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 404);
  EXPECT_EQ(nlohmann::json::parse(result->body)["reason"], "SESSION_NOT_FOUND");
}

TEST_F(RestStreamingTest, ExecStreamErrorAfterOutputIsAFinalErrorLine) {
  api_.exec_stream = [&](const v1::ExecRequest&, CallContext&, const Emit<v1::ExecOutput>& emit) {
    v1::ExecOutput output;
    output.set_type(v1::ExecOutput::OUTPUT_TYPE_STDERR);
    output.set_data("x");
    emit(output);
    throw ApiError(StatusCode::DEADLINE_EXCEEDED, "command timed out after 1s",
                   kReasonCommandTimeout);
  };
  auto result =
      http_->Post("/v1/sandboxes/sb_1/exec:stream", R"({"command":"sleep 9"})", "application/json");
  ASSERT_TRUE(result);
  EXPECT_EQ(result->status, 200);
  const auto lines = Lines(result->body);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[1]["error"]["status"], "DEADLINE_EXCEEDED");
  EXPECT_EQ(lines[1]["error"]["reason"], "COMMAND_TIMEOUT");
}

TEST_F(RestStreamingTest, ClientLeavingMakesEmitReturnFalse) {
  Signal emit_refused;
  std::atomic<int> emitted = 0;
  api_.exec_stream = [&](const v1::ExecRequest&, CallContext&, const Emit<v1::ExecOutput>& emit) {
    v1::ExecOutput output;
    output.set_type(v1::ExecOutput::OUTPUT_TYPE_STDOUT);
    output.set_data(std::string(1024, 'y'));
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!emit(output)) {
        emit_refused.Raise();
        return;
      }
      ++emitted;
      std::this_thread::sleep_for(2ms);
    }
  };
  auto result = PostStreaming(*http_, "/v1/sandboxes/sb_1/exec:stream", R"({"command":"yes"})",
                              [](const std::string& so_far) {
                                return so_far.find('\n') == std::string::npos;  // 1 line, go
                              });
  EXPECT_FALSE(result);  // we aborted it
  http_.reset();         // and closed the connection
  EXPECT_TRUE(emit_refused.WaitFor(15s)) << "emitted " << emitted << " without noticing";
}

}  // namespace
}  // namespace agentfense::server::testing
