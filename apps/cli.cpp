// cli.cpp — argument parsing, progress bar and error handling for the programs in apps/.
#include "apps/cli.h"

#include <csignal>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <new>
#include <sstream>

#include "data/image_io.h"
#include "engine/checkpoint.h"
#include "engine/common.h"
#include "engine/file_io.h"
#include "sgsf/config.h"

namespace sg::cli {

Args::Args(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {
  flag("help", "show this help and exit");
}

void Args::option(const std::string& name, const std::string& default_value, const std::string& help) {
  order_.push_back(name);
  opts_[name] = Opt{default_value, help, default_value, false, false};
}

void Args::flag(const std::string& name, const std::string& help) {
  order_.push_back(name);
  opts_[name] = Opt{"", help, "", true, false};
}

bool Args::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    SG_CHECK(a.rfind("--", 0) == 0, "unexpected argument '", a, "' (options start with --; see --help)");
    std::string name = a.substr(2), value;
    bool has_value = false;
    size_t eq = name.find('=');
    if (eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = opts_.find(name);
    SG_CHECK(it != opts_.end(), "unknown option --", name, " (see --help)");
    Opt& o = it->second;
    if (o.is_flag) {
      SG_CHECK(!has_value, "--", name, " takes no value");
      o.value = "1";
    } else {
      if (!has_value) {
        SG_CHECK(i + 1 < argc, "--", name, " needs a value");
        value = argv[++i];
      }
      o.value = value;
    }
    o.given = true;
  }
  if (get_flag("help")) {
    std::cout << help();
    return false;
  }
  return true;
}

const Args::Opt& Args::find(const std::string& name) const {
  auto it = opts_.find(name);
  SG_CHECK(it != opts_.end(), "internal: option --", name, " was never declared");
  return it->second;
}

std::string Args::get(const std::string& name) const { return find(name).value; }

int64_t Args::get_int64(const std::string& name) const {
  const std::string v = get(name);
  int64_t x = 0;
  SG_CHECK(sgsf::parse_int64(v, &x), "--", name, " expects an integer, got '", v, "'");
  return x;
}

int64_t Args::get_int64(const std::string& name, int64_t lo, int64_t hi) const {
  const std::string v = get(name);
  int64_t x = 0;
  SG_CHECK(sgsf::parse_int64(v, &x), "--", name, " expects an integer, got '", v, "' (", lo, " to ", hi, ")");
  SG_CHECK(x >= lo && x <= hi, "--", name, " must be from ", lo, " to ", hi, ", got ", x);
  return x;
}

int Args::get_int(const std::string& name, int lo, int hi) const { return (int)get_int64(name, lo, hi); }

uint64_t Args::get_uint64(const std::string& name) const {
  const std::string v = get(name);
  uint64_t x = 0;
  SG_CHECK(sgsf::parse_uint64(v, &x), "--", name, " expects an integer, got '", v, "' (0 to ", UINT64_MAX, ")");
  return x;
}

int Args::get_int(const std::string& name) const {
  const int64_t x = get_int64(name);
  SG_CHECK(x >= INT32_MIN && x <= INT32_MAX, "--", name, " is out of range: ", x);
  return (int)x;
}

double Args::get_double(const std::string& name) const {
  const std::string v = get(name);
  double x = 0;
  SG_CHECK(sgsf::parse_number(v, &x) && std::isfinite(x), "--", name, " expects a number, got '", v, "'");
  return x;
}

bool Args::get_flag(const std::string& name) const { return find(name).value == "1"; }
bool Args::given(const std::string& name) const { return find(name).given; }

std::string Args::help() const {
  std::ostringstream o;
  o << "usage: " << program_ << " [options]\n\n" << summary_ << "\n\noptions:\n";
  for (const auto& name : order_) {
    const Opt& opt = opts_.at(name);
    std::string left = "  --" + name + (opt.is_flag ? "" : " <" + (opt.default_value.empty() ? std::string("value") : opt.default_value) + ">");
    o << left;
    if (left.size() < 30) o << std::string(30 - left.size(), ' ');
    else o << "\n" << std::string(30, ' ');
    o << opt.help << "\n";
  }
  return o.str();
}

std::vector<std::pair<std::string, std::string>> Args::values() const {
  std::vector<std::pair<std::string, std::string>> v;
  for (const auto& name : order_)
    if (name != "help") v.emplace_back(name, opts_.at(name).value);
  return v;
}

namespace {
// A fatal signal removes the temporary file of any output being written, then ends the process
// the way the signal would have (exit status 128 + signal in the shell).
void on_fatal_signal(int sig) {
  remove_temporary_files();
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}
}  // namespace

void quit_on_signal(int sig) {
  remove_temporary_files();
  std::_Exit(128 + sig);
}

namespace {
std::string g_last_error;
}  // namespace

const std::string& last_error() { return g_last_error; }

int run_main(const char* program, const std::function<int()>& body) {
  set_program_name(program);
  g_last_error.clear();
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) std::signal(sig, on_fatal_signal);
  try {
    return body();
  } catch (const Error& e) {
    g_last_error = std::string(program) + ": error: " + e.what();
  } catch (const std::bad_alloc&) {
    g_last_error = std::string(program) + ": error: out of memory";
  } catch (const std::exception& e) {
    g_last_error = std::string(program) + ": error: " + e.what();
  }
  std::cerr << g_last_error << "\n";
  return 1;
}

std::string input_limits_text() {
  return "Limits: images over " + data::image_pixel_limit_text() + " are refused before decoding;\n"
         "checkpoint headers over " + std::to_string(kMaxSafetensorsHeaderBytes >> 20) + " MiB are refused.";
}

}  // namespace sg::cli
