// `ftune train --nproc-per-node N`: runs N ranks of the same command on this machine with
// torchrun's environment contract (RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ...),
// so no Python is needed. Not the training itself (lib/train/distributed.h).
#pragma once

#include <string>

namespace ftune {

struct LaunchOptions {
  int nproc_per_node = 0;  // 0: no launcher, train in this process
  int nnodes = 1;
  int node_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 0;  // 0: a free port with one node, else 29500 (torchrun's default)
};

// True when this process should start ranks instead of training: --nproc-per-node was given
// and the environment does not already make this process a rank.
bool should_launch(const LaunchOptions& options);

// Re-runs this executable's command line (minus the launcher flags) as one process per local
// rank, forwards SIGTERM, and waits. When a rank fails, the others get a grace period to fail on
// their own (their collectives break) and are then killed; Error names the first failed rank.
void launch_local_ranks(const LaunchOptions& options);

}  // namespace ftune
