//! A real headless Chromium driven over WebDriver, for end-to-end tests of web pages:
//! [`Browser::start`] installs Debian's `chromium` and `chromium-driver` once when they are
//! missing (under a file lock, so concurrent test processes install them once), starts a
//! `chromedriver` of its own on a free loopback port, opens a session in a fresh profile,
//! and ends it all when dropped. Several browsers may run at once, each with its own driver.
//!
//! The helpers act as a person would and fail with what a person would look at: the
//! current URL and the start of the page's text.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use fake_orderdesk::browser::{Browser, PHONE};
//!
//! let browser = Browser::start().await;
//! browser.goto("http://127.0.0.1:8080/console").await?;
//! browser.fill("E-mail", "ada@example.com").await?;
//! browser.click("Send me a link").await?;
//! browser.wait_for_text("Check your inbox", std::time::Duration::from_secs(5)).await?;
//! browser.set_size(PHONE).await?;
//! browser.screenshot(std::path::Path::new("signup-phone.png")).await?;
//! assert!(browser.axe().await?.is_empty());
//! # Ok(()) }
//! ```
//!
//! The client is [fantoccini](https://docs.rs/fantoccini) (async, tokio) over plain HTTP:
//! the driver listens on loopback only, so no TLS stack is linked. Chromium runs with the
//! background services off (no network but the pages a test opens), which matters on
//! machines without internet. Scripts run through WebDriver are not subject to a page's
//! Content-Security-Policy, so [`Browser::axe`] works on pages that forbid inline scripts.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use fantoccini::elements::{Element, ElementRef};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde::Deserialize;
use serde_json::{Value, json};

pub use fantoccini::cookies::Cookie;

/// Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Debian's `chromium-driver`, the ChromeDriver that matches it.
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a fresh chromedriver may take to report ready on `/status`.
const DRIVER_READY_WITHIN: Duration = Duration::from_secs(20);
/// How long opening a session (starting Chromium) may take; generous for a busy 2-core CI.
const SESSION_WITHIN: Duration = Duration::from_secs(60);
/// Starts tried before giving up: another process may take the free port first.
const ATTEMPTS: usize = 3;
/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(50);
/// How much of the page's text a failure message quotes.
const SNIPPET: usize = 600;
/// The key a WebDriver element reference sits under in script results.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A desktop viewport, width × height in CSS pixels.
pub const DESKTOP: (u32, u32) = (1280, 900);
/// A phone viewport (an iPhone 12–15 sized screen), width × height in CSS pixels.
pub const PHONE: (u32, u32) = (390, 844);

/// Chromium's switches: headless, and quiet on a network that reaches nothing.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
];

/// A headless Chromium with its own chromedriver and profile; dropping it ends the session
/// and kills the driver and the browser.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    session: String,
    driver: Driver,
}

/// One accessibility rule a page breaks, as axe-core reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AxeViolation {
    /// The rule's id, e.g. `label` or `color-contrast`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical`.
    pub impact: Option<String>,
    /// What the rule asks for, in a sentence.
    pub help: String,
    /// Where the rule is explained.
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    /// A CSS selector of each offending element.
    pub targets: Vec<String>,
}

impl Browser {
    /// Starts chromedriver on a free port of `127.0.0.1` and opens a session in a fresh,
    /// private profile, installing Chromium and its driver first when they are missing.
    /// The window starts at [`DESKTOP`] size.
    ///
    /// # Panics
    ///
    /// When they cannot be installed, or the driver or the browser does not start in time
    /// (the message carries the driver's log).
    pub async fn start() -> Browser {
        let mut failures = Vec::new();
        for _ in 0..ATTEMPTS {
            let driver = match tokio::task::spawn_blocking(Driver::launch)
                .await
                .expect("chromedriver launch panicked")
            {
                Ok(driver) => driver,
                Err(why) => {
                    failures.push(why);
                    continue;
                }
            };
            match tokio::time::timeout(SESSION_WITHIN, open_session(&driver)).await {
                Ok(Ok((client, session))) => {
                    let browser = Browser {
                        client,
                        session,
                        driver,
                    };
                    browser
                        .set_size(DESKTOP)
                        .await
                        .expect("sizing a fresh window");
                    return browser;
                }
                Ok(Err(e)) => failures.push(format!("{e:#}; {}", driver.log())),
                Err(_) => failures.push(format!(
                    "no session within {SESSION_WITHIN:?}; {}",
                    driver.log()
                )),
            }
        }
        panic!(
            "Chromium did not start after {ATTEMPTS} attempts:\n{}",
            failures.join("\n---\n")
        );
    }

