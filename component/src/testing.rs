//! A scripted [`Host`] for unit tests: canned HTTP answers, an in-memory kv and lock table,
//! a settable clock, recorded requests and sleeps, and storage that can be made to fail
//! after a given number of writes.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};

use crate::host::{Bucket, Host, HttpRequest, HttpResponse, KvError, Level, NetError};

/// What the scripted upstream does with one request; it sees the host, so it can move the
/// clock or the lock table at that moment.
pub type Responder = Box<dyn FnOnce(&ScriptedHost, &HttpRequest) -> Result<HttpResponse, NetError>>;

#[derive(Default)]
pub struct ScriptedHost {
    pub responses: RefCell<VecDeque<Responder>>,
    pub requests: RefCell<Vec<HttpRequest>>,
    pub sleeps: RefCell<Vec<u64>>,
    pub kv: RefCell<BTreeMap<(&'static str, String), Vec<u8>>>,
    /// name → (owner, expires at ms)
    pub locks: RefCell<BTreeMap<String, (String, u64)>>,
    pub config: BTreeMap<String, String>,
    pub now: Cell<u64>,
    pub logs: RefCell<Vec<String>>,
    /// Storage mutations (set, delete, increment) that still succeed; `None` = unlimited.
    pub writes_left: Cell<Option<usize>>,
    /// Every storage, lock and config call, as `op bucket/key` (what a call costs the host).
    pub trace: RefCell<Vec<String>>,
    /// The answer to requests nobody scripted; `None`: such a request fails the test.
    pub fallback: Option<HttpResponse>,
    random: Cell<u64>,
    ticks: Cell<u64>,
}

impl ScriptedHost {
    /// A host configured for store 7 / key "k" at `http://od.test/api/v2`.
    pub fn configured() -> Self {
        let mut host = Self::default();
        for (k, v) in [
            ("api_url", "http://od.test/api/v2"),
            ("store_id", "7"),
            ("api_key", "k"),
        ] {
            host.config.insert(k.into(), v.into());
        }
        host.now.set(1_000_000);
        host
    }

    pub fn answer(&self, status: u16, headers: &[(&str, &str)], body: &str) -> &Self {
        let response = response(status, headers, body);
        self.respond(move |_, _| Ok(response))
    }

    pub fn fail(&self, err: NetError) -> &Self {
        self.respond(move |_, _| Err(err))
    }

    /// Answer the next request with whatever `f` computes from it (it may also change the
    /// scripted world, e.g. to simulate an outside edit at that moment).
    pub fn respond(
        &self,
        f: impl FnOnce(&ScriptedHost, &HttpRequest) -> Result<HttpResponse, NetError> + 'static,
    ) -> &Self {
        self.responses.borrow_mut().push_back(Box::new(f));
        self
    }

    /// Requests sent so far, as `METHOD path` without the base URL or query.
    pub fn sent(&self) -> Vec<String> {
        self.requests
            .borrow()
            .iter()
            .map(|r| {
                let path = r.url.split("/api/v2").nth(1).unwrap_or(&r.url);
                let path = path.split('?').next().unwrap_or(path);
                format!("{} {path}", r.method.as_str())
            })
            .collect()
    }

    fn note(&self, op: &str, what: &str) {
        self.trace.borrow_mut().push(format!("{op} {what}"));
    }

    fn mutate(&self) -> Result<(), KvError> {
        match self.writes_left.get() {
            Some(0) => Err(KvError("injected storage failure".into())),
            Some(n) => {
                self.writes_left.set(Some(n - 1));
                Ok(())
            }
            None => Ok(()),
        }
    }
}

pub fn response(status: u16, headers: &[(&str, &str)], body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: body.as_bytes().to_vec(),
    }
}

