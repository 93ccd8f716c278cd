//! The sandbox: one wasmtime engine, the component compiled once (and cached on disk),
//! a pre-linked `InstancePre`, and a fresh pooled instance per tool call with a memory cap
//! and an epoch deadline. A trap or timeout fails that call only.
//!
//! Instances are handed out by [`crate::admission`]: each kind of work has a lane of its
//! own, shared fairly between tenants and stores, and a call's deadline covers its wait
//! for an instance as well as its run (a call that cannot start in time gets `BUSY`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    StoreLimits, StoreLimitsBuilder,
};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::admission::{self, Admission, Lane, Ticket};
pub use crate::bindings::exports::orderdesk::mcp::intake::{
    SyncTarget, WebhookDelivery, WebhookReceipt,
};
use crate::bindings::exports::orderdesk::mcp::tools::{
    CallError, Caller, ToolDescriptor, ToolOutput,
};
use crate::bindings::{PluginCore, PluginCorePre};
pub use crate::capability::CallHooks;
use crate::capability::{CallInfo, Capability, Holds};
use crate::config::Config as ConfigCapability;
use crate::http_egress::Egress;
use crate::kv::Kv;
use crate::lock::Locks;
use crate::logging::Logging;

/// The component built by `build.rs`, embedded in the binary.
pub const EMBEDDED_COMPONENT: &[u8] = include_bytes!(env!("ORDERDESK_COMPONENT_WASM"));

/// Linear memory an idle pool slot keeps resident between calls.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;

/// How often the epoch ticks; deadlines are counted in ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// One list of the capabilities lent to the component makes the app-wide
/// [`Capabilities`] (each built once), each call's [`CallParts`], the store data's
/// [`Holds`] of each, their linking and their per-call construction.
macro_rules! capabilities {
    ($($field:ident: $cap:ty),* $(,)?) => {
        /// The capabilities given to the component, each built once.
        pub struct Capabilities {
            $(pub $field: $cap,)*
        }

        /// Each capability's state for one call.
        pub struct CallParts {
            $($field: <$cap as Capability>::Call,)*
        }

        impl Capabilities {
            fn link(linker: &mut Linker<CallState>) -> anyhow::Result<()> {
                $(<$cap as Capability>::link(linker)?;)*
                Ok(())
            }

            fn call(&self, info: &CallInfo) -> CallParts {
                CallParts {
                    $($field: self.$field.call(info),)*
                }
            }
        }

        $(
            impl Holds<$cap> for CallState {
                fn part(&mut self) -> (&mut <$cap as Capability>::Call, &mut ResourceTable) {
                    (&mut self.parts.$field, &mut self.table)
                }
            }
        )*
    };
}

capabilities! {
    egress: Egress,
    kv: Kv,
    lock: Locks,
    config: ConfigCapability,
    logging: Logging,
}

/// Everything needed to build the sandbox.
pub struct RuntimeOptions {
    /// Component bytes (the embedded build unless `--component` names another).
    pub component: Vec<u8>,
    /// Where compiled artifacts are cached; `None` compiles on every start.
    pub precompile_cache: Option<PathBuf>,
    /// Linear-memory cap per instance.
    pub memory_limit_bytes: usize,
    /// Wall-clock limit per tool call (and per webhook delivery).
    pub call_timeout: Duration,
    /// Wall-clock limit of one `intake.sync-run`.
    pub sync_timeout: Duration,
    /// The lanes of the instance pool; the pool holds all of them at once.
    pub lanes: admission::Limits,
    pub capabilities: Capabilities,
}

/// Why a call produced neither a result nor a tool error.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("the component exceeded its {0:?} deadline and was stopped")]
    Deadline(Duration),
    #[error("the component trapped: {0}")]
    Trap(String),
    #[error("{reason}; retry in {retry_after_ms} ms")]
    Busy { reason: String, retry_after_ms: u64 },
}

impl SandboxError {
    /// The stable code tool results carry.
    pub fn code(&self) -> &'static str {
        match self {
            SandboxError::Deadline(_) => "DEADLINE_EXCEEDED",
            SandboxError::Trap(_) => "COMPONENT_TRAPPED",
            SandboxError::Busy { .. } => "BUSY",
        }
    }
}

