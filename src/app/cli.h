// The `sluice` command line: serve, token issue, grants, sessions.
#pragma once

#include <string>
#include <vector>

namespace sluice::app {

// Runs the command in `args` (argv without the program name); returns the exit code.
int run_cli(const std::vector<std::string>& args);

}  // namespace sluice::app