impl Host for ScriptedHost {
    fn http(&self, request: &HttpRequest) -> Result<HttpResponse, NetError> {
        self.requests.borrow_mut().push(request.clone());
        let next = self.responses.borrow_mut().pop_front();
        match (next, &self.fallback) {
            (Some(next), _) => next(self, request),
            (None, Some(fallback)) => Ok(fallback.clone()),
            (None, None) => panic!("the test scripted fewer answers than the code asked for"),
        }
    }

    fn kv_get(&self, bucket: Bucket, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.note("get", &format!("{}/{key}", bucket.name()));
        Ok(self
            .kv
            .borrow()
            .get(&(bucket.name(), key.to_string()))
            .cloned())
    }

    fn kv_set(&self, bucket: Bucket, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.note("set", &format!("{}/{key}", bucket.name()));
        self.mutate()?;
        self.kv
            .borrow_mut()
            .insert((bucket.name(), key.to_string()), value.to_vec());
        Ok(())
    }

    fn kv_delete(&self, bucket: Bucket, key: &str) -> Result<(), KvError> {
        self.note("delete", &format!("{}/{key}", bucket.name()));
        self.mutate()?;
        self.kv
            .borrow_mut()
            .remove(&(bucket.name(), key.to_string()));
        Ok(())
    }

    fn kv_increment(&self, bucket: Bucket, key: &str, delta: u64) -> Result<u64, KvError> {
        self.note("increment", &format!("{}/{key}", bucket.name()));
        if delta > 0 {
            self.mutate()?;
        }
        let mut kv = self.kv.borrow_mut();
        let slot = kv
            .entry((bucket.name(), key.to_string()))
            .or_insert_with(|| b"0".to_vec());
        let next = String::from_utf8_lossy(slot).parse::<u64>().unwrap_or(0) + delta;
        *slot = next.to_string().into_bytes();
        Ok(next)
    }

    fn lock_acquire(&self, name: &str, owner: &str, ttl_ms: u64) -> Result<bool, KvError> {
        self.note("lock", name);
        let now = self.now.get();
        let mut locks = self.locks.borrow_mut();
        let free = locks
            .get(name)
            .is_none_or(|(holder, expires)| holder == owner || *expires <= now);
        if free {
            locks.insert(name.to_string(), (owner.to_string(), now + ttl_ms));
        }
        Ok(free)
    }

    fn lock_renew(&self, name: &str, owner: &str, ttl_ms: u64) -> Result<bool, KvError> {
        let now = self.now.get();
        let mut locks = self.locks.borrow_mut();
        match locks.get_mut(name) {
            Some((holder, expires)) if holder == owner && *expires > now => {
                *expires = now + ttl_ms;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn lock_release(&self, name: &str, owner: &str) -> Result<bool, KvError> {
        let mut locks = self.locks.borrow_mut();
        if locks.get(name).is_some_and(|(holder, _)| holder == owner) {
            locks.remove(name);
            return Ok(true);
        }
        Ok(false)
    }

    fn config_all(&self) -> Vec<(String, String)> {
        self.note("config", "all");
        self.config
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    /// The scripted clock in microseconds, plus one per reading so durations are never 0.
    fn monotonic_us(&self) -> u64 {
        let tick = self.ticks.get() + 1;
        self.ticks.set(tick);
        self.now.get() * 1000 + tick
    }

    fn sleep_ms(&self, ms: u64) {
        self.sleeps.borrow_mut().push(ms);
        self.now.set(self.now.get() + ms);
    }

    fn random_u64(&self) -> u64 {
        0
    }

    fn random_bytes(&self, n: usize) -> Vec<u8> {
        // Distinct per call so nonces, salts and owner tokens differ; deterministic per test.
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let counter = self.random.get() + 1;
            self.random.set(counter);
            out.extend_from_slice(&splitmix64(counter).to_le_bytes());
        }
        out.truncate(n);
        out
    }

    fn log(&self, _level: Level, context: &str, message: &str) {
        self.logs.borrow_mut().push(format!("{context}: {message}"));
    }
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
