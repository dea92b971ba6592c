//! The `dcrobust` binary: parses the command line, runs it, maps errors to a one-line message
//! and exit code 1 (clap's usage errors exit with 2).

use clap::Parser;

// candle allocates a fresh buffer per operation; mimalloc avoids glibc's mmap/munmap churn
// (cpu-performance.md, pitfall P5).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = dcrobust::cli::Cli::parse();
    match dcrobust::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", dcrobust::util::error_message(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
