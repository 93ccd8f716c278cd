//! The web console at `/console` on `serve`: server-rendered pages for tenants (stores, a
//! tool console, traces, a dashboard, connection snippets, the account) and for the
//! operator (tenants, sign-up policy, server status), with sign-up and sign-in by e-mailed
//! one-time links.
//!
//! The console is one more front door over the component: tenants, stores, links and traces
//! are the component's business (`orderdesk:mcp/console` and `admin`), tool runs go through
//! the same path as MCP calls ([`OrderDeskMcp::call_as`]). This module renders pages, keeps
//! the browser session ([`session`]) and sends mail ([`mail`]).
//!
//! Every form that changes something carries the session's CSRF token (before sign-in, a
//! double-submit token in its own `SameSite=Strict` cookie); ids in URLs are checked
//! against the session's tenant by the component calls themselves, which only ever get the
//! session's own tenant id; sign-in, sign-up and link attempts are rate-limited per client
//! address ([`Attempts`]).

mod charts;
mod check;
mod forms;
pub mod mail;
mod operator;
mod page;
pub mod session;
mod tenant;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use maud::{Markup, html};

use crate::auth::Authenticator;
use crate::bindings::exports::orderdesk::mcp::console::{
    LinkDecision, LinkOutcome, LinkPurpose, SignupMode, TenantProfile,
};
use crate::bindings::exports::orderdesk::mcp::tools::ToolError;
use crate::connections::Peer;
use crate::exports::ConsoleFor;
use crate::mcp::OrderDeskMcp;
use crate::runtime::{Runtime, SandboxError};
use mail::{Mail, Mailer};
use page::{Viewer, csrf, notice};
use session::{Principal, Session, Sessions};

/// Client addresses whose attempts are remembered at once; past it, new addresses are
/// refused until old ones age out (a flood of addresses cannot grow memory).
const MAX_TRACKED: usize = 50_000;
/// The largest form the console reads.
pub const MAX_FORM_BYTES: usize = 256 * 1024;

/// The console's cookies (`__Host-` prefixed when served over https).
const SESSION_COOKIE: &str = "od_session";
const CSRF_COOKIE: &str = "od_csrf";

/// What the console needs from the server.
pub struct Console {
    pub runtime: Arc<Runtime>,
    pub mcp: OrderDeskMcp,
    pub sessions: Sessions,
    pub mailer: Mailer,
    /// Without a trailing slash, e.g. `https://mcp.example.com`.
    pub public_url: String,
    pub admin_token: Option<String>,
    pub auth: Arc<Authenticator>,
    pub attempts: Attempts,
    pub status: ServerStatus,
    /// Where this server's own `/mcp` answers (for the connection check).
    pub local: SocketAddr,
}

/// Facts for the operator's status page.
pub struct ServerStatus {
    pub version: &'static str,
    pub state: String,
    pub scheduler: bool,
    pub started: std::time::Instant,
}

/// Attempts per client address: sign-in (key or operator token), and link requests
/// (sign-up and sign-in mail). Each is a token bucket per address (governor's keyed
/// limiter, the standard crate for it).
pub struct Attempts {
    sign_in: DefaultKeyedRateLimiter<IpAddr>,
    mail: DefaultKeyedRateLimiter<IpAddr>,
}

impl Default for Attempts {
    fn default() -> Self {
        let per_minute = |n: u32, burst: u32| {
            Quota::per_minute(NonZeroU32::new(n).expect("non-zero"))
                .allow_burst(NonZeroU32::new(burst).expect("non-zero"))
        };
        Self {
            // Ten tries, then one every 6 s.
            sign_in: RateLimiter::keyed(per_minute(10, 10)),
            // Five mails, then one a minute, per address (the component limits per e-mail).
            mail: RateLimiter::keyed(per_minute(1, 5)),
        }
    }
}

impl Attempts {
    fn allow(limiter: &DefaultKeyedRateLimiter<IpAddr>, ip: IpAddr) -> bool {
        if limiter.len() >= MAX_TRACKED {
            limiter.retain_recent();
            if limiter.len() >= MAX_TRACKED {
                return false;
            }
        }
        limiter.check_key(&ip).is_ok()
    }
}

