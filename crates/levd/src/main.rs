//! Entry point of the `levd` binary.
use std::process::ExitCode;

use levd::config::{Command, ConfigError, parse_args};

/// mimalloc instead of the C library's allocator: a request allocates and frees many small
/// values on whichever worker thread runs it, and glibc's malloc spent about a third of the CPU
/// of `GET /deals` under load in its own bookkeeping (BENCHMARKS.md, "The data path").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match parse_args(std::env::args_os().collect()) {
        Ok(cli) => cli,
        Err(ConfigError::Cli(e)) => e.exit(),
        Err(ConfigError::File(e)) => {
            eprintln!("levd: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("levd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => match levd::server::run(*args, &cli.global).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("levd: {e}");
                    ExitCode::FAILURE
                }
            },
            Command::Migrate => match levd::server::migrate_only(&cli.global).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("levd: {e}");
                    ExitCode::FAILURE
                }
            },
            Command::Admin(cmd) => levd::admin::run(cmd, &cli.global).await,
        }
    })
}
