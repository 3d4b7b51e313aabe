// sgsf_test — test a trained SGSF run: anomaly maps, image scores and the paper's metrics; or score
// new, unlabelled images with --score. The body is in apps/test_main.cpp, which the Python package
// runs too.
#include "apps/programs.h"

int main(int argc, char** argv) { return sg::cli::sgsf_test_main(argc, argv); }
