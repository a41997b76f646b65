//! `podyard`: the control plane with its built-in host agent, and the admin commands.

mod control_plane;
mod machine;
mod serve;
mod user;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "podyard",
    version,
    about = "A self-hosted GPU pod cloud with RunPod's API"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Run the control plane and the agent of this host.
    Serve(serve::ServeArgs),
    /// Manage users of a running server.
    #[command(subcommand)]
    User(user::UserCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Commands::Serve(args) => serve::run(args).await,
            Commands::User(command) => user::run(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
