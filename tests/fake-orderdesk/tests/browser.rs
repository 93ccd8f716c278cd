//! The browser harness against a tiny site of its own: forms filled by label and sent,
//! cookies, viewport sizes and screenshots, axe-core's verdicts, and a strict CSP.

use std::time::Duration;

use axum::Form;
use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use fake_orderdesk::browser::{Browser, DESKTOP, PHONE};
use serde::Deserialize;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

/// A page every axe rule is happy with, around `body`.
fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body><main><h1>{title}</h1>{body}</main></body></html>"
    )
}

const SIGN_UP: &str = r#"
<form method="post" action="/answer">
  <label for="name">Name</label> <input id="name" name="name">
  <label>Plan <select name="plan"><option>Free</option><option>Pro yearly</option></select></label>
  <label>Note <textarea name="note"></textarea></label>
  <label><input type="checkbox" name="news" value="yes"> Send me news</label>
  <button type="submit">Sign up</button>
</form>
<p><a href="/clean">Read the terms</a></p>
"#;

#[derive(Deserialize)]
struct SignUp {
    name: String,
    plan: String,
    note: String,
    news: Option<String>,
}

async fn answer(Form(form): Form<SignUp>) -> impl IntoResponse {
    let news = if form.news.is_some() { "yes" } else { "no" };
    let body = format!(
        "<p>Hello {}, plan {}, note {:?}, news {news}.</p>",
        form.name, form.plan, form.note
    );
    (
        [(
            header::SET_COOKIE,
            "session=s3cr3t; Path=/; HttpOnly; SameSite=Lax",
        )],
        Html(page("Welcome", &body)),
    )
}

/// The site: `/form` (sign-up), `/answer`, `/clean` (no violation), `/unlabelled` (an input
/// without a label), `/csp` (the clean page under a strict CSP, with an inline script that
/// must not run).
async fn site() -> String {
    let app = Router::new()
        .route("/form", get(|| async { Html(page("Sign up", SIGN_UP)) }))
        .route("/answer", axum::routing::post(answer))
        .route(
            "/clean",
            get(|| async { Html(page("Terms", "<p>Be kind.</p>")) }),
        )
        .route(
            "/unlabelled",
            get(|| async { Html(page("Unlabelled", "<input name=\"q\">")) }),
        )
        .route(
            "/csp",
            get(|| async {
                (
                    [(
                        header::CONTENT_SECURITY_POLICY,
                        "default-src 'self'; script-src 'self'",
                    )],
                    Html(page(
                        "Strict",
                        "<p>Scripts of its own only.</p>\
                         <script>document.title = 'inline script ran';</script>",
                    )),
                )
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

#[tokio::test]
async fn fills_a_form_by_its_labels_sends_it_and_reads_the_answer() {
    let base = site().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/form")).await.unwrap();
    assert_eq!(browser.title().await.unwrap(), "Sign up");
    assert_eq!(
        browser.attr("form", "action").await.unwrap().as_deref(),
        Some("/answer")
    );

    browser.fill("Name", "Ada Lovelace").await.unwrap();
    browser.fill("Plan", "Pro yearly").await.unwrap();
    browser.fill("Note", "first note").await.unwrap();
    browser.fill("Send me news", "true").await.unwrap();
    // Filling again replaces what the field held.
    browser.fill("Name", "Ada King").await.unwrap();
    browser.click("Sign up").await.unwrap();

    browser
        .wait_for_text(
            "Hello Ada King, plan Pro yearly, note \"first note\", news yes.",
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(
        browser.current_url().await.unwrap(),
        format!("{base}/answer")
    );
    assert_eq!(browser.title().await.unwrap(), "Welcome");
    let cookies = browser.cookies().await.unwrap();
    let session = cookies.iter().find(|c| c.name() == "session").unwrap();
    assert_eq!(session.value(), "s3cr3t");
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        browser.execute("return 6 * 7;", vec![]).await.unwrap(),
        json!(42)
    );

    // Links are clicked by their text too.
    browser.goto(&format!("{base}/form")).await.unwrap();
    browser.click("Read the terms").await.unwrap();
    browser.wait_for_text("Be kind.", WAIT).await.unwrap();
    assert!(browser.find_css("main h1").await.is_ok());
}

#[tokio::test]
async fn failures_say_where_the_browser_was_and_what_it_saw() {
    let base = site().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/form")).await.unwrap();

    let error = browser.fill("E-mail", "x").await.unwrap_err().to_string();
    assert!(
        error.contains("no form control labelled \"E-mail\""),
        "{error}"
    );
    assert!(error.contains(&format!("at {base}/form")), "{error}");
    assert!(error.contains("page text: \"Sign up"), "{error}");
    assert!(
        error.contains("\"Send me news\""),
        "lists the labels: {error}"
    );

    let error = browser.click("Log in").await.unwrap_err().to_string();
    assert!(
        error.contains("nothing clickable reads \"Log in\""),
        "{error}"
    );
    assert!(error.contains("\"Sign up\""), "lists the buttons: {error}");

    let error = browser
        .wait_for_text("never there", Duration::from_millis(300))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("did not appear within 300ms"), "{error}");
    assert!(browser.find_css("#missing").await.is_err());
    assert!(
        browser
            .fill("Send me news", "maybe")
            .await
            .unwrap_err()
            .to_string()
            .contains("\"true\" or \"false\"")
    );
}

#[tokio::test]
async fn sizes_the_viewport_and_takes_screenshots_at_phone_size() {
    let base = site().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/form")).await.unwrap();
    let viewport = "return [window.innerWidth, window.innerHeight];";
    assert_eq!(
        browser.execute(viewport, vec![]).await.unwrap(),
        json!([DESKTOP.0, DESKTOP.1])
    );
    browser.set_size(PHONE).await.unwrap();
    assert_eq!(
        browser.execute(viewport, vec![]).await.unwrap(),
        json!([PHONE.0, PHONE.1])
    );

    let path = std::env::temp_dir().join(format!(
        "fake-orderdesk-browser-test-{}.png",
        std::process::id()
    ));
    browser.screenshot(&path).await.unwrap();
    let png = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    assert_eq!(width, PHONE.0, "the IHDR's width is the phone's");
}

#[tokio::test]
async fn axe_finds_an_unlabelled_input_and_nothing_on_a_clean_page() {
    let base = site().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/unlabelled")).await.unwrap();
    let violations = browser.axe().await.unwrap();
    let label = violations
        .iter()
        .find(|v| v.id == "label")
        .unwrap_or_else(|| panic!("no `label` violation in {violations:?}"));
    assert_eq!(label.targets, ["input"]);
    assert_eq!(label.impact.as_deref(), Some("critical"));
    assert!(label.help_url.contains("dequeuniversity.com"), "{label:?}");

    browser.goto(&format!("{base}/clean")).await.unwrap();
    assert_eq!(browser.axe().await.unwrap(), []);
    browser.goto(&format!("{base}/form")).await.unwrap();
    assert_eq!(browser.axe().await.unwrap(), [], "every field is labelled");
}

#[tokio::test]
async fn axe_runs_on_a_page_whose_csp_forbids_inline_scripts() {
    let base = site().await;
    let browser = Browser::start().await;
    browser.goto(&format!("{base}/csp")).await.unwrap();
    // The policy is in force: the page's own inline script was blocked...
    assert_eq!(browser.title().await.unwrap(), "Strict");
    // ...yet scripts sent over WebDriver run, and axe with them.
    assert_eq!(browser.axe().await.unwrap(), []);
}
