#include "core/random.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <string>

namespace watershed {
namespace {

TEST(Random, HexHasTwoLowercaseDigitsPerByteAndDoesNotRepeat) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string h = RandomHex(8);
    ASSERT_EQ(h.size(), 16u);
    EXPECT_EQ(h.find_first_not_of("0123456789abcdef"), std::string::npos) << h;
    EXPECT_TRUE(seen.insert(h).second) << h;
  }
  EXPECT_EQ(RandomHex(0), "");
  EXPECT_EQ(RandomHex(3).size(), 6u);
}

TEST(Random, BytesFillExactlyTheLengthAsked) {
  unsigned char buf[13];
  std::fill(std::begin(buf), std::end(buf), 0x5a);
  RandomBytes(buf, 12);
  EXPECT_EQ(buf[12], 0x5a);
  EXPECT_NE(std::count(buf, buf + 12, 0x5a), 12);
}

TEST(Random, AForkedChildDrawsOtherNamesThanItsParent) {
  RandomHex(8);  // the parent's generator is seeded before the fork
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const std::string h = RandomHex(8);
    const ssize_t n = ::write(fds[1], h.data(), h.size());
    ::_exit(n == static_cast<ssize_t>(h.size()) ? 0 : 1);
  }
  const std::string mine = RandomHex(8);
  char theirs[16];
  ASSERT_EQ(::read(fds[0], theirs, sizeof theirs), 16);
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_NE(mine, std::string(theirs, 16));
}

}  // namespace
}  // namespace watershed
