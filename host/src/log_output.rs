//! Where the host's own log goes: stderr, one event per line, and never more than
//! [`MAX_EVENT_BYTES`] per event, whoever logs it. Our own fields are clipped where they are
//! logged ([`crate::logging::clip`]), but libraries log client input too (rmcp, at warn,
//! names a rejected `Origin` header or a JSON-RPC id as the client sent it), so the bound
//! is kept here, at the one place every event passes.

use std::io::{self, Write};

/// The most bytes one log event may write.
pub const MAX_EVENT_BYTES: usize = 16 * 1024;

/// A `MakeWriter` for `tracing-subscriber`: stderr with the per-event cap.
#[derive(Clone, Copy)]
pub struct CappedStderr {
    /// JSON lines: an event over the cap is replaced by a valid JSON line saying so; text
    /// lines are cut and marked.
    pub json: bool,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CappedStderr {
    type Writer = CappedWriter<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        CappedWriter {
            inner: io::stderr(),
            json: self.json,
        }
    }
}

/// Writes each formatted event (the formatter hands over one whole event per `write`)
/// through, or its bounded replacement.
pub struct CappedWriter<W> {
    inner: W,
    json: bool,
}

impl<W: Write> Write for CappedWriter<W> {
    fn write(&mut self, event: &[u8]) -> io::Result<usize> {
        if event.len() <= MAX_EVENT_BYTES {
            self.inner.write_all(event)?;
        } else if self.json {
            let line = serde_json::json!({
                "level": "WARN",
                "target": "orderdesk_mcp::log_output",
                "message": format!(
                    "a log event of {} bytes was dropped (the limit is {MAX_EVENT_BYTES})",
                    event.len()
                ),
            });
            self.inner.write_all(format!("{line}\n").as_bytes())?;
        } else {
            let mut cut = MAX_EVENT_BYTES;
            while std::str::from_utf8(&event[..cut]).is_err() {
                cut -= 1;
            }
            self.inner.write_all(&event[..cut])?;
            let rest = event.len() - cut;
            self.inner
                .write_all(format!(" …(log event cut: {rest} more bytes)\n").as_bytes())?;
        }
        Ok(event.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(json: bool, event: &[u8]) -> Vec<u8> {
        let mut w = CappedWriter {
            inner: Vec::new(),
            json,
        };
        assert_eq!(w.write(event).unwrap(), event.len());
        w.inner
    }

    #[test]
    fn short_events_pass_whole() {
        assert_eq!(through(true, b"{\"a\":1}\n"), b"{\"a\":1}\n");
    }

    #[test]
    fn a_huge_json_event_becomes_one_valid_line_saying_so() {
        let event = format!("{{\"origin\":\"{}\"}}\n", "x".repeat(100_000));
        let out = String::from_utf8(through(true, event.as_bytes())).unwrap();
        assert!(out.len() < 300, "{out}");
        let parsed: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        let said = format!("{} bytes", event.len());
        assert!(parsed["message"].as_str().unwrap().contains(&said), "{out}");
    }

    #[test]
    fn a_huge_text_event_is_cut_on_a_character_boundary() {
        let event = "é".repeat(20_000);
        let out = String::from_utf8(through(false, event.as_bytes())).unwrap();
        assert!(out.len() <= MAX_EVENT_BYTES + 64);
        assert!(out.ends_with("more bytes)\n"));
    }
}
