//! Scheduled faults: rules that act on the k-th request matching a filter, so a test can
//! break any step of a multi-step client operation. See [`Faults::schedule`].
//!
//! [`Faults::schedule`]: crate::Faults::schedule

use std::time::Duration;

use axum::http::Method;

/// Which API requests a [`Rule`] watches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Match {
    /// Every API request.
    Any,
    /// `GET` requests.
    Reads,
    /// `POST`, `PUT` and `DELETE` requests.
    Writes,
    /// Requests whose route template is exactly this, as [`Stats`](crate::Stats) counts
    /// them: the method, a space, then the path under `/api/v2` with numeric segments
    /// written `{id}`, such as `"PUT /orders/{id}"`, `"GET /orders/{id}"`, `"GET /orders"`,
    /// `"POST /orders"` or `"POST /orders/{id}/shipments"`.
    Route(String),
}

impl Match {
    /// Whether a request with this method and route template matches.
    pub(crate) fn matches(&self, method: &Method, route: &str) -> bool {
        match self {
            Match::Any => true,
            Match::Reads => method == Method::GET,
            Match::Writes => [Method::POST, Method::PUT, Method::DELETE].contains(method),
            Match::Route(template) => template == route,
        }
    }
}

/// What the fake does with a request a [`Rule`] acts on.
///
/// "Not applied" means the store never sees the request; "apply" means the request is
/// served normally (checked, rate-limited, routed, a write really changes the store) before
/// the answer is replaced, withheld or delayed. Only answers that are served take a token
/// from the store's bucket: `Status`, `RateLimited` and `Drop` take none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Respond {
    /// Serve the request normally (useful with an outside edit, see [`Rule::with_edit`]).
    Normal,
    /// Answer this status with `{"status":"error","message":"..."}` and
    /// `X-Tokens-Remaining`; not applied. A status outside 100..=999 is sent as 500.
    Status(u16),
    /// Answer 429 with `X-Retry-After: secs` and `X-Tokens-Remaining: 0`; not applied.
    RateLimited(u32),
    /// Close the connection without answering; not applied.
    Drop,
    /// Apply the request, then close the connection without answering.
    DropAfterApply,
    /// Apply the request, then answer this status with an error envelope instead of the real
    /// answer (keeping the real answer's `X-Tokens-Remaining`). A status outside 100..=999
    /// is sent as 500.
    FailAfterApply(u16),
    /// Apply the request, then wait this long before sending the real answer: a client
    /// that gives up waiting finds the change applied when it reads again.
    SlowAfterApply(Duration),
    /// Wait this long, then serve the request normally (nothing is applied during the wait).
    Slow(Duration),
}

/// When an outside edit ("someone else editing in OrderDesk") of the record a request
/// addresses happens, relative to serving that request.
///
/// The record is the one the request path names, in the store the request authenticated
/// as: order `{id}` for `/orders/{id}` and every path under it, inventory item `{id}` for
/// `/inventory-items/{id}` (and under it). An order edit adds one to
/// `order_metadata.external_edits` (starting at 1) and sets `date_updated` to now; an item
/// edit adds one to the item's `external_edits` and sets its `date_updated`, if it has one,
/// to now. `date_updated` has one-second resolution, but the counter changes on every edit,
/// so two successive edits always leave distinguishable records. Each edit counts in
/// [`Stats::external_edits`](crate::Stats::external_edits). An edit is skipped silently
/// (and not counted) when the path names no record, the record does not exist (at the
/// moment of the edit) or the request has no valid credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edit {
    /// Just before the request is served, so the answer already shows the edit. With
    /// [`Respond::Slow`] the edit comes after the wait; with `Status`, `RateLimited` or
    /// `Drop` it still happens, just before the error answer (or the drop).
    BeforeServing,
    /// Right after the answer was produced (a write applied, an error answer built), before
    /// it is sent, replaced, delayed ([`Respond::SlowAfterApply`]) or dropped: the answer
    /// does not show the edit, the store does. With `RateLimited` this models someone
    /// editing while the client waits out the 429.
    AfterServing,
}

/// A scheduled fault: among the requests that match [`Rule::matching`], let the first
/// `skip` through untouched, then act on the next `times` ones, then expire.
///
/// ```
/// use fake_orderdesk::{Edit, Match, Respond, Rule};
///
/// // The 3rd `GET /orders/{id}` is answered 503, and the order is edited just before.
/// let rule = Rule::on(Match::Route("GET /orders/{id}".into()), Respond::Status(503))
///     .skip(2)
///     .with_edit(Edit::BeforeServing);
/// assert_eq!((rule.skip, rule.times), (2, 1));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// The requests this rule watches.
    pub matching: Match,
    /// Matching requests to let through untouched before acting.
    pub skip: u32,
    /// Matching requests to act on once done skipping; a rule with 0 does nothing.
    pub times: u32,
    /// What to do with a request the rule acts on.
    pub respond: Respond,
    /// An outside edit of the addressed record to make with each request the rule acts on.
    pub outside_edit: Option<Edit>,
}

