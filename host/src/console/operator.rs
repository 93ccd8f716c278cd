//! The operator's pages (only when an operator token is configured): sign-in with the
//! token, tenants (disable, enable, delete), the sign-up policy and invitations, and the
//! server's status.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use maud::{Markup, html};

use super::page::{self, csrf, notice};
use super::session::{Principal, Session};
use super::tenant::fmt_time;
use super::{
    Attempts, Console, anonymous_form, answered, failure_text, not_found_page, operator_form,
    operator_view, outcome_notice, tool_error_text, unavailable,
};
use crate::bindings::exports::orderdesk::mcp::console::{
    LinkDecision, LinkPurpose, SignupMode, SignupPolicy,
};
use crate::exports::ConsoleFor;

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/operator/signin", get(signin_page).post(signin))
        .route("/console/operator/tenants", get(tenants_page))
        .route(
            "/console/operator/tenants/{id}/{action}",
            post(tenant_action),
        )
        .route(
            "/console/operator/tenants/{id}/delete",
            get(tenant_delete_page),
        )
        .route(
            "/console/operator/signup",
            get(signup_page).post(signup_action),
        )
        .route("/console/operator/status", get(status_page))
}

fn operator_page(
    c: &Console,
    s: &Session,
    status: StatusCode,
    title: &str,
    current: &str,
    body: Markup,
) -> Response {
    page::page(status, title, &c.viewer(Some(s), None), current, body)
}

async fn signin_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    if c.admin_token.is_none() {
        return not_found_page(&c);
    }
    let (token, set) = c.anonymous_csrf(&headers);
    c.public_page(
        StatusCode::OK,
        "Operator sign-in",
        "",
        set,
        signin_body(&token, None),
    )
}

fn signin_body(token: &str, message: Option<Markup>) -> Markup {
    html! {
        @if let Some(m) = message { (m) }
        form.card method="post" action="/console/operator/signin" {
            (csrf(token))
            label for="admin_token" { "Operator token" }
            input #admin_token type="password" name="admin_token" autocomplete="current-password" required;
            button type="submit" { "Sign in as operator" }
        }
    }
}

async fn signin(State(c): State<Arc<Console>>, headers: HeaderMap, request: Request) -> Response {
    let Some(configured) = c.admin_token.clone() else {
        return not_found_page(&c);
    };
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
            "Operator sign-in",
            "",
            set,
            signin_body(&token, Some(m)),
        );
    }
    let sent = form.text("admin_token");
    if !orderdesk_mcp_shapes::constant_time_eq(sent.as_bytes(), configured.as_bytes()) {
        let m = notice("error", "That token was not accepted.");
        return c.public_page(
            StatusCode::UNAUTHORIZED,
            "Operator sign-in",
            "",
            set,
            signin_body(&token, Some(m)),
        );
    }
    match c
        .sessions
        .start(Principal::Operator, None, Some(&configured))
        .await
    {
        Ok(session) => c.signed_in(&session, "/console/operator/tenants"),
        Err(e) => unavailable(&c, &e.to_string()),
    }
}

async fn tenants_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let s = match operator_view(&c, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    tenants_with(&c, &s, StatusCode::OK, None).await
}

async fn tenants_with(
    c: &Console,
    s: &Session,
    status: StatusCode,
    message: Option<Markup>,
) -> Response {
    let tenants = match answered(c, c.runtime.tenant_profiles().await) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let body = html! {
        @if let Some(m) = message { (m) }
        @if tenants.is_empty() { p { "No tenants yet." } }
        @else {
            div.scroll { table {
                caption { (tenants.len()) " tenants" }
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "E-mail" } th scope="col" { "Created" }
                    th scope="col" { "Last active" } th scope="col" { "Stores" } th scope="col" { "Calls today" }
                    th scope="col" { "State" } th scope="col" { "Actions" }
                } }
                tbody {
                    @for t in &tenants {
                        @let id = &t.info.id;
                        tr {
                            td { (t.info.name) br; small { (id) } }
                            td { (t.email.clone().unwrap_or_else(|| "—".into())) }
                            td { (fmt_time(t.info.created_at_ms)) }
                            td { (t.last_active_ms.map_or_else(|| "—".into(), fmt_time)) }
                            td { (t.info.stores) }
                            td { (crate::history::get().calls_today(id)) }
                            td { @if t.disabled { span.badge.bad { "disabled" } } @else { span.badge.ok { "active" } } }
                            td {
                                form.inline method="post" action=(format!("/console/operator/tenants/{id}/{}", if t.disabled { "enable" } else { "disable" })) {
                                    (csrf(&s.csrf))
                                    button.secondary type="submit" aria-label=(format!("{} {}", if t.disabled { "Enable" } else { "Disable" }, t.info.name)) {
                                        @if t.disabled { "Enable" } @else { "Disable" }
                                    }
                                }
                                a href=(format!("/console/operator/tenants/{id}/delete")) aria-label=(format!("Delete {}", t.info.name)) { "Delete…" }
                            }
                        }
                    }
                }
            } }
        }
    };
    operator_page(c, s, status, "Tenants", "/console/operator/tenants", body)
}

