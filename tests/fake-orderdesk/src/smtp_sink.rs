//! A real SMTP server on a free loopback port that keeps every mail it receives, for tests
//! of code that sends mail (sign-up links): [`SmtpSink::start`] accepts mail from anyone;
//! [`SmtpSink::start_with_auth`] offers `AUTH PLAIN` and `AUTH LOGIN`, requires one of them
//! before `MAIL`, accepts any credentials and records them, so a test can check that the
//! sender authenticated and with what. Dropping the sink stops it.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use fake_orderdesk::smtp_sink::SmtpSink;
//!
//! let smtp = SmtpSink::start_with_auth();
//! // ... point the sender at 127.0.0.1:smtp.port(), no TLS, any user and password ...
//! let mail = smtp.wait_for("ada@example.com", Duration::from_secs(10)).await;
//! let link = &mail.links()[0];
//! # }
//! ```
//!
//! The protocol is [`mailin`](https://docs.rs/mailin)'s state machine, a maintained SMTP
//! server library (commands, replies, dot-unstuffing, AUTH), fed by a small thread-per-
//! connection loop of ours: `mailin-embedded`, its server, neither builds without a TLS
//! stack nor allows AUTH without TLS nor stops. Messages are decoded with
//! [`mail-parser`](https://docs.rs/mail-parser) (MIME, quoted-printable, base64, encoded
//! headers), which reads what any mail library writes.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mail_parser::MessageParser;
use mailin::{Action, AuthMechanism, Handler, Response, SessionBuilder, response};
use tokio::sync::Notify;

/// How long a connection may sit idle before the sink hangs up.
const IDLE: Duration = Duration::from_secs(30);

/// A running SMTP server bound to `127.0.0.1`; dropping it stops the server.
#[derive(Debug)]
pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

/// Credentials a client authenticated with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `PLAIN` or `LOGIN`.
    pub mechanism: &'static str,
    /// The user name (PLAIN's authentication identity).
    pub username: String,
    /// The password.
    pub password: String,
}

/// One mail the sink received, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`), which include any `Bcc`.
    pub to: Vec<String>,
    /// The `Subject` header, decoded; empty when there is none.
    pub subject: String,
    /// The first `text/plain` body, transfer-decoded.
    pub text_body: Option<String>,
    /// The first `text/html` body, transfer-decoded.
    pub html_body: Option<String>,
    /// The message as it was sent (headers and body, dot-unstuffed).
    pub raw: String,
    /// The credentials its session authenticated with; `None`: no AUTH.
    pub auth: Option<Credentials>,
}

impl Mail {
    /// The `http://` and `https://` URLs in the text body, in order (a trailing `.`, `,`,
    /// `)` and the like is not taken as part of a URL).
    pub fn links(&self) -> Vec<String> {
        links_in(self.text_body.as_deref().unwrap_or_default())
    }

    /// Whether `address` is among the recipients (case-insensitive, as mail addresses go
    /// in practice).
    pub fn is_to(&self, address: &str) -> bool {
        self.to.iter().any(|to| to.eq_ignore_ascii_case(address))
    }
}

/// What the server threads and the test share.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    arrived: Notify,
}

#[derive(Debug, Default)]
struct State {
    mails: Vec<Mail>,
    /// Parallel to `mails`: handed out by [`SmtpSink::wait_for`] already.
    taken: Vec<bool>,
    logins: Vec<Credentials>,
}

impl SmtpSink {
    /// Starts a server on a free port of `127.0.0.1` that offers no AUTH and takes mail
    /// from anyone.
    pub fn start() -> SmtpSink {
        Self::start_with(false)
    }

    /// Starts a server on a free port of `127.0.0.1` that offers `AUTH PLAIN` and
    /// `AUTH LOGIN` over plain text, requires one before `MAIL FROM`, and accepts any
    /// credentials (see [`SmtpSink::logins`] and [`Mail::auth`]).
    pub fn start_with_auth() -> SmtpSink {
        Self::start_with(true)
    }

