// cli.h — what the command-line programs share: a small long-option parser that writes --help from
// the declarations, and the top-level error handler that turns exceptions into a message and a
// non-zero exit code. (The progress bar is sgsf/progress.h.)
#pragma once
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sg::cli {

// Declare options, then parse. Every option is --name VALUE (or --name=VALUE); flags take no value.
class Args {
 public:
  Args(std::string program, std::string summary);
  // Declaration: name without dashes, default value as text, help line.
  void option(const std::string& name, const std::string& default_value, const std::string& help);
  void flag(const std::string& name, const std::string& help);
  // Returns false when --help was asked (help already printed). Throws sg::Error on bad input (the
  // message does not repeat the program's name: run_main prefixes it).
  bool parse(int argc, char** argv);

  std::string get(const std::string& name) const;
  int get_int(const std::string& name) const;
  // An integer in [lo, hi]; otherwise an error that names the option and the range.
  int get_int(const std::string& name, int lo, int hi) const;
  int64_t get_int64(const std::string& name) const;
  int64_t get_int64(const std::string& name, int64_t lo, int64_t hi) const;
  uint64_t get_uint64(const std::string& name) const;  // 0 to 2^64 - 1 (no sign)
  double get_double(const std::string& name) const;
  bool get_flag(const std::string& name) const;
  bool given(const std::string& name) const;  // set on the command line (not a default)
  std::string help() const;
  // All options and their values (for logs and configs).
  std::vector<std::pair<std::string, std::string>> values() const;

 private:
  struct Opt {
    std::string default_value, help, value;
    bool is_flag = false, given = false;
  };
  const Opt& find(const std::string& name) const;
  std::string program_, summary_;
  std::vector<std::string> order_;
  std::map<std::string, Opt> opts_;
};


// Run `body`, turning sg::Error and std::exception into "program: error: ..." and exit code 1
// (std::bad_alloc too, as "out of memory"). SIGINT, SIGTERM and SIGHUP remove the temporary file of
// any output being written (engine/file_io.h) before the process ends; the program's name is what
// its folder locks record.
int run_main(const char* program, const std::function<int()>& body);

// The error line the last run_main printed ("program: error: ..."), or empty when it ended without
// one. For in-process callers (the Python package raises it as an exception).
const std::string& last_error();

// The programs' help line on the inputs they refuse: "Limits: images over ... are refused before
// decoding; checkpoint headers over ... MiB are refused."
std::string input_limits_text();

// For a program's own signal handler: remove the temporary files being written, then _Exit with
// 128 + sig. Async-signal-safe.
void quit_on_signal(int sig);

}  // namespace sg::cli