    /// The WebDriver client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        match self.client.goto(url).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failure(&format!("opening {url}: {e}")).await),
        }
    }

    /// The address of the page shown.
    pub async fn current_url(&self) -> anyhow::Result<String> {
        Ok(self.client.current_url().await?.to_string())
    }

    /// The page's text as it is rendered (`document.body.innerText`).
    pub async fn page_text(&self) -> anyhow::Result<String> {
        let text = self
            .client
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// The page's `<title>`.
    pub async fn title(&self) -> anyhow::Result<String> {
        Ok(self.client.title().await?)
    }

    /// Types `value` into the `<input>` or `<textarea>` whose `<label>` reads `label`
    /// (trimmed, whitespace collapsed; tied by `for` or by nesting), replacing what it held;
    /// for a `<select>`, chooses the option whose visible text is `value`; for a checkbox or
    /// radio button, `"true"` checks it and `"false"` unchecks it.
    pub async fn fill(&self, label: &str, value: &str) -> anyhow::Result<()> {
        let found = self
            .client
            .execute(FIND_BY_LABEL, vec![json!(label)])
            .await?;
        let Some(control) = self.element(&found) else {
            let labels = found["labels"].clone();
            return Err(self
                .failure(&format!(
                    "no form control labelled {label:?} (labels on the page: {labels})"
                ))
                .await);
        };
        let kind = found["kind"].as_str().unwrap_or_default();
        let done = match kind {
            "select" => control.select_by_label(value).await,
            "checkbox" | "radio" => {
                let want = match value {
                    "true" => true,
                    "false" => false,
                    _ => bail!("{label:?} is a {kind}: fill it with \"true\" or \"false\""),
                };
                if control.is_selected().await? != want {
                    control.click().await
                } else {
                    Ok(())
                }
            }
            _ => match control.clear().await {
                Ok(()) => control.send_keys(value).await,
                Err(e) => Err(e),
            },
        };
        match done {
            Ok(()) => Ok(()),
            Err(e) => Err(self
                .failure(&format!("filling {label:?} ({kind}) with {value:?}: {e}"))
                .await),
        }
    }

    /// Clicks the first visible `<button>`, `<a>`, or `<input>` of type `submit` or `button`
    /// whose text (or value) is `text`, trimmed and whitespace collapsed, as a person would.
    pub async fn click(&self, text: &str) -> anyhow::Result<()> {
        let found = self
            .client
            .execute(FIND_CLICKABLE, vec![json!(text)])
            .await?;
        let Some(target) = self.element(&found) else {
            let offered = found["offered"].clone();
            return Err(self
                .failure(&format!(
                    "nothing clickable reads {text:?} (buttons and links: {offered})"
                ))
                .await);
        };
        match target.click().await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failure(&format!("clicking {text:?}: {e}")).await),
        }
    }

    /// The first element that matches the CSS selector `selector`.
    pub async fn find_css(&self, selector: &str) -> anyhow::Result<Element> {
        match self.client.find(Locator::Css(selector)).await {
            Ok(element) => Ok(element),
            Err(e) => Err(self.failure(&format!("finding {selector:?}: {e}")).await),
        }
    }

    /// The attribute `name` of the first element matching `selector` (`None`: not set).
    pub async fn attr(&self, selector: &str, name: &str) -> anyhow::Result<Option<String>> {
        let element = self.find_css(selector).await?;
        Ok(element.attr(name).await?)
    }

    /// Waits until the page's text contains `text`.
    pub async fn wait_for_text(&self, text: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            // A page in the middle of navigating may fail to answer: poll again.
            if let Ok(seen) = self.page_text().await
                && seen.contains(text)
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self
                    .failure(&format!("{text:?} did not appear within {timeout:?}"))
                    .await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sizes the window so that the page's viewport is `(width, height)` CSS pixels, e.g.
    /// [`DESKTOP`] or [`PHONE`].
    pub async fn set_size(&self, (width, height): (u32, u32)) -> anyhow::Result<()> {
        self.client.set_window_size(width, height).await?;
        // The window may be larger than its viewport (headless or not): grow it by the
        // difference so that the page sees exactly the size asked for.
        let inner = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await?;
        let (w, h) = (
            inner[0].as_u64().unwrap_or(width.into()) as u32,
            inner[1].as_u64().unwrap_or(height.into()) as u32,
        );
        if (w, h) != (width, height) {
            let outer = (
                width + width.saturating_sub(w),
                height + height.saturating_sub(h),
            );
            self.client.set_window_size(outer.0, outer.1).await?;
        }
        Ok(())
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub async fn screenshot(&self, path: &Path) -> anyhow::Result<()> {
        let png = self.client.screenshot().await?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
    }

    /// Runs axe-core (`tests/clients`' pinned npm package, installed on first use by
    /// [`axe_core_js`]) on the page and returns the rules it breaks; an empty list: none.
    pub async fn axe(&self) -> anyhow::Result<Vec<AxeViolation>> {
        let script = tokio::task::spawn_blocking(axe_core_js)
            .await
            .context("installing axe-core")?;
        self.axe_with(&script).await
    }

    /// Like [`Browser::axe`], with axe-core's script (`axe.min.js`) at `axe_js`.
    pub async fn axe_with(&self, axe_js: &Path) -> anyhow::Result<Vec<AxeViolation>> {
        let source = std::fs::read_to_string(axe_js)
            .with_context(|| format!("reading axe-core at {}", axe_js.display()))?;
        // Run as a script body, the UMD bundle sees no `module` and sets `window.axe`.
        self.client.execute(&source, vec![]).await?;
        let found = self.client.execute_async(RUN_AXE, vec![]).await?;
        if let Some(error) = found.get("error") {
            return Err(self.failure(&format!("axe.run failed: {error}")).await);
        }
        serde_json::from_value(found).context("reading axe's violations")
    }

    /// Runs `script` in the page as a function body with `args` as `arguments`, returning
    /// what it returns.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> anyhow::Result<Value> {
        Ok(self.client.execute(script, args).await?)
    }

    /// The cookies the browser holds for the page shown.
    pub async fn cookies(&self) -> anyhow::Result<Vec<Cookie<'static>>> {
        Ok(self.client.get_all_cookies().await?)
    }

    /// The element a helper script returned under `element`, if it found one.
    fn element(&self, found: &Value) -> Option<Element> {
        let id = found["element"][ELEMENT_KEY].as_str()?;
        Some(Element::from_element_id(
            self.client.clone(),
            ElementRef::from(id.to_owned()),
        ))
    }

    /// An error saying `what` went wrong, with the page's URL and the start of its text.
    async fn failure(&self, what: &str) -> anyhow::Error {
        let url = match self.current_url().await {
            Ok(url) => url,
            Err(e) => format!("(unknown: {e})"),
        };
        let text = match self.page_text().await {
            Ok(text) => text.chars().take(SNIPPET).collect(),
            Err(e) => format!("(unreadable: {e})"),
        };
        anyhow!("{what}\n  at {url}\n  page text: {text:?}")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ending the session closes Chromium cleanly; the driver's drop then kills whatever
        // is left of its process group. Blocking I/O: drop may run outside a runtime.
        let _ = http(
            self.driver.port,
            &format!("DELETE /session/{}", self.session),
            Duration::from_secs(10),
        );
    }
}

