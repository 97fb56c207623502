//! `kill -9` in the middle of a refresh storm, then a restart.
//!
//! A refresh whose rotation was committed when the process died never got its answer to the
//! client, which retries with the token it has, now the previous one. Within the grace window
//! that retry is answered with the same successor (DESIGN.md rule 2); after it, the retry is a
//! replay and revokes the session (rule 3, kept on purpose: see SECURITY.md, "Crashes and slow
//! restarts"). So a restart faster than the grace window loses no session and revokes none,
//! which is asserted; a slower one revokes the sessions caught mid-refresh, which is measured.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use tessera_store::Backend;
use tessera_store::entity::sessions;
use tessera_store::testing::TestDatabase;

use crate::client::{Native, http, login_native, refresh_native, register_native};
use crate::process::Tessera;

const SESSIONS: usize = 48;
const GRACE: Duration = Duration::from_secs(5);
const STORM: Duration = Duration::from_millis(700);
/// How long every worker has, after the restart, to be answered once.
const RECOVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
struct Outcome {
    token: String,
    ok_before: u64,
    ok_after: u64,
    no_answer: u64,
    unavailable: u64,
    /// Answered 401 `refresh_reused`: the session was revoked.
    reused: bool,
    wrong: Vec<String>,
}

/// Refreshes one session until told to stop and answered once after the restart. A request
/// that got no answer (the process died) is retried with the same token, as a client must.
async fn worker(base: String, token: String, restarted: Arc<AtomicBool>, stop: Arc<AtomicBool>) -> Outcome {
    let client = http();
    let mut outcome = Outcome {
        token,
        ..Outcome::default()
    };
    let mut stop_seen: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            let since = *stop_seen.get_or_insert_with(Instant::now);
            if outcome.ok_after > 0 {
                break;
            }
            if since.elapsed() > RECOVERY {
                outcome.wrong.push("no answer after the restart".to_owned());
                break;
            }
        }
        let after = restarted.load(Ordering::Relaxed);
        let resp = client
            .post(format!("{base}/api/auth/refresh"))
            .json(&serde_json::json!({ "refresh_token": outcome.token }))
            .send()
            .await;
        let Ok(resp) = resp else {
            outcome.no_answer += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let status = resp.status();
        let Ok(body) = resp.text().await else {
            outcome.no_answer += 1;
            continue;
        };
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        match (status, json["code"].as_str()) {
            (StatusCode::OK, _) => {
                outcome.token = json["refresh_token"].as_str().expect("refresh_token").to_owned();
                if after {
                    outcome.ok_after += 1;
                } else {
                    outcome.ok_before += 1;
                }
            }
            (StatusCode::SERVICE_UNAVAILABLE, Some("storage_unavailable")) => {
                outcome.unavailable += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (StatusCode::UNAUTHORIZED, Some("refresh_reused")) => {
                outcome.reused = true;
                break;
            }
            _ => {
                outcome.wrong.push(format!("{status} {body}"));
                break;
            }
        }
    }
    outcome
}

struct Measured {
    downtime: Duration,
    refreshes_before: u64,
    revoked: usize,
}

/// One storm on the empty database `db`: kill -9, wait `restart_after`, restart.
async fn storm(db: &TestDatabase, restart_after: Duration) -> Measured {
    let backend = db.backend;
    let logs = tempfile::tempdir().expect("log dir");
    let data = tempfile::tempdir().expect("data dir");
    let grace = format!("{}s", GRACE.as_secs());
    let mut tessera = Tessera::start(&db.url, data.path(), logs.path(), &[("TESSERA_REFRESH_GRACE", &grace)]).await;
    let client = http();
    let mut natives: Vec<Native> = vec![register_native(&client, &tessera.base, "ada@example.com").await];
    while natives.len() < SESSIONS {
        natives.push(login_native(&client, &tessera.base, "ada@example.com").await);
    }

    let restarted = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = natives
        .iter()
        .map(|native| {
            tokio::spawn(worker(
                tessera.base.clone(),
                native.refresh.clone(),
                restarted.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(STORM).await;
    tessera.crash();
    let crashed_at = Instant::now();
    tokio::time::sleep(restart_after).await;
    tessera.restart().await;
    let downtime = crashed_at.elapsed();
    restarted.store(true, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);

    let mut outcomes = Vec::new();
    for worker in workers {
        outcomes.push(worker.await.expect("worker"));
    }
    let wrong: Vec<&String> = outcomes.iter().flat_map(|o| &o.wrong).collect();
    assert!(
        wrong.is_empty(),
        "{backend:?}: unexpected answers: {:?}\n{}",
        &wrong[..wrong.len().min(5)],
        tessera.log_tail()
    );
    let revoked = outcomes.iter().filter(|o| o.reused).count();
    let refreshes_before: u64 = outcomes.iter().map(|o| o.ok_before).sum();
    assert!(refreshes_before > 0, "the storm ran before the crash");

    // Nothing lost or duplicated: every session is there once; the revoked ones are exactly
    // those whose client met `refresh_reused`; every other one refreshes with the client's token.
    let store = tessera_store::SeaStore::connect(&db.url).await.expect("connect");
    let rows = sessions::Entity::find()
        .all(store.connection())
        .await
        .expect("sessions");
    assert_eq!(rows.len(), SESSIONS, "{backend:?}: sessions lost or duplicated");
    let revoked_rows = sessions::Entity::find()
        .filter(sessions::Column::RevokedAt.is_not_null())
        .all(store.connection())
        .await
        .expect("sessions");
    assert_eq!(revoked_rows.len(), revoked, "{backend:?}: revoked sessions");
    assert!(
        revoked_rows
            .iter()
            .all(|row| row.revoked_reason.as_deref() == Some("refresh_reused"))
    );
    for outcome in outcomes.iter().filter(|o| !o.reused) {
        let reply = refresh_native(&client, &tessera.base, &outcome.token).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{backend:?}: a session was lost: {}",
            reply.body
        );
    }
    tessera.stop().await;
    Measured {
        downtime,
        refreshes_before,
        revoked,
    }
}

async fn a_crash_during_a_refresh_storm(db: &TestDatabase) {
    let fast = storm(db, Duration::ZERO).await;
    assert!(
        fast.downtime < GRACE,
        "the 'fast' restart took {:?}, not under the {GRACE:?} grace window: this measures nothing",
        fast.downtime
    );
    assert_eq!(
        fast.revoked, 0,
        "{:?}: a restart within the grace window revoked sessions",
        db.backend
    );
    let second = match db.backend {
        Backend::Sqlite => TestDatabase::sqlite(),
        Backend::Postgres => TestDatabase::postgres().expect("TEST_DATABASE_URL is set"),
    };
    let slow = storm(&second, GRACE + Duration::from_secs(1)).await;
    println!(
        "{:?} crash during a refresh storm of {SESSIONS} sessions (grace {GRACE:?}): fast restart after {:?} \
         ({} refreshes before the crash): {} revoked; slow restart after {:?} ({} refreshes before): {} revoked",
        db.backend,
        fast.downtime,
        fast.refreshes_before,
        fast.revoked,
        slow.downtime,
        slow.refreshes_before,
        slow.revoked,
    );
}

tessera_store::backend_tests!(a_crash_during_a_refresh_storm);
