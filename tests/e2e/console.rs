//! The web console in a real browser: headless Chromium over WebDriver against the real
//! `serve` binary (tenant mode, SQLite), the fake OrderDesk, and a real SMTP server whose
//! mail the tests read and whose links the browser follows. Journeys a person takes, and
//! attacks that must fail; every main page is checked with axe-core and photographed at
//! desktop and phone width into `target/console-screenshots/`.

use std::path::PathBuf;
use std::time::Duration;

use fake_orderdesk::browser::{Browser, DESKTOP, PHONE};
use fake_orderdesk::smtp_sink::SmtpSink;
use fake_orderdesk::{FakeConfig, FakeOrderDesk};
use serde_json::json;

use crate::support::http::{HttpServer, serve};
use crate::support::{Launch, fake_with, repo_root};

const WAIT: Duration = Duration::from_secs(20);
const OPERATOR_TOKEN: &str = "operator-token-for-tests-0123456789";

/// A `serve` with the console, mail through a real SMTP sink (with AUTH), an operator token.
struct Site {
    http: HttpServer,
    launch: Launch,
    sink: SmtpSink,
    fake: FakeOrderDesk,
    _dir: tempfile::TempDir,
}

impl Site {
    async fn start(extra: &[&str]) -> Site {
        let fake = fake_with(FakeConfig {
            orders: 5,
            ..FakeConfig::default()
        })
        .await;
        let sink = SmtpSink::start_with_auth();
        let dir = tempfile::tempdir().unwrap();
        let state = format!("sqlite:{}", dir.path().join("state.db").display());
        let mut launch = Launch::for_tenants(&fake, &state)
            .unthrottled()
            .arg("--smtp-url")
            .arg(format!("smtp+plain://127.0.0.1:{}", sink.port()))
            .arg("--smtp-user")
            .arg("mailer")
            .arg("--smtp-password")
            .arg("mail-password-never-logged")
            .arg("--mail-from")
            .arg("OrderDesk MCP <mcp@console.test>")
            .arg("--admin-token")
            .arg(OPERATOR_TOKEN);
        for a in extra {
            launch = launch.arg(*a);
        }
        let http = serve(&launch).await;
        Site {
            http,
            launch,
            sink,
            fake,
            _dir: dir,
        }
    }

    /// Another `serve` on the same state (a second instance, or the same one restarted).
    async fn another_instance(&self) -> HttpServer {
        serve(&self.launch).await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http.base)
    }

    /// The one link in the newest mail to `to`.
    async fn link_for(&self, to: &str) -> String {
        let mail = self.sink.wait_for(to, WAIT).await;
        let links = mail.links();
        assert_eq!(links.len(), 1, "one link in {mail:?}");
        assert!(mail.html_body.is_some(), "an HTML body too");
        let auth = mail.auth.as_ref().expect("the server logged in to SMTP");
        assert_eq!(auth.username, "mailer");
        links[0].clone()
    }

    /// Whether `key` works as an MCP bearer right now (initialize over HTTP).
    async fn bearer_works(&self, key: &str) -> bool {
        let response = reqwest::Client::new()
            .post(self.http.mcp_url())
            .bearer_auth(key)
            .header("accept", "application/json, text/event-stream")
            .json(&crate::support::http::initialize("2025-06-18"))
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            200 => true,
            401 => false,
            other => panic!("initialize answered {other}"),
        }
    }
}