/// Opens a WebDriver session on `driver`: the client, and the session's id.
async fn open_session(driver: &Driver) -> anyhow::Result<(Client, String)> {
    let user_data_dir = format!("--user-data-dir={}", driver.profile.display());
    let mut args: Vec<&str> = CHROMIUM_ARGS.to_vec();
    args.push(&user_data_dir);
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
    });
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("a JSON object")
    };
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .context("opening a WebDriver session")?;
    // The browser's drop ends the session itself, synchronously: fantoccini's own
    // end-on-drop would need a runtime that may be gone by then.
    client.persist().await?;
    let session = client
        .session_id()
        .await?
        .context("chromedriver gave no session id")?;
    Ok((client, session))
}

/// A running chromedriver in a process group of its own, with its log and the profile
/// directory of the browser it starts.
#[derive(Debug)]
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
    profile: PathBuf,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until `/status` reports it ready.
    fn launch() -> Result<Driver, String> {
        let driver = installed();
        let port = crate::debian::free_port();
        let name = format!("fake-orderdesk-chromium-{}-{port}", std::process::id());
        let log = std::env::temp_dir().join(format!("{name}.log"));
        let profile = std::env::temp_dir().join(format!("{name}.profile"));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile)
            .map_err(|e| format!("creating {}: {e}", profile.display()))?;
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that drop also kills the Chromium it started.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", driver.display()))?;
        // Owned from here on, so an early return kills it.
        let mut driver = Driver {
            child,
            port,
            log,
            profile,
        };
        let deadline = Instant::now() + DRIVER_READY_WITHIN;
        loop {
            let ready = http(port, "GET /status", Duration::from_millis(500))
                .and_then(|body| serde_json::from_str::<Value>(&body).ok())
                .is_some_and(|status| status["value"]["ready"] == json!(true));
            // Ready counts only while this child runs (not another process on the port).
            let exited = driver.child.try_wait().map_err(|e| e.to_string())?;
            if ready && exited.is_none() {
                return Ok(driver);
            }
            if exited.is_some() || Instant::now() > deadline {
                let what = match exited {
                    Some(status) => format!("exited with {status}"),
                    None => format!("was not ready within {DRIVER_READY_WITHIN:?}"),
                };
                return Err(format!(
                    "chromedriver on port {port} {what}; {}",
                    driver.log()
                ));
            }
            std::thread::sleep(POLL);
        }
    }

    /// The driver's log, for a failure message.
    fn log(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!("chromedriver's log (last lines):\n{}", tail.join("\n"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is the driver's pid; the group holds the driver and its Chromium.
        let group = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) with a negative pid signals the process group we created.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Sends `request_line` (`METHOD /path`) to the server on `port` and returns the body of a
/// 2xx answer; `None` on any failure. The body is read by its `Content-Length`:
/// chromedriver keeps the connection open whatever the request asks.
fn http(port: u16, request_line: &str, timeout: Duration) -> Option<String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let request = format!(
        "{request_line} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).ok()?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let code = status.split(' ').nth(1)?;
    code.starts_with('2')
        .then(|| String::from_utf8_lossy(&body).into_owned())
}

/// `chromedriver`, with Chromium, installed with apt-get if either is missing.
fn installed() -> &'static Path {
    static DRIVER_PATH: OnceLock<PathBuf> = OnceLock::new();
    DRIVER_PATH.get_or_init(|| {
        crate::debian::install_once("chromium", &["chromium", "chromium-driver"], || {
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
        });
        PathBuf::from(CHROMEDRIVER)
    })
}

/// axe-core's script, `tests/clients/node_modules/axe-core/axe.min.js`, installed with
/// `npm install` in `tests/clients` (from its `package-lock.json`) when it is missing; once,
/// under the same lock the end-to-end tests install those packages with.
///
/// # Panics
///
/// When npm is missing or the install fails.
pub fn axe_core_js() -> PathBuf {
    static SCRIPT: OnceLock<PathBuf> = OnceLock::new();
    SCRIPT
        .get_or_init(|| {
            let clients = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients");
            let script = clients.join("node_modules/axe-core/axe.min.js");
            let lock_path = clients.join(".install.lock");
            let lock = File::create(&lock_path)
                .unwrap_or_else(|e| panic!("creating {}: {e}", lock_path.display()));
            lock.lock()
                .unwrap_or_else(|e| panic!("locking {}: {e}", lock_path.display()));
            if !script.exists() {
                let status = Command::new("npm")
                    .args(["install", "--no-audit", "--no-fund"])
                    .current_dir(&clients)
                    .stdin(Stdio::null())
                    .status()
                    .expect("npm (Node.js) is needed to install axe-core for the browser tests");
                assert!(status.success(), "npm install in tests/clients failed");
                assert!(script.exists(), "npm install gave no {}", script.display());
            }
            script
        })
        .clone()
}

/// Finds the form control labelled `arguments[0]`: `{element, kind}`, or `{labels}` (the
/// labels on the page) when there is none.
const FIND_BY_LABEL: &str = r#"
const want = arguments[0];
const norm = (s) => s.replace(/\s+/g, ' ').trim();
// A label's own words: without the text of a control nested in it (a select's options).
const words = (label) => {
  const copy = label.cloneNode(true);
  copy.querySelectorAll('input, select, textarea').forEach((c) => c.remove());
  return norm(copy.textContent);
};
const labels = Array.from(document.querySelectorAll('label'));
for (const label of labels) {
  const control = label.control;
  if (control && words(label) === want) {
    const tag = control.tagName.toLowerCase();
    const type = (control.getAttribute('type') || '').toLowerCase();
    const kind = tag === 'input' && (type === 'checkbox' || type === 'radio') ? type : tag;
    return { element: control, kind };
  }
}
return { labels: labels.map(words) };
"#;

/// Finds the first visible button, link or submit input reading `arguments[0]`:
/// `{element}`, or `{offered}` (what does read on the page) when there is none.
const FIND_CLICKABLE: &str = r#"
const want = arguments[0];
const norm = (s) => (s || '').replace(/\s+/g, ' ').trim();
const candidates = Array.from(document.querySelectorAll(
  'button, a, input[type=submit], input[type=button]'));
const visible = candidates.filter((e) => e.getClientRects().length > 0);
const reads = (e) => e.tagName === 'INPUT' ? norm(e.value) : norm(e.innerText);
const hit = visible.find((e) => reads(e) === want);
return hit ? { element: hit } : { offered: visible.map(reads) };
"#;

/// Runs axe on the document and calls back with the violations (id, impact, help, helpUrl,
/// targets), or `{error}`.
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
if (typeof axe === 'undefined') { done({ error: 'axe-core did not load' }); return; }
axe.run(document, { resultTypes: ['violations'] })
  .then((r) => done(r.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    targets: v.nodes.map((n) => n.target.join(' ')),
  }))))
  .catch((e) => done({ error: String(e) }));