impl Console {
    fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    fn cookie_name(&self, base: &str) -> String {
        if self.secure_cookies() {
            format!("__Host-{base}")
        } else {
            base.to_string()
        }
    }

    /// A `Set-Cookie` value: `HttpOnly`, `SameSite=Strict`, path `/` (required by
    /// `__Host-`), `Secure` over https; `max_age` 0 deletes it.
    fn cookie(&self, base: &str, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure_cookies() {
            "; Secure"
        } else {
            ""
        };
        HeaderValue::from_str(&format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
            self.cookie_name(base)
        ))
        .expect("cookie values are hex")
    }

    fn read_cookie(&self, headers: &HeaderMap, base: &str) -> Option<String> {
        let name = self.cookie_name(base);
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }

    /// The request's live session, if any.
    async fn session(&self, headers: &HeaderMap) -> Option<Session> {
        let token = self.read_cookie(headers, SESSION_COOKIE)?;
        match self.sessions.open(&token).await {
            Ok(session) => session,
            Err(e) => {
                tracing::warn!("reading a console session failed: {e}");
                None
            }
        }
    }

    /// The pre-sign-in CSRF token: the cookie's, or a new one to set.
    fn anonymous_csrf(&self, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
        match self.read_cookie(headers, CSRF_COOKIE) {
            Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => (t, None),
            _ => {
                let t = session::random_hex(32);
                let cookie = self.cookie(CSRF_COOKIE, &t, 3600);
                (t, Some(cookie))
            }
        }
    }

    /// Whether a posted pre-sign-in form carries the cookie's token.
    fn anonymous_csrf_ok(&self, headers: &HeaderMap, form: &FormData) -> bool {
        match (self.read_cookie(headers, CSRF_COOKIE), form.get("csrf")) {
            (Some(cookie), Some(sent)) if cookie.len() == 64 => {
                orderdesk_mcp_shapes::constant_time_eq(cookie.as_bytes(), sent.as_bytes())
            }
            _ => false,
        }
    }

    fn viewer<'a>(&self, session: Option<&'a Session>, name: Option<&'a str>) -> Viewer<'a> {
        Viewer { session, name }
    }

    /// A page for someone not signed in, setting the pre-sign-in CSRF cookie if needed.
    fn public_page(
        &self,
        status: StatusCode,
        title: &str,
        current: &str,
        set_cookie: Option<HeaderValue>,
        body: Markup,
    ) -> Response {
        let mut response = page::page(status, title, &self.viewer(None, None), current, body);
        if let Some(cookie) = set_cookie {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }

    /// Start a session and send the browser on to `to` with its cookie.
    fn signed_in(&self, session: &Session, to: &str) -> Response {
        let mut response = page::secure(Redirect::to(to).into_response());
        let cookie = self.cookie(
            SESSION_COOKIE,
            session.token(),
            self.sessions.lifetime().as_secs(),
        );
        response.headers_mut().append(header::SET_COOKIE, cookie);
        response
    }

    /// The link a mail carries.
    fn link_url(&self, token: &str) -> String {
        format!("{}/console/link?token={token}", self.public_url)
    }

    async fn mail_link(&self, to: &str, purpose: LinkPurpose, token: &str, minutes: u64) {
        let url = self.link_url(token);
        let (subject, what) = match purpose {
            LinkPurpose::SignUp => (
                "Finish signing up for OrderDesk MCP",
                "Follow this link to create your account and see your master key",
            ),
            LinkPurpose::SignIn => (
                "Your OrderDesk MCP sign-in link",
                "Follow this link to sign in to the console",
            ),
            LinkPurpose::Invite => (
                "You are invited to OrderDesk MCP",
                "You were invited to an OrderDesk MCP server. Follow this link to create \
                 your account and see your master key",
            ),
        };
        let text = format!(
            "{what}:\n\n{url}\n\nThe link works once, for {minutes} minutes. If you did not \
             ask for it, ignore this mail.\n"
        );
        let html = html! {
            p { (what) ":" }
            p { a href=(url) { (url) } }
            p { "The link works once, for " (minutes) " minutes. If you did not ask for it, ignore this mail." }
        }
        .into_string();
        let mail = Mail {
            to: to.to_string(),
            subject: subject.to_string(),
            text,
            html,
        };
        if let Err(e) = self.mailer.send(mail).await {
            // The address is the user's own input; the link never reaches the log.
            tracing::warn!(target: "orderdesk_mcp::mail", "a console mail was not sent: {e}");
        }
    }
}

