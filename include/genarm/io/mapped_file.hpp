// MappedFile: a whole file mapped read-only into memory (POSIX mmap), so that checkpoint weights
// are read in place, loaded once and shared by every model and thread that uses them.
// Ownership: owns the mapping; move-only; share it through std::shared_ptr<const MappedFile>.
// Thread-safety: immutable after construction, thread-safe.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "genarm/core/error.hpp"

namespace genarm::io {

class MappedFile {
 public:
  // Maps `path`; throws Error(kIo) naming the path and the system's reason.
  static std::shared_ptr<const MappedFile> open(const std::filesystem::path& path) {
    return std::shared_ptr<const MappedFile>(new MappedFile(path));
  }

  ~MappedFile() {
    if (data_ != nullptr && size_ > 0) ::munmap(const_cast<std::byte*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit MappedFile(const std::filesystem::path& path) : path_(path) {
    // O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer; it is rejected below.
    // It has no effect on regular files.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) fail(ErrorCategory::kIo, path.string(), ": cannot open: ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      fail(ErrorCategory::kIo, path.string(), ": cannot stat: ", std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      fail(ErrorCategory::kIo, path.string(), ": not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        fail(ErrorCategory::kIo, path.string(), ": cannot map ", size_, " bytes: ", std::strerror(err));
      }
      data_ = static_cast<const std::byte*>(p);
    }
    ::close(fd);  // the mapping stays valid without the descriptor
  }

  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace genarm::io
