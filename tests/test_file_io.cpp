// test_file_io.cpp — checked reads and writes: a write that fails (here through a file-size limit,
// which fails writes the way a full disk does) throws naming the file and leaves the previous file
// untouched and no temporary file behind; a failed append is cut off; reads refuse FIFOs, folders and
// files over their limit.
#include <fcntl.h>
#include <sys/stat.h>
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
