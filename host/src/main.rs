//! `orderdesk-mcp`: a small wasmtime host that runs the OrderDesk component and serves it
//! as an MCP server.
//!
//! The host gives the component exactly five capabilities, one module each, all with the
//! same life cycle ([`capability`]): [`http_egress`] (outbound HTTP to the OrderDesk
//! origin only), [`kv`] (`wasi:keyvalue` buckets), [`lock`] (leases), [`config`]
//! (`wasi:config`, from [`settings`]) and [`logging`]. [`state`] holds the backends `kv` and
//! `lock` serve from; [`runtime`] owns the sandbox; [`mcp`] maps MCP onto the component's
//! tools; [`stdio`] and [`http`] are the transports ([`auth`] checks HTTP bearers,
//! [`webhook`] takes OrderDesk's deliveries, [`metrics`] counts for `/metrics`);
//! [`scheduler`] drives polling sync, with the key seal of [`unattended`]. [`admission`]
//! hands out sandbox instances fairly; [`connections`] and [`sessions`] bound what HTTP
//! clients can make the server hold.

mod admission;
mod auth;
mod bindings;
mod capability;
mod config;
mod connections;
mod console;
mod exports;
mod history;
mod http;
mod http_egress;
mod kv;
mod lock;
mod log_output;
mod logging;
mod mcp;
mod metrics;
mod runtime;
mod scheduler;
mod sessions;
mod settings;
mod state;
mod stateless;
mod stdio;
mod throttle;
mod unattended;
mod webhook;

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use orderdesk_settings as table;
use tracing_subscriber::EnvFilter;

use http_egress::{Egress, EgressPolicy, Origin};
use runtime::{Capabilities, Runtime, RuntimeOptions};
use settings::{SettingArgs, Settings};
use state::Layout;

/// MCP server for OrderDesk: lets AI agents read and manage an OrderDesk store.
///
/// Every setting below can also come from its environment variable or, under its name in
/// snake_case (store_id, api_key, state, …), from the `--config` TOML file. Flags win over
/// env vars, which win over the file.
#[derive(Debug, Parser)]
#[command(name = "orderdesk-mcp", version, about, long_about)]
struct Cli {
    /// TOML file with settings; keys are the long flag names in snake_case.
    #[arg(long, env = "ORDERDESK_MCP_CONFIG", global = true)]
    config: Option<std::path::PathBuf>,

    #[command(flatten)]
    settings: SettingArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve MCP over stdin/stdout for one client (Claude Desktop, Claude Code, Cursor…).
    Stdio,
    /// Serve MCP over streamable HTTP at /mcp for many clients and tenants (bearer = a
    /// tenant master key), OrderDesk webhooks at /webhooks/orderdesk, with /health,
    /// /ready and /metrics.
    Serve,
    /// Manage tenants (for serving many stores and people from one server).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Poll OrderDesk for changed orders of the stores with polling sync turned on (the
    /// sync_configure tool), into this server's order mirror.
    ///
    /// Without --once: run the poller in the foreground until SIGTERM or Ctrl-C, checking
    /// every --sync-tick-secs which stores are due (a poller-only process; `serve` and
    /// `stdio` poll too). With --once: poll the chosen stores now, one after another,
    /// print each run report as one JSON line, and exit 1 if any run failed. Several
    /// processes on one state store never poll the same store at once.
    Sync(SyncArgs),
}