"#;

#[cfg(test)]
mod tests {
    use super::*;

    /// The processes whose command line mentions `needle`.
    fn processes_mentioning(needle: &str) -> Vec<u32> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
            })
            .collect()
    }

    #[tokio::test]
    async fn browsers_run_side_by_side_and_take_everything_with_them_when_dropped() {
        let (a, b) = tokio::join!(Browser::start(), Browser::start());
        assert_ne!(a.driver.port, b.driver.port, "each has its own driver");
        assert_ne!(a.session, b.session);
        let a_profile = a.driver.profile.display().to_string();
        assert!(
            !processes_mentioning(&a_profile).is_empty(),
            "Chromium runs with a's profile"
        );
        let a_port = a.driver.port;
        drop(a);
        assert!(
            http(a_port, "GET /status", Duration::from_millis(500)).is_none(),
            "a's driver is gone"
        );
        // Killed processes linger as zombies until their parent reaps them; only the
        // driver is ours to reap, its Chromium is reaped by init. Poll, bounded.
        let deadline = Instant::now() + Duration::from_secs(10);
        while processes_mentioning(&a_profile).iter().any(|pid| {
            !std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z "))
        }) {
            assert!(Instant::now() < deadline, "a's Chromium outlived it");
            std::thread::sleep(POLL);
        }
        assert!(!Path::new(&a_profile).exists(), "a's profile is removed");
        assert!(
            http(b.driver.port, "GET /status", Duration::from_secs(2)).is_some(),
            "b is untouched"
        );
        assert_eq!(b.execute("return 1 + 1;", vec![]).await.unwrap(), json!(2));
    }
}
