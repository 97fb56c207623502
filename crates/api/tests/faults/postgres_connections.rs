//! PostgreSQL with Tessera's backends terminated (`pg_terminate_backend`) again and again under a
//! refresh load: every answer is a 200 or a 503 `storage_unavailable` problem (never another 5xx,
//! never a 401), clients that retry with the same token recover, and afterwards every session is
//! there once, unrevoked, at the generation its client last received.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use tessera_store::entity::sessions;
use tessera_store::testing::TestDatabase;

use crate::client::{Native, http, login_native, refresh_native, register_native};
use crate::process::Tessera;

const SESSIONS: usize = 16;
const LOAD: Duration = Duration::from_secs(4);
const TERMINATE_EVERY: Duration = Duration::from_millis(150);

#[derive(Debug, Default)]
struct Tally {
    refreshes: u64,
    ok: u64,
    unavailable: u64,
    /// Anything else: status and body.
    wrong: Vec<String>,
}

/// Refreshes one session in a loop until `stop`: a 200 moves to the new token, a 503 retries
/// with the same one. Returns the tally and the last token received.
async fn refresher(base: String, mut token: String, stop: Arc<AtomicBool>) -> (Tally, String) {
    let client = http();
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed) {
        tally.refreshes += 1;
        let reply = match client
            .post(format!("{base}/api/auth/refresh"))
            .json(&serde_json::json!({ "refresh_token": token }))
            .send()
            .await
        {
            Ok(resp) => {
                let status = resp.status();
                let body = resp.text().await.unwrap_or_default();
                (status, body)
            }
            Err(err) => {
                tally.wrong.push(format!("no answer: {err}"));
                continue;
            }
        };
        match reply {
            (StatusCode::OK, body) => {
                tally.ok += 1;
                let body: serde_json::Value = serde_json::from_str(&body).expect("JSON");
                token = body["refresh_token"].as_str().expect("refresh_token").to_owned();
            }
            (StatusCode::SERVICE_UNAVAILABLE, body) if body.contains("\"storage_unavailable\"") => {
                tally.unavailable += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (status, body) => tally.wrong.push(format!("{status} {body}")),
        }
    }
    (tally, token)
}

/// The generation a refresh token names (bytes 16..24 of the decoded token, big-endian).
fn generation_of(token: &str) -> i64 {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .expect("base64url token");
    let generation: [u8; 8] = bytes[16..24].try_into().expect("8 bytes");
    i64::from_be_bytes(generation)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backends_terminated_under_refresh_load() {
    let Some(db) = TestDatabase::postgres() else {
        eprintln!("skipped: TEST_DATABASE_URL not set");
        return;
    };
    let logs = tempfile::tempdir().expect("log dir");
    let data = tempfile::tempdir().expect("data dir");
    let tessera = Tessera::start(&db.url, data.path(), logs.path(), &[]).await;
    let client = http();
    let mut natives: Vec<Native> = vec![register_native(&client, &tessera.base, "ada@example.com").await];
    while natives.len() < SESSIONS {
        natives.push(login_native(&client, &tessera.base, "ada@example.com").await);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = natives
        .iter()
        .map(|native| tokio::spawn(refresher(tessera.base.clone(), native.refresh.clone(), stop.clone())))
        .collect();
    let admin = tessera_store::SeaStore::connect(&db.url).await.expect("connect");
    let started = Instant::now();
    let mut terminated = 0u64;
    while started.elapsed() < LOAD {
        tokio::time::sleep(TERMINATE_EVERY).await;
        let rows = admin
            .connection()
            .query_all_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            ))
            .await
            .expect("terminate the backends");
        terminated += rows.len() as u64;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    let mut last_tokens = Vec::new();
    for worker in workers {
        let (tally, token) = worker.await.expect("worker");
        total.refreshes += tally.refreshes;
        total.ok += tally.ok;
        total.unavailable += tally.unavailable;
        total.wrong.extend(tally.wrong);
        last_tokens.push(token);
    }
    println!(
        "postgres, {terminated} backends terminated in {:?}: {} refreshes, {} 200, {} 503 storage_unavailable, {} other",
        LOAD,
        total.refreshes,
        total.ok,
        total.unavailable,
        total.wrong.len()
    );
    assert!(
        total.wrong.is_empty(),
        "answers other than 200 and 503 storage_unavailable: {:?}\n{}",
        &total.wrong[..total.wrong.len().min(5)],
        tessera.log_tail()
    );
    assert!(total.ok > 0 && terminated > 0, "the load and the fault both happened");

    // Every client recovers with the last token it received; every session is there once,
    // unrevoked, at the generation of that token (none lost, none rotated behind a client's back).
    let rows = sessions::Entity::find()
        .all(admin.connection())
        .await
        .expect("sessions");
    assert_eq!(rows.len(), SESSIONS, "sessions lost or duplicated");
    for token in &last_tokens {
        let mut reply = refresh_native(&client, &tessera.base, token).await;
        for _ in 0..50 {
            if reply.status != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            reply = refresh_native(&client, &tessera.base, token).await;
        }
        assert_eq!(reply.status, StatusCode::OK, "a client did not recover: {}", reply.body);
    }
    let rows = sessions::Entity::find()
        .filter(sessions::Column::RevokedAt.is_null())
        .all(admin.connection())
        .await
        .expect("sessions");
    assert_eq!(rows.len(), SESSIONS, "a session was revoked");
    let mut stored: Vec<i64> = rows.iter().map(|row| row.generation).collect();
    let mut expected: Vec<i64> = last_tokens.iter().map(|token| generation_of(token) + 1).collect();
    stored.sort_unstable();
    expected.sort_unstable();
    assert_eq!(stored, expected, "stored generations match what the clients hold");
    admin
        .connection()
        .execute_unprepared("SELECT 1")
        .await
        .expect("still connected");
}