#[derive(Debug, clap::Args)]
struct SyncArgs {
    /// Poll now and exit instead of running the poller.
    #[arg(long)]
    once: bool,
    /// Report what would change (`changes` in the report) without writing anything: no
    /// mirror updates, statistics or run record.
    #[arg(long, requires = "once")]
    dry_run: bool,
    /// Poll only this store id (repeat for several); it must have polling sync on.
    #[arg(long = "store", value_name = "ID", requires = "once")]
    stores: Vec<String>,
    /// Poll only this tenant's stores (`_` in single-store mode).
    #[arg(long, value_name = "ID", requires = "once")]
    tenant: Option<String>,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant and print its master key (shown once; only a hash is stored).
    Create {
        /// Display name of the tenant.
        #[arg(long)]
        name: String,
    },
    /// List tenants.
    List,
    /// Delete a tenant with its stores and audit trail.
    Delete {
        /// Tenant id (from `tenant list`).
        #[arg(long)]
        id: String,
    },
    /// Issue a new master key and re-encrypt the tenant's store keys under it.
    RotateKey {
        /// Tenant id (from `tenant list`).
        #[arg(long)]
        id: String,
        /// The tenant's current master key.
        #[arg(long, env = "ORDERDESK_MASTER_KEY", hide_env_values = true)]
        master_key: String,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let file = match &cli.config {
        Some(path) => settings::load_file(path)?,
        None => toml::Table::new(),
    };
    let settings = Settings::resolve(cli.settings, &file)?;
    init_logging(
        settings.text(&table::LOG),
        settings.text(&table::LOG_FORMAT) == Some("text"),
    );
    match cli.command {
        Command::Stdio => {
            let (handler, runtime, _) = build(&settings).await?;
            let scheduler = scheduler::Scheduler::start(runtime, sync_tick(&settings));
            let served = stdio::serve(handler).await;
            // The client is gone: a running poll is cancelled and winds up at once.
            if let Some(scheduler) = scheduler {
                scheduler.shutdown(Instant::now()).await;
            }
            served
        }
        Command::Serve => serve(&settings).await,
        Command::Tenant(command) => tenant(command, &settings).await,
        Command::Sync(args) => sync(args, &settings).await,
    }
}

fn sync_tick(settings: &Settings) -> std::time::Duration {
    settings.secs(&table::SYNC_TICK_SECS)
}

/// `orderdesk-mcp sync [--once …]`.
async fn sync(args: SyncArgs, settings: &Settings) -> anyhow::Result<()> {
    if args.once {
        let (runtime, _) = start(settings)?;
        let selection = scheduler::Selection {
            stores: args.stores,
            tenant: args.tenant,
        };
        return scheduler::once(&runtime, &selection, args.dry_run).await;
    }
    let tick = sync_tick(settings);
    anyhow::ensure!(
        !tick.is_zero(),
        "--sync-tick-secs is 0, so there is nothing to run; give it a period, or use --once"
    );
    let (runtime, _) = start(settings)?;
    let scheduler = scheduler::Scheduler::start(Arc::new(runtime), tick)
        .expect("a non-zero tick starts the scheduler");
    let signal = stop_signal().await;
    tracing::info!(signal, "stopping the poller");
    let grace = settings.secs(&table::SHUTDOWN_GRACE_SECS);
    scheduler.shutdown(Instant::now() + grace).await;
    Ok(())
}

/// Resolves with the signal's name on SIGTERM or Ctrl-C (SIGINT).
pub(crate) async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}

