//! Tests of the fake Inbox v1 over real HTTP (reqwest against `127.0.0.1:0`): behaviour
//! (`behaviour.rs`: pagination, strict validation, the context patch and its fan-out, events,
//! auth, rate limits, faults, and seeding) and shapes against the vendor's v1 OpenAPI file
//! (`schema.rs`). Here: the thin HTTP helper they share, with response capture and a
//! `GET /threads` walker.
//!
//! These tests must only talk to the fake through HTTP and its public scripting API; they must
//! not use any Inbox client, which the fake exists to cross-check.

mod behaviour;
mod schema;
#[path = "../common/schema_check.rs"]
mod schema_check;

use reqwest::Method;
use serde_json::{Value, json};

use crmsync_fake::RateLimit;
use crmsync_fake::inbox_v1::*;

/// A tiny HTTP helper bound to one fake.
struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// A response, read fully.
struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    /// The body as JSON (panics with the body text when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|err| panic!("invalid JSON ({err}): {}", self.text))
    }

    /// A response header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    /// Asserts the documented error shape and returns its `code`.
    pub fn error_code(&self, status: u16) -> String {
        assert_eq!(self.status, status, "body: {}", self.text);
        let body = self.json();
        assert_eq!(body["error"]["status"], json!(status), "body: {body}");
        assert!(body["error"]["message"].is_string(), "body: {body}");
        body["error"]["code"].as_str().unwrap().to_owned()
    }
}

impl Api {
    pub fn new(fake: &FakeInbox) -> Api {
        // reqwest is built with `rustls-no-provider`; plain http still builds a TLS config.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Api {
            client: reqwest::Client::new(),
            base: fake.base_url(),
            token: Some("fake-token".to_owned()),
        }
    }

    pub fn with_token(mut self, token: Option<&str>) -> Api {
        self.token = token.map(str::to_owned);
        self
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
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
        Reply {
            status,
            headers,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn ok(&self, path: &str) -> Value {
        let reply = self.get(path).await;
        assert_eq!(reply.status, 200, "GET {path}: {}", reply.text);
        reply.json()
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// Walks `GET /threads` to the end; returns every thread in order.
    pub async fn walk(&self, view: &str, asc: bool, limit: usize, deprecated: bool) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<(String, String)> = None;
        loop {
            let mut path = format!("/threads?inbox={view}&limit={limit}");
            if asc {
                path.push_str("&filters[sortOrder]=asc");
            }
            if let Some((id, ts)) = &cursor {
                if deprecated {
                    path.push_str(&format!("&cursor%5Bid%5D={id}&cursor%5Btimestamp%5D={ts}"));
                } else {
                    path.push_str(&format!("&cursorId={id}&cursorTimestamp={ts}"));
                }
            }
            let page = self.ok(&path).await;
            let threads = page["threads"].as_array().unwrap();
            assert!(threads.len() <= limit);
            out.extend(threads.iter().cloned());
            match &page["nextCursor"] {
                Value::Null => return out,
                next => {
                    assert_eq!(next["id"], threads.last().unwrap()["id"]);
                    cursor = Some((
                        next["id"].as_str().unwrap().to_owned(),
                        next["timestamp"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
    }

    /// One page of up to 100 default-view threads with extra query text.
    pub async fn walk_filtered(&self, filter: &str) -> Vec<Value> {
        let page = self.ok(&format!("/threads?limit=100&{filter}")).await;
        page["threads"].as_array().unwrap().clone()
    }
}
