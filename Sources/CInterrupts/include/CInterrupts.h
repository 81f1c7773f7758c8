// SIGINT and SIGTERM, kept away from the threads that compute.
//
// A signal handler runs on whichever thread the kernel picks, at whatever instruction that
// thread is on, and oneDNN 2.6's JIT sgemm does not survive that: a handler that lands inside
// `dnnl_sgemm` (even one that only sets a flag) corrupts the heap. A data-parallel run met it
// when `mpirun` passed Ctrl-C on as SIGTERM in the middle of a fully connected layer's backward
// ("corrupted size vs. prev_size", both processes at once); bench/onednn/sgemm_signals.c shows
// it alone. So the tool blocks both signals before it starts any thread (every thread it starts
// inherits the mask) and keeps one thread that accepts them and only sleeps; the handler runs
// there (or on a thread a library started before `main`, which never runs oneDNN).
#pragma once

/// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it starts later, and
/// installs the handler. Call first, before any thread of ours exists. A child made by `fork`
/// gets them unblocked again; one made by `posix_spawn` (which skips fork handlers) would need
/// `posix_spawnattr_setsigmask` (the tool starts no processes).
void alexnet_signals_block(void);

/// Starts the thread that accepts SIGINT and SIGTERM. Until `alexnet_interrupts_install`, each
/// does what it would without a handler: ends the process (killed by that signal), or nothing
/// if the process started with it ignored.
void alexnet_signals_watch(void);

/// From now on the first SIGINT or SIGTERM (ignored at start or not) only sets the request (the
/// command stops at a safe point); a second one ends the process at once with status 130.
void alexnet_interrupts_install(void);

/// Whether a first SIGINT or SIGTERM has arrived since `alexnet_interrupts_install`.
int alexnet_interrupts_requested(void);
