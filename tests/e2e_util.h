// e2e_util.h — helpers for the end-to-end tests (test_train_e2e, test_apps): a tiny generated
// dataset, a training config small enough for a few dozen iterations on 2 CPU cores, bit-exact
// comparison of checkpoints, the training log's losses, capturing std::cerr, and running the
// built programs (sgsf_train, sgsf_test, which sit next to the test executable) as child processes.
#pragma once
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "data/builtin.h"
#include "engine/checkpoint.h"
#include "engine/common.h"
#include "sgsf/config.h"
#include "tests/data_test_util.h"

extern char** environ;

namespace sg::test {

namespace fs = std::filesystem;

// The training runs here are tiny: one OpenMP thread is several times faster than two (and far
// faster when other processes share the cores, where thread teams wait on descheduled members),
// and a fixed thread count keeps every run bit-reproducible. Applies to this process's main
// thread and, through the environment, to the programs it starts.
inline bool use_one_thread() {
#ifdef _OPENMP
  omp_set_num_threads(1);
#endif
  setenv("OMP_NUM_THREADS", "1", 1);
  return true;
}
static const bool kOneThread = use_one_thread();

// A built-in dataset category of 32x32 images: 8 training images, 4 good and 2 per defect type
// (8 anomalous) test images. Generated once per test process.
inline const data::BuiltinOptions& tiny_dataset_options() {
  static const data::BuiltinOptions o = [] {
    data::BuiltinOptions b;
    b.size = 32;
    b.train = 8;
    b.test_good = 4;
    b.test_per_defect = 2;
    return b;
  }();
  return o;
}
// The dataset root (holding the category folder "widget").
inline std::string tiny_dataset_root() {
  static const std::string root = [] {
    fs::path r = scratch_dir("tiny_data");
    data::generate_builtin_dataset(r.string(), 5, tiny_dataset_options());
    return r.string();
  }();
  return root;
}

// w = 4, 32x32, batch 4 (2 iterations per epoch), one loader thread, CPU, no progress bar needed.
inline sgsf::TrainConfig tiny_config(const fs::path& out, int64_t iterations) {
  sgsf::TrainConfig c;
  sgsf::apply_preset(c, "tiny");
  c.width = 4;
  c.size = 32;
  c.batch = 4;
  c.iterations = iterations;
  c.lr = 1e-3f;
  c.warmup = 0.25f;
  c.data = tiny_dataset_root();
  c.category = tiny_dataset_options().category;
  c.layout = "mvtec";
  c.device = "cpu";
  c.workers = 1;
  c.log_every = 4;
  c.seed = 11;
  c.out = out.string();
  return c;
}

// Every tensor of a checkpoint as raw float bits, by name.
inline std::vector<std::pair<std::string, std::vector<float>>> checkpoint_values(const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  std::vector<std::pair<std::string, std::vector<float>>> out;
  for (const auto& [name, t] : f.tensors) out.emplace_back(name, t.to_vector());
  return out;
}

// Empty when both checkpoints hold the same names with bit-identical values; else the first
// difference, in words.
inline std::string checkpoint_difference(const std::string& a, const std::string& b) {
  auto va = checkpoint_values(a), vb = checkpoint_values(b);
  if (va.size() != vb.size()) return str(va.size(), " vs ", vb.size(), " tensors");
  for (size_t i = 0; i < va.size(); ++i) {
    if (va[i].first != vb[i].first) return str("tensor ", i, ": '", va[i].first, "' vs '", vb[i].first, "'");
    const auto &x = va[i].second, &y = vb[i].second;
    if (x.size() != y.size()) return str("'", va[i].first, "': ", x.size(), " vs ", y.size(), " values");
    if (!x.empty() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) != 0) {
      size_t k = 0;
      while (std::memcmp(&x[k], &y[k], sizeof(float)) == 0) ++k;
      return str("'", va[i].first, "'[", k, "]: ", x[k], " vs ", y[k]);
    }
  }
  return "";
}

inline std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// A CSV file (the reports sgsf_test and training write: no quoting) as rows of columns.
inline std::vector<std::vector<std::string>> csv_rows(const fs::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(read_file(p));
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cols;
    std::string col;
    std::istringstream l(line);
    while (std::getline(l, col, ',')) cols.push_back(col);
    if (!line.empty() && line.back() == ',') cols.push_back("");
    rows.push_back(cols);
  }
  return rows;
}