async fn tenant_delete_page(
    State(c): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = match operator_view(&c, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let profile = match c.runtime.tenant_profile(ConsoleFor::Operator, &id).await {
        Ok(Ok(p)) => p,
        Ok(Err(e)) => {
            return operator_page(
                &c,
                &s,
                StatusCode::NOT_FOUND,
                "Not found",
                "",
                notice("error", &tool_error_text(&e)),
            );
        }
        Err(e) => return unavailable(&c, &failure_text(&e)),
    };
    let body = html! {
        p { "This deletes the tenant " strong { (profile.info.name) } " (" (id) ") for good, with its " (profile.info.stores)
            " stores, their keys, mirror, cache, audit trail and traces. Its key and console sessions stop working." }
        form method="post" action=(format!("/console/operator/tenants/{id}/delete")) {
            (csrf(&s.csrf))
            label for="confirm" { "Type the tenant id to confirm" }
            input #confirm type="text" name="confirm" autocomplete="off" required;
            button.danger type="submit" { "Delete this tenant" }
        }
        p { a href="/console/operator/tenants" { "Cancel" } }
    };
    operator_page(
        &c,
        &s,
        StatusCode::OK,
        "Delete a tenant",
        "/console/operator/tenants",
        body,
    )
}

async fn tenant_action(
    State(c): State<Arc<Console>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (s, form) = match operator_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let principal = Principal::Tenant { id: id.clone() };
    let (result, done) = match action.as_str() {
        "disable" | "enable" => {
            let disabled = action == "disable";
            let r = c.runtime.tenant_set_disabled(&id, disabled).await;
            if disabled && matches!(r, Ok(Ok(()))) {
                c.auth.forget_tenant(&id);
                let _ = c.sessions.end_all(&principal, None).await;
            }
            (
                r,
                if disabled {
                    "Tenant disabled: its key and sessions no longer work."
                } else {
                    "Tenant enabled."
                },
            )
        }
        "delete" => {
            if form.text("confirm") != id {
                return tenants_with(
                    &c,
                    &s,
                    StatusCode::BAD_REQUEST,
                    Some(notice(
                        "error",
                        "Type the tenant id to confirm; nothing was deleted.",
                    )),
                )
                .await;
            }
            let r = c.runtime.tenant_delete(&id).await;
            if matches!(r, Ok(Ok(()))) {
                c.auth.forget_tenant(&id);
                let _ = c.sessions.end_all(&principal, None).await;
            }
            (r, "Tenant deleted.")
        }
        _ => {
            return operator_page(
                &c,
                &s,
                StatusCode::NOT_FOUND,
                "Not found",
                "",
                notice("error", "There is no such action."),
            );
        }
    };
    let m = outcome_notice(result, done);
    tenants_with(&c, &s, StatusCode::OK, Some(m)).await
}

async fn signup_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let s = match operator_view(&c, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    signup_with(&c, &s, StatusCode::OK, None).await
}

async fn signup_with(
    c: &Console,
    s: &Session,
    status: StatusCode,
    message: Option<Markup>,
) -> Response {
    let policy = match answered(c, c.runtime.signup_policy_get(ConsoleFor::Operator).await) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mode = |m: SignupMode| policy.mode == m;
    let body = html! {
        @if let Some(m) = message { (m) }
        @if !c.mailer.is_on() {
            (notice("warn", "This server has no mail set up (--smtp-url, or --mail-log for development): nobody can sign up or get a link, whatever the policy says."))
        }
        section.card {
            h2 { "Who may sign up" }
            form method="post" action="/console/operator/signup" {
                (csrf(&s.csrf))
                input type="hidden" name="action" value="policy";
                fieldset {
                    legend { "Sign-up" }
                    label { input type="radio" name="mode" value="open" checked[mode(SignupMode::Open)]; " Open: anyone with an allowed address" }
                    label { input type="radio" name="mode" value="invite-only" checked[mode(SignupMode::InviteOnly)]; " Invitation only" }
                    label { input type="radio" name="mode" value="closed" checked[mode(SignupMode::Closed)]; " Closed" }
                }
                label for="domains" { "Allowed e-mail domains (comma-separated; empty: any)" }
                input #domains type="text" name="domains" value=(policy.allowed_domains.join(", "));
                button type="submit" { "Save" }
            }
        }
        section.card {
            h2 { "Invite someone" }
            form method="post" action="/console/operator/signup" {
                (csrf(&s.csrf))
                input type="hidden" name="action" value="invite";
                label for="invite_name" { "Name" }
                input #invite_name type="text" name="name" maxlength="100" required;
                label for="invite_email" { "E-mail" }
                input #invite_email type="email" name="email" required;
                button type="submit" { "Send the invitation" }
            }
        }
    };
    operator_page(c, s, status, "Sign-up", "/console/operator/signup", body)
}

async fn signup_action(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (s, form) = match operator_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let m = match form.text("action").as_str() {
        "policy" => {
            let mode = match form.text("mode").as_str() {
                "open" => SignupMode::Open,
                "invite-only" => SignupMode::InviteOnly,
                _ => SignupMode::Closed,
            };
            let allowed_domains = form
                .text("domains")
                .split(',')
                .map(|d| d.trim().to_lowercase())
                .filter(|d| !d.is_empty())
                .collect();
            match c
                .runtime
                .signup_policy_set(SignupPolicy {
                    mode,
                    allowed_domains,
                })
                .await
            {
                Ok(Ok(())) => notice("ok", "Sign-up policy saved."),
                Ok(Err(e)) => notice("error", &tool_error_text(&e)),
                Err(e) => notice("error", &failure_text(&e)),
            }
        }
        "invite" => {
            let email = form.text("email");
            match c
                .runtime
                .link_request(
                    ConsoleFor::Operator,
                    LinkPurpose::Invite,
                    &email,
                    &form.text("name"),
                )
                .await
            {
                Ok(Ok(LinkDecision::Send(grant))) => {
                    let minutes = grant
                        .expires_at_ms
                        .saturating_sub(super::session::now_ms())
                        .div_ceil(60_000);
                    c.mail_link(
                        &email.to_lowercase(),
                        LinkPurpose::Invite,
                        &grant.token,
                        minutes,
                    )
                    .await;
                    notice("ok", "Invitation sent.")
                }
                Ok(Ok(LinkDecision::Quiet)) => notice(
                    "info",
                    "No invitation sent: this address already has an account.",
                ),
                Ok(Ok(LinkDecision::TooMany)) => notice(
                    "error",
                    "Too many links for this address lately; try later.",
                ),
                Ok(Err(e)) => notice("error", &tool_error_text(&e)),
                Err(e) => notice("error", &failure_text(&e)),
            }
        }
        _ => notice("error", "Unknown action."),
    };
    signup_with(&c, &s, StatusCode::OK, Some(m)).await
}

async fn status_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let s = match operator_view(&c, &headers).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let (in_use, size) = c.runtime.instances();
    let st = &c.status;
    let up = st.started.elapsed().as_secs();
    let body = html! {
        dl.facts {
            dt { "Version" } dd { (st.version) }
            dt { "Up for" } dd { (format!("{}h {:02}m", up / 3600, (up % 3600) / 60)) }
            dt { "State backend" } dd { (st.state) }
            dt { "Sandbox instances (tool calls)" } dd { (in_use) " in use of " (size) }
            dt { "Calls in flight" } dd { (c.runtime.calls_in_flight()) }
            dt { "Polling-sync scheduler" } dd { @if st.scheduler { "running in this instance" } @else { "off in this instance" } }
            dt { "Webhook intake" } dd { code { (c.public_url) (crate::webhook::PATH) } }
            dt { "Mail" } dd { (c.mailer.describe()) }
            dt { "Public URL" } dd { (c.public_url) }
            dt { "Instances seen" } dd { "this one (each instance serves its own status; they share tenants, sessions and traces through the state backend)" }
        }
    };
    operator_page(
        &c,
        &s,
        StatusCode::OK,
        "Server status",
        "/console/operator/status",
        body,
    )
}
