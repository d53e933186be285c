// ControlClient (supervisor/control_client.h) against a stand-in fs process on a real
// unix socket: what it does with a reply that never ends, and with one that comes late.
#include "supervisor/control_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/errors.h"
#include "common/unique_fd.h"
#include "test_support/temp_dir.h"

namespace agentfense::supervisor {
namespace {

// Listens at `path`; the one connection it accepts gets, `delay` after the request line,
// `piece` `repeat` times and then `tail` (or less, when the client hangs up).
class StandInFs {
 public:
  StandInFs(const std::string& path, std::string piece, std::size_t repeat, std::string tail,
            std::chrono::milliseconds delay = {}) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address),
              0);
    EXPECT_EQ(::listen(listener_.get(), 1), 0);
    thread_ = std::thread([this, piece = std::move(piece), repeat, tail = std::move(tail), delay] {
      UniqueFd connection(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      char request[4096];
      if (::recv(connection.get(), request, sizeof request, 0) <= 0) return;
      std::this_thread::sleep_for(delay);
      for (std::size_t i = 0; i < repeat; ++i) {
        if (::send(connection.get(), piece.data(), piece.size(), MSG_NOSIGNAL) < 0) return;
      }
      (void)::send(connection.get(), tail.data(), tail.size(), MSG_NOSIGNAL);  // may be gone
    });
  }
  ~StandInFs() { thread_.join(); }

 private:
  UniqueFd listener_;
  std::thread thread_;
};

TEST(ControlClient, AReplyLongerThanTheLimitFailsTheCall) {
  const testing::TempDir dir("af-control-client");
  const std::string socket = dir.path().string() + "/control.sock";
  // 1 MiB pieces, 32 MiB past the limit before the newline.
  const std::size_t pieces = (ControlClient::kMaxReplyBytes >> 20) + 32;
  StandInFs fs(socket, std::string(1 << 20, 'x'), pieces, "\n");
  ControlClient client(socket);
  try {
    (void)client.exchange(R"({"op":"changes"})", std::chrono::seconds(60));
    ADD_FAILURE() << "no error";
  } catch (const SystemError& error) {
    EXPECT_EQ(error.code(), EMSGSIZE);
    EXPECT_NE(std::string(error.what()).find("longer than 256 MiB"), std::string::npos)
        << error.what();
  }
}

TEST(ControlClient, ALongReplyWithinTheLimitIsReadWhole) {
  const testing::TempDir dir("af-control-client");
  const std::string socket = dir.path().string() + "/control.sock";
  // 64 MiB arriving in socket-sized chunks: each is searched for the newline once (a
  // search of the whole buffer per chunk was quadratic: 32 GB of scanning here).
  StandInFs fs(socket, std::string(1 << 20, 'y'), 64, "\nnext");
  ControlClient client(socket);
  const std::string line = client.exchange(R"({"op":"diff"})", std::chrono::seconds(60));
  EXPECT_EQ(line.size(), std::size_t{64} << 20);
  EXPECT_EQ(line.find_first_not_of('y'), std::string::npos);
}

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// An answer 600 ms late, to a call whose caller's deadline is 100 ms away.
struct LateAnswer {
  LateAnswer() : fs(socket(), "", 0, "{\"ok\":true}\n", milliseconds(600)), client(socket()) {}
  std::string socket() const { return dir.path().string() + "/control.sock"; }
  ControlClient::Patience patience(milliseconds cap, std::function<bool()> alive) const {
    const auto now = Clock::now();
    return {.deadline = now + milliseconds(100),
            .cap = now + cap,
            .step = milliseconds(100),
            .still_alive = std::move(alive)};
  }
  const testing::TempDir dir{"af-control-client"};
  StandInFs fs;
  ControlClient client;
};

TEST(ControlClient, AReplyIsCountedAsItArrivesAndACallerMayGiveUpOnIt) {
  const testing::TempDir dir("af-control-client");
  const std::string socket = dir.path().string() + "/control.sock";
  StandInFs fs(socket, std::string(1 << 20, 'z'), 8, "\n");
  ControlClient client(socket);
  std::vector<std::size_t> counted;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  const ControlClient::Patience patience{
      .deadline = deadline, .cap = deadline, .on_reply_bytes = [&](std::size_t arrived) {
        counted.push_back(arrived);
        if (arrived > (std::size_t{3} << 20)) throw std::runtime_error("over the share");
      }};
  EXPECT_THROW((void)client.call({.op = layer::control::Op::kDiff}, patience), std::runtime_error);
  ASSERT_GE(counted.size(), 2u);
  for (std::size_t i = 1; i < counted.size(); ++i) EXPECT_GT(counted[i], counted[i - 1]);
  // Stopped as soon as more than 3 MiB had arrived, before they were kept.
  EXPECT_LE(counted.back(), (std::size_t{3} << 20) + 64 * 1024);
  // The rest of that reply is unread: the connection cannot pair answers any more.
  try {
    (void)client.exchange(R"({"op":"ping"})", std::chrono::seconds(5));
    ADD_FAILURE() << "the connection was kept";
  } catch (const SystemError& error) {
    EXPECT_EQ(error.code(), ENOTCONN);
  }
}

TEST(ControlClient, ALateAnswerFromAnFsThatStillAnswersIsWaitedFor) {
  LateAnswer late;
  int asked = 0;
  (void)late.client.call({.op = layer::control::Op::kPing},
                         late.patience(std::chrono::seconds(10), [&] { return ++asked > 0; }));
  EXPECT_GE(asked, 2);  // once per step past the deadline
}

TEST(ControlClient, AnFsThatNoLongerAnswersFailsTheCallAtItsDeadline) {
  LateAnswer late;
  const auto began = Clock::now();
  try {
    (void)late.client.call({.op = layer::control::Op::kPing},
                           late.patience(std::chrono::seconds(10), [] { return false; }));
    ADD_FAILURE() << "no error";
  } catch (const SystemError& error) {
    EXPECT_EQ(error.code(), ETIMEDOUT);
  }
  EXPECT_LT(Clock::now() - began, milliseconds(500));
}

TEST(ControlClient, ABusyFsIsWaitedForNoLongerThanTheCap) {
  LateAnswer late;
  try {
    (void)late.client.call({.op = layer::control::Op::kPing},
                           late.patience(milliseconds(300), [] { return true; }));
    ADD_FAILURE() << "no error";
  } catch (const SystemError& error) {
    EXPECT_EQ(error.code(), ETIMEDOUT);
  }
}

}  // namespace
}  // namespace agentfense::supervisor
