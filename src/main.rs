//! The `mutt` binary: parse the command line and hand over to the library.

use clap::Parser;

/// mimalloc instead of glibc's malloc: every row is allocated by a decode worker and freed by the
/// writer thread, and glibc pays for each such cross-thread free twice (the writer takes the
/// worker's arena lock, the worker later consolidates the chunks). docs/PERFORMANCE.md has the
/// before and after.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = mutt::cli::Cli::parse();
    std::process::exit(mutt::cli::execute(cli));
}