impl Rule {
    /// A rule acting on the next request that matches `matching`: skip 0, times 1, no edit.
    pub fn on(matching: Match, respond: Respond) -> Rule {
        Rule {
            matching,
            skip: 0,
            times: 1,
            respond,
            outside_edit: None,
        }
    }

    /// Lets the first `n` matching requests through untouched before acting.
    #[must_use]
    pub fn skip(mut self, n: u32) -> Rule {
        self.skip = n;
        self
    }

    /// Acts on `n` matching requests (once done skipping) before expiring.
    #[must_use]
    pub fn times(mut self, n: u32) -> Rule {
        self.times = n;
        self
    }

    /// Makes an outside edit of the addressed record with each request the rule acts on.
    #[must_use]
    pub fn with_edit(mut self, edit: Edit) -> Rule {
        self.outside_edit = Some(edit);
        self
    }
}

/// What the fake does with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Action {
    /// The answer.
    pub respond: Respond,
    /// The outside edit to make, if any.
    pub edit: Option<Edit>,
}

/// The scheduled rules, in the order they were scheduled.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    rules: Vec<Rule>,
}

impl Schedule {
    /// Adds a rule after the others; one with `times` 0 would never act and is dropped.
    pub(crate) fn push(&mut self, rule: Rule) {
        if rule.times > 0 {
            self.rules.push(rule);
        }
    }

    /// Rules not yet spent.
    pub(crate) fn len(&self) -> usize {
        self.rules.len()
    }

    /// Shows a request to every rule, in scheduling order, and returns what the first rule
    /// acting on it says. Every matching rule still skipping counts the request toward its
    /// skip, whether or not another rule acts on it; the first matching rule done skipping
    /// acts (using up one of its `times`); later rules done skipping are left as they are
    /// and wait for the next matching request. Spent rules are removed.
    pub(crate) fn pick(&mut self, method: &Method, route: &str) -> Option<Action> {
        let mut chosen = None;
        for rule in &mut self.rules {
            if !rule.matching.matches(method, route) {
                continue;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
            } else if chosen.is_none() {
                rule.times -= 1;
                chosen = Some(Action {
                    respond: rule.respond,
                    edit: rule.outside_edit,
                });
            }
        }
        self.rules.retain(|rule| rule.times > 0);
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(action: Option<Action>) -> Option<u16> {
        action.map(|a| match a.respond {
            Respond::Status(s) => s,
            other => panic!("unexpected {other:?}"),
        })
    }

    #[test]
    fn skipping_rules_count_requests_another_rule_acts_on() {
        let mut schedule = Schedule::default();
        schedule.push(Rule::on(Match::Any, Respond::Status(501)));
        schedule.push(Rule::on(Match::Any, Respond::Status(502)).skip(1));
        let mut next = || status(schedule.pick(&Method::GET, "GET /test"));
        assert_eq!([next(), next(), next()], [Some(501), Some(502), None]);
    }

    #[test]
    fn a_ready_rule_waits_while_an_earlier_one_acts() {
        let mut schedule = Schedule::default();
        schedule.push(Rule::on(Match::Reads, Respond::Status(501)).times(2));
        schedule.push(Rule::on(Match::Reads, Respond::Status(502)));
        schedule.push(Rule::on(Match::Any, Respond::Status(503)).times(0));
        assert_eq!(schedule.len(), 2);
        let mut next = || status(schedule.pick(&Method::GET, "GET /orders"));
        assert_eq!(
            [next(), next(), next(), next()],
            [Some(501), Some(501), Some(502), None]
        );
        assert_eq!(schedule.len(), 0);
    }

    #[test]
    fn only_matching_requests_count() {
        let mut schedule = Schedule::default();
        let route = Match::Route("PUT /orders/{id}".into());
        schedule.push(Rule::on(route, Respond::Status(504)).skip(1));
        schedule.push(Rule::on(Match::Writes, Respond::Status(505)).skip(2));
        assert_eq!(
            status(schedule.pick(&Method::GET, "GET /orders/{id}")),
            None
        );
        assert_eq!(
            status(schedule.pick(&Method::PUT, "PUT /orders/{id}")),
            None
        );
        assert_eq!(status(schedule.pick(&Method::POST, "POST /orders")), None);
        assert_eq!(
            status(schedule.pick(&Method::PUT, "PUT /orders/{id}")),
            Some(504)
        );
        assert_eq!(
            status(schedule.pick(&Method::DELETE, "DELETE /orders/{id}")),
            Some(505)
        );
        assert_eq!(schedule.len(), 0);
    }
}
