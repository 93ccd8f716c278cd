//! A tenant's pages: stores, try a tool, traces, dashboard, connect an agent, account. The
//! trace and dashboard pages serve the operator too (every tenant's).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};
use serde_json::{Map, Value};

use super::charts::{self, Kind, Series};
use super::forms::{self, Input};
use super::page::{self, copyable, csrf, json_block, notice};
use super::session::{Principal, Session};
use super::{
    Console, TenantView, answered, failure_text, outcome_notice, tenant_form, tenant_view,
    tool_error_text, unavailable,
};
use crate::auth::Principal as Caller;
use crate::bindings::exports::orderdesk::mcp::console::{StoreOverview, TraceFilter};
use crate::capability::CallHooks;
use crate::exports::ConsoleFor;
use crate::mcp::{Arguments, ToolAnswer};

pub fn routes() -> Router<Arc<Console>> {
    Router::new()
        .route("/console/stores", get(stores_page))
        .route("/console/stores/register", post(store_register))
        .route("/console/stores/{id}/{action}", post(store_action))
        .route("/console/stores/{id}/delete", get(store_delete_page))
        .route("/console/unlock", post(unlock))
        .route("/console/tools", get(tools_page))
        .route("/console/tools/{name}", get(tool_page).post(tool_run))
        .route("/console/traces", get(traces_page))
        .route("/console/traces/{id}", get(trace_page))
        .route("/console/dashboard", get(dashboard_page))
        .route("/console/connect", get(connect_page))
        .route("/console/connect/check", post(connect_check))
        .route("/console/account", get(account_page))
        .route("/console/account/{action}", post(account_action))
        .route("/console/account/delete", get(account_delete_page))
}

/// A tenant page in the frame.
fn tenant_page(
    c: &Console,
    view: &TenantView,
    status: StatusCode,
    title: &str,
    current: &str,
    body: Markup,
) -> Response {
    page::page(
        status,
        title,
        &c.viewer(Some(&view.session), Some(&view.profile.info.name)),
        current,
        body,
    )
}

/// The form that gives a link-signed-in session the master key it needs to act.
fn unlock_form(view: &TenantView, back: &str) -> Markup {
    html! {
        section.card {
            h2 { "Unlock with your master key" }
            p { "You signed in with an e-mailed link. To act on your stores this session needs your master key (it is kept sealed, only for this session)." }
            form method="post" action="/console/unlock" {
                (csrf(&view.session.csrf))
                input type="hidden" name="back" value=(back);
                label for="unlock_key" { "Master key" }
                input #unlock_key type="password" name="master_key" autocomplete="current-password" required;
                button type="submit" { "Unlock" }
            }
        }
    }
}

async fn unlock(State(c): State<Arc<Console>>, headers: HeaderMap, request: Request) -> Response {
    let (view, form) = match tenant_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let key = form.text("master_key");
    let back = safe_back(&form.text("back"));
    let valid = matches!(
        c.runtime.tenant_authenticate(&key, view.id()).await,
        Ok(Ok(info)) if info.id == view.id()
    );
    if !valid {
        let body = html! { (notice("error", "That is not this account's master key.")) (unlock_form(&view, &back)) };
        return tenant_page(&c, &view, StatusCode::UNAUTHORIZED, "Unlock", "", body);
    }
    if let Err(e) = c.sessions.set_key(&view.session, Some(&key)).await {
        return unavailable(&c, &e.to_string());
    }
    page::secure(Redirect::to(&back).into_response())
}

/// Only our own console pages are a place to go back to.
fn safe_back(back: &str) -> String {
    if back.starts_with("/console/") && !back.contains("//") && !back.contains('\\') {
        back.to_string()
    } else {
        "/console/stores".to_string()
    }
}

/// Run one tool as the session's tenant, through the MCP call path. `Err` is the page to
/// show instead (locked session, unknown tool).
async fn run_tool(
    c: &Console,
    view: &TenantView,
    name: &str,
    args: Map<String, Value>,
) -> Result<(ToolAnswer, String), Markup> {
    let Some(key) = view.session.master_key.clone() else {
        return Err(notice(
            "warn",
            "This session is not unlocked: give your master key first.",
        ));
    };
    let caller = Caller {
        credential: Some(key),
        tenant: Some(view.id().to_string()),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    match c
        .mcp
        .new_session()
        .call_as(
            request_id.clone(),
            name,
            Arguments::Object(args),
            Some(&caller),
            CallHooks::default(),
        )
        .await
    {
        Ok((answer, _)) => Ok((answer, request_id)),
        Err(e) => Err(notice("error", &e.message)),
    }
}

/// A tool's answer as a page section: the result, or the error's code, message and
/// details; and a link to its trace.
fn answer_section(answer: &ToolAnswer, request_id: &str) -> Markup {
    let error: Option<Value> = answer
        .is_error
        .then(|| serde_json::from_str(&answer.text).ok())
        .flatten();
    let field = |k: &str| {
        error
            .as_ref()
            .and_then(|e| e.get("error").and_then(|e| e.get(k)).or_else(|| e.get(k)))
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
    };
    html! {
        section.card #answer aria-live="polite" {
            @if answer.is_error {
                h2 { "Failed: " (field("code").unwrap_or_else(|| "ERROR".into())) }
                p.notice.error role="alert" { (field("message").unwrap_or_default()) }
                (json_block(&answer.text))
            } @else {
                h2 { "Result" }
                (json_block(&answer.text))
            }
            p { a href=(format!("/console/traces/{request_id}")) { "See its trace" } }
        }
    }
}

// --- Stores ------------------------------------------------------------------------------

