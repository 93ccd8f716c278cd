//! Bounds on client connections for `serve`: how many may be open (overall, kept below the
//! open-file limit, and per client address), how long one may sit without a request in
//! flight (whatever it sends meanwhile: nothing, half an HTTP/2 preface, pings, a trickle
//! of header bytes), and how the accept loop behaves when the process runs out of
//! descriptors anyway (it backs off and says so once in a while, not every 50 ms).
//!
//! A connection is *busy* from the moment hyper hands it a request until that request's
//! response body is finished or dropped (an SSE stream stays busy while it streams); it is
//! *idle* otherwise. The watchdog drops a connection idle for longer than the client
//! timeout, which closes its socket.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response};
use bytes::Bytes;

/// Descriptors kept back from the connection cap for everything else the process opens
/// (state files, Redis, outgoing requests, the compiled-component cache).
const RESERVED_FDS: u64 = 128;

/// Raise the soft open-file limit to the hard one; the soft limit now in force.
pub fn raise_nofile_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!("could not raise the open-file limit: {e}");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The connection caps of one listener.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_total: usize,
    pub max_per_ip: usize,
    /// How long a connection may stay idle (and how long it has for its first request).
    pub idle: Duration,
}

impl Limits {
    /// `max_total`, lowered so open connections can never use up the descriptors the
    /// process needs for its own work.
    pub fn within_fd_limit(mut self, nofile: u64) -> Self {
        let room = nofile.saturating_sub(RESERVED_FDS).max(16) as usize;
        if room < self.max_total {
            tracing::info!(
                max_connections = room,
                open_file_limit = nofile,
                "lowering max_connections to fit the open-file limit"
            );
            self.max_total = room;
        }
        self.max_per_ip = self.max_per_ip.min(self.max_total);
        self
    }
}

/// The open connections of one listener.
pub struct Connections {
    limits: Limits,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a connection was turned away at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Full,
    TooManyFromAddress,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Full => "full",
            Refusal::TooManyFromAddress => "per_ip",
        }
    }
}

/// A plain answer for a refused connection (it may speak HTTP/2, then it sees a closed
/// socket, which is just as clear).
pub const REFUSAL_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\
retry-after: 1\r\ncontent-length: 0\r\n\r\n";

impl Connections {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    /// Count a new connection from `ip`, or refuse it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut per_ip = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if self.total.load(Ordering::SeqCst) >= self.limits.max_total {
            return Err(Refusal::Full);
        }
        let from_ip = per_ip.entry(ip).or_default();
        if *from_ip >= self.limits.max_per_ip {
            return Err(Refusal::TooManyFromAddress);
        }
        *from_ip += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        Ok(Slot {
            connections: self.clone(),
            ip,
        })
    }

    /// How long a connection may stay idle.
    pub fn idle(&self) -> Duration {
        self.limits.idle
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}

/// One counted connection; uncounted when dropped.
pub struct Slot {
    connections: Arc<Connections>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let c = &self.connections;
        let mut per_ip = c.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
        c.total.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Whether a connection has a request in flight, and since when it has had none.
#[derive(Clone)]
pub struct Activity(Arc<ActivityState>);

struct ActivityState {
    busy: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl Default for Activity {
    fn default() -> Self {
        Self(Arc::new(ActivityState {
            busy: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        }))
    }
}

impl Activity {
    fn begin(&self) -> Busy {
        self.0.busy.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// How long the connection has been idle; `None` while a request is in flight.
    fn idle_for(&self) -> Option<Duration> {
        if self.0.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(
            self.0
                .idle_since
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .elapsed(),
        )
    }

    /// Resolves once the connection has been idle for `limit`.
    pub async fn idle_past(&self, limit: Duration) {
        let step = (limit / 4).clamp(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            tokio::time::sleep(step).await;
            if self.idle_for().is_some_and(|idle| idle >= limit) {
                return;
            }
        }
    }
}

/// One request in flight; the connection is idle again from when the last one drops.
struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        let state = &self.0.0;
        *state.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        state.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The client address of a request (a request extension every request carries).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub IpAddr);

/// A service that marks its connection busy from a request's arrival until its response
/// body is done, and tells the request who sent it ([`Peer`]).
#[derive(Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Activity,
    peer: IpAddr,
}

impl<S> Tracked<S> {
    pub fn new(inner: S, activity: Activity, peer: IpAddr) -> Self {
        Self {
            inner,
            activity,
            peer,
        }
    }
}

impl<S, B> tower::Service<Request<B>> for Tracked<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>> + Send,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let busy = self.activity.begin();
        request.extensions_mut().insert(Peer(self.peer));
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| {
                Body::new(TrackedBody {
                    inner: body,
                    _busy: busy,
                })
            }))
        })
    }
}

