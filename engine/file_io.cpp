// file_io.cpp — checked reads and writes (see file_io.h).
#include "engine/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/common.h"

namespace sg {
namespace {

std::string errno_text(int e) { return std::strerror(e); }

// Write all of [data, data + n) to fd; on failure returns the errno (0 on success).
int write_all(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    data += w;
    n -= (size_t)w;
  }
  return 0;
}

}  // namespace

int open_regular_file(const std::string& path, const std::string& what, uint64_t* size) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  SG_CHECK(fd >= 0, "cannot open ", what, " '", path, "': ", errno_text(errno));
  struct stat st;
  const bool stated = ::fstat(fd, &st) == 0;
  if (!stated || !S_ISREG(st.st_mode)) {
    const bool dir = stated && S_ISDIR(st.st_mode);
    ::close(fd);
    throw Error(str(what, " '", path, "' is not a regular file",
                    dir ? " (it is a folder)" : " (a FIFO, socket or device is not read)"));
  }
  // Regular files never block; reads need no O_NONBLOCK from here on.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (size) *size = (uint64_t)st.st_size;
  return fd;
}

std::string read_regular_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
  uint64_t size = 0;
  int fd = open_regular_file(path, what, &size);
  if (size > max_bytes) {
    ::close(fd);
    throw Error(str(what, " '", path, "' is ", size, " bytes; the largest ", what, " file read is ", max_bytes,
                    " bytes"));
  }
  std::string data((size_t)size, '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t r = ::read(fd, data.data() + got, data.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const int e = errno;
      ::close(fd);
      throw Error(str("cannot read ", what, " '", path, "': ",
                      r == 0 ? std::string("the file shrank while it was read") : errno_text(e)));
    }
    got += (size_t)r;
  }
  ::close(fd);
  return data;
}

void write_file_atomic(const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  SG_CHECK(fd >= 0, "cannot write '", path, "': cannot create '", tmp, "': ", errno_text(errno));
  int err = write_all(fd, data.data(), data.size());
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    throw Error(str("cannot write '", path, "': ", errno_text(err), " (nothing was replaced)"));
  }
}

AppendFile::AppendFile(const std::string& path, bool truncate) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (truncate ? O_TRUNC : 0), 0644);
  SG_CHECK(fd_ >= 0, "cannot write '", path, "': ", errno_text(errno));
}

AppendFile::~AppendFile() {
  if (fd_ >= 0) ::close(fd_);
}

AppendFile::AppendFile(AppendFile&& o) noexcept : fd_(o.fd_), path_(std::move(o.path_)) { o.fd_ = -1; }

AppendFile& AppendFile::operator=(AppendFile&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    path_ = std::move(o.path_);
    o.fd_ = -1;
  }
  return *this;
}

void AppendFile::append(const std::string& text) {
  SG_CHECK(fd_ >= 0, "cannot write '", path_, "': the file is not open");
  struct stat st;
  const bool sized = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
  const int err = write_all(fd_, text.data(), text.size());
  if (err != 0) {
    if (sized) (void)::ftruncate(fd_, st.st_size);  // keep only whole lines
    throw Error(str("cannot write '", path_, "': ", errno_text(err)));
  }
}

}  // namespace sg
