// programs.h — the bodies of the command-line programs, callable in-process: apps/sgsf_train.cpp's
// and apps/sgsf_test.cpp's main() call them, and so does the Python package (python/src/module.cpp),
// which thereby needs no separate executables.
//
// Each takes the program's argv (argv[0] its name, then its long options), returns its exit code
// (0 done, 1 an error: cli::last_error() then holds the message it printed; sgsf_train also 3 for a
// diverged loss, 130/143 after SIGINT/SIGTERM) and installs the program's signal handlers (SIGINT,
// SIGTERM, SIGHUP), which an in-process caller saves before and restores after.
#pragma once

namespace sg::cli {

int sgsf_train_main(int argc, char** argv);  // apps/train_main.cpp
int sgsf_test_main(int argc, char** argv);   // apps/test_main.cpp

}  // namespace sg::cli
