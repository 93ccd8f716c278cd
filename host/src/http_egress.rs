//! Capability `http_egress`: outbound HTTP for the component (`wasi:http`), through one
//! policy hook: only the configured OrderDesk origin is reachable; every other destination
//! is refused (`HttpRequestDenied`) and logged, so even a compromised component cannot
//! reach anything else. The same hook refuses a cancelled call's further requests
//! (`internal-error("cancelled")`), which is how a long tool learns it should stop.

use std::future::Future;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::{LinkOptions, http as wasi_http};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttp, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
};

use crate::capability::{CallInfo, Capability, Holds};

/// One allowed origin: scheme, host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The origin of a URL such as `https://app.orderdesk.me/api/v2`.
    pub fn of(url: &str) -> anyhow::Result<Self> {
        let parsed = url::Url::parse(url)?;
        let scheme = parsed.scheme().to_string();
        anyhow::ensure!(
            scheme == "http" || scheme == "https",
            "the OrderDesk API URL must be http or https, got {scheme}"
        );
        let host = parsed
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("the OrderDesk API URL has no host"))?
            .to_ascii_lowercase();
        let port = parsed
            .port_or_known_default()
            .ok_or_else(|| anyhow::anyhow!("the OrderDesk API URL has no port"))?;
        Ok(Self { scheme, host, port })
    }

    fn matches(&self, uri: &http::Uri) -> bool {
        let scheme = uri.scheme_str().unwrap_or("");
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        scheme == self.scheme
            && uri
                .host()
                .is_some_and(|h| h.eq_ignore_ascii_case(&self.host))
            && uri.port_u16().unwrap_or(default_port) == self.port
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// The egress allow-list, installed as the `wasi:http` hooks of every store (with the
/// call's request id, for the upstream log lines, and its cancel token).
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    allowed: Arc<Vec<Origin>>,
    request_id: Arc<str>,
    cancel: Option<CancellationToken>,
    tenant: Option<Arc<str>>,
}

/// What the component sees when it sends a request after its call was cancelled.
pub const CANCELLED: &str = "cancelled";

impl EgressPolicy {
    /// The allow-list from a comma-separated list of origins or URLs.
    pub fn parse(list: &str) -> anyhow::Result<Self> {
        let origins = list
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(Origin::of)
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!origins.is_empty(), "the egress allow-list is empty");
        Ok(Self::allow(origins))
    }

    pub fn allow(origins: Vec<Origin>) -> Self {
        Self {
            allowed: Arc::new(origins),
            request_id: Arc::from(""),
            cancel: None,
            tenant: None,
        }
    }

    pub fn permits(&self, uri: &http::Uri) -> bool {
        self.allowed.iter().any(|o| o.matches(uri))
    }

    fn cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|t| t.is_cancelled())
    }
}

/// App-wide: the allow-list.
pub struct Egress {
    policy: EgressPolicy,
}

impl Egress {
    pub fn new(policy: EgressPolicy) -> Self {
        Self { policy }
    }
}

/// Per call: the wasi-http context and the policy its hook applies.
pub struct EgressCall {
    pub ctx: WasiHttpCtx,
    pub policy: EgressPolicy,
}

impl Capability for Egress {
    type Call = EgressCall;

    fn link<T: Holds<Self>>(linker: &mut Linker<T>) -> anyhow::Result<()> {
        // What `add_only_http_to_linker_async` links, over this capability's own state.
        fn view<T: Holds<Egress>>(s: &mut T) -> WasiHttpCtxView<'_> {
            let (call, table) = s.part();
            WasiHttpCtxView {
                ctx: &mut call.ctx,
                table,
                hooks: &mut call.policy,
            }
        }
        let options = LinkOptions::default();
        wasi_http::outgoing_handler::add_to_linker::<_, WasiHttp>(linker, view::<T>)?;
        wasi_http::types::add_to_linker::<_, WasiHttp>(linker, &options.into(), view::<T>)?;
        Ok(())
    }

    fn call(&self, info: &CallInfo) -> EgressCall {
        EgressCall {
            ctx: WasiHttpCtx::new(),
            policy: EgressPolicy {
                allowed: self.policy.allowed.clone(),
                request_id: Arc::from(info.request_id.as_str()),
                cancel: info.hooks.cancel.clone(),
                tenant: info.tenant.clone(),
            },
        }
    }
}

type Pending = Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>;
type Sent = Box<
    dyn Future<Output = Result<(http::Response<WasiBody>, Pending), wasmtime_wasi_http::Error>>
        + Send,