/// How the compiled component was obtained at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileSource {
    /// Deserialized from the on-disk cache.
    Cache,
    /// Compiled now (and written to the cache if one is configured).
    Compiled,
}

/// One call of a component export on an instance and its store, as [`Runtime::run`] takes it.
pub(crate) type Export<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>>;

/// One call's store: the base WASI context, each capability's per-call state, and the
/// call's limits.
pub struct CallState {
    table: ResourceTable,
    wasi: WasiCtx,
    parts: CallParts,
    limits: StoreLimits,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

pub struct Runtime {
    engine: Engine,
    pre: PluginCorePre<CallState>,
    capabilities: Capabilities,
    memory_limit_bytes: usize,
    pub(crate) call_timeout: Duration,
    pub(crate) sync_timeout: Duration,
    pub compile_source: CompileSource,
    /// Who may hold an instance, and who waits.
    admission: Arc<Admission>,
    in_flight: std::sync::atomic::AtomicUsize,
    _ticker: EpochTicker,
}

impl Runtime {
    pub fn new(options: RuntimeOptions) -> anyhow::Result<Self> {
        let engine = engine(options.lanes.total(), options.memory_limit_bytes)?;
        let started = Instant::now();
        let (component, compile_source) = load_component(
            &engine,
            &options.component,
            options.precompile_cache.as_deref(),
        )?;
        tracing::debug!(?compile_source, elapsed = ?started.elapsed(), "component ready");

        let mut linker = Linker::<CallState>::new(&engine);
        // The base WASI p2 interfaces Rust std imports (cli, io, clocks, random).
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Capabilities::link(&mut linker)?;
        let pre = PluginCorePre::new(linker.instantiate_pre(&component).map_err(|e| {
            anyhow::anyhow!("the component needs an import this host does not provide: {e:#}")
        })?)?;

        Ok(Self {
            _ticker: EpochTicker::start(engine.clone()),
            engine,
            pre,
            capabilities: options.capabilities,
            memory_limit_bytes: options.memory_limit_bytes,
            call_timeout: options.call_timeout,
            sync_timeout: options.sync_timeout,
            compile_source,
            admission: Admission::new(options.lanes),
            in_flight: Default::default(),
        })
    }