/// A posted form, as pairs (repeated names kept in order).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(transparent)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().trim().to_string()
    }
}

fn peer(request_peer: Option<&Peer>) -> IpAddr {
    request_peer.map_or(IpAddr::from([0, 0, 0, 0]), |p| p.0)
}

/// The console's routes, all under `/console`.
pub fn router<S: Clone + Send + Sync + 'static>(console: Arc<Console>) -> Router<S> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/stores") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/stores") }),
        )
        .route("/console/static/{name}", get(asset))
        .route("/console/signin", get(signin_page))
        .route("/console/signin/key", post(signin_key))
        .route("/console/signin/link", post(signin_link))
        .route("/console/signout", post(signout))
        .route("/console/signup", get(signup_page).post(signup))
        .route("/console/link", get(link_page).post(link_redeem))
        .merge(tenant::routes())
        .merge(operator::routes())
        .fallback(not_found)
        .with_state(console)
}

async fn asset(Path(name): Path<String>) -> Response {
    page::asset(&name)
}

async fn not_found(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let session = c.session(&headers).await;
    page::page(
        StatusCode::NOT_FOUND,
        "Not found",
        &c.viewer(session.as_ref(), None),
        "",
        notice("error", "There is no such page."),
    )
}

/// A component answer that could not be had: a page saying so (codes, never secrets).
fn failure_text(e: &SandboxError) -> String {
    format!(
        "The server could not do this right now ({}); try again.",
        e.code()
    )
}

async fn signin_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if let Some(s) = c.session(&headers).await {
        let to = match s.principal {
            Principal::Tenant { .. } => "/console/stores",
            Principal::Operator => "/console/operator/tenants",
        };
        return Redirect::to(to).into_response();
    }
    let (token, set) = c.anonymous_csrf(&headers);
    c.public_page(
        StatusCode::OK,
        "Sign in",
        "/console/signin",
        set,
        signin_body(&c, &token, None),
    )
}

fn signin_body(c: &Console, token: &str, message: Option<Markup>) -> Markup {
    html! {
        @if let Some(m) = message { (m) }
        section.card {
            h2 { "With your master key" }
            form method="post" action="/console/signin/key" {
                (csrf(token))
                label for="master_key" { "Master key" }
                p.hint #master_key_hint { "The key you were shown when your account was made (odmk_…)." }
                input #master_key type="password" name="master_key" autocomplete="current-password"
                    aria-describedby="master_key_hint" required;
                button type="submit" { "Sign in with this key" }
            }
        }
        @if c.mailer.is_on() {
            section.card {
                h2 { "With a link by e-mail" }
                form method="post" action="/console/signin/link" {
                    (csrf(token))
                    label for="email" { "E-mail" }
                    input #email type="email" name="email" autocomplete="email" required;
                    button type="submit" { "E-mail me a sign-in link" }
                }
            }
            p { "No account yet? " a href="/console/signup" { "Sign up" } "." }
        }
        @if c.admin_token.is_some() {
            p { a href="/console/operator/signin" { "Operator sign-in" } }
        }
    }
}

