//! The wasm-only layer: implements [`Host`] over standard WASI imports and exports
//! `orderdesk:mcp/tools`. Everything else in the crate is target-independent.

use std::cell::OnceCell;

use crate::host::{self, Bucket, Host, HttpRequest, HttpResponse, KvError, Level, NetError};
use crate::{admin, console, intake, tools};

wit_bindgen::generate!({
    path: "../wit",
    world: "orderdesk:mcp/plugin",
    generate_all,
});

use exports::orderdesk::mcp::tools::{
    CallError, Caller, Guest, TenantInfo, ToolAnnotations, ToolDescriptor, ToolError, ToolOutput,
};
use wasi::http::types as http;

struct Component;

impl Guest for Component {
    fn list_tools() -> Vec<ToolDescriptor> {
        tools::catalog()
            .into_iter()
            .map(|t| ToolDescriptor {
                name: t.name.into(),
                title: t.title.into(),
                description: t.description.into(),
                input_schema: t.input_schema().to_string(),
                output_schema: t.output_schema().to_string(),
                annotations: ToolAnnotations {
                    read_only: t.annotations.read_only,
                    destructive: t.annotations.destructive,
                    idempotent: t.annotations.idempotent,
                    open_world: t.annotations.open_world,
                },
            })
            .collect()
    }

    fn call_tool(
        caller: Caller,
        name: String,
        arguments_json: String,
    ) -> Result<ToolOutput, CallError> {
        let caller = tools::Caller {
            credential: caller.credential,
            default_store: caller.default_store,
            request_id: caller.request_id,
        };
        let host = WasiHost::default();
        match tools::call(&host, &caller, &name, &arguments_json) {
            Ok(out) => Ok(ToolOutput {
                structured: out.text,
                bind_credential: out.bind.credential,
                bind_default_store: out.bind.default_store,
            }),
            Err(tools::CallError::UnknownTool(name)) => Err(CallError::UnknownTool(name)),
            Err(tools::CallError::Failed(e)) => Err(CallError::Failed(wit_error(e))),
        }
    }

    fn call_abandoned(request_id: String, reason: String) {
        tools::abandoned(&WasiHost::default(), &request_id, &reason);
    }
}

fn wit_error(e: crate::error::ToolError) -> ToolError {
    ToolError {
        code: e.code.as_str().into(),
        retryable: e.retryable,
        message: e.message,
        details: (!e.details.is_null()).then(|| e.details.to_string()),
    }
}

fn tenant_info(t: admin::TenantSummary) -> TenantInfo {
    TenantInfo {
        id: t.record.id,
        name: t.record.name,
        created_at_ms: t.record.created_at_ms,
        stores: t.stores,
    }
}

impl exports::orderdesk::mcp::admin::Guest for Component {
    fn tenant_create(name: String) -> Result<(TenantInfo, String), ToolError> {
        let (tenant, key) = admin::create(&WasiHost::default(), &name).map_err(wit_error)?;
        Ok((tenant_info(tenant), key))
    }

    fn tenant_list() -> Result<Vec<TenantInfo>, ToolError> {
        let tenants = admin::list(&WasiHost::default()).map_err(wit_error)?;
        Ok(tenants.into_iter().map(tenant_info).collect())
    }

    fn tenant_delete(id: String) -> Result<(), ToolError> {
        admin::delete(&WasiHost::default(), &id).map_err(wit_error)
    }

    fn tenant_rotate_key(id: String, current_master_key: String) -> Result<String, ToolError> {
        admin::rotate_key(&WasiHost::default(), &id, &current_master_key).map_err(wit_error)
    }

    fn tenant_authenticate(master_key: String) -> Result<TenantInfo, ToolError> {
        admin::authenticate(&WasiHost::default(), &master_key)
            .map(tenant_info)
            .map_err(wit_error)
    }

    fn tenant_of_key(master_key: String) -> Option<String> {
        admin::tenant_of_key(&master_key)
    }
}

