//! A scripted HTTP server on 127.0.0.1:0 standing in for Streak in the client's
//! tests: it answers from a list of replies (the last one repeats) and records what
//! it saw of each request.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Router;

pub fn random_key() -> String {
    format!("sk_test_{}", uuid::Uuid::new_v4().simple())
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    Plain {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Waits (in tokio time), then answers.
    Slow(Duration, Box<Reply>),
    /// 200 with a body that never ends (no Content-Length).
    Endless,
}

pub fn json(status: u16, body: &str) -> Reply {
    Reply::Plain {
        status,
        headers: vec![("content-type", "application/json".into())],
        body: body.as_bytes().to_vec(),
    }
}

pub fn with_header(reply: Reply, name: &'static str, value: &str) -> Reply {
    match reply {
        Reply::Plain {
            status,
            mut headers,
            body,
        } => {
            headers.push((name, value.to_string()));
            Reply::Plain {
                status,
                headers,
                body,
            }
        }
        other => other,
    }
}

/// What the server saw of one request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub authorization: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Clone)]
struct Script {
    /// Replies in order; the last one repeats forever.
    replies: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

#[derive(Debug)]
pub struct Server {
    pub base_url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub async fn start(replies: Vec<Reply>) -> Server {
        assert!(!replies.is_empty());
        let script = Script {
            replies: Arc::new(Mutex::new(replies.into())),
            seen: Arc::default(),
        };
        let seen = script.seen.clone();
        let app = Router::new().fallback(handle).with_state(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Server {
            base_url: format!("http://{addr}/api/v1"),
            seen,
        }
    }

    pub fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn handle(State(script): State<Script>, req: Request) -> Response {
    let seen = Seen {
        path: req.uri().path().to_string(),
        authorization: header(&req, "authorization"),
        user_agent: header(&req, "user-agent"),
    };
    drop(req);
    script.seen.lock().unwrap().push(seen);
    let reply = {
        let mut replies = script.replies.lock().unwrap();
        if replies.len() > 1 {
            replies.pop_front().unwrap()
        } else {
            replies.front().unwrap().clone()
        }
    };
    respond(reply).await
}

async fn respond(mut reply: Reply) -> Response {
    loop {
        match reply {
            Reply::Slow(delay, then) => {
                tokio::time::sleep(delay).await;
                reply = *then;
            }
            Reply::Endless => {
                let chunk = Bytes::from(vec![b' '; 8192]);
                let stream =
                    futures::stream::repeat_with(move || Ok::<_, Infallible>(chunk.clone()));
                return Response::new(Body::from_stream(stream));
            }
            Reply::Plain {
                status,
                headers,
                body,
            } => {
                let mut response = Response::new(Body::from(body));
                *response.status_mut() = StatusCode::from_u16(status).unwrap();
                for (name, value) in headers {
                    response.headers_mut().insert(
                        HeaderName::from_static(name),
                        HeaderValue::from_str(&value).unwrap(),
                    );
                }
                return response;
            }
        }
    }
}
