// file_io.cpp — checked reads and writes (see file_io.h).
#include "engine/file_io.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
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

// ---- AtomicFile ---------------------------------------------------------------------------
namespace {

// The temporary files open now, for remove_temporary_files() (a signal handler may read them at any
// moment). A slot is 0 (free), 1 (being filled or emptied) or 2 (holds a path to remove).
constexpr int kTempSlots = 64;
constexpr size_t kTempPathMax = 4096;
struct TempSlot {
  std::atomic<int> state{0};
  char path[kTempPathMax];
};
TempSlot g_temp[kTempSlots];
// Temporary files being created and not yet listed. A termination signal is handled by any thread
// that does not hold it back, so while one thread creates a file, another may run the handler:
// the handler waits for this to be 0 before it removes what is listed.
std::atomic<int> g_creating{0};
// Set by remove_temporary_files(): the process is ending, so no new temporary file is created
// (one created after the handler's scan would be left behind).
std::atomic<int> g_closing{0};

int claim_temp_slot(const std::string& path) {
  if (path.size() >= kTempPathMax) return -1;
  for (int i = 0; i < kTempSlots; ++i) {
    int free_state = 0;
    if (g_temp[i].state.compare_exchange_strong(free_state, 1)) {
      std::memcpy(g_temp[i].path, path.c_str(), path.size() + 1);
      g_temp[i].state.store(2);
      return i;
    }
  }
  return -1;  // more than 64 at once: this one is removed on errors, not on signals
}

void release_temp_slot(int i) {
  if (i < 0) return;
  g_temp[i].state.store(1);
  g_temp[i].state.store(0);
}

// The folder part of `path` ("." when it has none) and its last component.
void split_path(const std::string& path, std::string* dir, std::string* name) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) {
    *dir = ".";
    *name = path;
  } else {
    *dir = slash == 0 ? "/" : path.substr(0, slash);
    *name = path.substr(slash + 1);
  }
}

// At most `n` bytes of `s`, not cutting a UTF-8 sequence in two.
std::string utf8_prefix(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// 8 random characters from [a-z0-9], from the kernel's generator (a clock and the pid as fallback).
std::string random_suffix() {
  static std::atomic<uint64_t> counter{0};
  uint64_t r = 0;
  if (::getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r)
    r = (uint64_t)std::chrono::steady_clock::now().time_since_epoch().count() * 0x9E3779B97F4A7C15ull ^
        ((uint64_t)::getpid() << 32);
  r += counter.fetch_add(1) * 0xD1B54A32D192ED03ull;
  const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(8, 'a');
  for (char& c : s) {
    c = alphabet[r % 36];
    r /= 36;
  }
  return s;
}

void fsync_folder(const std::string& dir) {  // best effort: some filesystems refuse it
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

void check_output_path(const std::string& path) {
  SG_CHECK(!path.empty(), "cannot write a file with an empty name");
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    const int e = errno;
    SG_CHECK(e == ENOENT, "cannot write '", path, "': ", errno_text(e));
    return;
  }
  if (S_ISREG(st.st_mode)) return;
  const char* what = S_ISLNK(st.st_mode)   ? "a symbolic link (remove it, or name the file it points to)"
                     : S_ISDIR(st.st_mode) ? "a folder"
                     : S_ISFIFO(st.st_mode) ? "a FIFO"
                     : S_ISSOCK(st.st_mode) ? "a socket"
                                            : "a device";
  throw Error(str("cannot write '", path, "': it is ", what, "; only a regular file is replaced"));
}

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  check_output_path(path);
  std::string dir, name;
  split_path(path, &dir, &name);
  SG_CHECK(!name.empty() && name != "." && name != "..", "cannot write '", path, "': it names a folder");
  // '.' + up to 200 bytes of the name + '.' + 8 random characters + ".tmp": at most 214 bytes.
  const std::string stem = (dir == "." && path.find('/') == std::string::npos ? "" : dir + "/") + "." +
                           utf8_prefix(name, 200) + ".";
  // The termination signals wait while the file is created and entered in the list, so a signal
  // arriving just then still finds (and removes) it: on this thread they are held back, and a
  // handler on another thread waits for the count of files being created to drop to 0.
  sigset_t block, saved;
  sigemptyset(&block);
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
  pthread_sigmask(SIG_BLOCK, &block, &saved);
  g_creating.fetch_add(1);
  if (g_closing.load() != 0) {  // a handler is removing temporary files: the process is ending
    g_creating.fetch_sub(1);
    pthread_sigmask(SIG_SETMASK, &saved, nullptr);
    throw Error(str("cannot write '", path, "': the program is being stopped"));
  }
  int err = 0;
  for (int attempt = 0; attempt < 100 && fd_ < 0; ++attempt) {
    tmp_ = stem + random_suffix() + ".tmp";
    fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);  // umask applies
    if (fd_ < 0 && errno != EEXIST) {
      err = errno;
      break;
    }
  }
  if (fd_ >= 0) slot_ = claim_temp_slot(tmp_);
  g_creating.fetch_sub(1);
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (fd_ < 0) {
    tmp_.clear();
    if (err != 0)
      throw Error(str("cannot write '", path, "': cannot create a temporary file in '", dir, "': ", errno_text(err)));
    throw Error(str("cannot write '", path, "': no unused temporary name in '", dir, "'"));
  }
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (slot_ >= 0 || !tmp_.empty()) {
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
    release_temp_slot(slot_);
    slot_ = -1;
    tmp_.clear();
  }
}

