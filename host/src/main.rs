//! `orderdesk-mcp`: a small wasmtime host that runs the OrderDesk component and serves it
//! as an MCP server.
//!
//! The host gives the component exactly four capabilities, one module each:
//! [`http_egress`] (outbound HTTP to the OrderDesk origin only), [`kv`] (state and cache
//! buckets), `wasi:config` (settings, from [`config`]) and [`logging`]. [`runtime`] owns the
//! sandbox; [`mcp`] maps MCP onto the component's tools; [`stdio`] is the transport.

mod bindings;
mod config;
mod http_egress;
mod kv;
mod logging;
mod mcp;
mod runtime;
mod stdio;

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use config::{FileConfig, LogFormat, ServeArgs, Settings};
use http_egress::{EgressPolicy, Origin};
use runtime::{Runtime, RuntimeOptions};

/// MCP server for OrderDesk: lets AI agents read and manage an OrderDesk store.
#[derive(Debug, Parser)]
#[command(name = "orderdesk-mcp", version, about, long_about = None)]
struct Cli {
    /// TOML file with settings; keys are the long flag names in snake_case
    /// (store_id, api_key, api_url, state, …). Flags and env vars override it.
    #[arg(long, env = "ORDERDESK_MCP_CONFIG", global = true)]
    config: Option<std::path::PathBuf>,

    /// Log filter, e.g. `info` or `orderdesk_mcp=debug,component=debug`. The MCP SDK and
    /// the HTTP stack never log below info, since their debug output carries keys.
    /// [default: info,rmcp=warn]
    #[arg(long, env = "ORDERDESK_MCP_LOG", global = true)]
    log: Option<String>,

    /// Log line format (logs always go to stderr). [default: json]
    #[arg(long, value_enum, env = "ORDERDESK_MCP_LOG_FORMAT", global = true)]
    log_format: Option<LogFormat>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve MCP over stdin/stdout for one client (Claude Desktop, Claude Code, Cursor…).
    Stdio(ServeArgs),
    /// Manage tenants (for serving many stores and people from one server).
    #[command(subcommand)]
    Tenant(TenantCommand),
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant and print its master key (shown once; only a hash is stored).
    Create {
        /// Display name of the tenant.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Delete a tenant with its stores and audit trail.
    Delete {
        /// Tenant id (from `tenant list`).
        #[arg(long)]
        id: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Issue a new master key and re-encrypt the tenant's store keys under it.
    RotateKey {
        /// Tenant id (from `tenant list`).
        #[arg(long)]
        id: String,
        /// The tenant's current master key.
        #[arg(long, env = "ORDERDESK_MASTER_KEY", hide_env_values = true)]
        master_key: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    init_logging(
        cli.log.as_deref().or(file.log.as_deref()),
        cli.log_format
            .or(file.log_format)
            .unwrap_or(LogFormat::Json),
    );
    match cli.command {
        Command::Stdio(args) => {
            let settings = Settings::resolve(args, file)?;
            let handler = build(&settings).await?;
            stdio::serve(handler).await
        }
        Command::Tenant(command) => tenant(command, file).await,
    }
}

/// `orderdesk-mcp tenant …`: the component's admin interface, from the command line.
async fn tenant(command: TenantCommand, file: FileConfig) -> anyhow::Result<()> {
    let fail = |e: bindings::orderdesk::mcp::types::ToolError| {
        anyhow::anyhow!("{}: {}", e.code, e.message)
    };
    let sandbox = |e: runtime::SandboxError| anyhow::anyhow!("{e}");
    match command {
        TenantCommand::Create { name, serve } => {
            let runtime = start(&Settings::resolve(serve, file)?)?;
            let (info, key) = runtime
                .tenant_create(&name)
                .await
                .map_err(sandbox)?
                .map_err(fail)?;
            println!("tenant created: id={} name={}", info.id, info.name);
            println!("master key (shown once, keep it safe): {key}");
        }
        TenantCommand::List { serve } => {
            let runtime = start(&Settings::resolve(serve, file)?)?;
            let tenants = runtime
                .tenant_list()
                .await
                .map_err(sandbox)?
                .map_err(fail)?;
            println!("{:<18} {:<8} name", "id", "stores");
            for t in tenants {
                println!("{:<18} {:<8} {}", t.id, t.stores, t.name);
            }
        }
        TenantCommand::Delete { id, serve } => {
            let runtime = start(&Settings::resolve(serve, file)?)?;
            runtime
                .tenant_delete(&id)
                .await
                .map_err(sandbox)?
                .map_err(fail)?;
            println!("tenant {id} deleted");
        }
        TenantCommand::RotateKey {
            id,
            master_key,
            serve,
        } => {
            let runtime = start(&Settings::resolve(serve, file)?)?;
            let key = runtime
                .tenant_rotate_key(&id, &master_key)
                .await
                .map_err(sandbox)?
                .map_err(fail)?;
            println!("new master key for {id} (shown once; the old key no longer works): {key}");
        }
    }
    Ok(())
}

fn init_logging(filter: Option<&str>, format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    use tracing_subscriber::{Layer as _, filter::filter_fn};

    let filter = EnvFilter::try_new(filter.unwrap_or("info,rmcp=warn")).unwrap_or_else(|e| {
        eprintln!("invalid log filter ({e}); using info");
        EnvFilter::new("info")
    });
    // At debug and trace, the SDK and the wasi-http stack log whole messages and headers,
    // which carry master keys and API keys: never let those levels out, whatever the filter.
    let no_payloads = filter_fn(|meta| {
        let noisy = ["rmcp", "wasmtime_wasi_http", "hyper", "h2"];
        *meta.level() <= tracing::Level::INFO || !noisy.iter().any(|t| meta.target().starts_with(t))
    });
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let fmt = match format {
        LogFormat::Json => fmt.json().flatten_event(true).boxed(),
        LogFormat::Text => fmt.boxed(),
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(no_payloads).with_filter(filter))
        .init();
}

/// Open state, start the sandbox, read the tool catalog.
async fn build(settings: &Settings) -> anyhow::Result<mcp::OrderDeskMcp> {
    let runtime = Arc::new(start(settings)?);
    let catalog = runtime
        .list_tools()
        .await
        .map_err(|e| anyhow::anyhow!("reading the component's tool catalog: {e}"))?;
    mcp::OrderDeskMcp::new(runtime, &catalog)
}

/// Open state and start the sandbox.
fn start(settings: &Settings) -> anyhow::Result<Runtime> {
    tracing::debug!(?settings, "starting");
    let component = match &settings.component {
        Some(path) => {
            std::fs::read(path).with_context(|| format!("reading component {}", path.display()))?
        }
        None => runtime::EMBEDDED_COMPONENT.to_vec(),
    };
    let kv =
        kv::open(&settings.state).with_context(|| format!("opening state {}", settings.state))?;
    let origin = Origin::of(&settings.api_url).context("invalid --api-url")?;
    let runtime = Runtime::new(RuntimeOptions {
        component,
        precompile_cache: settings.precompile_cache.clone(),
        memory_limit_bytes: settings.memory_limit_bytes,
        call_timeout: settings.call_timeout,
        max_instances: settings.max_instances,
        kv,
        config: settings.component_config(),
        egress: EgressPolicy::allow(vec![origin]),
    })?;
    tracing::info!(
        compile = ?runtime.compile_source,
        state = %settings.state,
        api_url = %settings.api_url,
        store_configured = settings.store_id.is_some() && settings.api_key.is_some(),
        "component loaded"
    );
    Ok(runtime)
}