    fn store(&self, info: &CallInfo, timeout: Duration) -> Store<CallState> {
        let parts = self.capabilities.call(info);
        let state = CallState {
            table: ResourceTable::new(),
            // No args, env, files or sockets: the component's only way out is wasi:http.
            // Its stderr is its log (see `logging`).
            wasi: WasiCtxBuilder::new().stderr(parts.logging.stderr()).build(),
            parts,
            limits: StoreLimitsBuilder::new()
                .memory_size(self.memory_limit_bytes)
                .instances(64)
                .trap_on_grow_failure(true)
                .build(),
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        store
    }

    /// The component's tool catalog.
    pub async fn list_tools(&self) -> Result<Vec<ToolDescriptor>, SandboxError> {
        self.run(
            self.plain("list-tools"),
            self.background("host"),
            self.deadline(self.call_timeout),
            |instance, store| {
                Box::pin(async move { instance.orderdesk_mcp_tools().call_list_tools(store).await })
            },
        )
        .await
    }

    /// Run one tool call in a fresh instance of the calls lane under `ticket`, tied to its
    /// caller: `hooks.cancel` stops the call's further outgoing requests, `hooks.progress`
    /// receives its progress events. The call deadline covers the wait for an instance.
    /// When a call that may write traps or runs out of time, the component settles what
    /// it left open (`call-abandoned`) in the background lane, after the answer is out;
    /// a read (`settle: false`) leaves nothing to settle.
    pub async fn call_tool(
        self: &Arc<Self>,
        caller: Caller,
        name: &str,
        arguments_json: &str,
        hooks: CallHooks,
        ticket: Ticket,
        settle: bool,
    ) -> Result<Result<ToolOutput, CallError>, SandboxError> {
        let request_id = caller.request_id.clone();
        let name = name.to_string();
        let args = arguments_json.to_string();
        let outcome = self
            .run(
                self.info(&request_id, hooks),
                ticket,
                self.deadline(self.call_timeout),
                move |instance, store| {
                    Box::pin(async move {
                        instance
                            .orderdesk_mcp_tools()
                            .call_call_tool(store, &caller, &name, &args)
                            .await
                    })
                },
            )
            .await;
        if let Err(e) = &outcome
            && settle
            && !matches!(e, SandboxError::Busy { .. })
        {
            let (runtime, reason) = (self.clone(), e.to_string());
            tokio::spawn(async move { runtime.abandoned(&request_id, &reason).await });
        }
        outcome
    }

    /// `orderdesk:mcp/tools.call-abandoned`: best effort, logged when it fails too.
    async fn abandoned(&self, request_id: &str, reason: &str) {
        let (id, why) = (request_id.to_string(), reason.to_string());
        let settled = self
            .run(
                self.plain(request_id),
                self.background("cleanup"),
                self.deadline(self.call_timeout),
                move |instance, store| {
                    Box::pin(async move {
                        instance
                            .orderdesk_mcp_tools()
                            .call_call_abandoned(store, &id, &why)
                            .await
                    })
                },
            )
            .await;
        if let Err(e) = settled {
            tracing::error!(request_id, "settling an abandoned call failed: {e}");
        }
    }

    pub(crate) fn info(&self, request_id: &str, hooks: CallHooks) -> CallInfo {
        CallInfo {
            request_id: request_id.to_string(),
            hooks,
            tenant: None,
        }
    }

    /// A call nobody can cancel or follow.
    pub(crate) fn plain(&self, request_id: &str) -> CallInfo {
        self.info(request_id, CallHooks::default())
    }

    /// Background work of the host itself, under `key`.
    pub(crate) fn background(&self, key: &str) -> Ticket {
        Ticket::new(Lane::Background, key, key)
    }

    /// When a call started now with `timeout` must have answered.
    pub(crate) fn deadline(&self, timeout: Duration) -> Instant {
        Instant::now() + timeout
    }

    /// Tool-call instances in use now, and the calls lane's size.
    pub fn instances(&self) -> (usize, usize) {
        self.admission.usage(Lane::Calls)
    }

    /// The admission books (for `/metrics` and `/ready`).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Calls running or waiting for an instance right now.
    pub fn calls_in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Run `f` in a fresh instance of `ticket`'s lane, to answer by `deadline`: the wait
    /// for an instance may take up to three quarters of the time left (then `BUSY`), the
    /// run whatever remains.
    pub(crate) async fn run<T>(
        &self,
        info: CallInfo,
        ticket: Ticket,
        deadline: Instant,
        f: impl for<'a> FnOnce(&'a PluginCore, &'a mut Store<CallState>) -> Export<'a, T>,
    ) -> Result<T, SandboxError> {
        let _counted = InFlight::enter(&self.in_flight);
        let lane = ticket.lane;
        let mut info = info;
        if matches!(lane, Lane::Calls | Lane::Background) && !ticket.tenant.is_empty() {
            info.tenant = Some(std::sync::Arc::from(ticket.tenant.as_str()));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let admit_by = deadline - left / 4;
        let _permit = self
            .admission
            .enter(ticket, admit_by)
            .await
            .map_err(|refused| {
                crate::metrics::get().admission_refused(lane, &refused);
                SandboxError::Busy {
                    reason: refused.to_string(),
                    retry_after_ms: refused.retry_after_ms(),
                }
            })?;
        let timeout = deadline.saturating_duration_since(Instant::now());
        let mut store = self.store(&info, timeout);
        let held = store.data().parts.lock.held();
        let work =
            async {
                let instance = self.pre.instantiate_async(&mut store).await.map_err(|e| {
                    SandboxError::Busy {
                        reason: format!("no sandbox instance could be made: {e:#}"),
                        retry_after_ms: 100,
                    }
                })?;
                f(&instance, &mut store)
                    .await
                    .map_err(|e| classify_trap(e, timeout))
            };
        // The epoch stops running wasm; the timeout also covers time blocked in host I/O.
        let result = match tokio::time::timeout(timeout + EPOCH_TICK * 10, work).await {
            Ok(result) => result,
            Err(_) => Err(SandboxError::Deadline(timeout)),
        };
        if result.is_err() {
            // The instance is gone: its leases would otherwise block others until they expire.
            held.release_all(self.capabilities.lock.backend()).await;
        }
        result
    }
}

/// Counts a call in `Runtime::in_flight` while alive.
struct InFlight<'a>(&'a std::sync::atomic::AtomicUsize);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a std::sync::atomic::AtomicUsize) -> Self {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn classify_trap(e: wasmtime::Error, timeout: Duration) -> SandboxError {
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => SandboxError::Deadline(timeout),
        Some(trap) => SandboxError::Trap(trap.to_string()),
        None => SandboxError::Trap(format!("{e:#}")),
    }
}

/// The engine, with a pool of `instances` (every lane's instances at once).
fn engine(instances: usize, memory_limit_bytes: usize) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    // Nothing here runs component-model-async (WASIp3) guests; without the concurrency
    // support their per-store structures are never set up (a guest built for WASIp3
    // async needs it turned back on).
    config.concurrency_support(false);
    let mut pool = PoolingAllocationConfig::default();
    let n = u32::try_from(instances.max(1)).unwrap_or(u32::MAX);
    pool.total_component_instances(n)
        .total_core_instances(n * 8)
        .total_memories(n * 2)
        .total_tables(n * 8)
        .max_memory_size(memory_limit_bytes)
        // A released instance keeps its first pages resident (zeroed, not decommitted).
        // TOOLCHAIN.md measured decommits (TLB-shootdown IPIs, page faults) at about half
        // the server's CPU per pipelined stdio cache hit; under HTTP load (bench/) 0, 1
        // and 4 MiB were within noise of each other.
        .linear_memory_keep_resident(KEEP_RESIDENT_BYTES.min(memory_limit_bytes))
        .table_keep_resident(1 << 20)
        // Reset only the pages a call dirtied (Linux ≥ 6.7 `PAGEMAP_SCAN`; elsewhere the
        // whole resident prefix is zeroed as before).
        .pagemap_scan(Enabled::Auto);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Ok(Engine::new(&config)?)
}

