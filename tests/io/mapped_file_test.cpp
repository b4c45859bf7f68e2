#include "genarm/io/mapped_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <future>

#include "io_test_helpers.hpp"

namespace genarm::io {
namespace {

using genarm::testing::TempDir;
using genarm::testing::write_file;

TEST(MappedFile, MapsTheWholeFile) {
  TempDir dir("mapped");
  std::string content(100000, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 7 % 251);
  write_file(dir / "data.bin", content);
  const auto f = MappedFile::open(dir / "data.bin");
  ASSERT_EQ(f->size(), content.size());
  EXPECT_EQ(f->bytes().size(), content.size());
  EXPECT_EQ(f->bytes().data(), f->data());
  EXPECT_EQ(std::memcmp(f->data(), content.data(), content.size()), 0);
  EXPECT_EQ(f->path(), dir / "data.bin");
}

TEST(MappedFile, EmptyFileHasNoBytes) {
  TempDir dir("mapped");
  write_file(dir / "empty.bin", "");
  const auto f = MappedFile::open(dir / "empty.bin");
  EXPECT_EQ(f->size(), 0u);
  EXPECT_TRUE(f->bytes().empty());
}

TEST(MappedFile, MappingOutlivesTheDirectoryEntry) {
  TempDir dir("mapped");
  write_file(dir / "gone.bin", "still here");
  const auto f = MappedFile::open(dir / "gone.bin");
  std::filesystem::remove(dir / "gone.bin");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(f->data()), f->size()), "still here");
}

TEST(MappedFile, MissingFileNamesPathAndReason) {
  TempDir dir("mapped");
  GENARM_EXPECT_ERROR(MappedFile::open(dir / "missing.bin"), ErrorCategory::kIo, (dir / "missing.bin").string(),
                      "cannot open", std::strerror(ENOENT));
}

TEST(MappedFile, DirectoryIsNotARegularFile) {
  TempDir dir("mapped");
  GENARM_EXPECT_ERROR(MappedFile::open(dir.path()), ErrorCategory::kIo, dir.path().string(), "not a regular file");
}

TEST(MappedFile, UnreadableFileNamesTheReason) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads every file";
  TempDir dir("mapped");
  write_file(dir / "secret.bin", "x");
  std::filesystem::permissions(dir / "secret.bin", std::filesystem::perms::none);
  GENARM_EXPECT_ERROR(MappedFile::open(dir / "secret.bin"), ErrorCategory::kIo, "cannot open", std::strerror(EACCES));
}

// A FIFO (or any special file) named as a checkpoint must fail at once, not wait for a writer.
TEST(MappedFile, FifoFailsInsteadOfBlocking) {
  TempDir dir("mapped");
  const auto fifo = dir / "pipe";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  auto result = std::async(std::launch::async, [&] {
    try {
      (void)MappedFile::open(fifo);
      return std::string("opened");
    } catch (const Error& e) {
      return std::string(e.what());
    }
  });
  if (result.wait_for(std::chrono::seconds(5)) == std::future_status::timeout) {
    // Unblock the open so that the test can finish, then fail.
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK);
    result.wait();
    if (fd >= 0) ::close(fd);
    FAIL() << "MappedFile::open blocked on a FIFO";
  }
  const std::string message = result.get();
  EXPECT_NE(message.find("not a regular file"), std::string::npos) << message;
  EXPECT_NE(message.find(fifo.string()), std::string::npos) << message;
}

}  // namespace
}  // namespace genarm::io