async fn signin_key(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (ip, form) = match anonymous_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let (token, set) = c.anonymous_csrf(&headers);
    if !Attempts::allow(&c.attempts.sign_in, ip) {
        let m = notice(
            "error",
            "Too many sign-in attempts from your address; wait a minute.",
        );
        return c.public_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Sign in",
            "/console/signin",
            set,
            signin_body(&c, &token, Some(m)),
        );
    }
    let key = form.text("master_key");
    let claimed = c.runtime.tenant_of_key(&key).await;
    let refused = || {
        let m = notice("error", "That key was not accepted.");
        c.public_page(
            StatusCode::UNAUTHORIZED,
            "Sign in",
            "/console/signin",
            set.clone(),
            signin_body(&c, &token, Some(m)),
        )
    };
    let Some(claimed) = claimed else {
        return refused();
    };
    match c.runtime.tenant_authenticate(&key, &claimed).await {
        Ok(Ok(info)) => {
            match c
                .sessions
                .start(Principal::Tenant { id: info.id }, Some(&key), None)
                .await
            {
                Ok(session) => c.signed_in(&session, "/console/stores"),
                Err(e) => unavailable(&c, &e.to_string()),
            }
        }
        Ok(Err(_)) => refused(),
        Err(e) => unavailable(&c, &failure_text(&e)),
    }
}

async fn signin_link(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    request_link(c, headers, request, LinkPurpose::SignIn).await
}

async fn signup_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let (token, set) = c.anonymous_csrf(&headers);
    let body = signup_body(&c, &token, None).await;
    c.public_page(StatusCode::OK, "Sign up", "/console/signup", set, body)
}

async fn signup_body(c: &Console, token: &str, message: Option<Markup>) -> Markup {
    if !c.mailer.is_on() {
        return notice(
            "info",
            "Sign-up is off on this server: it has no mail set up. Ask its operator for an account.",
        );
    }
    let mode = c
        .runtime
        .signup_policy_get(ConsoleFor::Anonymous("signup"))
        .await
        .ok()
        .and_then(Result::ok)
        .map(|p| p.mode);
    match mode {
        Some(SignupMode::Closed) => return notice("info", "Sign-up is closed on this server."),
        Some(SignupMode::InviteOnly) => {
            return notice(
                "info",
                "This server takes new accounts by invitation only. Ask its operator for one.",
            );
        }
        _ => {}
    }
    html! {
        @if let Some(m) = message { (m) }
        p { "Get a master key for your agents, then connect your OrderDesk store. We e-mail you a link to finish; it works once, for a short while." }
        form.card method="post" action="/console/signup" {
            (csrf(token))
            label for="name" { "Your name or your shop's" }
            input #name type="text" name="name" autocomplete="organization" maxlength="100" required;
            label for="email" { "E-mail" }
            input #email type="email" name="email" autocomplete="email" required;
            button type="submit" { "Send me the link" }
        }
        p { "Already have an account? " a href="/console/signin" { "Sign in" } "." }
    }
}

async fn signup(State(c): State<Arc<Console>>, headers: HeaderMap, request: Request) -> Response {
    request_link(c, headers, request, LinkPurpose::SignUp).await
}