impl exports::orderdesk::mcp::intake::Guest for Component {
    fn webhook_deliver(
        delivery: exports::orderdesk::mcp::intake::WebhookDelivery,
    ) -> Result<exports::orderdesk::mcp::intake::WebhookReceipt, ToolError> {
        let receipt = intake::webhook_deliver(
            &WasiHost::default(),
            intake::Delivery {
                store_id: delivery.store_id,
                signature: delivery.signature,
                order: delivery.order,
                request_id: delivery.request_id,
            },
        )
        .map_err(wit_error)?;
        Ok(exports::orderdesk::mcp::intake::WebhookReceipt {
            outcome: receipt.outcome.into(),
            order_id: receipt.order_id,
            registrations: receipt.registrations,
        })
    }

    fn sync_targets() -> Result<Vec<exports::orderdesk::mcp::intake::SyncTarget>, ToolError> {
        let targets = intake::sync_targets(&WasiHost::default()).map_err(wit_error)?;
        Ok(targets.into_iter().map(wit_target).collect())
    }

    fn sync_due() -> Result<Vec<exports::orderdesk::mcp::intake::SyncTarget>, ToolError> {
        let targets = intake::sync_due(&WasiHost::default()).map_err(wit_error)?;
        Ok(targets.into_iter().map(wit_target).collect())
    }

    fn sync_run(
        target: exports::orderdesk::mcp::intake::SyncTarget,
        options_json: String,
        request_id: String,
    ) -> Result<String, ToolError> {
        let target = intake::Target {
            tenant: target.tenant,
            store_id: target.store_id,
        };
        intake::sync_run(&WasiHost::default(), &target, &options_json, &request_id)
            .map_err(wit_error)
    }
}

fn wit_target(t: intake::Target) -> exports::orderdesk::mcp::intake::SyncTarget {
    exports::orderdesk::mcp::intake::SyncTarget {
        tenant: t.tenant,
        store_id: t.store_id,
    }
}

mod console_glue {
    //! `orderdesk:mcp/console` over [`crate::console`].

    use super::exports::orderdesk::mcp::console::{
        Guest, LinkDecision, LinkGrant, LinkOutcome, LinkPurpose, SignupMode, SignupPolicy,
        StoreOverview, TenantProfile, Trace, TraceFilter, TraceStep, TraceSummary,
    };
    use super::{Component, ToolError, WasiHost, console, tenant_info, wit_error};

    fn profile(p: console::Profile) -> TenantProfile {
        TenantProfile {
            email: p.summary.record.email.clone(),
            disabled: p.summary.record.disabled,
            last_active_ms: p.last_active_ms,
            info: tenant_info(p.summary),
        }
    }

    fn summary(s: console::TraceSummary) -> TraceSummary {
        TraceSummary {
            id: s.id,
            tenant: s.tenant,
            store: s.store,
            kind: s.kind,
            name: s.name,
            outcome: s.outcome,
            started_at_ms: s.started_at_ms,
            duration_us: s.duration_us,
        }
    }

    impl Guest for Component {
        fn link_request(
            purpose: LinkPurpose,
            email: String,
            name: String,
        ) -> Result<LinkDecision, ToolError> {
            let purpose = match purpose {
                LinkPurpose::SignUp => console::Purpose::SignUp,
                LinkPurpose::SignIn => console::Purpose::SignIn,
                LinkPurpose::Invite => console::Purpose::Invite,
            };
            let decision = console::link_request(&WasiHost::default(), purpose, &email, &name)
                .map_err(wit_error)?;
            Ok(match decision {
                console::Decision::Send(g) => LinkDecision::Send(LinkGrant {
                    token: g.token,
                    expires_at_ms: g.expires_at_ms,
                }),
                console::Decision::Quiet => LinkDecision::Quiet,
                console::Decision::TooMany => LinkDecision::TooMany,
            })
        }

        fn link_redeem(token: String) -> Result<LinkOutcome, ToolError> {
            Ok(
                match console::link_redeem(&WasiHost::default(), &token).map_err(wit_error)? {
                    console::Outcome::Created(t, key) => {
                        LinkOutcome::Created((tenant_info(t), key))
                    }
                    console::Outcome::SignedIn(t) => LinkOutcome::SignedIn(tenant_info(t)),
                },
            )
        }

        fn signup_policy_get() -> Result<SignupPolicy, ToolError> {
            let p = console::signup_policy_get(&WasiHost::default()).map_err(wit_error)?;
            Ok(SignupPolicy {
                mode: match p.mode {
                    console::SignupMode::Open => SignupMode::Open,
                    console::SignupMode::InviteOnly => SignupMode::InviteOnly,
                    console::SignupMode::Closed => SignupMode::Closed,
                },
                allowed_domains: p.allowed_domains,
            })
        }