/// `orderdesk-mcp tenant …`: the component's admin interface, from the command line.
async fn tenant(command: TenantCommand, settings: &Settings) -> anyhow::Result<()> {
    let fail = |e: bindings::exports::orderdesk::mcp::tools::ToolError| {
        anyhow::anyhow!("{}: {}", e.code, e.message)
    };
    let sandbox = |e: runtime::SandboxError| anyhow::anyhow!("{e}");
    let (runtime, _) = start(settings)?;
    match command {
        TenantCommand::Create { name } => {
            let (info, key) = runtime
                .tenant_create(&name)
                .await
                .map_err(sandbox)?
                .map_err(fail)?;
            println!("tenant created: id={} name={}", info.id, info.name);
            println!("master key (shown once, keep it safe): {key}");
        }
        TenantCommand::List => {
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
        TenantCommand::Delete { id } => {
            runtime
                .tenant_delete(&id)
                .await
                .map_err(sandbox)?
                .map_err(fail)?;
            println!("tenant {id} deleted");
        }
        TenantCommand::RotateKey { id, master_key } => {
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

fn init_logging(filter: Option<&str>, text: bool) {
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
        .with_writer(log_output::CappedStderr { json: !text })
        .with_ansi(false);
    let fmt = if text {
        fmt.boxed()
    } else {
        fmt.json().flatten_event(true).boxed()
    };
    tracing_subscriber::registry()
        .with(fmt.with_filter(no_payloads).with_filter(filter))
        .init();
}

/// `orderdesk-mcp serve`: check the address and auth make sense together, then serve.
async fn serve(settings: &Settings) -> anyhow::Result<()> {
    let listen: std::net::SocketAddr = settings
        .text(&table::LISTEN)
        .unwrap_or("127.0.0.1:8080")
        .parse()
        .context("--listen must be an address such as 127.0.0.1:8080")?;
    let token = settings.text(&table::AUTH_TOKEN).map(str::to_string);
    let mode = if settings.single_store() {
        anyhow::ensure!(
            token.is_some() || listen.ip().is_loopback(),
            "single-store mode on {listen} (not a loopback address) needs --auth-token: \
             anyone who can reach it could act on the store"
        );
        auth::Mode::Token(token)
    } else {
        if token.is_some() {
            tracing::warn!("--auth-token is ignored with tenants: bearers are master keys");
        }
        auth::Mode::Tenants
    };
    let list = |s: &table::Setting| -> Option<Vec<String>> {
        settings.text(s).map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .map(str::to_string)
                .collect()
        })
    };
    let allowed_hosts = list(&table::ALLOWED_HOSTS).or_else(|| {
        listen.ip().is_loopback().then(|| {
            ["localhost", "127.0.0.1", "::1", "[::1]"]
                .map(String::from)
                .to_vec()
        })
    });
    let metrics_listen = match settings.text(&table::METRICS_LISTEN) {
        Some(addr) => Some(
            addr.parse::<std::net::SocketAddr>()
                .context("--metrics-listen must be an address such as 127.0.0.1:9100")?,
        ),
        None => None,
    };
    let nofile = connections::raise_nofile_limit();
    let connection_limits = connections::Limits {
        max_total: settings.count(&table::MAX_CONNECTIONS) as usize,
        max_per_ip: settings.count(&table::MAX_CONNECTIONS_PER_IP) as usize,
        idle: settings.secs(&table::CLIENT_TIMEOUT_SECS),
    }
    .within_fd_limit(nofile);
    let max_sessions = settings.count(&table::MAX_SESSIONS) as usize;
    let console = if settings.single_store() {
        None
    } else {
        Some(console_options(settings, !sync_tick(settings).is_zero())?)
    };
    let (handler, runtime, backend) = build(settings).await?;
    let authenticator = auth::Authenticator::new(mode, runtime.clone())?;
    let scheduler = scheduler::Scheduler::start(runtime.clone(), sync_tick(settings));
    http::serve(
        handler,
        runtime,
        backend,
        authenticator,
        scheduler,
        http::ServeOptions {
            listen,
            allowed_origins: list(&table::ALLOWED_ORIGINS).unwrap_or_default(),
            allowed_hosts,
            max_body_bytes: settings.count(&table::MAX_BODY_BYTES) as usize,
            webhook_max_body_bytes: settings.count(&table::WEBHOOK_MAX_BODY_BYTES) as usize,
            client_timeout: settings.secs(&table::CLIENT_TIMEOUT_SECS),
            shutdown_grace: settings.secs(&table::SHUTDOWN_GRACE_SECS),
            connections: connection_limits,
            max_sessions,
            // Single-store mode has one tenant, whose sessions may fill the server.
            max_sessions_per_tenant: if settings.single_store() {
                max_sessions
            } else {
                settings.count(&table::MAX_SESSIONS_PER_TENANT) as usize
            },
            session_idle: settings.secs(&table::SESSION_IDLE_SECS),
            metrics_token: settings.text(&table::METRICS_TOKEN).map(str::to_string),
            metrics_listen,
            console,
        },
    )
    .await
}

/// The console's settings: public URL, operator token (flag, env or file), mail.
fn console_options(settings: &Settings, scheduler: bool) -> anyhow::Result<http::ConsoleOptions> {
    let public_url = settings.text(&table::PUBLIC_URL).map(str::to_string);
    if let Some(url) = &public_url {
        let parsed = url::Url::parse(url).context("--public-url must be a URL")?;
        anyhow::ensure!(
            matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some(),
            "--public-url must be an http:// or https:// URL with a host"
        );
    }
    let admin_token = match (
        settings.text(&table::ADMIN_TOKEN),
        settings.path(&table::ADMIN_TOKEN_FILE),
    ) {
        (Some(token), _) => Some(token.to_string()),
        (None, Some(path)) => Some(unattended::read_private_line(&path)?),
        (None, None) => None,
    };
    if let Some(token) = &admin_token {
        anyhow::ensure!(
            token.len() >= 16,
            "the operator token must be at least 16 characters"
        );
    }
    let mailer = console::mail::Mailer::from_settings(
        settings.text(&table::SMTP_URL),
        settings.text(&table::SMTP_USER),
        settings.text(&table::SMTP_PASSWORD),
        settings.text(&table::MAIL_FROM),
        settings.flag(&table::MAIL_LOG),
    )?;
    Ok(http::ConsoleOptions {
        public_url,
        admin_token,
        mailer,
        session_lifetime: std::time::Duration::from_secs(
            settings.count(&table::CONSOLE_SESSION_HOURS) * 3600,
        ),
        state: settings.state()?.to_string(),
        scheduler,
    })
}

/// Open state, start the sandbox, read the tool catalog.
async fn build(
    settings: &Settings,
) -> anyhow::Result<(mcp::OrderDeskMcp, Arc<Runtime>, Arc<dyn state::Backend>)> {
    let (runtime, backend) = start(settings)?;
    let runtime = Arc::new(runtime);
    let catalog = runtime
        .list_tools()
        .await
        .map_err(|e| anyhow::anyhow!("reading the component's tool catalog: {e}"))?;
    Ok((
        mcp::OrderDeskMcp::new(runtime.clone(), &catalog)?,
        runtime,
        backend,
    ))
}

/// Open state and start the sandbox, with every capability built from the settings.
fn start(settings: &Settings) -> anyhow::Result<(Runtime, Arc<dyn state::Backend>)> {
    tracing::debug!(?settings, "starting");
    let component = match settings.path(&table::COMPONENT) {
        Some(path) => {
            std::fs::read(&path).with_context(|| format!("reading component {}", path.display()))?
        }
        None => runtime::EMBEDDED_COMPONENT.to_vec(),
    };
    let spec = settings.state()?;
    let layout = Layout::new(
        settings.secs(&table::CACHE_TTL_ORDERS),
        settings.secs(&table::CACHE_TTL_PRODUCTS),
        settings.secs(&table::CACHE_TTL_STORE),
        settings.count(&table::CACHE_MAX_ENTRIES),
    )
    .opened_as(
        [
            &table::STATE_BUCKET,
            &table::CACHE_BUCKET_ORDERS,
            &table::CACHE_BUCKET_PRODUCTS,
            &table::CACHE_BUCKET_STORE,
        ]
        .map(|s| {
            settings
                .text(s)
                .or(s.default)
                .unwrap_or_default()
                .to_string()
        }),
    );
    let faults = settings
        .text(&table::STATE_FAIL_AFTER_WRITES)
        .map(|_| settings.count(&table::STATE_FAIL_AFTER_WRITES));
    let backend = state::open(&spec, layout.clone(), faults)
        .with_context(|| format!("opening state {spec}"))?;
    let secret = unattended::resolve(settings, &spec)?;
    match (&secret.source, &spec) {
        (unattended::Source::Created(path), state::StateSpec::Redis(_)) => tracing::warn!(
            path = %path.display(),
            "created a new unattended secret file: every instance on this Redis must use the \
             same secret (copy the file, or set ORDERDESK_MCP_UNATTENDED_SECRET)"
        ),
        (unattended::Source::Created(path), _) => {
            tracing::info!(path = %path.display(), "created the unattended secret file")
        }
        (source, _) => tracing::debug!(?source, "unattended secret"),
    }
    let mut config = settings.component_config();
    config.retain(|(key, _)| key != unattended::CONFIG_KEY);
    config.push((
        unattended::CONFIG_KEY.to_string(),
        secret.expose().to_string(),
    ));
    let api_url = settings.api_url();
    let egress = match settings.text(&table::EGRESS_ALLOW) {
        Some(list) => EgressPolicy::parse(list).context("invalid --egress-allow")?,
        None => EgressPolicy::allow(vec![Origin::of(&api_url).context("invalid --api-url")?]),
    };
    let runtime = Runtime::new(RuntimeOptions {
        component,
        precompile_cache: settings.precompile_cache(),
        memory_limit_bytes: (settings.count(&table::MEMORY_LIMIT_MB) << 20) as usize,
        call_timeout: settings.secs(&table::CALL_TIMEOUT_SECS),
        sync_timeout: settings.secs(&table::SYNC_TIMEOUT_SECS),
        lanes: lanes(settings),
        capabilities: Capabilities {
            egress: Egress::new(egress),
            kv: kv::Kv::new(backend.clone(), layout),
            lock: lock::Locks::new(backend.clone()),
            config: config::Config::new(config),
            logging: logging::Logging,
        },
    })?;
    tracing::info!(
        compile = ?runtime.compile_source,
        state = %spec,
        api_url = %api_url,
        store_configured = settings.single_store(),
        "component loaded"
    );
    Ok((runtime, backend))
}

/// The lanes of the instance pool, from the settings. Tool calls share `max_instances`
/// fairly; with tenants each tenant and each store gets a capped share of it (in
/// single-store mode there is one tenant and one store, whose pool it all is). Bearer
/// checks, webhook deliveries and background work (polls, clean-up, operator commands)
/// each have a few instances of their own, so none of them can take the others'.
fn lanes(settings: &Settings) -> admission::Limits {
    use admission::LaneLimits;
    let calls = settings.count(&table::MAX_INSTANCES) as usize;
    let queue = settings.count(&table::MAX_QUEUED_CALLS) as usize;
    let (per_tenant, per_store) = if settings.single_store() {
        (calls, calls)
    } else {
        (
            settings.count(&table::MAX_CALLS_PER_TENANT) as usize,
            settings.count(&table::MAX_CALLS_PER_STORE) as usize,
        )
    };
    let webhooks = (calls / 8).clamp(2, 16);
    admission::Limits {
        calls: LaneLimits {
            capacity: calls,
            per_tenant,
            per_store,
            queue_per_tenant: queue,
        },
        // Keyed by the tenant id a bearer names: one at a time per id.
        auth: LaneLimits {
            capacity: 2,
            per_tenant: 1,
            per_store: 1,
            queue_per_tenant: 16,
        },
        // Keyed by the store id a delivery names.
        webhooks: LaneLimits {
            capacity: webhooks,
            per_tenant: (webhooks / 2).max(1),
            per_store: (webhooks / 2).max(1),
            queue_per_tenant: 32,
        },
        // Polls (keyed by tenant and store), clean-up, the scheduler, operator commands.
        background: LaneLimits {
            capacity: scheduler::MAX_CONCURRENT_POLLS + 2,
            per_tenant: scheduler::MAX_CONCURRENT_POLLS,
            per_store: scheduler::MAX_CONCURRENT_POLLS,
            queue_per_tenant: 256,
        },
    }
}

#[cfg(test)]
mod tests {
    /// The configuration reference (`docs/configuration.md`) lists every setting a user may
    /// give, with its env var and default, exactly as the one settings table defines them.
    #[test]
    fn the_configuration_reference_lists_every_setting() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let readme = std::fs::read_to_string(root.join("../docs/configuration.md")).unwrap();
        for s in orderdesk_settings::ALL.iter().filter(|s| !s.hidden) {
            let start = format!("| `--{}` | `{}` | ", s.flag(), s.env);
            let row = readme
                .lines()
                .find(|l| l.starts_with(&start))
                .unwrap_or_else(|| panic!("docs/configuration.md has no row starting {start:?}"));
            if let Some(default) = s.default {
                assert!(row.contains(&format!("`{default}`")), "{row}");
            }
        }
    }

    /// End-to-end files live outside the package, where cargo does not find them by
    /// itself: `tests/e2e/main.rs` and `tests/interop/main.rs` are the `[[test]]` targets,
    /// and every other file beside them must be one of their modules, or it would never run.
    #[test]
    fn every_end_to_end_file_is_a_module_of_a_test_target() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
        let mut seen = 0;
        for group in ["e2e", "interop"] {
            let target = format!("path = \"../tests/{group}/main.rs\"");
            assert!(
                manifest.contains(&target),
                "no [[test]] for tests/{group}/main.rs"
            );
            let dir = root.join("../tests").join(group);
            let main = std::fs::read_to_string(dir.join("main.rs")).unwrap();
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let Some(module) = name.strip_suffix(".rs").filter(|m| *m != "main") else {
                    continue;
                };
                seen += 1;
                assert!(
                    main.lines().any(|l| l.trim() == format!("mod {module};")),
                    "tests/{group}/{name} is not a module of tests/{group}/main.rs, so it never runs"
                );
            }
        }
        assert!(seen >= 15, "only {seen} end-to-end modules found");
    }
}
