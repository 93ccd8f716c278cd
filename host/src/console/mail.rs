//! Sign-up, sign-in and invitation mail: over SMTP with `lettre` (STARTTLS or TLS through
//! rustls, which the build already carries for wasi-http; pooled connections; the standard
//! Rust mail crate), or written to the log with `--mail-log` for development. Without either,
//! there is no mail, and sign-up is off.
//!
//! A link's token appears in the mail body and nowhere else: never in a log line (but the
//! `--mail-log` one, which is the mail), an error or a trace.

use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Mail sent at once; more wait (the sign-up limits keep the queue short).
const MAX_SENDING: usize = 4;
/// The longest one mail may take to hand over.
const SEND_TIMEOUT: Duration = Duration::from_secs(20);

/// How mail leaves this server.
pub enum Mailer {
    Smtp {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
        sending: tokio::sync::Semaphore,
    },
    /// `--mail-log`: each mail goes to the log.
    Log { from: String },
    /// No mail: sign-up and sign-in links are off.
    Off,
}

/// One mail to send.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the mail could not be built: {0}")]
    Build(String),
    #[error("the mail server refused or failed: {0}")]
    Send(String),
    #[error("the mail server did not answer within {0:?}")]
    Timeout(Duration),
    #[error("mail is off on this server")]
    Off,
}

impl Mailer {
    /// The mailer the settings describe: `smtp_url` with `smtp_user`/`smtp_password` and
    /// `mail_from`, else `--mail-log`, else none.
    pub fn from_settings(
        smtp_url: Option<&str>,
        user: Option<&str>,
        password: Option<&str>,
        from: Option<&str>,
        mail_log: bool,
    ) -> anyhow::Result<Self> {
        let Some(url) = smtp_url else {
            return Ok(if mail_log {
                Mailer::Log {
                    from: from.unwrap_or("orderdesk-mcp@localhost").to_string(),
                }
            } else {
                Mailer::Off
            });
        };
        let from: Mailbox = from
            .ok_or_else(|| anyhow::anyhow!("--smtp-url needs --mail-from"))?
            .parse()
            .map_err(|e| anyhow::anyhow!("--mail-from is not a mail address: {e}"))?;
        let parsed = url::Url::parse(url).map_err(|e| anyhow::anyhow!("--smtp-url: {e}"))?;
        let host = parsed
            .host_str()
            .ok_or_else(|| anyhow::anyhow!("--smtp-url has no host"))?
            .to_string();
        let mut builder = match parsed.scheme() {
            "smtps" => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)?,
            "smtp" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)?,
            "smtp+plain" => {
                let loopback = host == "localhost"
                    || host
                        .trim_matches(['[', ']'])
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback());
                anyhow::ensure!(
                    loopback,
                    "--smtp-url smtp+plain:// sends passwords and links in clear text; \
                     it is for a mail server on loopback only"
                );
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host)
            }
            other => anyhow::bail!(
                "--smtp-url scheme {other:?}: use smtps://, smtp:// (STARTTLS) or smtp+plain://"
            ),
        };
        if let Some(port) = parsed.port() {
            builder = builder.port(port);
        }
        if let Some(user) = user {
            builder = builder.credentials(Credentials::new(
                user.to_string(),
                password.unwrap_or_default().to_string(),
            ));
        }
        Ok(Mailer::Smtp {
            transport: builder.timeout(Some(SEND_TIMEOUT)).build(),
            from,
            sending: tokio::sync::Semaphore::new(MAX_SENDING),
        })
    }

    /// Whether mail goes anywhere (sign-up needs it).
    pub fn is_on(&self) -> bool {
        !matches!(self, Mailer::Off)
    }

    /// For the start-up line and the status page.
    pub fn describe(&self) -> &'static str {
        match self {
            Mailer::Smtp { .. } => "smtp",
            Mailer::Log { .. } => "log (development)",
            Mailer::Off => "off",
        }
    }

    /// Send `mail`.
    pub async fn send(&self, mail: Mail) -> Result<(), MailError> {
        match self {
            Mailer::Off => Err(MailError::Off),
            Mailer::Log { from } => {
                // The one place a link's token is written out: the operator asked for it.
                tracing::info!(
                    target: "orderdesk_mcp::mail",
                    from = %from,
                    to = %mail.to,
                    subject = %mail.subject,
                    body = %mail.text,
                    "mail (--mail-log: not sent)"
                );
                Ok(())
            }
            Mailer::Smtp {
                transport,
                from,
                sending,
            } => {
                let to: Mailbox = mail
                    .to
                    .parse()
                    .map_err(|e| MailError::Build(format!("{e}")))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(mail.subject)
                    .multipart(MultiPart::alternative_plain_html(mail.text, mail.html))
                    .map_err(|e| MailError::Build(e.to_string()))?;
                let _turn = sending
                    .acquire()
                    .await
                    .map_err(|_| MailError::Send("shutting down".into()))?;
                match tokio::time::timeout(SEND_TIMEOUT, transport.send(message)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(MailError::Send(e.to_string())),
                    Err(_) => Err(MailError::Timeout(SEND_TIMEOUT)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The pooled transport starts its pool task on the runtime it is built in.
    #[tokio::test]
    async fn settings_pick_the_mailer_and_refuse_clear_text_off_loopback() {
        assert!(matches!(
            Mailer::from_settings(None, None, None, None, false).unwrap(),
            Mailer::Off
        ));
        assert!(matches!(
            Mailer::from_settings(None, None, None, None, true).unwrap(),
            Mailer::Log { .. }
        ));
        let e = Mailer::from_settings(Some("smtp://mail.example.com"), None, None, None, false)
            .err()
            .unwrap();
        assert!(e.to_string().contains("--mail-from"), "{e}");
        let from = Some("MCP <mcp@example.com>");
        for ok in [
            "smtps://mail.example.com",
            "smtp://mail.example.com:2525",
            "smtp+plain://127.0.0.1:2525",
        ] {
            Mailer::from_settings(Some(ok), Some("u"), Some("p"), from, false)
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for bad in [
            "smtp+plain://mail.example.com:25",
            "http://mail.example.com",
            "nonsense",
        ] {
            assert!(
                Mailer::from_settings(Some(bad), None, None, from, false).is_err(),
                "{bad}"
            );
        }
    }
}
