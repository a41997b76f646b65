//! `podyard serve`: the control plane on the embedded store, with this host's agent.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use podyard_agent::{Agent, AgentConfig};
use podyard_core::{Catalog, Command, KeyAccess, Outcome};
use podyard_runtime::DockerRuntime;
use podyard_state::StateCore;
use podyard_store::SqliteStore;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::control_plane::LocalControlPlane;
use crate::machine::local_machine;

#[derive(Args)]
pub struct ServeArgs {
    /// Address of the HTTP API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the database, the admin key and the machine identity.
    #[arg(long, env = "PODYARD_DATA_DIR", default_value_os_t = default_data_dir())]
    pub data_dir: PathBuf,
    /// Declare emulated GPUs on a host without NVIDIA GPUs, e.g.
    /// "NVIDIA GeForce RTX 4090:4". Containers get NVIDIA_VISIBLE_DEVICES only.
    #[arg(long, value_name = "GPU_TYPE_ID:COUNT")]
    pub emulate_gpus: Option<String>,
    /// JSON file of GPU types that replace or extend the default catalog.
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// Data center id of this host.
    #[arg(long, default_value = "LOCAL-1")]
    pub data_center: String,
    /// Human-readable location of this host.
    #[arg(long, default_value = "Local")]
    pub location: String,
    /// ISO country code of this host.
    #[arg(long, default_value = "")]
    pub country_code: String,
    /// Offer this host in the community cloud instead of the secure cloud.
    #[arg(long)]
    pub community_cloud: bool,
    /// Public IP address of this host, if it has one: reported as the pods' public IP
    /// (`RUNPOD_PUBLIC_IP`, `isIpPublic`) and as the address of their ports.
    #[arg(long)]
    pub public_ip: Option<String>,
    /// Address reported to clients for published pod ports when there is no public IP.
    #[arg(long, default_value = "127.0.0.1")]
    pub advertise_ip: String,
    /// Seconds between SIGTERM and SIGKILL when a pod's container is stopped.
    #[arg(long, default_value_t = 5)]
    pub stop_grace_seconds: u64,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PODYARD_DATA_DIR") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".local/share/podyard")
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_logs(args.log_format);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let catalog = match &args.catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Catalog::with_overrides(&text)
                .with_context(|| format!("bad catalog file {}", path.display()))?
        }
        None => Catalog::default(),
    };

    let db = args.data_dir.join("podyard.db");
    let store = SqliteStore::open(&db)?;
    let core = StateCore::start(store, catalog.clone())?;
    info!(path = %db.display(), "state loaded");
    ensure_admin_key(&core, &args.data_dir).await?;

    let (shutdown_tx, shutdown) = watch::channel(false);
    let agent = match local_machine(&args, &catalog)? {
        Some((machine, sampler)) => {
            let machine_id = machine.id.clone();
            core.execute(Command::RegisterMachine { machine })
                .await
                .context("cannot register this host's machine")?;
            let runtime = DockerRuntime::connect(machine_id.clone())
                .await
                .context("cannot reach the Docker Engine")?;
            // Ports are published on the host itself: with a public IP, that is where
            // clients reach them.
            let address = args.public_ip.clone().unwrap_or(args.advertise_ip.clone());
            let mut config = AgentConfig::new(machine_id, address);
            config.ip_is_public = args.public_ip.is_some();
            config.stop_grace = Duration::from_secs(args.stop_grace_seconds);
            let agent = Agent::new(
                config,
                LocalControlPlane::new(core.clone()),
                runtime,
                sampler,
            );
            Some(tokio::spawn(agent.run(wait_for(shutdown.clone()))))
        }
        None => None,
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    info!(address = %args.listen, "serving the GraphQL API at /graphql");
    axum::serve(listener, podyard_api::router(core))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = shutdown_tx.send(true);
        })
        .await
        .context("the HTTP server failed")?;
    if let Some(agent) = agent {
        let _ = agent.await;
    }
    info!("stopped; pod containers keep running and are adopted at the next start");
    Ok(())
}

async fn wait_for(mut shutdown: watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    info!("shutting down");
}

/// Makes sure the operator has a key: on first start the admin user is created, and
/// whenever the key file is missing (first start, or a crash between the commit and the
/// write) a new admin key is written. The file is 0600 and its path, never the key, is
/// logged.
async fn ensure_admin_key(core: &StateCore, data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join("admin-api-key");
    if path.exists() {
        return Ok(());
    }
    let admin = core.read(|s| s.user_by_name("admin").map(|u| u.id.clone()));
    let recreated = admin.is_some();
    let command = match admin {
        Some(user_id) => Command::AddApiKey {
            user_id,
            access: KeyAccess::ReadWrite,
        },
        None => Command::AddUser {
            name: "admin".into(),
            access: KeyAccess::ReadWrite,
            admin: true,
        },
    };
    let key = match core.execute(command).await? {
        Outcome::UserAdded { key, .. } | Outcome::KeyAdded { key } => key,
        other => anyhow::bail!("unexpected answer when creating the admin key: {other:?}"),
    };
    write_file_atomically(&path, format!("{key}\n").as_bytes(), 0o600)?;
    info!(path = %path.display(), "admin API key written");
    if recreated {
        warn!("the admin key file was missing; a new admin key was made");
    }
    Ok(())
}

/// Writes `contents` to `path` through a synced temporary file and a rename, so that the
/// file is either absent or whole.
pub fn write_file_atomically(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;

    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