void AtomicFile::fail(const std::string& what, int err) {
  discard();
  throw Error(str("cannot write '", path_, "': ", what.empty() ? "" : what + ": ", errno_text(err),
                  " (nothing was replaced)"));
}

void AtomicFile::write(const void* data, size_t n) {
  SG_CHECK(fd_ >= 0, "cannot write '", path_, "': the file is closed");
  const int err = write_all(fd_, static_cast<const char*>(data), n);
  if (err != 0) fail("", err);
}

void AtomicFile::commit() {
  SG_CHECK(fd_ >= 0, "cannot write '", path_, "': the file is closed");
  if (::fsync(fd_) != 0) fail("flushing to disk", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("closing", errno);
  // Checked again just before the rename: something may have appeared at `path` meanwhile.
  try {
    check_output_path(path_);
  } catch (...) {
    discard();
    throw;
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) fail("renaming the temporary file", errno);
  release_temp_slot(slot_);
  slot_ = -1;
  tmp_.clear();
  std::string dir, name;
  split_path(path_, &dir, &name);
  fsync_folder(dir);
}

void write_file_atomic(const std::string& path, const std::string& data) {
  AtomicFile f(path);
  f.write(data.data(), data.size());
  f.commit();
}

std::string csv_field(const std::string& s) {
  const bool quote = s.find_first_of(",\"\r\n") != std::string::npos ||
                     (!s.empty() && (s.front() == ' ' || s.back() == ' '));
  if (!quote) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

void remove_temporary_files() noexcept {
  // No new temporary file from now on; one being created on another thread is listed a few
  // instructions later (that thread holds the signals back meanwhile, so it is never this one):
  // wait for it, within reason. (Both sides write their flag before reading the other's, so at
  // least one of them sees the other.)
  g_closing.store(1);
  for (long spins = 0; g_creating.load() > 0 && spins < 100000000L; ++spins) {
  }
  for (TempSlot& s : g_temp)
    if (s.state.load() == 2) ::unlink(s.path);
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// ---- FolderLock ---------------------------------------------------------------------------
namespace {
std::string& program_name_storage() {
  static std::string name = "sgsf";
  return name;
}
}  // namespace

void set_program_name(const std::string& name) { program_name_storage() = name; }
const std::string& program_name() { return program_name_storage(); }

FolderLock::FolderLock(const std::string& folder) {
  const std::string path = (folder.empty() ? std::string(".") : folder) + "/.sgsf.lock";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0666);
  if (fd_ < 0) {
    const int e = errno;
    throw Error(str("cannot lock the folder '", folder, "' ('", path, "'): ",
                    e == ELOOP ? std::string("it is a symbolic link") : errno_text(e)));
  }
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw Error(str("cannot lock the folder '", folder, "': '", path, "' is not a regular file"));
  }
  while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    const int e = errno;
    std::string holder;
    // The holder writes its name just after it takes the lock: give it a moment to.
    for (int tries = 0; e == EWOULDBLOCK && holder.empty() && tries < 20; ++tries) {
      char buf[256];
      const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      if (n > 0) holder.assign(buf, (size_t)n);
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\r')) holder.pop_back();
      if (holder.empty()) ::usleep(10000);
    }
    ::close(fd_);
    fd_ = -1;
    if (e == EWOULDBLOCK)
      throw Error(str("the folder '", folder, "' is in use by ", holder.empty() ? "another program" : holder,
                      ", which is writing into it; wait for it to finish, or choose another folder"));
    if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) {  // a filesystem without locks (some network mounts)
      std::fprintf(stderr, "note: '%s' cannot be locked (%s): nothing keeps a second program from writing into it\n",
                   folder.c_str(), errno_text(e).c_str());
      return;
    }
    throw Error(str("cannot lock the folder '", folder, "': ", errno_text(e)));
  }
  const std::string me = str(program_name(), " (pid ", ::getpid(), ")\n");
  if (::ftruncate(fd_, 0) == 0) (void)::pwrite(fd_, me.data(), me.size(), 0);
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor drops the lock
}

FolderLock::FolderLock(FolderLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }

FolderLock& FolderLock::operator=(FolderLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

AppendFile::AppendFile(const std::string& path, bool truncate) : path_(path) {
  check_output_path(path);
  // O_NOFOLLOW and O_NONBLOCK: a link or FIFO put there since the check is refused, never waited on.
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0666);
  SG_CHECK(fd_ >= 0, "cannot write '", path, "': ", errno_text(errno));
  struct stat st;
  if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd_);
    fd_ = -1;
    throw Error(str("cannot write '", path, "': it is not a regular file"));
  }
  // Truncated only now that it is known to be our regular file (O_TRUNC on a FIFO or device would
  // act on it before the check).
  if (truncate && ::ftruncate(fd_, 0) != 0) {
    const int e = errno;
    ::close(fd_);
    fd_ = -1;
    throw Error(str("cannot write '", path, "': ", errno_text(e)));
  }
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
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
