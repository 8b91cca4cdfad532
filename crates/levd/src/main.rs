//! Entry point of the `levd` binary.
use std::process::ExitCode;

use clap::Parser;
use levd::config::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("levd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => match levd::server::run(args, &cli.global).await {
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
