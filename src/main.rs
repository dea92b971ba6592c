//! The `dcrobust` binary: parses the command line, runs it, maps errors to a one-line message
//! and exit code 1 (clap's usage errors exit with 2).

// candle allocates a fresh buffer per operation; mimalloc avoids glibc's mmap/munmap churn
// (docs/performance.md#pitfall-p5).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (its index in `mi_option_e`, the same in mimalloc 2 and 3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // Keep freed memory instead of handing it back to the OS 10 ms later: every training step
    // frees and reallocates the same few hundred MB, and re-faulting them costs a quarter of
    // the step in the kernel zeroing pages. Peak RSS is unchanged (the next step needs them).
    // SAFETY: called before any other thread exists; the option takes a plain integer.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // Rust ignores SIGPIPE, so printing to a closed pipe (`dcrobust zoo --json | head -3`) makes
    // `println!` panic. Restore the default action, as other command-line tools have it: the
    // process ends quietly when its reader goes away. Files are written with explicit error
    // handling and are unaffected; dcrobust opens no sockets.
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = dcrobust::cli::parse();
    match dcrobust::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", dcrobust::util::error_message(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
