//! A local Confluent Schema Registry double on 127.0.0.1:0 implementing the REST
//! calls the connector uses, as Confluent documents them:
//!
//! - `GET /subjects/{subject}/versions` -> `[1, 2, ...]`;
//!   `GET /subjects/{subject}/versions/{v}` -> `{"id", "schema", ...}`;
//! - `POST /subjects/{subject}/versions` `{"schema": ...}` -> `{"id": n}`; an
//!   identical schema gets the same id in every subject; 409 when the subject is
//!   marked incompatible; 422 when the schema is not JSON.
//! - `POST /subjects/{subject}` `{"schema": ...}` -> `{"subject","id","version","schema"}`,
//!   404 with error code 40401 (no subject) or 40403 (no such schema).
//! - `GET /schemas/ids/{id}` -> `{"schema": ...}`, 404 with 40403.
//! - `GET /subjects` -> the registered subjects, sorted.
//! - Errors as `{"error_code": n, "message": "..."}`; 401 without the configured
//!   Basic credentials; 500 (error code 50001) while `fail` is set; no answer at all
//!   while `hang` is set.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use serde_json::{json, Value};

#[derive(Debug, Default)]
pub struct MockState {
    /// Schema texts; id = index + 1.
    pub schemas: Vec<String>,
    /// Subject -> ids of its versions, in order.
    pub subjects: HashMap<String, Vec<u32>>,
    /// Subjects whose registrations answer 409.
    pub incompatible: HashSet<String>,
    /// Answer 500 to everything.
    pub fail: bool,
    /// Never answer.
    pub hang: bool,
    /// Required `user:password`, if any.
    pub user_info: Option<String>,
    /// "METHOD path" of every request seen.
    pub requests: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct MockRegistry {
    pub url: String,
    pub state: Arc<Mutex<MockState>>,
}

type Answer = (StatusCode, Json<Value>);

fn error(status: StatusCode, code: u32, message: String) -> Answer {
    (
        status,
        Json(json!({ "error_code": code, "message": message })),
    )
}

impl MockRegistry {
    pub async fn start() -> MockRegistry {
        let state = Arc::new(Mutex::new(MockState::default()));
        let app = Router::new()
            .route(
                "/subjects/{subject}/versions",
                post(register).get(list_versions),
            )
            .route("/subjects/{subject}/versions/{version}", get(one_version))
            .route("/subjects/{subject}", post(lookup))
            .route("/schemas/ids/{id}", get(by_id))
            .route("/subjects", get(list_subjects))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        MockRegistry {
            url: format!("http://{addr}"),
            state,
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut MockState) -> R) -> R {
        f(&mut self.state.lock().expect("mock state"))
    }

    pub fn requests_matching(&self, prefix: &str) -> usize {
        self.with(|s| s.requests.iter().filter(|r| r.starts_with(prefix)).count())
    }
}

type Shared = Arc<Mutex<MockState>>;

/// Common checks; `Err` is the answer to give instead.
async fn gate(state: &Shared, headers: &HeaderMap, request: String) -> Result<(), Answer> {
    let (hang, fail, user_info) = {
        let mut s = state.lock().expect("mock state");
        s.requests.push(request);
        (s.hang, s.fail, s.user_info.clone())
    };
    if hang {
        std::future::pending::<()>().await;
    }
    if let Some(expected) = user_info {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
        if given.as_deref() != Some(expected.as_bytes()) {
            return Err(error(StatusCode::UNAUTHORIZED, 401, "Unauthorized".into()));
        }
    }
    if fail {
        return Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            50001,
            "Error in the backend data store".into(),
        ));
    }
    Ok(())
}

fn schema_of(body: &Value) -> Result<String, Answer> {
    let text = body["schema"].as_str().unwrap_or_default().to_owned();
    if serde_json::from_str::<Value>(&text).is_err() {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            42201,
            "Invalid schema".into(),
        ));
    }
    Ok(text)
}

