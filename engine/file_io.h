// file_io.h — reading and writing the files users hand us and the files we hand back, so that bad
// input never hangs or exhausts memory and no output is silently lost.
//
// Reading: only regular files are read (a FIFO, device or folder is refused at once instead of
// blocking), and a file larger than the caller's limit is refused before it is read.
// Writing: every file we write goes through AtomicFile, the one safe way to write a file:
//   - `path` must be missing or a regular file: a symlink, folder, FIFO or device is refused (so
//     `--out /dev/null` or a planted link never makes us replace or write through something else);
//   - the temporary file is created exclusively (O_CREAT | O_EXCL | O_NOFOLLOW) under a fresh random
//     name in the destination folder, `.<name>.XXXXXXXX.tmp`, cut to fit the 255-byte name limit, so
//     no planted file or link is ever opened, and two writers never share one;
//   - every write, the flush to disk (fsync) and the close are checked, and only a complete file is
//     renamed over `path`; the folder is then flushed so the rename survives a power cut;
//   - on any failure (a full disk, say) sg::Error names the file, the temporary file is removed and
//     any previous `path` is untouched. A fatal signal removes it too: the programs' handlers call
//     remove_temporary_files(), which is async-signal-safe.
// Appending (logs) opens only a regular file (never through a symlink), checks every write and cuts
// a partial line off again.
// FolderLock gives a folder one writer at a time (flock on `<folder>/.sgsf.lock`).
#pragma once
#include <cstdint>
#include <string>

namespace sg {

// Open `path` for reading without ever blocking (O_NONBLOCK, so a FIFO does not wait for a
// writer), and refuse anything but a regular file. Returns the descriptor (the caller closes it)
// and its size. `what` names the file's role in messages ("image", "checkpoint", ...).
int open_regular_file(const std::string& path, const std::string& what, uint64_t* size);

// The whole content of a regular file of at most `max_bytes` bytes.
std::string read_regular_file(const std::string& path, uint64_t max_bytes, const std::string& what);

// A file written whole or not at all (see above). Construct, write(), then commit(); destroyed
// without commit(), it removes its temporary file and `path` keeps what it had.
class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void commit();
  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return tmp_; }

 private:
  [[noreturn]] void fail(const std::string& what, int err);
  void discard() noexcept;
  std::string path_, tmp_;
  int fd_ = -1;
  int slot_ = -1;  // its entry in the list that remove_temporary_files() reads
};

// Write `data` to `path` through AtomicFile.
void write_file_atomic(const std::string& path, const std::string& data);

// Refuse an output path that is not a regular file or missing (a symlink, folder, FIFO, socket or
// device), naming it. AtomicFile calls it; callers call it to check every output before writing any.
void check_output_path(const std::string& path);

// One CSV field as RFC 4180 has it: quoted (with quotes doubled) when it holds a comma, a quote, a
// line break or leading/trailing spaces; as it is otherwise.
std::string csv_field(const std::string& s);

// Remove every temporary file an AtomicFile has open now. Async-signal-safe: fatal-signal handlers
// call it before the process ends.
void remove_temporary_files() noexcept;

// Whether two paths name the same file or folder (both must exist; false otherwise).
bool same_file(const std::string& a, const std::string& b);

// One writer per folder: takes an exclusive flock on `<folder>/.sgsf.lock` (created when missing,
// never through a symlink) and writes "<program_name()> (pid N)" into it. A folder already locked by a
// running program is refused with an error naming that program. The lock ends with the object (or
// the process: the kernel drops it however the process ends).
class FolderLock {
 public:
  FolderLock() = default;
  explicit FolderLock(const std::string& folder);
  ~FolderLock();
  FolderLock(FolderLock&& o) noexcept;
  FolderLock& operator=(FolderLock&& o) noexcept;
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// The program name that FolderLock records (set once by the programs' main; default "sgsf").
void set_program_name(const std::string& name);
const std::string& program_name();

// A file that lines are appended to, every write checked. A failed append is cut off again (the
// file keeps only whole lines) and throws naming the file.
class AppendFile {
 public:
  AppendFile() = default;
  // truncate: start empty; else append to what is there (the file is created when missing).
  AppendFile(const std::string& path, bool truncate);
  ~AppendFile();
  AppendFile(const AppendFile&) = delete;
  AppendFile& operator=(const AppendFile&) = delete;
  AppendFile(AppendFile&& o) noexcept;
  AppendFile& operator=(AppendFile&& o) noexcept;

  void append(const std::string& text);
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace sg