        fn signup_policy_set(policy: SignupPolicy) -> Result<(), ToolError> {
            let policy = console::SignupPolicy {
                mode: match policy.mode {
                    SignupMode::Open => console::SignupMode::Open,
                    SignupMode::InviteOnly => console::SignupMode::InviteOnly,
                    SignupMode::Closed => console::SignupMode::Closed,
                },
                allowed_domains: policy.allowed_domains,
            };
            console::signup_policy_set(&WasiHost::default(), policy).map_err(wit_error)
        }

        fn tenant_profiles() -> Result<Vec<TenantProfile>, ToolError> {
            let all = console::tenant_profiles(&WasiHost::default()).map_err(wit_error)?;
            Ok(all.into_iter().map(profile).collect())
        }

        fn tenant_profile_get(id: String) -> Result<TenantProfile, ToolError> {
            console::tenant_profile(&WasiHost::default(), &id)
                .map(profile)
                .map_err(wit_error)
        }

        fn tenant_set_disabled(id: String, disabled: bool) -> Result<(), ToolError> {
            console::tenant_set_disabled(&WasiHost::default(), &id, disabled).map_err(wit_error)
        }

        fn tenant_set_email(id: String, email: String) -> Result<(), ToolError> {
            console::tenant_set_email(&WasiHost::default(), &id, &email).map_err(wit_error)
        }

        fn stores_overview(tenant: String) -> Result<Vec<StoreOverview>, ToolError> {
            let all = console::stores_overview(&WasiHost::default(), &tenant).map_err(wit_error)?;
            Ok(all
                .into_iter()
                .map(|o| StoreOverview {
                    store_id: o.store_id,
                    name: o.name,
                    label: o.label,
                    is_default: o.is_default,
                    sync_enabled: o.sync_enabled,
                    sync_interval_minutes: o.sync_interval_minutes,
                    last_sync: o.last_sync,
                    webhooks_enabled: o.webhooks_enabled,
                    last_webhook_ms: o.last_webhook_ms,
                    mirror_orders: o.mirror_orders,
                    cache_entries: o.cache_entries,
                    bucket_tokens: o.bucket_tokens,
                    bucket_seen_ms: o.bucket_seen_ms,
                })
                .collect())
        }

        fn store_set_default(tenant: String, store_id: String) -> Result<(), ToolError> {
            console::store_set_default(&WasiHost::default(), &tenant, &store_id).map_err(wit_error)
        }

        fn store_set_label(
            tenant: String,
            store_id: String,
            label: Option<String>,
        ) -> Result<(), ToolError> {
            console::store_set_label(&WasiHost::default(), &tenant, &store_id, label.as_deref())
                .map_err(wit_error)
        }

        fn traces(
            tenant: Option<String>,
            filter: TraceFilter,
        ) -> Result<Vec<TraceSummary>, ToolError> {
            let filter = console::TraceFilter {
                store: filter.store,
                name: filter.name,
                outcome: filter.outcome,
                since_ms: filter.since_ms,
                limit: filter.limit,
            };
            let found = console::traces(&WasiHost::default(), tenant.as_deref(), &filter)
                .map_err(wit_error)?;
            Ok(found.into_iter().map(summary).collect())
        }

        fn trace_get(tenant: Option<String>, id: String) -> Result<Option<Trace>, ToolError> {
            let found =
                console::trace(&WasiHost::default(), tenant.as_deref(), &id).map_err(wit_error)?;
            Ok(found.map(|t| Trace {
                summary: summary(t.summary),
                arguments: t.arguments,
                message: t.message,
                steps: t
                    .steps
                    .into_iter()
                    .map(|s| TraceStep {
                        kind: s.kind,
                        label: s.label,
                        start_us: s.start_us,
                        duration_us: s.duration_us,
                        status: s.status,
                        detail: s.detail.map(|d| d.to_string()),
                    })
                    .collect(),
            }))
        }
    }
}

export!(Component);

