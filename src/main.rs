//! The `mutt` binary: parse the command line and hand over to the library.

use clap::Parser;

fn main() {
    let cli = mutt::cli::Cli::parse();
    std::process::exit(mutt::cli::execute(cli));
}
