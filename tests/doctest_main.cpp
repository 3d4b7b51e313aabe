// The one doctest main shared by every test executable (tests/test_*.cpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "engine/device.h"

// Every test runs with deterministic GPU algorithms (engine/device.h), so a CUDA result is the same
// on every run.
static const bool g_deterministic_tests = (sg::set_deterministic(true), true);