async fn stores_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let view = match tenant_view(&c, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    stores_with(&c, &view, StatusCode::OK, None).await
}

async fn stores_with(
    c: &Console,
    view: &TenantView,
    status: StatusCode,
    message: Option<Markup>,
) -> Response {
    let stores = match answered(c, c.runtime.stores_overview(view.id()).await) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let webhook_url = format!("{}{}", c.public_url, crate::webhook::PATH);
    let token = &view.session.csrf;
    let body = html! {
        @if let Some(m) = message { (m) }
        @if view.session.master_key.is_none() { (unlock_form(view, "/console/stores")) }
        @if stores.is_empty() {
            p { "No store yet. Register your OrderDesk store below: you find its store id and API key in OrderDesk under Store Settings → API." }
        }
        @for s in &stores {
            (store_card(s, token, &webhook_url))
        }
        section.card {
            h2 #register { "Register a store" }
            p.hint { "The key is checked with OrderDesk first, then kept encrypted under your master key." }
            form method="post" action="/console/stores/register" {
                (csrf(token))
                label for="store_id" { "Store id" }
                input #store_id type="text" name="store_id" inputmode="numeric" required;
                label for="api_key" { "API key" }
                input #api_key type="password" name="api_key" autocomplete="off" required;
                label for="store_name" { "Name" }
                input #store_name type="text" name="name" maxlength="100" required;
                label for="store_label" { "Label (optional)" }
                input #store_label type="text" name="label" maxlength="100";
                button type="submit" { "Register" }
            }
        }
    };
    tenant_page(c, view, status, "Stores", "/console/stores", body)
}

fn store_card(s: &StoreOverview, token: &str, webhook_url: &str) -> Markup {
    let id = &s.store_id;
    let when = |ms: Option<u64>| ms.map_or_else(|| "never".to_string(), fmt_time);
    html! {
        article.card aria-labelledby=(format!("store-{id}")) {
            h2 #(format!("store-{id}")) {
                (s.name) " "
                @if let Some(l) = &s.label { span.badge { (l) } " " }
                @if s.is_default { span.badge.ok { "default" } }
            }
            dl.facts {
                dt { "Store id" } dd { (id) }
                dt { "Polling sync" } dd {
                    @if s.sync_enabled {
                        "on, every " (s.sync_interval_minutes.unwrap_or(0)) " min"
                    } @else { "off" }
                }
                dt { "Last sync" } dd {
                    @match &s.last_sync {
                        Some(report) => (last_sync_text(report)),
                        None => "none yet",
                    }
                }
                dt { "Webhooks" } dd { @if s.webhooks_enabled { "on" } @else { "off" } }
                dt { "Last webhook" } dd { (when(s.last_webhook_ms)) }
                dt { "Orders in the mirror" } dd { (s.mirror_orders) }
                dt { "Cache entries" } dd { (s.cache_entries.map_or_else(|| "—".to_string(), |n| n.to_string())) }
                dt { "OrderDesk bucket" } dd {
                    @match s.bucket_tokens {
                        Some(t) => { (format!("{t:.1} requests left")) " (" (when(s.bucket_seen_ms)) ")" }
                        None => "not seen yet",
                    }
                }
            }
            @if s.webhooks_enabled {
                h3 { "Webhook set-up in OrderDesk" }
                p { "In OrderDesk, add a rule: " em { "when an order is created or changed" } ", action " em { "Post Order JSON" } " to this URL:" }
                (copyable(&format!("webhook-{id}"), webhook_url))
            }
            details {
                summary { "Change this store" }
                form method="post" action=(format!("/console/stores/{id}/label")) {
                    (csrf(token))
                    label for=(format!("label-{id}")) { "Label" }
                    input id=(format!("label-{id}")) type="text" name="label" maxlength="100" value=(s.label.clone().unwrap_or_default());
                    button type="submit" { "Save label" }
                }
                form method="post" action=(format!("/console/stores/{id}/key")) {
                    (csrf(token))
                    input type="hidden" name="name" value=(s.name);
                    input type="hidden" name="label" value=(s.label.clone().unwrap_or_default());
                    label for=(format!("key-{id}")) { "New API key (after rotating it in OrderDesk)" }
                    input id=(format!("key-{id}")) type="password" name="api_key" autocomplete="off" required;
                    button type="submit" { "Save new key" }
                }
            }
            div {
                @if !s.is_default {
                    form.inline method="post" action=(format!("/console/stores/{id}/default")) {
                        (csrf(token)) button.secondary type="submit" { "Make default" }
                    }
                }
                form.inline method="post" action=(format!("/console/stores/{id}/test")) {
                    (csrf(token)) button.secondary type="submit" { "Test connection" }
                }
                a href=(format!("/console/stores/{id}/delete")) { "Delete…" }
            }
        }
    }
}

fn last_sync_text(report: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(report) else {
        return "recorded".to_string();
    };
    let get = |k: &str| {
        v.get(k)
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
    };
    let mut parts = Vec::new();
    if let Some(o) = get("outcome").or_else(|| get("status")) {
        parts.push(o);
    }
    for k in ["created", "updated", "cancelled"] {
        if let Some(n) = get(k) {
            parts.push(format!("{k} {n}"));
        }
    }
    if let Some(ms) = v.get("duration_ms").and_then(Value::as_u64) {
        parts.push(format!("{ms} ms"));
    }
    if let Some(at) = v
        .get("finished_at_ms")
        .or_else(|| v.get("started_at_ms"))
        .and_then(Value::as_u64)
    {
        parts.push(fmt_time(at));
    }
    if parts.is_empty() {
        "recorded".to_string()
    } else {
        parts.join(", ")
    }
}

/// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn fmt_time(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let (h, m, s) = ((secs % 86_400) / 3600, (secs % 3600) / 60, secs % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02} UTC")
}

async fn store_register(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (view, form) = match tenant_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let mut args = Map::new();
    args.insert("store_id".into(), Value::String(form.text("store_id")));
    args.insert("api_key".into(), Value::String(form.text("api_key")));
    args.insert("name".into(), Value::String(form.text("name")));
    let label = form.text("label");
    if !label.is_empty() {
        args.insert("label".into(), Value::String(label));
    }
    tool_then_stores(&c, &view, "stores_register", args, "Store registered.").await
}

/// Run a store tool and show the stores page with its outcome.
async fn tool_then_stores(
    c: &Console,
    view: &TenantView,
    tool: &str,
    args: Map<String, Value>,
    ok: &str,
) -> Response {
    match run_tool(c, view, tool, args).await {
        Ok((answer, _)) if !answer.is_error => {
            stores_with(c, view, StatusCode::OK, Some(notice("ok", ok))).await
        }
        Ok((answer, request_id)) => {
            let m = html! { (notice("error", "That did not work:")) (answer_section(&answer, &request_id)) };
            stores_with(c, view, StatusCode::UNPROCESSABLE_ENTITY, Some(m)).await
        }
        Err(m) => stores_with(c, view, StatusCode::FORBIDDEN, Some(m)).await,
    }
}

/// The tenant's own store with this id, or the page to show instead (ids in URLs are
/// checked against the session's tenant, never trusted).
async fn own_store(c: &Console, view: &TenantView, id: &str) -> Result<StoreOverview, Response> {
    match c.runtime.stores_overview(view.id()).await {
        Ok(Ok(stores)) => stores
            .into_iter()
            .find(|s| s.store_id == id)
            .ok_or_else(|| {
                tenant_page(
                    c,
                    view,
                    StatusCode::NOT_FOUND,
                    "Not found",
                    "",
                    notice("error", "You have no store with this id."),
                )
            }),
        Ok(Err(e)) => Err(unavailable(c, &tool_error_text(&e))),
        Err(e) => Err(unavailable(c, &failure_text(&e))),
    }
}

async fn store_action(
    State(c): State<Arc<Console>>,
    Path((id, action)): Path<(String, String)>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (view, form) = match tenant_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let store = match own_store(&c, &view, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let store_arg = || {
        let mut a = Map::new();
        a.insert("store".into(), Value::String(store.store_id.clone()));
        a
    };
    match action.as_str() {
        "label" => {
            let label = form.text("label");
            let label = (!label.is_empty()).then_some(label);
            let r = c
                .runtime
                .store_set_label(view.id(), &store.store_id, label.as_deref())
                .await;
            stores_with(
                &c,
                &view,
                StatusCode::OK,
                Some(outcome_notice(r, "Label saved.")),
            )
            .await
        }
        "default" => {
            let r = c
                .runtime
                .store_set_default(view.id(), &store.store_id)
                .await;
            stores_with(
                &c,
                &view,
                StatusCode::OK,
                Some(outcome_notice(r, "Default store changed.")),
            )
            .await
        }
        "key" => {
            let mut args = Map::new();
            args.insert("store_id".into(), Value::String(store.store_id.clone()));
            args.insert("api_key".into(), Value::String(form.text("api_key")));
            args.insert("name".into(), Value::String(store.name.clone()));
            if let Some(l) = &store.label {
                args.insert("label".into(), Value::String(l.clone()));
            }
            tool_then_stores(
                &c,
                &view,
                "stores_register",
                args,
                "New API key checked and saved.",
            )
            .await
        }
        "test" => {
            tool_then_stores(
                &c,
                &view,
                "store_test",
                store_arg(),
                "The connection to OrderDesk works.",
            )
            .await
        }
        "delete" => {
            if form.text("confirm") != store.store_id {
                let m = notice(
                    "error",
                    "Type the store id to confirm; nothing was deleted.",
                );
                return stores_with(&c, &view, StatusCode::BAD_REQUEST, Some(m)).await;
            }
            tool_then_stores(&c, &view, "stores_delete", store_arg(), "Store deleted.").await
        }
        _ => tenant_page(
            &c,
            &view,
            StatusCode::NOT_FOUND,
            "Not found",
            "",
            notice("error", "There is no such action."),
        ),
    }
}

async fn store_delete_page(
    State(c): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let view = match tenant_view(&c, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let store = match own_store(&c, &view, &id).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let body = html! {
        p { "This deletes the store " strong { (store.name) } " (id " (store.store_id) ") from your account: its encrypted API key, its sync and webhook set-up, its mirror of "
            (store.mirror_orders) " orders and its cached reads. Nothing changes in OrderDesk itself." }
        form method="post" action=(format!("/console/stores/{}/delete", store.store_id)) {
            (csrf(&view.session.csrf))
            label for="confirm" { "Type the store id to confirm" }
            input #confirm type="text" name="confirm" autocomplete="off" required;
            button.danger type="submit" { "Delete this store" }
        }
        p { a href="/console/stores" { "Cancel" } }
    };
    tenant_page(
        &c,
        &view,
        StatusCode::OK,
        "Delete a store",
        "/console/stores",
        body,
    )
}

// --- Try a tool ---------------------------------------------------------------------------

async fn tools_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let view = match tenant_view(&c, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = html! {
        p { "Run any tool as your agents would, on one of your stores, and see exactly what it answers." }
        div.scroll { table {
            thead { tr { th scope="col" { "Tool" } th scope="col" { "What it does" } th scope="col" { "Kind" } } }
            tbody {
                @for t in c.mcp.tools() {
                    @let read_only = t.annotations.as_ref().and_then(|a| a.read_only_hint).unwrap_or(false);
                    tr {
                        td { a href=(format!("/console/tools/{}", t.name)) { (t.name) } }
                        td { (t.title.clone().unwrap_or_default()) }
                        td { @if read_only { span.badge.ok { "reads" } } @else { span.badge.bad { "writes" } } }
                    }
                }
            }
        } }
    };
    tenant_page(
        &c,
        &view,
        StatusCode::OK,
        "Try a tool",
        "/console/tools",
        body,
    )
}

fn find_tool<'a>(c: &'a Console, name: &str) -> Option<&'a rmcp::model::Tool> {
    c.mcp.tools().iter().find(|t| t.name == name)
}

