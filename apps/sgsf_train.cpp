// sgsf_train — train SGSF on normal images (an MVTec AD-style category, DAGM, KolektorSDD2, a plain
// folder, or the built-in synthetic dataset when --data is not given). The body is in
// apps/train_main.cpp, which the Python package runs too.
#include "apps/programs.h"

int main(int argc, char** argv) { return sg::cli::sgsf_train_main(argc, argv); }
