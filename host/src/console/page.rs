//! The console's page frame (head, navigation, sign-out) and the response every console
//! page goes out as: HTML with a strict Content-Security-Policy (no inline script or
//! style), no framing, no caching, no referrer (link tokens travel in URLs).

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use super::session::{Principal, Session};

pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The headers every console answer carries.
pub fn secure(mut response: Response) -> Response {
    let h = response.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, name: HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CSP);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    response
}

/// What the frame needs to know about who is looking.
pub struct Viewer<'a> {
    pub session: Option<&'a Session>,
    /// The tenant's display name, for the header.
    pub name: Option<&'a str>,
}

/// A whole page: `title`, the navigation for whoever is signed in, and `body`.
pub fn page(
    status: StatusCode,
    title: &str,
    viewer: &Viewer,
    current: &str,
    body: Markup,
) -> Response {
    let nav: Vec<(&str, &str)> = match viewer.session.map(|s| &s.principal) {
        Some(Principal::Tenant { .. }) => vec![
            ("/console/stores", "Stores"),
            ("/console/tools", "Try a tool"),
            ("/console/traces", "Traces"),
            ("/console/dashboard", "Dashboard"),
            ("/console/connect", "Connect an agent"),
            ("/console/account", "Account"),
        ],
        Some(Principal::Operator) => vec![
            ("/console/operator/tenants", "Tenants"),
            ("/console/operator/signup", "Sign-up"),
            ("/console/traces", "Traces"),
            ("/console/dashboard", "Dashboard"),
            ("/console/operator/status", "Status"),
        ],
        None => vec![
            ("/console/signin", "Sign in"),
            ("/console/signup", "Sign up"),
        ],
    };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · OrderDesk MCP console" }
                link rel="stylesheet" href="/console/static/console.css";
                script src="/console/static/console.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "OrderDesk MCP" }
                    nav aria-label="Console" {
                        ul {
                            @for (href, label) in &nav {
                                li {
                                    @if *href == current {
                                        a href=(href) aria-current="page" { (label) }
                                    } @else {
                                        a href=(href) { (label) }
                                    }
                                }
                            }
                        }
                    }
                    @if let Some(session) = viewer.session {
                        form.signout method="post" action="/console/signout" {
                            input type="hidden" name="csrf" value=(session.csrf);
                            span.who {
                                @match &session.principal {
                                    Principal::Operator => "Operator",
                                    Principal::Tenant { id } => (viewer.name.unwrap_or(id)),
                                }
                            }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    secure((status, axum::response::Html(markup.into_string())).into_response())
}

/// A notice box (`kind`: `ok`, `error`, `warn`, `info`).
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class=(format!("notice {kind}")) role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

/// A hidden CSRF field.
pub fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// Pretty JSON in a `<pre>` (escaped by maud).
pub fn json_block(text: &str) -> Markup {
    let pretty = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string());
    html! { pre.json { code { (pretty) } } }
}

/// A copyable block (the copy button is added by `console.js`, when scripts run).
pub fn copyable(id: &str, text: &str) -> Markup {
    html! { pre.copy id=(id) { code { (text) } } }
}

pub const CSS: &str = include_str!("console.css");
pub const JS: &str = include_str!("console.js");

/// `/console/static/…`: the stylesheet and the one small script.
pub fn asset(name: &str) -> Response {
    let (body, kind) = match name {
        "console.css" => (CSS, "text/css; charset=utf-8"),
        "console.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return secure(StatusCode::NOT_FOUND.into_response()),
    };
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    let mut response = secure(response);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