async fn tool_page(
    State(c): State<Arc<Console>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let view = match tenant_view(&c, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(tool) = find_tool(&c, &name) else {
        return tenant_page(
            &c,
            &view,
            StatusCode::NOT_FOUND,
            "Not found",
            "/console/tools",
            notice("error", "There is no tool with this name."),
        );
    };
    let stores = c
        .runtime
        .stores_overview(view.id())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let body = tool_form(&view, tool, &stores, &[], None);
    tenant_page(
        &c,
        &view,
        StatusCode::OK,
        &format!("Try {}", tool.name),
        "/console/tools",
        body,
    )
}

fn tool_form(
    view: &TenantView,
    tool: &rmcp::model::Tool,
    stores: &[StoreOverview],
    posted: &[(String, String)],
    extra: Option<Markup>,
) -> Markup {
    let fields = forms::fields(&tool.input_schema);
    let value = |name: &str| {
        posted
            .iter()
            .find(|(k, _)| *k == forms::field_name(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let read_only = tool
        .annotations
        .as_ref()
        .and_then(|a| a.read_only_hint)
        .unwrap_or(false);
    html! {
        p { (tool.description.clone().unwrap_or_default()) }
        @if view.session.master_key.is_none() { (unlock_form(view, &format!("/console/tools/{}", tool.name))) }
        form.card method="post" action=(format!("/console/tools/{}", tool.name)) {
            (csrf(&view.session.csrf))
            @if fields.is_empty() { p { "This tool takes no arguments." } }
            @for f in &fields {
                @let id = format!("f-{}", f.name);
                @let hint = format!("{id}-hint");
                label for=(id) { (f.name) @if f.required { " (required)" } }
                @if let Some(d) = &f.description { p.hint id=(hint) { (d) } }
                @match &f.input {
                    Input::Store => {
                        select id=(id) name=(forms::field_name(&f.name)) aria-describedby=(hint) {
                            option value="" { "(the default store)" }
                            @for s in stores {
                                option value=(s.store_id) selected[value(&f.name) == s.store_id] { (s.name) " — " (s.store_id) }
                            }
                        }
                    }
                    Input::Choice(words) => {
                        select id=(id) name=(forms::field_name(&f.name)) aria-describedby=(hint) {
                            option value="" { "(not set)" }
                            @for w in words { option value=(w) selected[value(&f.name) == *w] { (w) } }
                        }
                    }
                    Input::Bool => {
                        select id=(id) name=(forms::field_name(&f.name)) aria-describedby=(hint) {
                            option value="" { "(not set)" }
                            option value="true" selected[value(&f.name) == "true"] { "yes" }
                            option value="false" selected[value(&f.name) == "false"] { "no" }
                        }
                    }
                    Input::Integer => input id=(id) type="number" step="1" name=(forms::field_name(&f.name)) value=(value(&f.name)) aria-describedby=(hint) required[f.required];
                    Input::Number => input id=(id) type="number" step="any" name=(forms::field_name(&f.name)) value=(value(&f.name)) aria-describedby=(hint) required[f.required];
                    Input::Text => input id=(id) type="text" name=(forms::field_name(&f.name)) value=(value(&f.name)) aria-describedby=(hint) required[f.required];
                    Input::Json => textarea id=(id) name=(forms::field_name(&f.name)) aria-describedby=(hint) placeholder="JSON" required[f.required] { (value(&f.name)) }
                }
            }
            @if !read_only {
                p.notice.warn { "This tool changes data in OrderDesk or in this server. You will be asked to confirm what it will do." }
            }
            button type="submit" { "Run " (tool.name) }
        }
        @if let Some(m) = extra { (m) }
    }
}

async fn tool_run(
    State(c): State<Arc<Console>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (view, form) = match tenant_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let Some(tool) = find_tool(&c, &name) else {
        return tenant_page(
            &c,
            &view,
            StatusCode::NOT_FOUND,
            "Not found",
            "/console/tools",
            notice("error", "There is no tool with this name."),
        );
    };
    let title = format!("Try {}", tool.name);
    let stores = c
        .runtime
        .stores_overview(view.id())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let fields = forms::fields(&tool.input_schema);
    let posted = &form.0;
    let args = match forms::arguments(&fields, posted) {
        Ok(a) => a,
        Err(why) => {
            let body = tool_form(&view, tool, &stores, posted, Some(notice("error", &why)));
            return tenant_page(
                &c,
                &view,
                StatusCode::BAD_REQUEST,
                &title,
                "/console/tools",
                body,
            );
        }
    };
    let read_only = tool
        .annotations
        .as_ref()
        .and_then(|a| a.read_only_hint)
        .unwrap_or(false);
    if !read_only && form.get("confirm") != Some("yes") {
        // Say what it will change, and ask.
        let destructive = tool
            .annotations
            .as_ref()
            .and_then(|a| a.destructive_hint)
            .unwrap_or(false);
        let body = html! {
            p.notice.warn role="alert" {
                "Running " strong { (tool.name) } " will change data"
                @if destructive { ", and may delete or overwrite it for good" }
                ". It does: " (tool.description.clone().unwrap_or_default())
            }
            h2 { "With these arguments" }
            (json_block(&Value::Object(args.clone()).to_string()))
            form method="post" action=(format!("/console/tools/{}", tool.name)) {
                @for (k, v) in posted {
                    @if k != "confirm" { input type="hidden" name=(k) value=(v); }
                }
                input type="hidden" name="confirm" value="yes";
                button.danger type="submit" { "Yes, run it" }
            }
            p { a href=(format!("/console/tools/{}", tool.name)) { "Cancel" } }
        };
        return tenant_page(
            &c,
            &view,
            StatusCode::OK,
            &format!("Confirm {}", tool.name),
            "/console/tools",
            body,
        );
    }
    let extra = match run_tool(&c, &view, &name, args).await {
        Ok((answer, request_id)) => answer_section(&answer, &request_id),
        Err(m) => m,
    };
    let body = tool_form(&view, tool, &stores, posted, Some(extra));
    tenant_page(&c, &view, StatusCode::OK, &title, "/console/tools", body)
}

// --- Traces -------------------------------------------------------------------------------

/// Whoever may read traces and the dashboard: a tenant (its own) or the operator (all).
enum Reader {
    Tenant(Box<TenantView>),
    Operator(Session),
}

impl Reader {
    fn tenant(&self) -> Option<&str> {
        match self {
            Reader::Tenant(v) => Some(v.id()),
            Reader::Operator(_) => None,
        }
    }

    fn page(
        &self,
        c: &Console,
        status: StatusCode,
        title: &str,
        current: &str,
        body: Markup,
    ) -> Response {
        match self {
            Reader::Tenant(v) => tenant_page(c, v, status, title, current, body),
            Reader::Operator(s) => {
                page::page(status, title, &c.viewer(Some(s), None), current, body)
            }
        }
    }
}

async fn reader(c: &Console, headers: &HeaderMap) -> Result<Reader, Response> {
    if let Some(s) = c.session(headers).await
        && s.principal == Principal::Operator
    {
        return super::operator_view(c, headers).await.map(Reader::Operator);
    }
    tenant_view(c, headers)
        .await
        .map(|v| Reader::Tenant(Box::new(v)))
}

#[derive(serde::Deserialize, Default)]
struct TraceQuery {
    #[serde(default)]
    store: String,
    #[serde(default)]
    tool: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    since_minutes: String,
}

async fn traces_page(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    Query(q): Query<TraceQuery>,
) -> Response {
    let reader = match reader(&c, &headers).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let some =
        |s: &str| (!s.trim().is_empty()).then(|| s.trim().chars().take(100).collect::<String>());
    let since = q.since_minutes.trim().parse::<u64>().ok();
    let filter = TraceFilter {
        store: some(&q.store),
        name: some(&q.tool),
        outcome: some(&q.outcome),
        since_ms: since.map(|m| super::session::now_ms().saturating_sub(m * 60_000)),
        limit: 200,
    };
    let traces = match answered(&c, c.runtime.traces(reader.tenant(), filter).await) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let body = html! {
        form.card method="get" action="/console/traces" {
            label for="t-store" { "Store id" }
            input #t-store type="text" name="store" value=(q.store);
            label for="t-tool" { "Tool (or webhook, sync_run)" }
            input #t-tool type="text" name="tool" value=(q.tool);
            label for="t-outcome" { "Outcome" }
            select #t-outcome name="outcome" {
                option value="" { "any" }
                option value="ok" selected[q.outcome == "ok"] { "ok" }
                option value="error" selected[q.outcome == "error"] { "any failure" }
            }
            label for="t-since" { "In the last (minutes)" }
            input #t-since type="number" min="1" name="since_minutes" value=(q.since_minutes);
            button type="submit" { "Filter" }
        }
        @if traces.is_empty() {
            p { "No trace matches. Every tool call, webhook delivery and sync run leaves one." }
        } @else {
            div.scroll { table {
                caption { (traces.len()) " most recent" }
                thead { tr {
                    th scope="col" { "When" }
                    @if reader.tenant().is_none() { th scope="col" { "Tenant" } }
                    th scope="col" { "Store" } th scope="col" { "What" } th scope="col" { "Outcome" } th scope="col" { "Duration" }
                } }
                tbody {
                    @for t in &traces {
                        tr {
                            td { a href=(format!("/console/traces/{}", t.id)) { (fmt_time(t.started_at_ms)) } }
                            @if reader.tenant().is_none() { td { (t.tenant) } }
                            td { (t.store.clone().unwrap_or_default()) }
                            td { (t.kind) ": " (t.name) }
                            td { @if t.outcome == "ok" { span.badge.ok { "ok" } } @else { span.badge.bad { (t.outcome) } } }
                            td { (format!("{:.1} ms", t.duration_us as f64 / 1000.0)) }
                        }
                    }
                }
            } }
        }
    };
    reader.page(&c, StatusCode::OK, "Traces", "/console/traces", body)
}

async fn trace_page(
    State(c): State<Arc<Console>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let reader = match reader(&c, &headers).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let trace = match c.runtime.trace(reader.tenant(), &id).await {
        Ok(Ok(Some(t))) => t,
        Ok(Ok(None)) => {
            return reader.page(
                &c,
                StatusCode::NOT_FOUND,
                "Trace not found",
                "/console/traces",
                notice(
                    "error",
                    "No trace of yours has this id (traces are kept for a limited time).",
                ),
            );
        }
        Ok(Err(e)) => return unavailable(&c, &tool_error_text(&e)),
        Err(e) => return unavailable(&c, &failure_text(&e)),
    };
    let s = &trace.summary;
    let body = html! {
        dl.facts {
            dt { "Request id" } dd { (s.id) }
            dt { "Tenant" } dd { (s.tenant) }
            dt { "Store" } dd { (s.store.clone().unwrap_or_else(|| "—".into())) }
            dt { "What" } dd { (s.kind) ": " (s.name) }
            dt { "Outcome" } dd { (s.outcome) }
            @if let Some(m) = &trace.message { dt { "Message" } dd { (m) } }
            dt { "Started" } dd { (fmt_time(s.started_at_ms)) }
            dt { "Duration" } dd { (format!("{:.2} ms", s.duration_us as f64 / 1000.0)) }
        }
        h2 { "Steps" }
        (charts::waterfall(&trace))
        div.scroll { table {
            thead { tr { th scope="col" { "#" } th scope="col" { "Kind" } th scope="col" { "Step" } th scope="col" { "Start" } th scope="col" { "Took" } th scope="col" { "Status" } th scope="col" { "Details" } } }
            tbody {
                @for (i, step) in trace.steps.iter().enumerate() {
                    tr {
                        td { (i + 1) }
                        td { (step.kind) }
                        td { (step.label) }
                        td { (format!("{:.2} ms", step.start_us as f64 / 1000.0)) }
                        td { (format!("{:.2} ms", step.duration_us as f64 / 1000.0)) }
                        td { (step.status.map(|s| s.to_string()).unwrap_or_default()) }
                        td { @if let Some(d) = &step.detail { code { (d) } } }
                    }
                }
            }
        } }
        h2 { "Arguments" }
        (json_block(&trace.arguments))
    };
    reader.page(
        &c,
        StatusCode::OK,
        &format!("Trace of {}", s.name),
        "/console/traces",
        body,
    )
}

// --- Dashboard ----------------------------------------------------------------------------

async fn dashboard_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let reader = match reader(&c, &headers).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    let (minutes, hours) = match reader.tenant() {
        Some(id) => crate::history::get().window(Some(&[id])),
        None => crate::history::get().window(None),
    };
    let section = |points: &crate::history::Points, per: &str, first: &str| {
        let col = |f: &dyn Fn(&crate::history::Counts) -> f64| {
            points.iter().map(|(_, c)| f(c)).collect::<Vec<f64>>()
        };
        let ratio = col(&|c| {
            let all = c.cache_hits + c.cache_misses;
            if all == 0 {
                0.0
            } else {
                100.0 * c.cache_hits as f64 / all as f64
            }
        });
        let total = points
            .iter()
            .fold(crate::history::Counts::default(), |mut acc, (_, c)| {
                acc.add(c);
                acc
            });
        html! {
            div.charts {
                (charts::chart("Tool calls", per, first, "now", Kind::Bars, &[
                    Series { name: "ok", class: "ok", values: col(&|c| c.calls_ok as f64) },
                    Series { name: "failed", class: "failed", values: col(&|c| c.calls_failed as f64) },
                ]))
                (charts::chart("Latency", "ms, p50 and p95", first, "now", Kind::Lines, &[
                    Series { name: "p50", class: "p50", values: col(&|c| c.percentile_ms(0.5).unwrap_or(0) as f64) },
                    Series { name: "p95", class: "p95", values: col(&|c| c.percentile_ms(0.95).unwrap_or(0) as f64) },
                ]))
                (charts::chart("Cache hit ratio", "%", first, "now", Kind::Lines, &[
                    Series { name: "hits %", class: "hit", values: ratio },
                ]))
                (charts::chart("Upstream requests", per, first, "now", Kind::Bars, &[
                    Series { name: "requests", class: "up", values: col(&|c| (c.upstream - c.upstream_429) as f64) },
                    Series { name: "429 received", class: "r429", values: col(&|c| c.upstream_429 as f64) },
                    Series { name: "429 avoided (held back)", class: "held", values: col(&|c| c.throttled as f64) },
                ]))
                (charts::chart("Webhooks and sync runs", per, first, "now", Kind::Bars, &[
                    Series { name: "webhook deliveries", class: "hook", values: col(&|c| c.webhooks as f64) },
                    Series { name: "sync runs", class: "sync", values: col(&|c| c.sync_runs as f64) },
                ]))
            }
            dl.facts {
                dt { "Calls" } dd { (total.calls()) " (" (total.calls_failed) " failed)" }
                dt { "Latency p50 / p95" } dd {
                    (total.percentile_ms(0.5).map_or("—".into(), |v| format!("≤ {v} ms"))) " / "
                    (total.percentile_ms(0.95).map_or("—".into(), |v| format!("≤ {v} ms")))
                }
                dt { "Cache hits / misses" } dd { (total.cache_hits) " / " (total.cache_misses) }
                dt { "Upstream requests, 429s received, held back" } dd { (total.upstream) ", " (total.upstream_429) ", " (total.throttled) }
                dt { "Webhook deliveries, sync runs" } dd { (total.webhooks) ", " (total.sync_runs) }
            }
        }
    };
    let body = html! {
        p.hint { "Counted by this server instance, from the same events as /metrics." @if reader.tenant().is_some() { " Webhook deliveries are counted server-wide; your stores' deliveries are in Traces." } }
        h2 { "Last hour, per minute" }
        (section(&minutes, "per minute", "60 min ago"))
        h2 { "Last day, per hour" }
        (section(&hours, "per hour", "24 h ago"))
    };
    reader.page(&c, StatusCode::OK, "Dashboard", "/console/dashboard", body)
}

// --- Connect an agent ---------------------------------------------------------------------

/// The connection snippets, with `<your master key>` or, right after sign-up, nothing
/// else: the key is shown beside them once, never put into them.
pub fn connect_snippets(c: &Console, prefix: &str) -> Markup {
    let url = format!("{}/mcp", c.public_url);
    let key = "<your master key>";
    let claude_code = format!(
        "claude mcp add --transport http orderdesk {url} \\\n  --header \"Authorization: Bearer {key}\""
    );
    let cursor = serde_json::to_string_pretty(&serde_json::json!({
        "mcpServers": { "orderdesk": { "url": url, "headers": { "Authorization": format!("Bearer {key}") } } }
    }))
    .unwrap_or_default();
    let desktop = serde_json::to_string_pretty(&serde_json::json!({
        "mcpServers": { "orderdesk": {
            "command": "npx",
            "args": ["-y", "mcp-remote", url, "--header", "Authorization:${ORDERDESK_BEARER}"],
            "env": { "ORDERDESK_BEARER": format!("Bearer {key}") }
        } }
    }))
    .unwrap_or_default();
    let generic = format!(
        "URL:    {url}\nHeader: Authorization: Bearer {key}\nTransport: streamable HTTP (MCP 2025-06-18 and later)"
    );
    html! {
        h2 { "Connect an agent" }
        p { "Replace " code { (key) } " with your master key." }
        h3 { "Claude Code" }
        (copyable(&format!("{prefix}-claude-code"), &claude_code))
        h3 { "Cursor (~/.cursor/mcp.json)" }
        (copyable(&format!("{prefix}-cursor"), &cursor))
        h3 { "Claude Desktop (claude_desktop_config.json, through mcp-remote)" }
        (copyable(&format!("{prefix}-desktop"), &desktop))
        h3 { "Any streamable-HTTP MCP client" }
        (copyable(&format!("{prefix}-generic"), &generic))
    }
}

async fn connect_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let view = match tenant_view(&c, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    connect_with(&c, &view, StatusCode::OK, None)
}

fn connect_with(
    c: &Console,
    view: &TenantView,
    status: StatusCode,
    message: Option<Markup>,
) -> Response {
    let body = html! {
        (connect_snippets(c, "snippet"))
        section.card {
            h2 { "Check the connection" }
            p { "Connects to this server's MCP endpoint the way an agent does, with your key, and lists the tools." }
            @if view.session.master_key.is_none() { (unlock_form(view, "/console/connect")) }
            form method="post" action="/console/connect/check" {
                (csrf(&view.session.csrf))
                button type="submit" { "Check the connection" }
            }
            @if let Some(m) = message { (m) }
        }
    };
    tenant_page(
        c,
        view,
        status,
        "Connect an agent",
        "/console/connect",
        body,
    )
}

async fn connect_check(
    State(c): State<Arc<Console>>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (view, _) = match tenant_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let Some(key) = view.session.master_key.clone() else {
        return connect_with(
            &c,
            &view,
            StatusCode::FORBIDDEN,
            Some(notice(
                "warn",
                "Unlock this session with your master key first.",
            )),
        );
    };
    let m = match super::check::mcp_round_trip(&c, &key).await {
        Ok(tools) => notice(
            "ok",
            &format!(
                "Connected: the server answered as an MCP server and lists {tools} tools for your key."
            ),
        ),
        Err(why) => notice("error", &format!("The check failed: {why}")),
    };
    connect_with(&c, &view, StatusCode::OK, Some(m))
}

// --- Account ------------------------------------------------------------------------------

async fn account_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let view = match tenant_view(&c, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    account_with(&c, &view, StatusCode::OK, None)
}

fn account_with(
    c: &Console,
    view: &TenantView,
    status: StatusCode,
    message: Option<Markup>,
) -> Response {
    let p = &view.profile;
    let token = &view.session.csrf;
    let body = html! {
        @if let Some(m) = message { (m) }
        dl.facts {
            dt { "Name" } dd { (p.info.name) }
            dt { "Account id" } dd { (p.info.id) }
            dt { "Created" } dd { (fmt_time(p.info.created_at_ms)) }
            dt { "Stores" } dd { (p.info.stores) }
            dt { "Sign-in e-mail" } dd { (p.email.clone().unwrap_or_else(|| "none".into())) }
            dt { "This sign-in lasts until" } dd { (fmt_time(view.session.expires_ms)) }
        }
        section.card {
            h2 { "Sign-in e-mail" }
            form method="post" action="/console/account/email" {
                (csrf(token))
                label for="acct_email" { "E-mail for sign-in links" }
                input #acct_email type="email" name="email" autocomplete="email" value=(p.email.clone().unwrap_or_default()) required;
                button type="submit" { "Save e-mail" }
            }
        }
        section.card {
            h2 { "Rotate the master key" }
            p { "Makes a new master key and shows it once. The old key stops working at once, for every agent and every other console session; your stores' API keys are re-sealed under the new one, so nothing else changes." }
            @if view.session.master_key.is_none() { (unlock_form(view, "/console/account")) }
            @else {
                form method="post" action="/console/account/rotate" {
                    (csrf(token))
                    button.danger type="submit" { "Rotate the master key" }
                }
            }
        }
        section.card {
            h2 { "Delete the account" }
            p { a href="/console/account/delete" { "Delete this account…" } }
        }
    };
    tenant_page(c, view, status, "Account", "/console/account", body)
}

async fn account_delete_page(State(c): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let view = match tenant_view(&c, &headers).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let body = html! {
        p { "This deletes the account " strong { (view.profile.info.name) } " for good: its " (view.profile.info.stores)
            " stores with their encrypted API keys, sync and webhook set-up, order mirror, cached reads, audit trail and traces. Agents using its key stop working. Nothing changes in OrderDesk itself." }
        form method="post" action="/console/account/delete" {
            (csrf(&view.session.csrf))
            label for="confirm" { "Type the account id (" (view.id()) ") to confirm" }
            input #confirm type="text" name="confirm" autocomplete="off" required;
            button.danger type="submit" { "Delete this account" }
        }
        p { a href="/console/account" { "Cancel" } }
    };
    tenant_page(
        &c,
        &view,
        StatusCode::OK,
        "Delete the account",
        "/console/account",
        body,
    )
}

async fn account_action(
    State(c): State<Arc<Console>>,
    Path(action): Path<String>,
    headers: HeaderMap,
    request: Request,
) -> Response {
    let (view, form) = match tenant_form(&c, &headers, request).await {
        Ok(posted) => posted,
        Err(r) => return r,
    };
    let principal = Principal::Tenant {
        id: view.id().to_string(),
    };
    match action.as_str() {
        "email" => {
            let m = match c
                .runtime
                .tenant_set_email(
                    ConsoleFor::Tenant(view.id()),
                    view.id(),
                    &form.text("email"),
                )
                .await
            {
                Ok(Ok(())) => notice("ok", "E-mail saved."),
                Ok(Err(e)) if e.code == "EMAIL_TAKEN" => {
                    notice("error", "Another account uses this address.")
                }
                Ok(Err(e)) => notice("error", &tool_error_text(&e)),
                Err(e) => notice("error", &failure_text(&e)),
            };
            // Show the profile as it is now.
            match tenant_view(&c, &headers).await {
                Ok(v) => account_with(&c, &v, StatusCode::OK, Some(m)),
                Err(r) => r,
            }
        }
        "rotate" => {
            let Some(current) = view.session.master_key.clone() else {
                return account_with(
                    &c,
                    &view,
                    StatusCode::FORBIDDEN,
                    Some(notice(
                        "warn",
                        "Unlock this session with your master key first.",
                    )),
                );
            };
            match c.runtime.tenant_rotate_key(view.id(), &current).await {
                Ok(Ok(new_key)) => {
                    c.auth.forget_tenant(view.id());
                    let _ = c.sessions.end_all(&principal, Some(&view.session)).await;
                    let _ = c.sessions.set_key(&view.session, Some(&new_key)).await;
                    let body = html! {
                        (notice("ok", "The master key was rotated. The old key no longer works."))
                        h2 { "Your new master key" }
                        p { strong { "This is the only time it is shown." } " Update your agents' configuration with it." }
                        p.key #master-key { (new_key) }
                        p { a href="/console/stores" { "Back to your stores" } }
                    };
                    tenant_page(
                        &c,
                        &view,
                        StatusCode::OK,
                        "New master key",
                        "/console/account",
                        body,
                    )
                }
                Ok(Err(e)) => account_with(
                    &c,
                    &view,
                    StatusCode::CONFLICT,
                    Some(notice("error", &tool_error_text(&e))),
                ),
                Err(e) => account_with(
                    &c,
                    &view,
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(notice("error", &failure_text(&e))),
                ),
            }
        }
        "delete" => {
            if form.text("confirm") != view.id() {
                return account_with(
                    &c,
                    &view,
                    StatusCode::BAD_REQUEST,
                    Some(notice(
                        "error",
                        "Type the account id to confirm; nothing was deleted.",
                    )),
                );
            }
            match c.runtime.tenant_delete(view.id()).await {
                Ok(Ok(())) => {
                    c.auth.forget_tenant(view.id());
                    let _ = c.sessions.end_all(&principal, None).await;
                    let body = html! {
                        (notice("ok", "The account and everything in it were deleted."))
                        p { a href="/console/signup" { "Sign up again" } }
                    };
                    page::page(
                        StatusCode::OK,
                        "Account deleted",
                        &c.viewer(None, None),
                        "",
                        body,
                    )
                }
                Ok(Err(e)) => account_with(
                    &c,
                    &view,
                    StatusCode::CONFLICT,
                    Some(notice("error", &tool_error_text(&e))),
                ),
                Err(e) => account_with(
                    &c,
                    &view,
                    StatusCode::SERVICE_UNAVAILABLE,
                    Some(notice("error", &failure_text(&e))),
                ),
            }
        }
        _ => tenant_page(
            &c,
            &view,
            StatusCode::NOT_FOUND,
            "Not found",
            "",
            notice("error", "There is no such action."),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(fmt_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_time(1_796_601_600_000), "2026-12-07 00:00:00 UTC");
        assert_eq!(
            fmt_time(951_782_400_000 + 3_723_000),
            "2000-02-29 01:02:03 UTC"
        );
    }

    #[test]
    fn only_console_pages_are_places_to_go_back_to() {
        assert_eq!(
            safe_back("/console/tools/orders_get"),
            "/console/tools/orders_get"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/console//evil",
            "/other",
            "/console/\\evil",
        ] {
            assert_eq!(safe_back(bad), "/console/stores", "{bad}");
        }
    }
}