/// Sign-up and sign-in link requests: the same page whether or not the address is known.
async fn request_link(
    c: Arc<Console>,
    headers: HeaderMap,
    request: Request,
    purpose: LinkPurpose,
) -> Response {
    let (ip, form) = match anonymous_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let (title, current) = match purpose {
        LinkPurpose::SignUp => ("Sign up", "/console/signup"),
        _ => ("Sign in", "/console/signin"),
    };
    let (token, set) = c.anonymous_csrf(&headers);
    if !c.mailer.is_on() {
        return c.public_page(
            StatusCode::NOT_FOUND,
            title,
            current,
            set,
            notice(
                "info",
                "This server sends no mail, so it has no sign-up or sign-in links.",
            ),
        );
    }
    if !Attempts::allow(&c.attempts.mail, ip) {
        let m = notice(
            "error",
            "Too many requests from your address; try again in a few minutes.",
        );
        return c.public_page(StatusCode::TOO_MANY_REQUESTS, title, current, set, m);
    }
    let email = form.text("email");
    let name = form.text("name");
    let ip_text = ip.to_string();
    let decided = c
        .runtime
        .link_request(ConsoleFor::Anonymous(&ip_text), purpose, &email, &name)
        .await;
    let sent = html! {
        (notice("ok", "Check your mail: if this address can use it, a link is on its way. It works once, for a short while."))
        p { "Nothing after a few minutes? Look in the spam folder, or ask again later." }
    };
    match decided {
        Ok(Ok(LinkDecision::Send(grant))) => {
            let minutes = grant
                .expires_at_ms
                .saturating_sub(session::now_ms())
                .div_ceil(60_000);
            c.mail_link(&email.to_lowercase(), purpose, &grant.token, minutes)
                .await;
            c.public_page(StatusCode::OK, title, current, set, sent)
        }
        Ok(Ok(LinkDecision::Quiet)) => c.public_page(StatusCode::OK, title, current, set, sent),
        Ok(Ok(LinkDecision::TooMany)) => {
            let m = notice(
                "error",
                "Too many links were asked for this address lately; try again later.",
            );
            c.public_page(StatusCode::TOO_MANY_REQUESTS, title, current, set, m)
        }
        Ok(Err(e)) if e.code == "INVALID_ARGUMENT" => {
            let m = notice("error", "That does not look like an e-mail address.");
            let body = match purpose {
                LinkPurpose::SignUp => signup_body(&c, &token, Some(m)).await,
                _ => signin_body(&c, &token, Some(m)),
            };
            c.public_page(StatusCode::BAD_REQUEST, title, current, set, body)
        }
        Ok(Err(e)) if e.code == "SIGNUP_CLOSED" => c.public_page(
            StatusCode::FORBIDDEN,
            title,
            current,
            set,
            notice("info", "Sign-up is not open on this server."),
        ),
        Ok(Err(e)) => unavailable(&c, &tool_error_text(&e)),
        Err(e) => unavailable(&c, &failure_text(&e)),
    }
}

#[derive(serde::Deserialize)]
struct LinkQuery {
    #[serde(default)]
    token: String,
}

/// A link from a mail: a page with one button, so that mail scanners fetching the link do
/// not use it up.
async fn link_page(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<LinkQuery>,
) -> Response {
    let (token, set) = c.anonymous_csrf(&headers);
    let body = html! {
        p { "Continue to finish signing in (or to create your account)." }
        form method="post" action="/console/link" {
            (csrf(&token))
            input type="hidden" name="token" value=(q.token.chars().take(200).collect::<String>());
            button type="submit" { "Continue" }
        }
    };
    c.public_page(StatusCode::OK, "Your link", "", set, body)
}

async fn link_redeem(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (ip, form) = match anonymous_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let (_, set) = c.anonymous_csrf(&headers);
    if !Attempts::allow(&c.attempts.sign_in, ip) {
        return c.public_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Your link",
            "",
            set,
            notice(
                "error",
                "Too many attempts from your address; wait a minute.",
            ),
        );
    }
    let ip_text = ip.to_string();
    let refused = |status: StatusCode, text: &str| {
        let body = html! {
            (notice("error", text))
            p { a href="/console/signin" { "Ask for a new sign-in link" } " or " a href="/console/signup" { "sign up again" } "." }
        };
        c.public_page(status, "This link cannot be used", "", set.clone(), body)
    };
    match c
        .runtime
        .link_redeem(ConsoleFor::Anonymous(&ip_text), &form.text("token"))
        .await
    {
        Ok(Ok(LinkOutcome::Created((info, key)))) => {
            let session = match c
                .sessions
                .start(
                    Principal::Tenant {
                        id: info.id.clone(),
                    },
                    Some(&key),
                    None,
                )
                .await
            {
                Ok(s) => s,
                Err(e) => return unavailable(&c, &e.to_string()),
            };
            let body = html! {
                (notice("ok", "Your account is ready."))
                h2 { "Your master key" }
                p { strong { "This is the only time it is shown." } " Keep it in a password manager: agents use it to connect, and you can sign in with it." }
                p.key #master-key { (key) }
                (tenant::connect_snippets(&c, "master-key-snippet"))
                p { a href="/console/stores" { "Next: connect your OrderDesk store" } }
            };
            let mut response = page::page(
                StatusCode::OK,
                "Welcome",
                &c.viewer(Some(&session), Some(&info.name)),
                "",
                body,
            );
            let cookie = c.cookie(
                SESSION_COOKIE,
                session.token(),
                c.sessions.lifetime().as_secs(),
            );
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Ok(Ok(LinkOutcome::SignedIn(info))) => {
            match c
                .sessions
                .start(Principal::Tenant { id: info.id }, None, None)
                .await
            {
                Ok(session) => c.signed_in(&session, "/console/stores"),
                Err(e) => unavailable(&c, &e.to_string()),
            }
        }
        Ok(Err(e)) => match e.code.as_str() {
            "LINK_EXPIRED" => refused(
                StatusCode::GONE,
                "This link has expired: links work for a short while only.",
            ),
            "TENANT_DISABLED" => refused(
                StatusCode::FORBIDDEN,
                "This account is disabled. Ask the server's operator.",
            ),
            "LINK_INVALID" => refused(
                StatusCode::BAD_REQUEST,
                "This link is not valid, or it was already used: each link works once.",
            ),
            _ => unavailable(&c, &tool_error_text(&e)),
        },
        Err(e) => unavailable(&c, &failure_text(&e)),
    }
}

