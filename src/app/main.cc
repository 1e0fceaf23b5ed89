// sluice: the access gateway between agents and databases. See README.md.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>
#include <string>
#include <vector>

#include "app/cli.h"

int main(int argc, char** argv) {
  // Secrets live in this process: no core dumps, owner-only files (SECURITY.md §7).
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  umask(077);
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  return sluice::app::run_cli(args);
}