/// [`Host`] over WASI. The settings are read once per instance (one `get-all`); buckets
/// are opened on first use, under the names the settings give, and live as long as the
/// instance.
#[derive(Default)]
struct WasiHost {
    config: OnceCell<Vec<(String, String)>>,
    state: OnceCell<wasi::keyvalue::store::Bucket>,
    cache: [OnceCell<wasi::keyvalue::store::Bucket>; 3],
}

impl WasiHost {
    fn settings(&self) -> &[(String, String)] {
        self.config
            .get_or_init(|| wasi::config::store::get_all().unwrap_or_default())
    }

    fn bucket(&self, bucket: Bucket) -> Result<&wasi::keyvalue::store::Bucket, KvError> {
        let cell = match bucket {
            Bucket::State => &self.state,
            Bucket::Cache(family) => &self.cache[family as usize],
        };
        if let Some(b) = cell.get() {
            return Ok(b);
        }
        let name = crate::config::bucket_name(self.settings(), bucket);
        let opened = wasi::keyvalue::store::open(&name).map_err(kv_error)?;
        Ok(cell.get_or_init(|| opened))
    }
}

fn kv_error(e: wasi::keyvalue::store::Error) -> KvError {
    use wasi::keyvalue::store::Error;
    KvError(match e {
        Error::NoSuchStore => "no such bucket".into(),
        Error::AccessDenied => "access denied".into(),
        Error::Other(msg) => msg,
    })
}

impl Host for WasiHost {
    fn http(&self, request: &HttpRequest) -> Result<HttpResponse, NetError> {
        send(request)
    }

    fn kv_get(&self, bucket: Bucket, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.bucket(bucket)?.get(key).map_err(kv_error)
    }

    fn kv_set(&self, bucket: Bucket, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.bucket(bucket)?.set(key, value).map_err(kv_error)
    }

    fn kv_delete(&self, bucket: Bucket, key: &str) -> Result<(), KvError> {
        self.bucket(bucket)?.delete(key).map_err(kv_error)
    }

    fn kv_increment(&self, bucket: Bucket, key: &str, delta: u64) -> Result<u64, KvError> {
        wasi::keyvalue::atomics::increment(self.bucket(bucket)?, key, delta).map_err(kv_error)
    }

    fn lock_acquire(&self, name: &str, owner: &str, ttl_ms: u64) -> Result<bool, KvError> {
        orderdesk::mcp::lock::acquire(name, owner, ttl_ms).map_err(KvError)
    }

    fn lock_renew(&self, name: &str, owner: &str, ttl_ms: u64) -> Result<bool, KvError> {
        orderdesk::mcp::lock::renew(name, owner, ttl_ms).map_err(KvError)
    }

    fn lock_release(&self, name: &str, owner: &str) -> Result<bool, KvError> {
        orderdesk::mcp::lock::release(name, owner).map_err(KvError)
    }

    fn config_all(&self) -> Vec<(String, String)> {
        self.settings().to_vec()
    }

    fn now_ms(&self) -> u64 {
        let now = wasi::clocks::wall_clock::now();
        now.seconds * 1000 + u64::from(now.nanoseconds) / 1_000_000
    }

    fn monotonic_us(&self) -> u64 {
        wasi::clocks::monotonic_clock::now() / 1_000
    }

    fn sleep_ms(&self, ms: u64) {
        wasi::clocks::monotonic_clock::subscribe_duration(ms.saturating_mul(1_000_000)).block();
    }

    fn random_u64(&self) -> u64 {
        wasi::random::random::get_random_u64()
    }

    fn random_bytes(&self, n: usize) -> Vec<u8> {
        wasi::random::random::get_random_bytes(n as u64)
    }