>;

impl WasiHttpHooks for EgressPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Pending,
    ) -> Sent {
        if !self.permits(request.uri()) {
            // Log the destination without its path or query: those may carry data.
            tracing::warn!(
                target: "egress",
                scheme = request.uri().scheme_str().unwrap_or(""),
                host = request.uri().host().unwrap_or(""),
                port = request.uri().port_u16(),
                "outbound request denied: not the configured OrderDesk origin"
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        if self.cancelled() {
            tracing::debug!(
                target: "egress",
                request_id = %self.request_id,
                "outbound request refused: the call was cancelled"
            );
            return Box::new(async {
                Err(wasmtime_wasi_http::Error::InternalError(Some(
                    CANCELLED.into(),
                )))
            });
        }
        let method = request.method().to_string();
        let route = crate::metrics::route_of(request.uri().path());
        let request_id = self.request_id.clone();
        let tenant = self.tenant.clone();
        Box::new(async move {
            use http_body_util::BodyExt;
            let started = std::time::Instant::now();
            let sent = wasmtime_wasi_http::default_send_request(request, options).await;
            let status = sent.as_ref().ok().map(|(r, _)| r.status().as_u16());
            let elapsed = started.elapsed();
            crate::metrics::get().upstream(&method, &route, status, elapsed);
            if let Some(tenant) = &tenant {
                crate::history::get().record(tenant, |c| {
                    c.upstream += 1;
                    c.upstream_429 += u64::from(status == Some(429));
                });
            }
            // The route only: paths carry order ids and queries carry searches (emails).
            tracing::info!(
                target: "egress",
                request_id = %request_id,
                method,
                route,
                status,
                elapsed_ms = elapsed.as_secs_f64() * 1000.0,
                "upstream request"
            );
            let (response, io) = sent?;
            Ok((response.map(BodyExt::boxed_unsync), Box::new(io) as Pending))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(url: &str) -> EgressPolicy {
        EgressPolicy::allow(vec![Origin::of(url).unwrap()])
    }

    #[test]
    fn only_the_configured_origin_passes() {
        let p = policy("https://app.orderdesk.me/api/v2");
        let ok: http::Uri = "https://app.orderdesk.me/api/v2/orders?limit=1"
            .parse()
            .unwrap();
        assert!(p.permits(&ok));
        let explicit_port: http::Uri = "https://APP.orderdesk.me:443/x".parse().unwrap();
        assert!(p.permits(&explicit_port));
        for denied in [
            "http://app.orderdesk.me/api/v2",
            "https://app.orderdesk.me:8443/api/v2",
            "https://evil.example/api/v2",
            "https://app.orderdesk.me.evil.example/",
            "https://169.254.169.254/latest/meta-data",
        ] {
            let uri: http::Uri = denied.parse().unwrap();
            assert!(!p.permits(&uri), "{denied} must be denied");
        }
    }

    #[test]
    fn loopback_ports_are_distinct() {
        let p = policy("http://127.0.0.1:4000/api/v2");
        assert!(p.permits(&"http://127.0.0.1:4000/api/v2/test".parse().unwrap()));
        assert!(!p.permits(&"http://127.0.0.1:4001/api/v2/test".parse().unwrap()));
        assert!(!p.permits(&"http://localhost:4000/api/v2/test".parse().unwrap()));
    }

    #[tokio::test]
    async fn a_cancelled_call_sends_nothing_more() {
        use http_body_util::{BodyExt as _, Empty};
        let cancel = CancellationToken::new();
        let mut policy = EgressPolicy {
            cancel: Some(cancel.clone()),
            ..policy("http://127.0.0.1:9/api/v2")
        };
        cancel.cancel();
        let body = Empty::<axum::body::Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        let request = http::Request::get("http://127.0.0.1:9/api/v2/orders")
            .body(body)
            .unwrap();
        let pending: Pending = Box::new(async { Ok(()) });
        let sent = Box::into_pin(policy.send_request(request, None, pending)).await;
        match sent {
            Err(wasmtime_wasi_http::Error::InternalError(Some(why))) => assert_eq!(why, CANCELLED),
            Err(other) => panic!("refused for another reason: {other}"),
            Ok(_) => panic!("a cancelled call's request went out"),
        }
    }

    #[test]
    fn non_http_urls_are_refused() {
        assert!(Origin::of("ftp://app.orderdesk.me/").is_err());
        assert!(Origin::of("not a url").is_err());
    }
}