struct TrackedBody {
    inner: Body,
    _busy: Busy,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Back-off for a failing `accept` (out of descriptors, out of memory): the wait doubles
/// up to a second, and the failure is logged at most every few seconds with a count.
pub struct AcceptBackoff {
    wait: Duration,
    failures: u64,
    last_log: Option<Instant>,
}

const LOG_EVERY: Duration = Duration::from_secs(5);

impl Default for AcceptBackoff {
    fn default() -> Self {
        Self {
            wait: Duration::from_millis(10),
            failures: 0,
            last_log: None,
        }
    }
}

impl AcceptBackoff {
    /// After a failed accept: how long to wait before the next one.
    pub fn failed(&mut self, error: &std::io::Error) -> Duration {
        self.failures += 1;
        if self.last_log.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            tracing::warn!(
                failures = self.failures,
                "accepting connections fails ({error}); backing off"
            );
            self.last_log = Some(Instant::now());
            self.failures = 0;
        }
        let wait = self.wait;
        self.wait = (self.wait * 2).min(Duration::from_secs(1));
        wait
    }

    /// After a successful accept.
    pub fn succeeded(&mut self) {
        self.wait = Duration::from_millis(10);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per_ip: usize) -> Limits {
        Limits {
            max_total: total,
            max_per_ip: per_ip,
            idle: Duration::from_secs(1),
        }
    }

    #[test]
    fn connections_are_capped_overall_and_per_address() {
        let c = Connections::new(limits(3, 2));
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        let b: IpAddr = "127.0.0.3".parse().unwrap();
        let a1 = c.admit(a).unwrap();
        let _a2 = c.admit(a).unwrap();
        assert_eq!(c.admit(a).err(), Some(Refusal::TooManyFromAddress));
        let _b1 = c.admit(b).unwrap();
        assert_eq!(c.admit(b).err(), Some(Refusal::Full));
        drop(a1);
        let b2 = c.admit(b);
        assert!(b2.is_ok());
        assert_eq!(c.open(), 3);
        drop(b2);
        assert_eq!(c.open(), 2);
    }

    #[test]
    fn the_cap_leaves_descriptors_for_the_rest_of_the_process() {
        let l = limits(1024, 128).within_fd_limit(256);
        assert_eq!(l.max_total, 128);
        assert_eq!(l.max_per_ip, 128);
        let l = limits(1024, 128).within_fd_limit(1 << 20);
        assert_eq!(l.max_total, 1024);
    }

    #[tokio::test]
    async fn a_connection_is_idle_only_with_nothing_in_flight() {
        let activity = Activity::default();
        let busy = activity.begin();
        assert_eq!(activity.idle_for(), None);
        let waited = tokio::time::timeout(
            Duration::from_millis(300),
            activity.idle_past(Duration::from_millis(100)),
        )
        .await;
        assert!(waited.is_err(), "a busy connection is never idle");
        drop(busy);
        let started = Instant::now();
        activity.idle_past(Duration::from_millis(100)).await;
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn accept_failures_back_off_and_log_rarely() {
        let mut b = AcceptBackoff::default();
        let e = std::io::Error::from_raw_os_error(24);
        let waits: Vec<Duration> = (0..10).map(|_| b.failed(&e)).collect();
        assert_eq!(waits[0], Duration::from_millis(10));
        assert_eq!(waits[1], Duration::from_millis(20));
        assert_eq!(*waits.last().unwrap(), Duration::from_secs(1));
        b.succeeded();
        assert_eq!(b.failed(&e), Duration::from_millis(10));
    }
}
