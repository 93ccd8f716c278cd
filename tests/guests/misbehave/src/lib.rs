//! A guest that misbehaves on purpose, one tool per negative behaviour the host must
//! contain: `trap` panics, `spin` never returns, `fetch` requests any URL it is given,
//! `grow` allocates until the memory cap stops it, and `ok` proves the next call works.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "orderdesk:mcp/plugin",
    generate_all,
});

use exports::orderdesk::mcp::tools::{
    CallError, Caller, Guest, TenantInfo, ToolAnnotations, ToolDescriptor, ToolError, ToolOutput,
};
use exports::orderdesk::mcp::{admin, console, intake};
use wasi::http::types as http;

struct Misbehave;

const OBJECT: &str = r#"{"type":"object"}"#;

impl Guest for Misbehave {
    fn list_tools() -> Vec<ToolDescriptor> {
        ["ok", "trap", "spin", "fetch", "grow"]
            .into_iter()
            .map(|name| ToolDescriptor {
                name: name.into(),
                title: name.into(),
                description: format!("test-only tool {name}"),
                input_schema: OBJECT.into(),
                output_schema: OBJECT.into(),
                annotations: ToolAnnotations {
                    read_only: true,
                    destructive: false,
                    idempotent: true,
                    open_world: false,
                },
            })
            .collect()
    }

    fn call_tool(_caller: Caller, name: String, arguments: String) -> Result<ToolOutput, CallError> {
        let structured = match name.as_str() {
            "ok" => Ok(r#"{"ok":true}"#.into()),
            "trap" => panic!("trapping on purpose"),
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
                }
            }
            "fetch" => fetch(&arguments),
            other => Err(CallError::UnknownTool(other.into())),
        }?;
        Ok(ToolOutput {
            structured,
            bind_credential: None,
            bind_default_store: None,
        })
    }

    fn call_abandoned(_request_id: String, _reason: String) {}
}

/// No tenants here: the administration interface refuses everything.
impl admin::Guest for Misbehave {
    fn tenant_create(_name: String) -> Result<(TenantInfo, String), ToolError> {
        Err(unsupported())
    }
    fn tenant_list() -> Result<Vec<TenantInfo>, ToolError> {
        Err(unsupported())
    }
    fn tenant_delete(_id: String) -> Result<(), ToolError> {
        Err(unsupported())
    }
    fn tenant_rotate_key(_id: String, _key: String) -> Result<String, ToolError> {
        Err(unsupported())
    }
    fn tenant_authenticate(_key: String) -> Result<TenantInfo, ToolError> {
        Err(unsupported())
    }
    fn tenant_of_key(_key: String) -> Option<String> {
        None
    }
}

/// No tenants, links or traces here: the console interface refuses everything.
impl console::Guest for Misbehave {
    fn link_request(
        _purpose: console::LinkPurpose,
        _email: String,
        _name: String,
    ) -> Result<console::LinkDecision, ToolError> {
        Err(unsupported())
    }
    fn link_redeem(_token: String) -> Result<console::LinkOutcome, ToolError> {
        Err(unsupported())
    }
    fn signup_policy_get() -> Result<console::SignupPolicy, ToolError> {
        Err(unsupported())
    }
    fn signup_policy_set(_policy: console::SignupPolicy) -> Result<(), ToolError> {
        Err(unsupported())
    }
    fn tenant_profiles() -> Result<Vec<console::TenantProfile>, ToolError> {
        Err(unsupported())
    }
    fn tenant_profile_get(_id: String) -> Result<console::TenantProfile, ToolError> {
        Err(unsupported())
    }
    fn tenant_set_disabled(_id: String, _disabled: bool) -> Result<(), ToolError> {
        Err(unsupported())
    }
    fn tenant_set_email(_id: String, _email: String) -> Result<(), ToolError> {
        Err(unsupported())
    }
    fn stores_overview(_tenant: String) -> Result<Vec<console::StoreOverview>, ToolError> {
        Err(unsupported())
    }
    fn store_set_default(_tenant: String, _store: String) -> Result<(), ToolError> {
        Err(unsupported())
    }
    fn store_set_label(
        _tenant: String,
        _store: String,
        _label: Option<String>,
    ) -> Result<(), ToolError> {
        Err(unsupported())
    }
    fn traces(
        _tenant: Option<String>,
        _filter: console::TraceFilter,
    ) -> Result<Vec<console::TraceSummary>, ToolError> {
        Ok(Vec::new())
    }
    fn trace_get(
        _tenant: Option<String>,
        _id: String,
    ) -> Result<Option<console::Trace>, ToolError> {
        Ok(None)
    }
}

/// No stores here: deliveries and polls are refused.
impl intake::Guest for Misbehave {
    fn webhook_deliver(
        _delivery: intake::WebhookDelivery,
    ) -> Result<intake::WebhookReceipt, ToolError> {
        Err(unsupported())
    }
    fn sync_targets() -> Result<Vec<intake::SyncTarget>, ToolError> {
        Ok(Vec::new())
    }
    fn sync_due() -> Result<Vec<intake::SyncTarget>, ToolError> {
        Ok(Vec::new())
    }
    fn sync_run(
        _target: intake::SyncTarget,
        _options: String,
        _request_id: String,
    ) -> Result<String, ToolError> {
        Err(unsupported())
    }
}

fn unsupported() -> ToolError {
    ToolError {
        code: "UNSUPPORTED".into(),
        message: "the test guest has no tenants".into(),
        details: None,
        retryable: false,
    }
}

export!(Misbehave);

/// GET the `url` argument (a plain `http://host:port/path`); report the status or error.
fn fetch(arguments: &str) -> Result<String, CallError> {
    let url = arguments
        .split("\"url\":\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_default();
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let request = http::OutgoingRequest::new(http::Fields::new());
    let _ = request.set_scheme(Some(&http::Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some(if path.is_empty() { "/" } else { path }));
    let failed = |code: String| {
        CallError::Failed(ToolError {
            code,
            message: "fetch failed".into(),
            details: None,
            retryable: false,
        })
    };
    let future = wasi::http::outgoing_handler::handle(request, None)
        .map_err(|e| failed(format!("{e:?}")))?;
    future.subscribe().block();
    match future.get() {
        Some(Ok(Ok(response))) => Ok(format!(r#"{{"status":{}}}"#, response.status())),
        Some(Ok(Err(e))) => Err(failed(format!("{e:?}"))),
        _ => Err(failed("no response".into())),
    }
}
