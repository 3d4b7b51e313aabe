// file_io.h — reading and writing the files users hand us and the files we hand back, so that bad
// input never hangs or exhausts memory and no output is silently lost.
//
// Reading: only regular files are read (a FIFO, device or folder is refused at once instead of
// blocking), and a file larger than the caller's limit is refused before it is read.
// Writing: a whole file goes to `<path>.tmp`, every write, the close and the rename are checked,
// and only a complete file is renamed over `path`; a failure (a full disk, say) throws sg::Error
// naming the file, removes the temporary file and leaves any previous `path` untouched. Appending
// (logs) checks every write and cuts a partial line off again.
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

// Write `data` to `path` atomically (temporary file, checked writes and close, rename).
void write_file_atomic(const std::string& path, const std::string& data);

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
