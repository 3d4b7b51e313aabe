// test_file_io.cpp — checked reads and writes: a write that fails (here through a file-size limit,
// which fails writes the way a full disk does) throws naming the file and leaves the previous file
// untouched and no temporary file behind; a failed append is cut off; reads refuse FIFOs, folders and
// files over their limit.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "engine/file_io.h"
#include "tests/data_test_util.h"
#include "tests/test_util.h"

using namespace sg;
namespace fs = std::filesystem;


TEST_CASE("write_file_atomic: a failed write names the file and replaces nothing") {
  fs::path dir = test::scratch_dir("file_io_atomic");
  const std::string path = (dir / "report.json").string();
  write_file_atomic(path, "old content\n");
  CHECK(test::read_bytes(path) == "old content\n");
  const std::string big(5000, 'x');
  {
    test::FileSizeLimit limit(1000);
    CHECK_THROWS_WITH_AS(write_file_atomic(path, big), doctest::Contains(std::string("cannot write '" + path + "': File too large").c_str()),
                         sg::Error);
  }
  CHECK(test::read_bytes(path) == "old content\n");
  CHECK_FALSE(fs::exists(path + ".tmp"));
  // A folder that does not exist.
  CHECK_THROWS_WITH_AS(write_file_atomic((dir / "no" / "x.txt").string(), "x"), doctest::Contains("no/x.txt"),
                       sg::Error);
  write_file_atomic(path, big);  // without the limit it works
  CHECK(test::read_bytes(path) == big);
}

TEST_CASE("AppendFile: a failed append is cut off, keeping only whole lines") {
  fs::path dir = test::scratch_dir("file_io_append");
  const std::string path = (dir / "log.jsonl").string();
  AppendFile f(path, true);
  f.append("line 1\n");
  f.append("line 2\n");
  {
    test::FileSizeLimit limit(20);
    CHECK_THROWS_WITH_AS(f.append(std::string(30, 'y') + "\n"), doctest::Contains(std::string("cannot write '" + path + "'").c_str()),
                         sg::Error);
  }
  CHECK(test::read_bytes(path) == "line 1\nline 2\n");
  f.append("line 3\n");
  CHECK(test::read_bytes(path) == "line 1\nline 2\nline 3\n");
  AppendFile again(path, false);  // appending keeps what is there
  again.append("line 4\n");
  CHECK(test::read_bytes(path) == "line 1\nline 2\nline 3\nline 4\n");
}

TEST_CASE("read_regular_file: size limit, FIFOs and folders are refused with the file named") {
  fs::path dir = test::scratch_dir("file_io_read");
  const std::string path = (dir / "a.txt").string();
  test::write_text(path, "0123456789");
  CHECK(read_regular_file(path, 10, "config") == "0123456789");
  CHECK_THROWS_WITH_AS(read_regular_file(path, 9, "config"),
                       doctest::Contains(std::string("config '" + path + "' is 10 bytes; the largest config file read is 9 bytes").c_str()),
                       sg::Error);
  const std::string fifo = (dir / "pipe").string();
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(read_regular_file(fifo, 100, "config"), doctest::Contains(std::string("'" + fifo + "' is not a regular file").c_str()),
                       sg::Error);
  CHECK_THROWS_WITH_AS(read_regular_file(dir.string(), 100, "config"), doctest::Contains("it is a folder"), sg::Error);
  CHECK_THROWS_WITH_AS(read_regular_file((dir / "missing").string(), 100, "config"), doctest::Contains("missing"),
                       sg::Error);
}

// ---- the one safe writer ------------------------------------------------------------------------

namespace {
// Every temporary file AtomicFile leaves in `dir` (there should be none once it is done).
std::vector<std::string> temporaries(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".tmp") found.push_back(e.path().filename().string());
  return found;
}
}  // namespace

TEST_CASE("AtomicFile never writes through a planted link: the temporary name is fresh and created exclusively") {
  fs::path dir = test::scratch_dir("atomic_link");
  const fs::path victim = dir / "victim.txt";
  test::write_text(victim, "keep me\n");
  // Links planted where the old fixed temporary name was, and a link as the target itself.
  fs::create_symlink(victim, dir / "m.onnx.tmp");
  write_file_atomic((dir / "m.onnx").string(), "model");
  CHECK(test::read_bytes(victim) == "keep me\n");
  CHECK(fs::is_regular_file(fs::symlink_status(dir / "m.onnx")));
  CHECK(test::read_bytes(dir / "m.onnx") == "model");
  fs::create_symlink(victim, dir / "link.onnx");
  CHECK_THROWS_WITH_AS(write_file_atomic((dir / "link.onnx").string(), "x"), doctest::Contains("it is a symbolic link"),
                       sg::Error);
  CHECK(test::read_bytes(victim) == "keep me\n");
  CHECK(fs::is_symlink(dir / "link.onnx"));
  CHECK(temporaries(dir) == std::vector<std::string>{"m.onnx.tmp"});  // only the planted link
}

