// A thread's first SHA-256 (common/sha256.h) must not lose OpenSSL's per-thread state.
// OpenSSL creates its pthread keys on first use; if another thread frees a lower key in
// the middle of that (libfuse's fuse_session_destroy frees its pipe key while the audit
// writer thread hashes its first link), OpenSSL's error-state key sorts before the key
// whose destructor frees it, glibc clears it first, and the thread's 904-byte ERR_STATE
// leaks at thread exit: LeakSanitizer then failed fs tests that had passed. This test
// makes that interleaving deterministic; it checks the leak under LeakSanitizer only.
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "common/sha256.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define AF_HAS_LSAN 1
#endif

namespace agentfense {
namespace {

// OpenSSL's internal OPENSSL_INIT_BASE_ONLY (listed, commented out, in openssl/crypto.h):
// the first step of its setup alone, without the config loading that follows.
constexpr uint64_t kOpenSslInitBaseOnly = 0x00040000L;

TEST(Sha256ThreadState, FirstUseOnAThreadSurvivesAKeyFreedByAnotherThread) {
#ifndef AF_HAS_LSAN
  GTEST_SKIP() << "the lost state is only visible to LeakSanitizer (build with AF_SANITIZE)";
#else
  pthread_key_t other_library_key;  // stands in for libfuse's pipe key
  ASSERT_EQ(::pthread_key_create(&other_library_key, nullptr), 0);
  std::atomic<int> step{0};
  std::string digest;
  std::thread first_user([&] {
    // The start of OpenSSL's first-time setup, as EVP_MD_fetch does it: the library
    // context's key, then the key with the per-thread destructor.
    OSSL_LIB_CTX_get0_global_default();
    OPENSSL_init_crypto(kOpenSslInitBaseOnly, nullptr);
    step = 1;
    while (step != 2) std::this_thread::yield();
    digest = sha256_hex("x");  // the rest: config loading creates the error-state key
  });
  while (step != 1) std::this_thread::yield();
  ASSERT_EQ(::pthread_key_delete(other_library_key), 0);
  step = 2;
  first_user.join();
  EXPECT_EQ(digest, "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881");
  EXPECT_EQ(__lsan_do_recoverable_leak_check(), 0) << "the thread's OpenSSL state leaked";
#endif
}

}  // namespace
}  // namespace agentfense
