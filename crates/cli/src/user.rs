//! `podyard user …`: admin commands that talk to a running server over HTTP.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use serde_json::Value;

use crate::serve::default_data_dir;

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user and print its API key; for an existing user, print a new key.
    Add(AddArgs),
}

#[derive(Args)]
pub struct AddArgs {
    /// The user's name (letters, digits, '-', '_', '.', '@').
    name: String,
    /// Make the key read-only: it can query but not mutate.
    #[arg(long)]
    read_only: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Args)]
pub struct ServerArgs {
    /// URL of the podyard server.
    #[arg(long, env = "PODYARD_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// File holding the admin API key [default: <default data dir>/admin-api-key].
    #[arg(long)]
    api_key_file: Option<PathBuf>,
    /// The admin API key itself (instead of --api-key-file).
    #[arg(long = "api-key", env = "PODYARD_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

impl ServerArgs {
    fn key(&self) -> anyhow::Result<String> {
        if let Some(path) = &self.api_key_file {
            return read_key(path);
        }
        if let Some(key) = &self.api_key {
            return Ok(key.trim().to_string());
        }
        read_key(&default_data_dir().join("admin-api-key"))
    }
}

fn read_key(path: &PathBuf) -> anyhow::Result<String> {
    let key = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the API key file {}", path.display()))?;
    Ok(key.trim().to_string())
}

pub async fn run(command: UserCommand) -> anyhow::Result<()> {
    match command {
        UserCommand::Add(args) => add(args).await,
    }
}

async fn add(args: AddArgs) -> anyhow::Result<()> {
    let key = args.server.key()?;
    let url = format!("{}/admin/users", args.server.server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(key)
        .json(&serde_json::json!({"name": args.name, "readOnly": args.read_only}))
        .send()
        .await
        .with_context(|| format!("cannot reach the server at {}", args.server.server))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .context("the server's answer is not JSON")?;
    if !status.is_success() {
        let message = body["errors"][0]["message"]
            .as_str()
            .unwrap_or("unknown error");
        bail!("the server refused ({status}): {message}");
    }
    match body["apiKey"].as_str() {
        Some(key) => {
            println!("{key}");
            Ok(())
        }
        None => bail!("the server's answer has no apiKey"),
    }
}
