// The per-principal token bucket (auth/request_rate.h), on a clock the test moves.
#include "server/auth/request_rate.h"

#include <gtest/gtest.h>

#include "server/api.h"

namespace agentfense::server {
namespace {

using std::chrono::milliseconds;

Principal with_rate(const std::string& id, std::int64_t rate, std::int64_t burst) {
  return {
      .id = id, .owners = {"o"}, .quotas = {.requests_per_second = rate, .request_burst = burst}};
}

TEST(RequestRate, BurstThenRefusedThenRefilled) {
  RequestRate rate;
  const Principal p = with_rate("p", 2, 3);
  const auto t0 = RequestRate::Clock::now();
  for (int i = 0; i < 3; ++i) EXPECT_NO_THROW(rate.take(p, t0));
  try {
    rate.take(p, t0);
    ADD_FAILURE() << "a fourth request in the same instant passed";
  } catch (const ApiError& error) {
    EXPECT_EQ(error.code(), StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(error.reason(), kReasonQuotaExceeded);
    EXPECT_EQ(std::string(error.what()),
              "principal p exceeds quotas.requests_per_second (2 per second, burst 3); retry in "
              "0.50s");
  }
  EXPECT_NO_THROW(rate.take(p, t0 + milliseconds(500)));  // one token back
  EXPECT_THROW(rate.take(p, t0 + milliseconds(500)), ApiError);
  // Never more than the burst, however long it waited.
  for (int i = 0; i < 3; ++i) EXPECT_NO_THROW(rate.take(p, t0 + std::chrono::hours(1)));
  EXPECT_THROW(rate.take(p, t0 + std::chrono::hours(1)), ApiError);
}

TEST(RequestRate, PrincipalsHaveTheirOwnBucketsAndZeroIsUnlimited) {
  RequestRate rate;
  const auto t0 = RequestRate::Clock::now();
  const Principal a = with_rate("a", 1, 1), b = with_rate("b", 1, 1), free = with_rate("f", 0, 0);
  rate.take(a, t0);
  EXPECT_THROW(rate.take(a, t0), ApiError);
  EXPECT_NO_THROW(rate.take(b, t0));
  for (int i = 0; i < 1000; ++i) rate.take(free, t0);
  // Burst 0 means "as many as the rate".
  const Principal c = with_rate("c", 4, 0);
  for (int i = 0; i < 4; ++i) rate.take(c, t0);
  EXPECT_THROW(rate.take(c, t0), ApiError);
}

}  // namespace
}  // namespace agentfense::server
