//! Who owns each MCP session (session-era HTTP clients), and how many there may be.
//!
//! rmcp keeps the sessions; this registry sits in front of it. A session belongs to the
//! tenant whose bearer opened it (`_` in single-store mode), and every request that names a
//! session, whatever its method (a JSON-RPC request or notification, the `GET` stream, a
//! resumption, `DELETE`), is checked against that owner before rmcp sees it: another
//! tenant's bearer gets the same 404 as an unknown session, so ids cannot be probed.
//!
//! Sessions are bounded per tenant (a new session past the cap ends that tenant's least
//! recently used one: the tenant's own problem) and overall (a new session past the cap is
//! refused with 503, so no tenant can end another's sessions). Sessions that end by
//! themselves (idle past `session_idle_secs`) leave the registry on the next sweep.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rmcp::transport::streamable_http_server::SessionManager as _;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

/// How often ended sessions are swept from the registry.
pub const SWEEP_EVERY: Duration = Duration::from_secs(15);

struct Owner {
    tenant: String,
    last_used: Instant,
}

#[derive(Default)]
struct Books {
    owners: HashMap<Arc<str>, Owner>,
    per_tenant: HashMap<String, usize>,
}

impl Books {
    fn forget(&mut self, id: &str) -> bool {
        let Some(owner) = self.owners.remove(id) else {
            return false;
        };
        if let Some(n) = self.per_tenant.get_mut(&owner.tenant) {
            *n -= 1;
            if *n == 0 {
                self.per_tenant.remove(&owner.tenant);
            }
        }
        true
    }
}

/// What a request naming a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// The session is the caller's.
    Owner,
    /// Not known here (rmcp answers 404 for it).
    Unknown,
    /// Another tenant's session: answered like an unknown one.
    Foreign,
}

/// Why a new session was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("this server has {0} MCP sessions open, its limit; try again later")]
pub struct Full(pub usize);

pub struct Sessions {
    manager: Arc<LocalSessionManager>,
    books: Mutex<Books>,
    max_total: usize,
    max_per_tenant: usize,
}

impl Sessions {
    pub fn new(manager: Arc<LocalSessionManager>, max_total: usize, max_per_tenant: usize) -> Self {
        Self {
            manager,
            books: Mutex::new(Books::default()),
            max_total: max_total.max(1),
            max_per_tenant: max_per_tenant.max(1),
        }
    }

    fn books(&self) -> MutexGuard<'_, Books> {
        self.books.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `tenant` may use session `id`; marks it used when so.
    pub fn access(&self, id: &str, tenant: &str) -> Access {
        let mut books = self.books();
        match books.owners.get_mut(id) {
            None => Access::Unknown,
            Some(owner) if owner.tenant == tenant => {
                owner.last_used = Instant::now();
                Access::Owner
            }
            Some(_) => Access::Foreign,
        }
    }

    /// A session rmcp just created for `tenant`. Past the tenant's cap its least recently
    /// used session ends; past the overall cap the new one ends and [`Full`] is returned.
    pub async fn opened(&self, id: &str, tenant: &str) -> Result<(), Full> {
        let (evict, refused) = {
            let mut books = self.books();
            if books.owners.len() >= self.max_total {
                (Some(id.to_string()), Some(Full(books.owners.len())))
            } else {
                books.owners.insert(
                    id.into(),
                    Owner {
                        tenant: tenant.to_string(),
                        last_used: Instant::now(),
                    },
                );
                let count = books.per_tenant.entry(tenant.to_string()).or_default();
                *count += 1;
                let evict = if *count > self.max_per_tenant {
                    let oldest = books
                        .owners
                        .iter()
                        .filter(|(sid, o)| o.tenant == tenant && &***sid != id)
                        .min_by_key(|(_, o)| o.last_used)
                        .map(|(sid, _)| sid.to_string());
                    if let Some(oldest) = &oldest {
                        books.forget(oldest);
                    }
                    oldest
                } else {
                    None
                };
                (evict, None)
            }
        };
        if let Some(evict) = evict {
            let _ = self.manager.close_session(&Arc::from(evict.as_str())).await;
        }
        match refused {
            Some(full) => Err(full),
            None => Ok(()),
        }
    }

    /// A session ended by its owner (`DELETE`).
    pub fn closed(&self, id: &str) {
        self.books().forget(id);
    }

    /// Drop sessions rmcp no longer has (ended by idleness or by their client).
    pub async fn sweep(&self) {
        let live: std::collections::HashSet<Arc<str>> =
            self.manager.sessions.read().await.keys().cloned().collect();
        let mut books = self.books();
        let gone: Vec<Arc<str>> = books
            .owners
            .keys()
            .filter(|id| !live.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            books.forget(&id);
        }
    }

    /// Sessions open now.
    pub fn count(&self) -> usize {
        self.books().owners.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(total: usize, per_tenant: usize) -> Sessions {
        Sessions::new(Arc::new(LocalSessionManager::default()), total, per_tenant)
    }

    #[tokio::test]
    async fn sessions_answer_only_their_owner() {
        let s = registry(10, 10);
        s.opened("s1", "a").await.unwrap();
        assert_eq!(s.access("s1", "a"), Access::Owner);
        assert_eq!(s.access("s1", "b"), Access::Foreign);
        assert_eq!(s.access("s2", "a"), Access::Unknown);
        s.closed("s1");
        assert_eq!(s.access("s1", "a"), Access::Unknown);
    }

    #[tokio::test]
    async fn a_tenant_past_its_cap_loses_its_least_recently_used_session() {
        let s = registry(10, 2);
        s.opened("a1", "a").await.unwrap();
        s.opened("a2", "a").await.unwrap();
        s.opened("b1", "b").await.unwrap();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(s.access("a1", "a"), Access::Owner); // a2 is now the least recent
        s.opened("a3", "a").await.unwrap();
        assert_eq!(s.access("a2", "a"), Access::Unknown);
        assert_eq!(s.access("a1", "a"), Access::Owner);
        assert_eq!(
            s.access("b1", "b"),
            Access::Owner,
            "other tenants keep theirs"
        );
        assert_eq!(s.count(), 3);
    }

    #[tokio::test]
    async fn a_full_server_refuses_new_sessions_and_ends_nobody_elses() {
        let s = registry(2, 2);
        s.opened("a1", "a").await.unwrap();
        s.opened("b1", "b").await.unwrap();
        assert_eq!(s.opened("c1", "c").await, Err(Full(2)));
        assert_eq!(s.count(), 2);
        assert_eq!(s.access("c1", "c"), Access::Unknown);
        assert_eq!(s.access("a1", "a"), Access::Owner);
    }

    #[tokio::test]
    async fn sessions_rmcp_no_longer_has_are_swept() {
        let s = registry(10, 10);
        s.opened("gone", "a").await.unwrap();
        s.sweep().await;
        assert_eq!(s.count(), 0);
        assert_eq!(s.access("gone", "a"), Access::Unknown);
    }
}