async fn register(
    State(state): State<Shared>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    if let Err(a) = gate(
        &state,
        &headers,
        format!("POST /subjects/{subject}/versions"),
    )
    .await
    {
        return a;
    }
    let text = match schema_of(&body) {
        Ok(t) => t,
        Err(a) => return a,
    };
    let mut s = state.lock().expect("mock state");
    if s.incompatible.contains(&subject) {
        return error(
            StatusCode::CONFLICT,
            409,
            format!("Schema being registered is incompatible with an earlier schema for subject \"{subject}\""),
        );
    }
    let id = match s.schemas.iter().position(|t| *t == text) {
        Some(i) => i as u32 + 1,
        None => {
            s.schemas.push(text);
            s.schemas.len() as u32
        }
    };
    let versions = s.subjects.entry(subject).or_default();
    if !versions.contains(&id) {
        versions.push(id);
    }
    (StatusCode::OK, Json(json!({ "id": id })))
}

async fn lookup(
    State(state): State<Shared>,
    Path(subject): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Answer {
    if let Err(a) = gate(&state, &headers, format!("POST /subjects/{subject}")).await {
        return a;
    }
    let text = match schema_of(&body) {
        Ok(t) => t,
        Err(a) => return a,
    };
    let s = state.lock().expect("mock state");
    let Some(versions) = s.subjects.get(&subject) else {
        return error(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        );
    };
    match versions
        .iter()
        .enumerate()
        .find(|(_, id)| s.schemas[**id as usize - 1] == text)
    {
        Some((i, id)) => (
            StatusCode::OK,
            Json(json!({ "subject": subject, "id": id, "version": i + 1, "schema": text })),
        ),
        None => error(StatusCode::NOT_FOUND, 40403, "Schema not found".into()),
    }
}

async fn by_id(State(state): State<Shared>, Path(id): Path<u32>, headers: HeaderMap) -> Answer {
    if let Err(a) = gate(&state, &headers, format!("GET /schemas/ids/{id}")).await {
        return a;
    }
    let s = state.lock().expect("mock state");
    match id.checked_sub(1).and_then(|i| s.schemas.get(i as usize)) {
        Some(text) => (StatusCode::OK, Json(json!({ "schema": text }))),
        None => error(
            StatusCode::NOT_FOUND,
            40403,
            format!("Schema {id} not found"),
        ),
    }
}

async fn list_versions(
    State(state): State<Shared>,
    Path(subject): Path<String>,
    headers: HeaderMap,
) -> Answer {
    if let Err(a) = gate(
        &state,
        &headers,
        format!("GET /subjects/{subject}/versions"),
    )
    .await
    {
        return a;
    }
    let s = state.lock().expect("mock state");
    match s.subjects.get(&subject) {
        Some(ids) => (
            StatusCode::OK,
            Json(json!((1..=ids.len()).collect::<Vec<_>>())),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        ),
    }
}

async fn one_version(
    State(state): State<Shared>,
    Path((subject, version)): Path<(String, usize)>,
    headers: HeaderMap,
) -> Answer {
    let what = format!("GET /subjects/{subject}/versions/{version}");
    if let Err(a) = gate(&state, &headers, what).await {
        return a;
    }
    let s = state.lock().expect("mock state");
    let found = s
        .subjects
        .get(&subject)
        .and_then(|ids| version.checked_sub(1).and_then(|i| ids.get(i)))
        .copied();
    match found {
        Some(id) => (
            StatusCode::OK,
            Json(json!({
                "subject": subject,
                "id": id,
                "version": version,
                "schema": s.schemas[id as usize - 1],
            })),
        ),
        None => error(StatusCode::NOT_FOUND, 40402, "Version not found.".into()),
    }
}

async fn list_subjects(State(state): State<Shared>, headers: HeaderMap) -> Answer {
    if let Err(a) = gate(&state, &headers, "GET /subjects".to_string()).await {
        return a;
    }
    let s = state.lock().expect("mock state");
    let mut names: Vec<&String> = s.subjects.keys().collect();
    names.sort();
    (StatusCode::OK, Json(json!(names)))
}
