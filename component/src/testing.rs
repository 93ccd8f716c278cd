//! A scripted [`Host`] for unit tests: canned HTTP answers, an in-memory kv, a settable
//! clock, recorded requests and sleeps.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};

use crate::host::{Bucket, Host, HttpRequest, HttpResponse, KvError, Level, NetError};

#[derive(Default)]
pub struct ScriptedHost {
    pub responses: RefCell<VecDeque<Result<HttpResponse, NetError>>>,
    pub requests: RefCell<Vec<HttpRequest>>,
    pub sleeps: RefCell<Vec<u64>>,
    pub kv: RefCell<BTreeMap<(&'static str, String), Vec<u8>>>,
    pub config: BTreeMap<String, String>,
    pub now: Cell<u64>,
    pub logs: RefCell<Vec<String>>,
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
        self.responses.borrow_mut().push_back(Ok(HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }));
        self
    }

    pub fn fail(&self, err: NetError) -> &Self {
        self.responses.borrow_mut().push_back(Err(err));
        self
    }
}

impl Host for ScriptedHost {
    fn http(&self, request: &HttpRequest) -> Result<HttpResponse, NetError> {
        self.requests.borrow_mut().push(request.clone());
        self.responses
            .borrow_mut()
            .pop_front()
            .expect("the test scripted fewer answers than the code asked for")
    }

    fn kv_get(&self, bucket: Bucket, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self
            .kv
            .borrow()
            .get(&(bucket.name(), key.to_string()))
            .cloned())
    }

    fn kv_set(&self, bucket: Bucket, key: &str, value: &[u8]) -> Result<(), KvError> {
        self.kv
            .borrow_mut()
            .insert((bucket.name(), key.to_string()), value.to_vec());
        Ok(())
    }

    fn kv_delete(&self, bucket: Bucket, key: &str) -> Result<(), KvError> {
        self.kv
            .borrow_mut()
            .remove(&(bucket.name(), key.to_string()));
        Ok(())
    }

    fn kv_increment(&self, bucket: Bucket, key: &str, delta: u64) -> Result<u64, KvError> {
        let mut kv = self.kv.borrow_mut();
        let slot = kv
            .entry((bucket.name(), key.to_string()))
            .or_insert_with(|| b"0".to_vec());
        let next = String::from_utf8_lossy(slot).parse::<u64>().unwrap_or(0) + delta;
        *slot = next.to_string().into_bytes();
        Ok(next)
    }

    fn config(&self, key: &str) -> Option<String> {
        self.config.get(key).cloned()
    }

    fn now_ms(&self) -> u64 {
        self.now.get()
    }

    fn sleep_ms(&self, ms: u64) {
        self.sleeps.borrow_mut().push(ms);
        self.now.set(self.now.get() + ms);
    }

    fn random_u64(&self) -> u64 {
        0
    }

    fn random_bytes(&self, n: usize) -> Vec<u8> {
        // Distinct per call so nonces and salts differ, deterministic per test.
        let seed = self.now.get() as u8 ^ (self.requests.borrow().len() as u8);
        let counter = self.kv_increment(Bucket::Cache, "__random", 1).unwrap_or(0) as u8;
        (0..n)
            .map(|i| {
                seed.wrapping_add(counter.wrapping_mul(31))
                    .wrapping_add(i as u8)
            })
            .collect()
    }

    fn log(&self, _level: Level, context: &str, message: &str) {
        self.logs.borrow_mut().push(format!("{context}: {message}"));
    }
}