    /// One JSON object per line on `wasi:cli/stderr`, written at once.
    fn log(&self, level: Level, context: &str, message: &str) {
        use std::io::Write as _;
        let mut line = crate::host::log_line(level, context, message);
        line.push('\n');
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

/// One request over `wasi:http/outgoing-handler`, headers as the client built them (a body
/// comes with its `Content-Type` and `Content-Length`, so it is never sent chunked). A
/// bodyless request never touches the outgoing body, which avoids a race with servers that
/// answer and close early.
fn send(request: &HttpRequest) -> Result<HttpResponse, NetError> {
    let (scheme, authority, path) = split_url(&request.url)
        .ok_or_else(|| NetError::Connection(format!("not an http(s) URL: {}", request.url)))?;
    let fields: Vec<(String, Vec<u8>)> = request
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_bytes().to_vec()))
        .collect();
    let headers = http::Fields::from_list(&fields)
        .map_err(|e| NetError::Connection(format!("bad header: {e:?}")))?;
    let outgoing = http::OutgoingRequest::new(headers);
    let method = match request.method {
        host::Method::Get => http::Method::Get,
        host::Method::Post => http::Method::Post,
        host::Method::Put => http::Method::Put,
        host::Method::Delete => http::Method::Delete,
    };
    let scheme = if scheme == "https" {
        http::Scheme::Https
    } else {
        http::Scheme::Http
    };
    let invalid = |what: &str| NetError::Connection(format!("invalid {what}"));
    outgoing
        .set_method(&method)
        .map_err(|_| invalid("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|_| invalid("scheme"))?;
    outgoing
        .set_authority(Some(authority))
        .map_err(|_| invalid("authority"))?;
    outgoing
        .set_path_with_query(Some(path))
        .map_err(|_| invalid("path"))?;
    let body = match &request.body {
        Some(_) => Some(outgoing.body().map_err(|_| invalid("body"))?),
        None => None,
    };

    let options = http::RequestOptions::new();
    let timeout_ns = request.timeout_ms.saturating_mul(1_000_000);
    let _ = options.set_connect_timeout(Some(timeout_ns));
    let _ = options.set_first_byte_timeout(Some(timeout_ns));
    let _ = options.set_between_bytes_timeout(Some(timeout_ns));
    let future =
        wasi::http::outgoing_handler::handle(outgoing, Some(options)).map_err(net_error)?;

    if let (Some(out), Some(bytes)) = (body, &request.body) {
        write_body(out, bytes)?;
    }

    future.subscribe().block();
    let response = match future.get() {
        Some(Ok(Ok(response))) => response,
        Some(Ok(Err(code))) => return Err(net_error(code)),
        Some(Err(())) | None => {
            return Err(NetError::Connection("response already taken".into()));
        }
    };
    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let body = read_body(response)?;
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn write_body(out: http::OutgoingBody, bytes: &[u8]) -> Result<(), NetError> {
    let failed = |e: &dyn std::fmt::Debug| NetError::Connection(format!("sending body: {e:?}"));
    {
        let stream = out.write().map_err(|e| failed(&e))?;
        for chunk in bytes.chunks(4096) {
            stream
                .blocking_write_and_flush(chunk)
                .map_err(|e| failed(&e))?;
        }
    }
    http::OutgoingBody::finish(out, None).map_err(net_error)
}

fn read_body(response: http::IncomingResponse) -> Result<Vec<u8>, NetError> {
    use wasi::io::streams::StreamError;
    let incoming = response
        .consume()
        .map_err(|_| NetError::Connection("response body already taken".into()))?;
    let mut body = Vec::new();
    {
        let stream = incoming
            .stream()
            .map_err(|_| NetError::Connection("response stream already taken".into()))?;
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => body.extend_from_slice(&chunk),
                Err(StreamError::Closed) => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(NetError::Connection(format!(
                        "connection dropped mid-answer: {}",
                        e.to_debug_string()
                    )));
                }
            }
        }
    }
    drop(http::IncomingBody::finish(incoming));
    Ok(body)
}

/// What a host answers, as `internal-error`, to requests of a call that was cancelled.
const CANCELLED: &str = "cancelled";

fn net_error(code: http::ErrorCode) -> NetError {
    use http::ErrorCode as E;
    match code {
        E::HttpRequestDenied => NetError::Denied,
        E::InternalError(Some(reason)) if reason == CANCELLED => NetError::Cancelled,
        E::ConnectionTimeout | E::ConnectionReadTimeout | E::ConnectionWriteTimeout => {
            NetError::Timeout
        }
        other => NetError::Connection(format!("{other:?}")),
    }
}

/// `scheme://authority/path?query` → its three parts (path defaults to `/`).
fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let cut = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(cut);
    let path = if path.is_empty() { "/" } else { path };
    (!authority.is_empty()).then_some((scheme, authority, path))
}