/// Compile the component, or reuse an artifact cached under `cache_dir`. The file name
/// hashes the component bytes and the engine's compatibility hash, so a new build of
/// either never loads a stale artifact.
fn load_component(
    engine: &Engine,
    bytes: &[u8],
    cache_dir: Option<&Path>,
) -> anyhow::Result<(Component, CompileSource)> {
    let Some(dir) = cache_dir else {
        return Ok((Component::new(engine, bytes)?, CompileSource::Compiled));
    };
    let path = dir.join(format!("orderdesk-{}.cwasm", artifact_key(engine, bytes)));
    if path.exists() {
        // SAFETY: the artifact was written by this program (same engine config, checked by
        // the key) into the user's own cache directory.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok((component, CompileSource::Cache)),
            Err(e) => {
                tracing::warn!(path = %path.display(), "ignoring unusable cached artifact: {e:#}")
            }
        }
    }
    let artifact = engine.precompile_component(bytes)?;
    if let Err(e) = write_atomically(dir, &path, &artifact) {
        tracing::warn!(dir = %dir.display(), "could not cache the compiled component: {e:#}");
    }
    // SAFETY: produced just now by `precompile_component` on this engine.
    let component = unsafe { Component::deserialize(engine, &artifact)? };
    Ok((component, CompileSource::Compiled))
}

fn artifact_key(engine: &Engine, bytes: &[u8]) -> String {
    use std::hash::{Hash, Hasher};
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let mut h = Sha256::new();
    h.update(bytes);
    h.update(engine_hash.finish().to_le_bytes());
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    hex::encode(&h.finalize()[..12])
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Advances the engine's epoch on a background thread until dropped.
struct EpochTicker {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl EpochTicker {
    fn start(engine: Engine) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
