#include "core/file_system.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "core/testing/temp_dir.h"

namespace watershed {
namespace {

mode_t ModeOf(const std::string& path) {
  struct stat st{};
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(CreatePrivateFileTest, CreatesTheFileOwnerOnlyWithItsContent) {
  testing::TempDir dir("private_file");
  const std::string path = JoinPath(dir.path(), "secret");
  ::umask(0022);
  ASSERT_TRUE(CreatePrivateFile(path, "s3cret\n").ok());
  EXPECT_EQ(ModeOf(path), 0600u);
  auto content = ReadWholeFile(FileSystem::Default(), path);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "s3cret\n");
  // No temporary is left beside it.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(CreatePrivateFileTest, NeverReplacesAnExistingFile) {
  testing::TempDir dir("private_file");
  const std::string path = JoinPath(dir.path(), "secret");
  ASSERT_TRUE(CreatePrivateFile(path, "first").ok());
  Status second = CreatePrivateFile(path, "second");
  EXPECT_EQ(second.code(), StatusCode::kFailedPrecondition) << second.ToString();
  auto content = ReadWholeFile(FileSystem::Default(), path);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "first");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(CreatePrivateFileTest, DoesNotWriteThroughAPlantedSymlink) {
  testing::TempDir dir("private_file");
  const std::string victim = JoinPath(dir.path(), "victim");
  const std::string path = JoinPath(dir.path(), "secret");
  ASSERT_EQ(::symlink(victim.c_str(), path.c_str()), 0);
  EXPECT_FALSE(CreatePrivateFile(path, "s3cret").ok());
  EXPECT_FALSE(std::filesystem::exists(victim)) << "the secret went through the symlink";
}

}  // namespace
}  // namespace watershed
