//! The SMTP sink receiving what lettre sends: multipart text+HTML with AUTH, decoded and
//! kept apart by recipient.

use std::time::Duration;

use fake_orderdesk::smtp_sink::SmtpSink;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

const WAIT: Duration = Duration::from_secs(10);

/// A sign-up mail as the console will send one: text and HTML alternatives.
fn sign_up_mail(to: &str, link: &str) -> Message {
    // Long lines and non-ASCII make lettre pick quoted-printable or base64 encodings.
    let text = format!(
        "Hello,\n\nOpen this link to finish signing up — it works once, for 15 minutes:\n\
         {link}\n\nIf you did not ask for it, ignore this mail.\n"
    );
    let html = format!(
        "<p>Hello,</p><p>Open <a href=\"{link}\">this link</a> to finish signing up — it \
         works once, for 15 minutes.</p>"
    );
    Message::builder()
        .from(
            "OrderDesk MCP <console@orderdesk-mcp.test>"
                .parse::<Mailbox>()
                .unwrap(),
        )
        .to(to.parse().unwrap())
        .subject("Your sign-in link — OrderDesk MCP")
        .multipart(MultiPart::alternative_plain_html(text, html))
        .unwrap()
}

fn transport(
    sink: &SmtpSink,
    credentials: Option<(&str, Mechanism)>,
) -> AsyncSmtpTransport<Tokio1Executor> {
    let mut builder =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1").port(sink.port());
    if let Some((password, mechanism)) = credentials {
        builder = builder
            .credentials(Credentials::new("console".into(), password.into()))
            .authentication(vec![mechanism]);
    }
    builder.timeout(Some(WAIT)).build()
}

#[tokio::test]
async fn a_multipart_mail_sent_with_auth_plain_is_read_back_decoded() {
    let sink = SmtpSink::start_with_auth();
    let link = "https://console.orderdesk-mcp.test/console/link?token=abc.DEF_123-xyz";
    transport(&sink, Some(("pa55 word", Mechanism::Plain)))
        .send(sign_up_mail("ada@example.com", link))
        .await
        .unwrap();

    let mail = sink.wait_for("ada@example.com", WAIT).await;
    assert_eq!(mail.from, "console@orderdesk-mcp.test");
    assert_eq!(mail.to, ["ada@example.com"]);
    assert_eq!(mail.subject, "Your sign-in link — OrderDesk MCP");
    let text = mail.text_body.as_deref().unwrap();
    assert!(
        text.contains("finish signing up — it works once"),
        "decoded: {text}"
    );
    let html = mail.html_body.as_deref().unwrap();
    assert!(html.contains(&format!("<a href=\"{link}\">")), "{html}");
    assert_eq!(mail.links(), [link]);
    assert!(mail.raw.contains("multipart/alternative"), "{}", mail.raw);
    // What was decoded: quoted-printable bodies and an encoded-word subject.
    assert!(mail.raw.contains("token=3Dabc"), "{}", mail.raw);
    assert!(mail.raw.contains("=?utf-8?b?"), "{}", mail.raw);

    let auth = mail.auth.as_ref().expect("the session authenticated");
    assert_eq!(
        (
            auth.mechanism,
            auth.username.as_str(),
            auth.password.as_str()
        ),
        ("PLAIN", "console", "pa55 word")
    );
    assert_eq!(sink.logins(), std::slice::from_ref(auth));
}

#[tokio::test]
async fn a_base64_body_is_decoded() {
    let sink = SmtpSink::start();
    let body = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .header(ContentTransferEncoding::Base64)
        .body("Ein Link für dich: https://x.test/b64?ä=1".to_string());
    let message = Message::builder()
        .from("a@x.test".parse::<Mailbox>().unwrap())
        .to("b@x.test".parse().unwrap())
        .subject("base64")
        .singlepart(body)
        .unwrap();
    transport(&sink, None).send(message).await.unwrap();
    let mail = sink.wait_for("b@x.test", WAIT).await;
    assert!(!mail.raw.contains("für"), "sent encoded: {}", mail.raw);
    assert_eq!(
        mail.text_body.as_deref(),
        Some("Ein Link für dich: https://x.test/b64?ä=1")
    );
    assert_eq!(mail.html_body, None, "a text-only mail has no HTML body");
    assert_eq!(mail.links(), ["https://x.test/b64?ä=1"]);
}

#[tokio::test]
async fn mails_to_different_addresses_are_kept_apart_and_handed_out_once() {
    let sink = SmtpSink::start_with_auth();
    let smtp = transport(&sink, Some(("any", Mechanism::Login)));
    smtp.send(sign_up_mail("ada@example.com", "http://127.0.0.1:1/a1"))
        .await
        .unwrap();
    smtp.send(sign_up_mail("bob@example.com", "http://127.0.0.1:1/b1"))
        .await
        .unwrap();
    smtp.send(sign_up_mail("ada@example.com", "http://127.0.0.1:1/a2"))
        .await
        .unwrap();

    assert_eq!(sink.messages().len(), 3);
    assert_eq!(sink.count_to("ada@example.com"), 2);
    assert_eq!(sink.count_to("BOB@example.com"), 1, "case-insensitive");
    assert_eq!(sink.count_to("eve@example.com"), 0);
    let bob = sink.wait_for("bob@example.com", WAIT).await;
    assert_eq!(bob.links(), ["http://127.0.0.1:1/b1"]);
    let first = sink.wait_for("ada@example.com", WAIT).await;
    let second = sink.wait_for("ada@example.com", WAIT).await;
    assert_eq!(
        (first.links(), second.links()),
        (
            vec!["http://127.0.0.1:1/a1".to_string()],
            vec!["http://127.0.0.1:1/a2".to_string()]
        )
    );
    assert_eq!(sink.logins()[0].mechanism, "LOGIN");
    assert!(sink.logins().iter().all(|l| l.password == "any"));
}

#[tokio::test]
async fn wait_for_waits_for_a_mail_sent_later() {
    let sink = SmtpSink::start();
    let smtp = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port())
        .build();
    // join! polls the wait first: it is waiting before the mail is sent.
    let (mail, sent) = tokio::join!(
        sink.wait_for("late@example.com", WAIT),
        smtp.send(sign_up_mail("late@example.com", "https://x.test/late")),
    );
    sent.unwrap();
    assert_eq!(mail.links(), ["https://x.test/late"]);
    assert_eq!(mail.auth, None, "a sink without AUTH offers none");
}

#[tokio::test]
async fn a_sink_with_auth_refuses_mail_from_a_client_that_does_not_log_in() {
    let sink = SmtpSink::start_with_auth();
    let refused = transport(&sink, None)
        .send(sign_up_mail("ada@example.com", "https://x.test/"))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(sink.count_to("ada@example.com"), 0);
}

#[tokio::test]
#[should_panic(expected = "no mail to nobody@example.com arrived within 200ms")]
async fn wait_for_gives_up_after_its_timeout() {
    let sink = SmtpSink::start();
    sink.wait_for("nobody@example.com", Duration::from_millis(200))
        .await;
}