    fn start_with(auth: bool) -> SmtpSink {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("no free loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let mut session = SessionBuilder::new("smtp-sink.test");
        if auth {
            session
                .enable_auth(AuthMechanism::Plain)
                .enable_auth(AuthMechanism::Login)
                .insecure_enable_plaintext_auth();
        }
        let shared = Arc::new(Shared::default());
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::Builder::new()
                .name(format!("smtp-sink-{port}"))
                .spawn(move || accept(listener, session, shared, stop))
                .expect("spawning the SMTP sink's thread")
        };
        SmtpSink {
            port,
            shared,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// The port the server listens on (at `127.0.0.1`).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every mail received so far, oldest first.
    pub fn messages(&self) -> Vec<Mail> {
        self.state().mails.clone()
    }

    /// How many mails received so far have `to` among their recipients.
    pub fn count_to(&self, to: &str) -> usize {
        self.state().mails.iter().filter(|m| m.is_to(to)).count()
    }

    /// Every successful AUTH so far, in order.
    pub fn logins(&self) -> Vec<Credentials> {
        self.state().logins.clone()
    }

    /// The oldest mail to `to` that no earlier call took, waiting for it to arrive; each
    /// mail is handed out once, so successive calls see successive mails.
    ///
    /// # Panics
    ///
    /// When none arrives within `timeout` (the message lists what did arrive).
    pub async fn wait_for(&self, to: &str, timeout: Duration) -> Mail {
        let waiting = async {
            loop {
                // Registered before looking, so a mail stored in between still wakes us.
                let arrived = self.shared.arrived.notified();
                tokio::pin!(arrived);
                arrived.as_mut().enable();
                if let Some(mail) = self.take(to) {
                    return mail;
                }
                arrived.await;
            }
        };
        match tokio::time::timeout(timeout, waiting).await {
            Ok(mail) => mail,
            Err(_) => {
                let seen: Vec<String> = self
                    .messages()
                    .iter()
                    .map(|m| format!("to {:?}: {:?}", m.to, m.subject))
                    .collect();
                panic!("no mail to {to} arrived within {timeout:?}; received: {seen:?}")
            }
        }
    }

    /// Marks the oldest untaken mail to `to` taken and returns it.
    fn take(&self, to: &str) -> Option<Mail> {
        let mut state = self.state();
        let State { mails, taken, .. } = &mut *state;
        let index = (0..mails.len()).find(|&i| !taken[i] && mails[i].is_to(to))?;
        taken[index] = true;
        Some(mails[index].clone())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept so that it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Accepts connections until `stop`, each served on a thread of its own.
fn accept(
    listener: TcpListener,
    session: SessionBuilder,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let (session, shared) = (session.clone(), shared.clone());
        let _ = std::thread::Builder::new()
            .name("smtp-sink-conn".into())
            .spawn(move || {
                let _ = serve(stream, &session, shared);
            });
    }
}

/// One SMTP conversation, until the client quits, hangs up or idles too long.
fn serve(stream: TcpStream, session: &SessionBuilder, shared: Arc<Shared>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(IDLE))?;
    stream.set_write_timeout(Some(IDLE))?;
    let remote = stream
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = BufWriter::new(stream);
    let mut session = session.build(remote, Collector::new(shared));
    reply(&mut writer, &session.greeting())?;
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let answer = session.process(&line);
        match answer.action {
            Action::Reply => reply(&mut writer, &answer)?,
            Action::Close => return reply(&mut writer, &answer),
            // No TLS is offered, so no client asks to upgrade.
            Action::UpgradeTls => return Ok(()),
            Action::NoReply => {}
        }
    }
}

fn reply(writer: &mut BufWriter<TcpStream>, answer: &Response) -> std::io::Result<()> {
    answer.write_to(writer)?;
    writer.flush()
}

/// The session's handler: gathers one message at a time and stores it when complete.
struct Collector {
    shared: Arc<Shared>,
    auth: Option<Credentials>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Collector {
    fn new(shared: Arc<Shared>) -> Collector {
        Collector {
            shared,
            auth: None,
            from: String::new(),
            to: Vec::new(),
            data: Vec::new(),
        }
    }

    fn logged_in(&mut self, mechanism: &'static str, username: &str, password: &str) -> Response {
        let credentials = Credentials {
            mechanism,
            username: username.to_owned(),
            password: password.to_owned(),
        };
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        state.logins.push(credentials.clone());
        self.auth = Some(credentials);
        response::AUTH_OK
    }
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.from = from.to_owned();
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let raw = std::mem::take(&mut self.data);
        let mail = decode(
            std::mem::take(&mut self.from),
            std::mem::take(&mut self.to),
            &raw,
            self.auth.clone(),
        );
        {
            let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
            state.mails.push(mail);
            state.taken.push(false);
        }
        self.shared.arrived.notify_waiters();
        response::OK
    }

    fn auth_plain(
        &mut self,
        _authorization_id: &str,
        authentication_id: &str,
        password: &str,
    ) -> Response {
        self.logged_in("PLAIN", authentication_id, password)
    }

    fn auth_login(&mut self, username: &str, password: &str) -> Response {
        self.logged_in("LOGIN", username, password)
    }
}

/// The mail for a message received from `from` for `to`.
fn decode(from: String, to: Vec<String>, raw: &[u8], auth: Option<Credentials>) -> Mail {
    let parsed = MessageParser::default().parse(raw);
    let body = |html: bool| {
        let message = parsed.as_ref()?;
        // mail-parser offers a text-only mail's text as its HTML body too (and the other
        // way round): keep only parts that really are of the type asked for.
        let mut parts = if html {
            message.html_bodies().collect::<Vec<_>>()
        } else {
            message.text_bodies().collect()
        };
        parts.retain(|p| p.is_text() && p.is_text_html() == html);
        parts.first()?.text_contents().map(str::to_owned)
    };
    Mail {
        from,
        to,
        subject: parsed
            .as_ref()
            .and_then(|m| m.subject())
            .unwrap_or_default()
            .to_owned(),
        text_body: body(false),
        html_body: body(true),
        raw: String::from_utf8_lossy(raw).into_owned(),
        auth,
    }
}

/// The `http(s)://` URLs in `text`.
fn links_in(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(start) = ["http://", "https://"]
        .iter()
        .filter_map(|scheme| rest.find(scheme))
        .min()
    {
        let tail = &rest[start..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '"' | '\'' | '`'))
            .unwrap_or(tail.len());
        let link = tail[..end].trim_end_matches(['.', ',', ';', ':', '!', '?', ')', ']']);
        links.push(link.to_owned());
        rest = &tail[end..];
    }
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_found_without_their_trailing_punctuation() {
        let text = "Sign in: https://console.test/login?t=a.b_c-d.\n\
                    (or http://127.0.0.1:8080/x), and <https://e.test/y>; not ftp://z";
        assert_eq!(
            links_in(text),
            [
                "https://console.test/login?t=a.b_c-d",
                "http://127.0.0.1:8080/x",
                "https://e.test/y"
            ]
        );
        assert!(links_in("no links here").is_empty());
    }

    #[test]
    fn sinks_are_separate_and_stop_when_dropped() {
        let a = SmtpSink::start();
        let b = SmtpSink::start_with_auth();
        assert_ne!(a.port(), b.port());
        let port = a.port();
        drop(a);
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
            "a stopped sink refuses connections"
        );
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, b.port())).is_ok());
    }
}
