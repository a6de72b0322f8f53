//! Behaviour tests of the fake Inbox v2 over real HTTP (reqwest against `127.0.0.1:0`):
//! reference data, seeding, the thread walk and its movers, cursors, the contact finder, writes
//! and their events, the event log, errors, rate limits and faults, and (when the vendor's spec
//! is on this machine) response and request shapes against it.
//!
//! These tests must only talk to the fake through HTTP and its public API; they must not use
//! any Inbox client, which the fake exists to cross-check.

mod events;
mod limits;
mod schema;
#[path = "../common/schema_check.rs"]
mod schema_check;
mod walk;
mod writes;

use reqwest::Method;
use serde_json::Value;

use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v2::{FakeConfig, FakeInboxV2};

/// A config with limits off.
fn config(contacts: usize) -> FakeConfig {
    FakeConfig {
        contacts,
        rate_limit: RateLimit::Off,
        ..FakeConfig::default()
    }
}

async fn start(contacts: usize) -> (FakeInboxV2, Api) {
    start_with(config(contacts)).await
}

async fn start_with(config: FakeConfig) -> (FakeInboxV2, Api) {
    let fake = FakeInboxV2::start(config).await.unwrap();
    let api = Api::new(&fake);
    (fake, api)
}

/// A tiny HTTP helper bound to one fake.
struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// A response, read fully.
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Reply {
    /// The body as JSON (panics with the body text when it is not JSON).
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|err| panic!("invalid JSON ({err}): {}", self.text))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Asserts the documented flat error shape (and the request id header) and returns the code.
    fn error_code(&self, status: u16) -> String {
        assert_eq!(self.status, status, "body: {}", self.text);
        let body = self.json();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 4, "{body}");
        assert!(body["message"].is_string(), "{body}");
        assert!(
            body["details"].is_null() || body["details"].is_object(),
            "{body}"
        );
        assert_eq!(
            body["requestId"].as_str(),
            self.header("x-request-id").as_deref(),
            "{body}"
        );
        body["code"].as_str().unwrap().to_owned()
    }

    /// The issue paths of a `400 invalidRequest`.
    fn issue_paths(&self) -> Vec<Value> {
        assert_eq!(self.error_code(400), "invalidRequest", "{}", self.text);
        let body = self.json();
        let issues = body["details"]["issues"].as_array().unwrap();
        assert!(!issues.is_empty());
        issues.iter().map(|i| i["path"].clone()).collect()
    }
}

impl Api {
    fn new(fake: &FakeInboxV2) -> Api {
        // reqwest is built with `rustls-no-provider`; plain http still builds a TLS config.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            client: reqwest::Client::new(),
            base: fake.base_url(),
            token: Some("fake-token".to_owned()),
        }
    }

    fn with_token(mut self, token: Option<&str>) -> Api {
        self.token = token.map(str::to_owned);
        self
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request failed");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        assert!(
            headers.contains_key("x-request-id"),
            "no X-Request-Id on {path}"
        );
        Reply {
            status,
            headers,
            text,
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// A GET that must answer 200; its JSON.
    async fn ok(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
        reply.json()
    }

    async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    async fn put(&self, path: &str) -> Reply {
        self.send(Method::PUT, path, None).await
    }

    async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// Every item of a paged list, following `nextCursor` with the same `query`.
    async fn all_pages(&self, route: &str, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("{route}?{query}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let page = self.ok(&path).await;
            out.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return out,
            }
        }
    }
}

/// The `id`s of JSON objects.
fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}
