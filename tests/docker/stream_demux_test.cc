// Docker's multiplexed stream, cut at every possible place: stdout and stderr come out
// exactly as written, and text that is not a frame is reported, not misread.
#include "runtime/docker/stream_demux.h"

#include <gtest/gtest.h>

#include <string>

namespace agentfense::runtime::docker {
namespace {

std::string frame(unsigned char type, const std::string& payload) {
  std::string header = {static_cast<char>(type), 0, 0, 0};
  const auto size = static_cast<std::uint32_t>(payload.size());
  for (int shift = 24; shift >= 0; shift -= 8) header.push_back(static_cast<char>(size >> shift));
  return header + payload;
}

struct Collected {
  std::string out, err;
  StreamDemux::Sink sink() {
    return [this](Stream which, std::string_view data) {
      (which == Stream::kStdout ? out : err).append(data);
    };
  }
};

TEST(StreamDemux, SeparatesStreamsWhateverTheCuts) {
  const std::string stream = frame(1, "hello ") + frame(2, "warning\n") + frame(1, "world\n") +
                             frame(2, "") + frame(1, std::string(70000, 'x'));
  for (std::size_t piece : {1u, 3u, 7u, 8u, 9u, 4096u, 100000u}) {
    StreamDemux demux;
    Collected got;
    for (std::size_t at = 0; at < stream.size(); at += piece)
      demux.feed(std::string_view(stream).substr(at, piece), got.sink());
    EXPECT_EQ(got.out, "hello world\n" + std::string(70000, 'x')) << piece;
    EXPECT_EQ(got.err, "warning\n") << piece;
  }
}

TEST(StreamDemux, DaemonErrorsGoWithStderr) {
  StreamDemux demux;
  Collected got;
  demux.feed(frame(3, "oci error") + frame(0, "echoed"), got.sink());
  EXPECT_EQ(got.err, "oci error");
  EXPECT_EQ(got.out, "echoed");
}

TEST(StreamDemux, PlainTextIsReportedNotMisread) {
  StreamDemux demux;
  Collected got;
  const std::string text = "OCI runtime exec failed: exec failed: no such file\r\n";
  try {
    demux.feed(text, got.sink());
    FAIL() << "plain text was taken for frames";
  } catch (const MalformedStream& error) {
    EXPECT_EQ(std::string(error.what()), text);
  }
  EXPECT_EQ(got.out + got.err, "");
}

}  // namespace
}  // namespace agentfense::runtime::docker