TEST_CASE("AtomicFile refuses a target that is not a regular file, before creating anything") {
  fs::path dir = test::scratch_dir("atomic_kinds");
  const std::string fifo = (dir / "pipe").string();
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH_AS(write_file_atomic(fifo, "x"), doctest::Contains("it is a FIFO"), sg::Error);
  CHECK_THROWS_WITH_AS(write_file_atomic(dir.string(), "x"), doctest::Contains("it is a folder"), sg::Error);
  CHECK_THROWS_WITH_AS(write_file_atomic("/dev/null", "x"), doctest::Contains("it is a device"), sg::Error);
  CHECK_THROWS_WITH_AS(AppendFile(fifo, false), doctest::Contains("it is a FIFO"), sg::Error);
  CHECK(fs::is_fifo(fifo));
  CHECK(temporaries(dir).empty());
}

TEST_CASE("AtomicFile: names up to the 255-byte limit work; two writers never share a temporary file") {
  fs::path dir = test::scratch_dir("atomic_names");
  for (size_t len : {250u, 252u, 255u}) {
    const fs::path p = dir / (std::string(len - 4, 'n') + ".png");
    REQUIRE(p.filename().string().size() == len);
    write_file_atomic(p.string(), "png");
    CHECK(test::read_bytes(p) == "png");
  }
  // A UTF-8 name near the limit: the temporary name is cut between characters.
  std::string utf8;
  while (utf8.size() + 2 <= 250) utf8 += "\xc3\xa9";  // é
  write_file_atomic((dir / utf8).string(), "e");
  CHECK(test::read_bytes(dir / utf8) == "e");
  // Two writers of one path at once: each has its own temporary file; the last commit wins, whole.
  AtomicFile a((dir / "same.csv").string()), b((dir / "same.csv").string());
  CHECK(a.temporary_path() != b.temporary_path());
  a.write("from a\n", 7);
  b.write("from b\n", 7);
  a.commit();
  CHECK(test::read_bytes(dir / "same.csv") == "from a\n");
  b.commit();
  CHECK(test::read_bytes(dir / "same.csv") == "from b\n");
  CHECK(temporaries(dir).empty());
}

TEST_CASE("AtomicFile: dropped without commit, or on a fatal signal, its temporary file is removed") {
  fs::path dir = test::scratch_dir("atomic_abandon");
  write_file_atomic((dir / "ckpt").string(), "old");
  {
    AtomicFile f((dir / "ckpt").string());
    f.write("half", 4);
    CHECK(fs::exists(f.temporary_path()));
  }
  CHECK(temporaries(dir).empty());
  CHECK(test::read_bytes(dir / "ckpt") == "old");
  AtomicFile g((dir / "ckpt").string());
  g.write("half", 4);
  const std::string tmp = g.temporary_path();
  // What the programs' signal handlers call just before the process ends, run in a child process
  // (it also stops any further temporary file, as a process that is ending must).
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    remove_temporary_files();
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK_FALSE(fs::exists(tmp));
  CHECK(test::read_bytes(dir / "ckpt") == "old");
}

TEST_CASE("FolderLock: one writer per folder; the second is refused naming the holder") {
  fs::path dir = test::scratch_dir("folder_lock");
  set_program_name("sgsf_test");
  {
    FolderLock first(dir.string());
    CHECK(first.held());
    CHECK_THROWS_WITH_AS(FolderLock(dir.string()),
                         doctest::Contains(str("is in use by sgsf_test (pid ", getpid(), ")").c_str()), sg::Error);
  }
  FolderLock again(dir.string());  // released with the first
  CHECK(again.held());
  set_program_name("sgsf");
  // The lock file is never opened through a link.
  fs::path other = test::scratch_dir("folder_lock_link");
  fs::create_symlink(dir / "elsewhere", other / ".sgsf.lock");
  CHECK_THROWS_WITH_AS(FolderLock(other.string()), doctest::Contains("symbolic link"), sg::Error);
  CHECK_FALSE(fs::exists(dir / "elsewhere"));
}

TEST_CASE("csv_field quotes as RFC 4180 asks") {
  CHECK(csv_field("plain.png") == "plain.png");
  CHECK(csv_field("comma,name.png") == "\"comma,name.png\"");
  CHECK(csv_field("say \"hi\".png") == "\"say \"\"hi\"\".png\"");
  CHECK(csv_field("two\nlines.png") == "\"two\nlines.png\"");
  CHECK(csv_field(" lead.png") == "\" lead.png\"");
  CHECK(csv_field("") == "");
}