async fn signout(State(c): State<Arc<Console>>, headers: HeaderMap, request: Request) -> Response {
    let Some(form) = read_form(request).await else {
        return bad_form(&c);
    };
    if let Some(session) = c.session(&headers).await {
        if !csrf_ok(&session, &form) {
            return csrf_refused(&c, Some(&session));
        }
        if let Err(e) = c.sessions.end(&session).await {
            return unavailable(&c, &e.to_string());
        }
    }
    let mut response = page::secure(Redirect::to("/console/signin").into_response());
    response
        .headers_mut()
        .append(header::SET_COOKIE, c.cookie(SESSION_COOKIE, "", 0));
    response
}

/// Read an `application/x-www-form-urlencoded` body of at most [`MAX_FORM_BYTES`].
async fn read_form(request: Request) -> Option<FormData> {
    let body = axum::body::to_bytes(request.into_body(), MAX_FORM_BYTES)
        .await
        .ok()?;
    Some(FormData(
        form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    ))
}

fn csrf_ok(session: &Session, form: &FormData) -> bool {
    form.get("csrf").is_some_and(|sent| {
        orderdesk_mcp_shapes::constant_time_eq(sent.as_bytes(), session.csrf.as_bytes())
    })
}

/// A page that only says what went wrong.
fn error_page(
    c: &Console,
    session: Option<&Session>,
    status: StatusCode,
    title: &str,
    text: &str,
) -> Response {
    page::page(
        status,
        title,
        &c.viewer(session, None),
        "",
        notice("error", text),
    )
}

fn csrf_refused(c: &Console, session: Option<&Session>) -> Response {
    error_page(
        c,
        session,
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form was not sent from this session's own page (or it is too old). Reload the page and try again.",
    )
}

fn bad_form(c: &Console) -> Response {
    error_page(
        c,
        None,
        StatusCode::PAYLOAD_TOO_LARGE,
        "Form not read",
        "The form could not be read (too large or cut short).",
    )
}

fn unavailable(c: &Console, text: &str) -> Response {
    error_page(c, None, StatusCode::SERVICE_UNAVAILABLE, "Try again", text)
}

/// A component's answer, or the page saying why there is none.
// The page is returned at once by the handler, never carried further: no need to box it.
#[allow(clippy::result_large_err)]
fn answered<T>(
    c: &Console,
    answer: Result<Result<T, ToolError>, SandboxError>,
) -> Result<T, Response> {
    match answer {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err(unavailable(c, &tool_error_text(&e))),
        Err(e) => Err(unavailable(c, &failure_text(&e))),
    }
}

/// A change's outcome as a notice: `ok` when it was made, else why not.
fn outcome_notice(answer: Result<Result<(), ToolError>, SandboxError>, ok: &str) -> Markup {
    match answer {
        Ok(Ok(())) => notice("ok", ok),
        Ok(Err(e)) => notice("error", &tool_error_text(&e)),
        Err(e) => notice("error", &failure_text(&e)),
    }
}