fn shots() -> PathBuf {
    let dir = repo_root().join("target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Check the page with axe-core (no violation at all), and photograph it at desktop and
/// phone width.
async fn inspect(b: &Browser, name: &str) {
    let violations = b.axe().await.unwrap();
    assert!(
        violations.is_empty(),
        "{name}: accessibility violations at {}: {violations:#?}",
        b.current_url().await.unwrap()
    );
    b.screenshot(&shots().join(format!("{name}-desktop.png")))
        .await
        .unwrap();
    b.set_size(PHONE).await.unwrap();
    b.screenshot(&shots().join(format!("{name}-phone.png")))
        .await
        .unwrap();
    let overflow = b
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth + 1",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        overflow,
        json!(false),
        "{name}: the page scrolls sideways on a phone"
    );
    b.set_size(DESKTOP).await.unwrap();
}

/// Sign up in the browser as `name <email>`, follow the mailed link, and return the master
/// key the welcome page shows.
async fn sign_up(site: &Site, b: &Browser, name: &str, email: &str) -> String {
    b.goto(&site.url("/console/signup")).await.unwrap();
    b.fill("Your name or your shop's", name).await.unwrap();
    b.fill("E-mail", email).await.unwrap();
    b.click("Send me the link").await.unwrap();
    b.wait_for_text("Check your mail", WAIT).await.unwrap();
    let link = site.link_for(email).await;
    b.goto(&link).await.unwrap();
    b.click("Continue").await.unwrap();
    b.wait_for_text("This is the only time it is shown", WAIT)
        .await
        .unwrap();
    let key = b
        .find_css("#master-key")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(key.starts_with("odmk_"), "{key}");
    key
}

/// A browser signed in as the operator (on the tenants page).
async fn operator(site: &Site) -> Browser {
    let op = Browser::start().await;
    op.goto(&site.url("/console/operator/signin"))
        .await
        .unwrap();
    op.fill("Operator token", OPERATOR_TOKEN).await.unwrap();
    op.click("Sign in as operator").await.unwrap();
    op
}

async fn register_store(site: &Site, b: &Browser, label: &str) {
    b.goto(&site.url("/console/stores")).await.unwrap();
    b.fill("Store id", site.fake.store_id()).await.unwrap();
    b.fill("API key", site.fake.api_key()).await.unwrap();
    b.fill("Name", "Main shop").await.unwrap();
    b.fill("Label (optional)", label).await.unwrap();
    b.click("Register").await.unwrap();
    b.wait_for_text("Store registered.", WAIT).await.unwrap();
}

async fn text(b: &Browser) -> String {
    b.page_text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_signs_up_and_runs_a_tool_then_sees_its_trace_and_the_dashboard() {
    let site = Site::start(&[]).await;
    let b = Browser::start().await;
    b.goto(&site.url("/console/signin")).await.unwrap();
    inspect(&b, "signin").await;
    b.goto(&site.url("/console/signup")).await.unwrap();
    inspect(&b, "signup").await;

    let key = sign_up(&site, &b, "Acme Shop", "owner@acme.test").await;
    inspect(&b, "welcome").await;
    assert!(text(&b).await.contains("claude mcp add --transport http"));
    assert!(
        site.bearer_works(&key).await,
        "the shown key is a working bearer"
    );

    register_store(&site, &b, "EU warehouse").await;
    assert!(text(&b).await.contains("EU warehouse"));
    inspect(&b, "stores").await;

    // The tool console: orders_get on a real order of the fake.
    let order_id = site.fake.order_ids()[0];
    b.goto(&site.url("/console/tools")).await.unwrap();
    inspect(&b, "tools").await;
    b.goto(&site.url("/console/tools/orders_get"))
        .await
        .unwrap();
    b.fill("order_id (required)", &order_id.to_string())
        .await
        .unwrap();
    b.click("Run orders_get").await.unwrap();
    b.wait_for_text("Result", WAIT).await.unwrap();
    let page = text(&b).await;
    assert!(page.contains(&format!("\"{order_id}\"")), "{page}");
    inspect(&b, "tool-result").await;

    // Its trace: the cache miss and the upstream request with its route and status.
    b.click("See its trace").await.unwrap();
    b.wait_for_text("Steps", WAIT).await.unwrap();
    let page = text(&b).await;
    assert!(page.contains("GET /orders/{id}"), "{page}");
    assert!(page.contains("miss orders"), "{page}");
    assert!(page.contains("200"), "{page}");
    let bars = b
        .execute(
            "return document.querySelectorAll('svg rect.bar').length",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        bars.as_u64().unwrap() >= 2,
        "the waterfall draws each step: {bars}"
    );
    inspect(&b, "trace").await;
    b.goto(&site.url("/console/traces")).await.unwrap();
    assert!(text(&b).await.contains("tool: orders_get"));
    inspect(&b, "traces").await;

    // The dashboard counts the calls (stores_register, orders_get).
    b.goto(&site.url("/console/dashboard")).await.unwrap();
    let label = b
        .attr("figure.chart svg", "aria-label")
        .await
        .unwrap()
        .unwrap();
    assert!(label.contains("ok 2"), "{label}");
    inspect(&b, "dashboard").await;
    b.goto(&site.url("/console/connect")).await.unwrap();
    b.click("Check the connection").await.unwrap();
    b.wait_for_text("Connected", WAIT).await.unwrap();
    inspect(&b, "connect").await;
    b.goto(&site.url("/console/account")).await.unwrap();
    inspect(&b, "account").await;

    // A reused link is refused with a clear page.
    let mail = site.sink.messages();
    let first = mail.first().unwrap().links()[0].clone();
    b.goto(&first).await.unwrap();
    b.click("Continue").await.unwrap();
    b.wait_for_text("already used", WAIT).await.unwrap();
    // No secret reached the log: not the key, the link token, the store's API key nor
    // the SMTP password.
    let log = site.http.stderr();
    let token = first.rsplit('=').next().unwrap();
    for secret in [
        key.rsplit('_').next().unwrap(),
        token,
        site.fake.api_key(),
        "mail-password-never-logged",
    ] {
        assert!(!log.contains(secret), "a secret in the log: {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_by_link_then_unlocking_and_rotating_the_key() {
    let site = Site::start(&[]).await;
    let b = Browser::start().await;
    let old_key = sign_up(&site, &b, "Bob's Bikes", "bob@bikes.test").await;
    register_store(&site, &b, "").await;
    b.click("Sign out").await.unwrap();
    b.wait_for_text("With your master key", WAIT).await.unwrap();

    // Sign in by link: read-only until unlocked.
    b.fill("E-mail", "bob@bikes.test").await.unwrap();
    b.click("E-mail me a sign-in link").await.unwrap();
    b.wait_for_text("Check your mail", WAIT).await.unwrap();
    let link = site.link_for("bob@bikes.test").await;
    b.goto(&link).await.unwrap();
    b.click("Continue").await.unwrap();
    b.wait_for_text("Unlock with your master key", WAIT)
        .await
        .unwrap();
    assert!(text(&b).await.contains("Main shop"), "stores are readable");
    b.fill("Master key", &old_key).await.unwrap();
    b.click("Unlock").await.unwrap();
    b.wait_for_text("Test connection", WAIT).await.unwrap();
    b.click("Test connection").await.unwrap();
    b.wait_for_text("The connection to OrderDesk works.", WAIT)
        .await
        .unwrap();

    // Rotate: a new key, shown once; the old one refused; the store still readable.
    b.goto(&site.url("/console/account")).await.unwrap();
    b.click("Rotate the master key").await.unwrap();
    b.wait_for_text("Your new master key", WAIT).await.unwrap();
    let new_key = b
        .find_css("#master-key")
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_ne!(new_key, old_key);
    assert!(!site.bearer_works(&old_key).await, "the old key is refused");
    assert!(site.bearer_works(&new_key).await);
    let order_id = site.fake.order_ids()[1];
    b.goto(&site.url("/console/tools/orders_get"))
        .await
        .unwrap();
    b.fill("order_id (required)", &order_id.to_string())
        .await
        .unwrap();
    b.click("Run orders_get").await.unwrap();
    b.wait_for_text("Result", WAIT).await.unwrap();
    assert!(text(&b).await.contains(&format!("\"{order_id}\"")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_disables_a_tenant_and_its_sessions_and_bearer_stop() {
    let site = Site::start(&[]).await;
    let tenant = Browser::start().await;
    let key = sign_up(&site, &tenant, "Carol Crafts", "carol@crafts.test").await;
    tenant.goto(&site.url("/console/stores")).await.unwrap();

    let op = operator(&site).await;
    op.wait_for_text("Carol Crafts", WAIT).await.unwrap();
    inspect(&op, "operator-tenants").await;
    op.click("Disable").await.unwrap();
    op.wait_for_text("Tenant disabled", WAIT).await.unwrap();
    assert!(text(&op).await.contains("disabled"));

    assert!(
        !site.bearer_works(&key).await,
        "a disabled tenant's key is refused"
    );
    tenant.goto(&site.url("/console/stores")).await.unwrap();
    tenant
        .wait_for_text("With your master key", WAIT)
        .await
        .unwrap();
    assert!(
        tenant
            .current_url()
            .await
            .unwrap()
            .ends_with("/console/signin")
    );
    // Nor can it sign in again, by key or by link.
    tenant.fill("Master key", &key).await.unwrap();
    tenant.click("Sign in with this key").await.unwrap();
    tenant
        .wait_for_text("That key was not accepted.", WAIT)
        .await
        .unwrap();

    op.goto(&site.url("/console/operator/status"))
        .await
        .unwrap();
    assert!(text(&op).await.contains("sqlite:"));
    inspect(&op, "operator-status").await;
    op.goto(&site.url("/console/operator/tenants"))
        .await
        .unwrap();
    op.click("Enable").await.unwrap();
    op.wait_for_text("Tenant enabled.", WAIT).await.unwrap();
    assert!(site.bearer_works(&key).await, "enabled again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_only_sign_up_and_an_expired_link() {
    let site = Site::start(&["--link-ttl-minutes", "1"]).await;
    let op = operator(&site).await;
    op.wait_for_text("Tenants", WAIT).await.unwrap();
    op.goto(&site.url("/console/operator/signup"))
        .await
        .unwrap();
    op.fill("Invitation only", "true").await.unwrap();
    op.click("Save").await.unwrap();
    op.wait_for_text("Sign-up policy saved.", WAIT)
        .await
        .unwrap();
    inspect(&op, "operator-signup").await;

    // A stranger is told; nothing is sent.
    let stranger = Browser::start().await;
    stranger.goto(&site.url("/console/signup")).await.unwrap();
    assert!(text(&stranger).await.contains("by invitation only"));
    let token = "cd".repeat(32);
    let refused = reqwest::Client::new()
        .post(site.url("/console/signup"))
        .header("cookie", format!("od_csrf={token}"))
        .form(&[
            ("csrf", token.as_str()),
            ("name", "X"),
            ("email", "x@x.test"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status().as_u16(),
        403,
        "sign-up by a stranger is refused"
    );
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Sign-up is not open")
    );

    // The invitee gets a link and an account.
    op.fill("Name", "Dana Deli").await.unwrap();
    op.fill("E-mail", "dana@deli.test").await.unwrap();
    op.click("Send the invitation").await.unwrap();
    op.wait_for_text("Invitation sent.", WAIT).await.unwrap();
    let link = site.link_for("dana@deli.test").await;
    stranger.goto(&link).await.unwrap();
    stranger.click("Continue").await.unwrap();
    stranger
        .wait_for_text("This is the only time it is shown", WAIT)
        .await
        .unwrap();

    // A link left past its time is refused with a clear page.
    op.fill("Name", "Eve Eats").await.unwrap();
    op.fill("E-mail", "eve@eats.test").await.unwrap();
    op.click("Send the invitation").await.unwrap();
    op.wait_for_text("Invitation sent.", WAIT).await.unwrap();
    let late = site.link_for("eve@eats.test").await;
    tokio::time::sleep(Duration::from_secs(61)).await;
    let eve = Browser::start().await;
    eve.goto(&late).await.unwrap();
    eve.click("Continue").await.unwrap();
    eve.wait_for_text("This link has expired", WAIT)
        .await
        .unwrap();
    inspect(&eve, "link-expired").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_tenant_cannot_reach_another_by_url_nor_forge_forms_nor_inject_script() {
    let site = Site::start(&[]).await;
    let a = Browser::start().await;
    sign_up(&site, &a, "Alpha", "alpha@a.test").await;
    register_store(
        &site,
        &a,
        "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">",
    )
    .await;
    // The label is shown as text, and no script of it ran.
    assert!(text(&a).await.contains("<script>window.__pwned=1</script>"));
    let pwned = a
        .execute("return window.__pwned === undefined", vec![])
        .await
        .unwrap();
    assert_eq!(pwned, json!(true), "a script in a label ran");
    let scripts = a
        .execute("return document.scripts.length", vec![])
        .await
        .unwrap();
    assert_eq!(scripts, json!(1), "only the console's own script");

    // A script sent as a tool argument: shown escaped in the error, the trace and its args.
    a.goto(&site.url("/console/tools/orders_get"))
        .await
        .unwrap();
    a.fill(
        "order_id (required)",
        "<img src=x onerror=\"window.__pwned=3\">",
    )
    .await
    .unwrap();
    a.click("Run orders_get").await.unwrap();
    a.wait_for_text("Failed: INVALID_ARGUMENT", WAIT)
        .await
        .unwrap();
    a.click("See its trace").await.unwrap();
    a.wait_for_text("Arguments", WAIT).await.unwrap();
    assert!(text(&a).await.contains("<img src=x"));
    let pwned = a
        .execute("return window.__pwned === undefined", vec![])
        .await
        .unwrap();
    assert_eq!(pwned, json!(true));
    let a_trace = a.current_url().await.unwrap();

    // B, a second tenant with the same store id registered.
    let b = Browser::start().await;
    sign_up(&site, &b, "Beta", "beta@b.test").await;
    register_store(&site, &b, "beta's").await;
    // B opens A's trace by URL: not found. A's store id is B's own store here, so B sees
    // only its own store (its label), never A's.
    b.goto(&a_trace).await.unwrap();
    b.wait_for_text("No trace of yours has this id", WAIT)
        .await
        .unwrap();
    b.goto(&site.url(&format!("/console/stores/{}/delete", "99999")))
        .await
        .unwrap();
    b.wait_for_text("You have no store with this id", WAIT)
        .await
        .unwrap();
    b.goto(&site.url("/console/stores")).await.unwrap();
    let page = text(&b).await;
    assert!(
        page.contains("beta's") && !page.contains("__pwned"),
        "{page}"
    );
    b.goto(&site.url("/console/traces")).await.unwrap();
    assert!(
        !text(&b).await.contains("orders_get"),
        "A's traces are not B's"
    );
    // A tenant is no operator.
    b.goto(&site.url("/console/operator/tenants"))
        .await
        .unwrap();
    b.wait_for_text("This page is for the server's operator.", WAIT)
        .await
        .unwrap();

    // Forms posted without, or with another session's, CSRF token are refused.
    let cookie_of = |cookies: Vec<fake_orderdesk::browser::Cookie<'static>>| {
        cookies
            .into_iter()
            .find(|c| c.name() == "od_session")
            .map(|c| c.value().to_string())
            .unwrap()
    };
    let a_cookie = cookie_of(a.cookies().await.unwrap());
    let b_csrf = {
        b.goto(&site.url("/console/account")).await.unwrap();
        b.attr("input[name=csrf]", "value").await.unwrap().unwrap()
    };
    let client = reqwest::Client::new();
    for (what, form) in [
        ("no token", vec![("label", "hacked")]),
        (
            "B's token",
            vec![("label", "hacked"), ("csrf", b_csrf.as_str())],
        ),
    ] {
        let r = client
            .post(site.url(&format!("/console/stores/{}/label", site.fake.store_id())))
            .header("cookie", format!("od_session={a_cookie}"))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "{what}");
    }
    a.goto(&site.url("/console/stores")).await.unwrap();
    assert!(!text(&a).await.contains("hacked"));

    // The console refuses to be framed.
    let framing = framing_page(&site.url("/console/stores")).await;
    a.goto(&framing).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.client().enter_frame(0).await.unwrap();
    let inside = a.page_text().await.unwrap_or_default();
    assert!(
        !inside.contains("Stores") && !inside.contains("Sign in"),
        "framed: {inside}"
    );
}

/// A page on another origin that frames `url`.
async fn framing_page(url: &str) -> String {
    let html = format!(
        "<!doctype html><title>frame</title><iframe src=\"{url}\" title=\"console\"></iframe>"
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || async move { axum::response::Html(html) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://localhost:{}/", addr.port())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_floods_and_guessed_links_are_refused_without_a_mail_storm() {
    let site = Site::start(&[]).await;
    let client = reqwest::Client::new();
    let token = "ab".repeat(32);
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = client
            .post(site.url("/console/signup"))
            .header("cookie", format!("od_csrf={token}"))
            .form(&[
                ("csrf", token.as_str()),
                ("name", "Flood"),
                ("email", &format!("victim{}@flood.test", i % 2)),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(
        statuses.iter().filter(|s| **s == 429).count() >= 6,
        "{statuses:?}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent = site.sink.messages().len();
    assert!(sent <= 5, "{sent} mails for one address's flood");

    // A guessed token is refused like a used one.
    let r = client
        .post(site.url("/console/link"))
        .header("cookie", format!("od_csrf={token}"))
        .form(&[("csrf", token.as_str()), ("token", &"0".repeat(64))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("not valid"));

    // Pages that show keys are never cached; every page carries the guards.
    let r = client
        .get(site.url("/console/signin"))
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["cache-control"], "no-store");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let cookie = h["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_that_meets_a_409_shows_the_conflict_and_the_retry_in_its_trace() {
    use fake_orderdesk::{Edit, Match, Respond, Rule};
    let site = Site::start(&[]).await;
    let b = Browser::start().await;
    sign_up(&site, &b, "Fay Fabrics", "fay@fabrics.test").await;
    register_store(&site, &b, "").await;
    // Someone else edits the order just as the PUT arrives: OrderDesk answers 409.
    site.fake.faults().schedule(
        Rule::on(
            Match::Route("PUT /orders/{id}".into()),
            Respond::Status(409),
        )
        .with_edit(Edit::BeforeServing),
    );
    let order_id = site.fake.order_ids()[2];
    b.goto(&site.url("/console/tools/orders_update"))
        .await
        .unwrap();
    b.fill("order_id (required)", &order_id.to_string())
        .await
        .unwrap();
    b.fill("changes (required)", r#"{"email": "new@fabrics.test"}"#)
        .await
        .unwrap();
    b.click("Run orders_update").await.unwrap();
    // A write asks first, and says what it will change.
    b.wait_for_text("will change data", WAIT).await.unwrap();
    assert!(text(&b).await.contains("new@fabrics.test"));
    b.click("Yes, run it").await.unwrap();
    b.wait_for_text("Result", WAIT).await.unwrap();
    b.click("See its trace").await.unwrap();
    b.wait_for_text("Steps", WAIT).await.unwrap();
    let page = text(&b).await;
    assert!(page.contains("conflict"), "{page}");
    assert_eq!(
        page.matches("PUT /orders/{id}").count(),
        2 * 2,
        "two PUTs, in the chart and the table: {page}"
    );
    assert!(page.contains("409"), "{page}");
    assert_eq!(
        site.fake.order(order_id).unwrap()["email"],
        "new@fabrics.test"
    );
    inspect(&b, "trace-409").await;
    // The trace as the viewer shows it, for the record (run with --nocapture).
    println!("trace of an orders_update that met a 409:\n{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_holds_on_a_second_instance_and_across_a_restart_until_signed_out() {
    let mut site = Site::start(&[]).await;
    let b = Browser::start().await;
    sign_up(&site, &b, "Gus Goods", "gus@goods.test").await;
    register_store(&site, &b, "").await;
    // A second instance on the same state knows the session (cookies are per host, not
    // per port), and it is still unlocked: the store can be tested there.
    let second = site.another_instance().await;
    b.goto(&format!("{}/console/stores", second.base))
        .await
        .unwrap();
    b.wait_for_text("Main shop", WAIT).await.unwrap();
    b.click("Test connection").await.unwrap();
    b.wait_for_text("The connection to OrderDesk works.", WAIT)
        .await
        .unwrap();
    // The first instance goes away; a restarted one still knows the session.
    site.http.kill().await;
    drop(second);
    let restarted = site.another_instance().await;
    b.goto(&format!("{}/console/account", restarted.base))
        .await
        .unwrap();
    b.wait_for_text("Gus Goods", WAIT).await.unwrap();
    // Signed out is signed out everywhere.
    b.click("Sign out").await.unwrap();
    b.wait_for_text("With your master key", WAIT).await.unwrap();
    b.goto(&format!("{}/console/account", restarted.base))
        .await
        .unwrap();
    b.wait_for_text("With your master key", WAIT).await.unwrap();

    // Sign-in attempts are limited per address: ten wrong keys, then 429.
    let client = reqwest::Client::new();
    let token = "ef".repeat(32);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let r = client
            .post(format!("{}/console/signin/key", restarted.base))
            .header("cookie", format!("od_csrf={token}"))
            .form(&[
                ("csrf", token.as_str()),
                ("master_key", "odmk_0000000000000000_guess"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        10,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        2,
        "{statuses:?}"
    );
}
