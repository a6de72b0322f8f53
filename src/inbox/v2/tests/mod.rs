//! Tests of the v2 client over real HTTP: a tiny axum server on `127.0.0.1:0` answers from a
//! script and records every request exactly as it arrived (method, raw path, raw query,
//! headers, body), so request shapes, retries and error decoding are checked end to end.
//! The stateful v2 fake is someone else's; nothing here depends on it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use secrecy::SecretString;
use serde_json::{Value, json};

use super::*;
use crate::inbox::ClientOptions;

mod errors;
mod reads;
mod requests;

const TOKEN: &str = "ibt_s3cret_token_value";

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    /// The path as sent, percent-encoding kept.
    path: String,
    /// The raw query string ("" when none).
    query: String,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One scripted answer.
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16, body: Value) -> Reply {
    Reply {
        status,
        headers: Vec::new(),
        body: if body.is_null() {
            String::new()
        } else {
            body.to_string()
        },
    }
}

impl Reply {
    fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_owned()));
        self
    }
}

#[derive(Default)]
struct Script {
    replies: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Seen>>,
}

/// Held shared by every scripted server, and exclusively by the test that captures logs: the
/// client's log callsites are registered process-wide, and one first hit on another thread
/// while the capturing subscriber is being set up can leave them disabled for it.
static LOG_CAPTURE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The scripted server; stops when dropped.
struct Server {
    url: String,
    script: Arc<Script>,
    task: tokio::task::JoinHandle<()>,
    /// Shared hold of [`LOG_CAPTURE`] (none for the log-capturing test itself).
    _shared: Option<tokio::sync::RwLockReadGuard<'static, ()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(replies: Vec<Reply>) -> Server {
        let shared = LOG_CAPTURE.read().await;
        let mut server = Server::start_unshared(replies).await;
        server._shared = Some(shared);
        server
    }

    /// A server that does not hold [`LOG_CAPTURE`]: for the test that holds it exclusively.
    async fn start_unshared(replies: Vec<Reply>) -> Server {
        let script = Arc::new(Script::default());
        script.replies.lock().unwrap().extend(replies);
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/api/v2", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Server {
            url,
            script,
            task,
            _shared: None,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.script.seen.lock().unwrap().clone()
    }

    fn client(&self) -> Client {
        let mut opts = ClientOptions::new(
            &self.url,
            SecretString::from(TOKEN.to_string()),
            "INBOX_API_TOKEN",
        );
        opts.min_interval = None;
        opts.backoff_base = Duration::from_millis(1);
        opts.max_attempts = 3;
        opts.timeout = Duration::from_secs(10);
        Client::new(opts).unwrap()
    }
}

async fn answer(
    State(script): State<Arc<Script>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    script.seen.lock().unwrap().push(Seen {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path()
            .strip_prefix("/api/v2")
            .unwrap_or("")
            .to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        body: body.to_vec(),
    });
    let next = script.replies.lock().unwrap().pop_front();
    let next = next.unwrap_or_else(|| reply(599, json!({"code": "scriptEmpty"})));
    let mut response = axum::response::Response::builder().status(next.status);
    if !next.body.is_empty() {
        response = response.header("content-type", "application/json");
    }
    for (name, value) in next.headers {
        response = response.header(name, value);
    }
    response.body(axum::body::Body::from(next.body)).unwrap()
}

fn contact_json(id: &str, updated_at: &str) -> Value {
    json!({
        "id": id,
        "profiles": [{
            "id": format!("p{id}"), "platform": "twitter", "platformId": "1876543210987654321",
            "username": "jane", "handle": "@jane", "displayName": "Jane", "bio": null,
            "followerCount": 12, "platformData": {"_tag": "twitter", "badge": null}
        }],
        "statusId": "s1",
        "tagIds": ["t1", "t2"],
        "notes": "met at a conference",
        "valuation": 1200.5,
        "assigneeId": null,
        "createdAt": "2026-09-14T10:32:00.000Z",
        "updatedAt": updated_at,
        "somethingNew": {"ignored": true}
    })
}

fn thread_json(id: &str, contact: Value) -> Value {
    json!({
        "id": id,
        "platform": "twitter",
        "platformId": null,
        "accountLinkId": "al1",
        "profileId": "p1",
        "contactId": contact["id"],
        "assigneeId": "m1",
        "isRequest": false,
        "acceptanceState": "notRequired",
        "archived": false,
        "unread": false,
        "restrictions": [],
        "syncing": false,
        "typingIndicators": "teamDefault",
        "lastMessage": null,
        "activity": {"preview": "hi", "direction": "inbound", "at": "2026-10-01T08:00:00.000Z"},
        "createdAt": "2026-09-14T10:32:00.000Z",
        "contact": contact,
    })
}

fn page(data: Vec<Value>, next: Option<&str>) -> Value {
    json!({"data": data, "nextCursor": next})
}

fn error_body(code: &str, details: Value) -> Value {
    json!({"code": code, "message": format!("{code} happened"), "details": details, "requestId": "req_body"})
}