// One line of train_log.jsonl: its iteration, mean loss and phase.
struct LogLine {
  int64_t iteration = 0;
  double loss = 0;
  bool joint = false;
};
inline std::vector<LogLine> read_log(const fs::path& p) {
  std::vector<LogLine> out;
  std::ifstream f(p);
  std::string line;
  auto number_after = [&](const std::string& key) {
    size_t at = line.find("\"" + key + "\": ");
    return at == std::string::npos ? std::nan("") : std::strtod(line.c_str() + at + key.size() + 4, nullptr);
  };
  while (std::getline(f, line)) {
    LogLine l;
    l.iteration = (int64_t)number_after("iteration");
    l.loss = number_after("loss");
    l.joint = line.find("\"phase\": \"joint\"") != std::string::npos;
    out.push_back(l);
  }
  return out;
}

// Collects what is written to std::cerr while alive.
class CerrCapture {
 public:
  CerrCapture() : old_(std::cerr.rdbuf(buf_.rdbuf())) {}
  ~CerrCapture() { std::cerr.rdbuf(old_); }
  std::string text() const { return buf_.str(); }

 private:
  std::ostringstream buf_;
  std::streambuf* old_;
};

// ---- child processes ---------------------------------------------------------------------------

// A program built beside the running test executable (the build folder).
inline std::string program_path(const std::string& name) {
  return (fs::read_symlink("/proc/self/exe").parent_path() / name).string();
}

// Start `args` (args[0]: the program path) with stdout and stderr written to files; SIGINT gets its
// default handling in the child whatever the test runner set. Returns the child's pid.
inline pid_t spawn(const std::vector<std::string>& args, const fs::path& out_file, const fs::path& err_file) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t def;
  sigemptyset(&def);
  sigaddset(&def, SIGINT);
  posix_spawnattr_setsigdefault(&attr, &def);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0], &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw Error(str("cannot start '", args[0], "': ", std::strerror(rc), " (build the programs first)"));
  return pid;
}

// What a finished program did.
struct ProgramResult {
  int status = 0;          // raw wait status
  bool timed_out = false;  // it did not finish in time and was killed
  std::string out, err;    // its stdout and stderr
  bool exited() const { return !timed_out && WIFEXITED(status); }  // false: a crash (or hang)
  int code() const { return exited() ? WEXITSTATUS(status) : -1; }
  std::string describe() const {
    if (timed_out) return str("did not finish in time, stderr:\n", err);
    return WIFEXITED(status) ? str("exit code ", WEXITSTATUS(status), ", stderr:\n", err)
                             : str("killed by signal ", WTERMSIG(status), ", stderr:\n", err);
  }
};

// Wait for `pid` (killing it after `timeout_s` seconds, so a hung program fails the test instead
// of stalling it) and collect its output.
inline ProgramResult wait_program(pid_t pid, const fs::path& out_file, const fs::path& err_file,
                                  double timeout_s = 300) {
  ProgramResult r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  for (;;) {
    pid_t got = waitpid(pid, &r.status, WNOHANG);
    if (got == pid || (got < 0 && errno != EINTR)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &r.status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  r.out = read_file(out_file);
  r.err = read_file(err_file);
  return r;
}

// Run `program` (a name beside the test executable) with `args` to completion (killed after
// `timeout_s` seconds); its output goes through files in `scratch`.
inline ProgramResult run_program(const std::string& program, const std::vector<std::string>& args,
                                 const fs::path& scratch, double timeout_s = 300) {
  std::vector<std::string> all = {program_path(program)};
  all.insert(all.end(), args.begin(), args.end());
  fs::path o = scratch / (program + ".out"), e = scratch / (program + ".err");
  return wait_program(spawn(all, o, e), o, e, timeout_s);
}

// The same, with every file the program writes limited to `max_file_bytes` (RLIMIT_FSIZE, with
// SIGXFSZ ignored): a write past the limit fails with EFBIG, as a write to a full disk fails with
// ENOSPC. Needs neither root nor a special filesystem. (Its stdout and stderr files are created by
// this process, so only what it writes to them counts.)
inline ProgramResult run_program_file_limit(const std::string& program, const std::vector<std::string>& args,
                                            const fs::path& scratch, uint64_t max_file_bytes) {
  std::vector<std::string> all = {program_path(program)};
  all.insert(all.end(), args.begin(), args.end());
  fs::path o = scratch / (program + ".out"), e = scratch / (program + ".err");
  struct rlimit saved;
  getrlimit(RLIMIT_FSIZE, &saved);
  struct rlimit lim = saved;
  lim.rlim_cur = (rlim_t)max_file_bytes;
  auto old_handler = signal(SIGXFSZ, SIG_IGN);  // ignored signals stay ignored in the child
  setrlimit(RLIMIT_FSIZE, &lim);
  pid_t pid = -1;
  try {
    pid = spawn(all, o, e);
  } catch (...) {
    setrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, old_handler);
    throw;
  }
  setrlimit(RLIMIT_FSIZE, &saved);
  signal(SIGXFSZ, old_handler);
  return wait_program(pid, o, e);
}

}  // namespace sg::test