/// A form posted before sign-in: readable, and carrying the pre-sign-in CSRF token; with
/// the client's address (for the attempt limits).
async fn anonymous_form(
    c: &Console,
    headers: &HeaderMap,
    request: Request,
) -> Result<(IpAddr, FormData), Response> {
    let ip = peer(request.extensions().get::<Peer>());
    let form = read_form(request).await.ok_or_else(|| bad_form(c))?;
    if !c.anonymous_csrf_ok(headers, &form) {
        return Err(csrf_refused(c, None));
    }
    Ok((ip, form))
}

/// A form a signed-in tenant posted: readable, and carrying its session's CSRF token.
async fn tenant_form(
    c: &Console,
    headers: &HeaderMap,
    request: Request,
) -> Result<(TenantView, FormData), Response> {
    let view = tenant_view(c, headers).await?;
    let form = read_form(request).await.ok_or_else(|| bad_form(c))?;
    if !csrf_ok(&view.session, &form) {
        return Err(csrf_refused(c, Some(&view.session)));
    }
    Ok((view, form))
}

/// A form the operator posted: readable, and carrying its session's CSRF token.
async fn operator_form(
    c: &Console,
    headers: &HeaderMap,
    request: Request,
) -> Result<(Session, FormData), Response> {
    let session = operator_view(c, headers).await?;
    let form = read_form(request).await.ok_or_else(|| bad_form(c))?;
    if !csrf_ok(&session, &form) {
        return Err(csrf_refused(c, Some(&session)));
    }
    Ok((session, form))
}

/// A component error as a sentence: its code and message (never a secret).
fn tool_error_text(e: &ToolError) -> String {
    format!("{} ({})", e.message, e.code)
}

/// Who may see a tenant page: the session, and its tenant's profile (checked live, so a
/// disabled or deleted tenant's session stops at once).
pub(crate) struct TenantView {
    pub session: Session,
    pub profile: TenantProfile,
}

impl TenantView {
    pub fn id(&self) -> &str {
        &self.profile.info.id
    }
}

/// The signed-in tenant of this request, or the answer to give instead (sign-in page).
async fn tenant_view(c: &Console, headers: &HeaderMap) -> Result<TenantView, Response> {
    let to_signin = || page::secure(Redirect::to("/console/signin").into_response());
    let Some(session) = c.session(headers).await else {
        return Err(to_signin());
    };
    let Some(id) = session.tenant().map(str::to_string) else {
        return Err(page::secure(
            Redirect::to("/console/operator/tenants").into_response(),
        ));
    };
    match c.runtime.tenant_profile(ConsoleFor::Tenant(&id), &id).await {
        Ok(Ok(profile)) if !profile.disabled => Ok(TenantView { session, profile }),
        Ok(Ok(_)) | Ok(Err(_)) => {
            // Disabled or gone: this session ends.
            let _ = c.sessions.end(&session).await;
            let mut response = to_signin();
            response
                .headers_mut()
                .append(header::SET_COOKIE, c.cookie(SESSION_COOKIE, "", 0));
            Err(response)
        }
        Err(e) => Err(unavailable(c, &failure_text(&e))),
    }
}

/// The signed-in operator of this request, or the answer to give instead.
async fn operator_view(c: &Console, headers: &HeaderMap) -> Result<Session, Response> {
    let Some(token) = &c.admin_token else {
        return Err(not_found_page(c));
    };
    match c.session(headers).await {
        Some(s)
            if s.principal == Principal::Operator
                && Sessions::operator_token_matches(&s, token) =>
        {
            Ok(s)
        }
        Some(s) if s.principal != Principal::Operator => Err(page::page(
            StatusCode::FORBIDDEN,
            "Operators only",
            &c.viewer(Some(&s), None),
            "",
            notice("error", "This page is for the server's operator."),
        )),
        _ => Err(page::secure(
            Redirect::to("/console/operator/signin").into_response(),
        )),
    }
}

fn not_found_page(c: &Console) -> Response {
    page::page(
        StatusCode::NOT_FOUND,
        "Not found",
        &c.viewer(None, None),
        "",
        notice("error", "There is no such page."),
    )
}
