//! Several `tessera serve` processes on one PostgreSQL: a missed notification is healed by the
//! catch-up poll, a cut listener reconnects within one poll interval, key rotation reaches running
//! instances, and GET /api/me needs no database.
//!
//! These start the real binary, so they are process-level tests; they need `TEST_DATABASE_URL`.
//! Propagation of each kind of revocation and concurrent refreshes across instances are specified
//! in-process on both backends (tests/blackbox/multi_instance.rs); the command line in
//! crates/api/tests/operations/cli.rs.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use tessera_store::testing::TestDatabase;
use tessera_tests::process::{GRACE, terminate};

const MASTER_KEY: &str = "6d1f0c2a4b3e5d7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";
const PASSWORD: &str = "tangerine-otter-cobalt-92";

struct Instance {
    child: Child,
    base: String,
    _data: tempfile::TempDir,
}

impl Drop for Instance {
    fn drop(&mut self) {
        terminate(&mut self.child, GRACE);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn tessera(database_url: &str, data: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("TESSERA_MASTER_KEY", MASTER_KEY)
        .env("TESSERA_DATA_DIR", data)
        .env("TESSERA_SYNC_INTERVAL", "1s")
        .env("TESSERA_RATE_LIMIT_PER_IP", "0")
        .env("RUST_LOG", "warn");
    cmd
}

async fn start(database_url: &str) -> Instance {
    let data = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = tessera(database_url, data.path())
        .arg("serve")
        .env("TESSERA_ADDR", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .spawn()
        .expect("tessera starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(resp) = client.get(format!("{base}/api/ready")).send().await
            && resp.status() == StatusCode::OK
        {
            break;
        }
        assert!(Instant::now() < deadline, "tessera on port {port} never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Instance {
        child,
        base,
        _data: data,
    }
}

struct Tokens {
    access: String,
    refresh: String,
}

async fn register(client: &reqwest::Client, base: &str, email: &str) -> Tokens {
    let body = json!({"email": email, "password": PASSWORD, "name": "Ada", "token_delivery": "body"});
    let resp = client
        .post(format!("{base}/api/auth/register"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let body: Value = resp.json().await.unwrap();
    Tokens {
        access: body["access_token"].as_str().unwrap().to_owned(),
        refresh: body["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// Logs out with a body refresh token (a native client), expecting 204.
async fn logout(client: &reqwest::Client, base: &str, refresh: &str) {
    let resp = client
        .post(format!("{base}/api/auth/logout"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

async fn me_status(client: &reqwest::Client, base: &str, access: &str) -> StatusCode {
    client
        .get(format!("{base}/api/me"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .status()
}

/// Polls `base` until `access` is refused; returns how long that took.
async fn time_until_refused(client: &reqwest::Client, base: &str, access: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    while me_status(client, base, access).await == StatusCode::OK {
        assert!(
            started.elapsed() < limit,
            "the revocation did not reach {base} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    started.elapsed()
}

fn postgres() -> Option<TestDatabase> {
    let db = TestDatabase::postgres();
    if db.is_none() {
        eprintln!("skipped: TEST_DATABASE_URL not set");
    }
    db
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catch_up_poll_heals_a_missed_notification() {
    let Some(db) = postgres() else { return };
    let a = start(&db.url).await;
    let b = start(&db.url).await;
    let client = reqwest::Client::new();
    let tokens = register(&client, &a.base, "ada@example.com").await;
    assert_eq!(me_status(&client, &b.base, &tokens.access).await, StatusCode::OK);

    // Cut every listener connection, then revoke at once: the notification goes nowhere.
    let admin = tessera_store::SeaStore::connect(&db.url).await.unwrap();
    let cut = cut_listeners(&admin).await;
    logout(&client, &a.base, &tokens.refresh).await;
    // The poll runs every second (TESSERA_SYNC_INTERVAL=1s); allow a few.
    let healed = time_until_refused(&client, &b.base, &tokens.access, Duration::from_secs(5)).await;
    println!("revocation reached the other instance through the catch-up poll after {healed:?}");

    // The listener comes back: the next revocation is fast again.
    wait_for_new_listeners(&admin, &cut, 2).await;
    let again = register(&client, &a.base, "bob@example.com").await;
    logout(&client, &a.base, &again.refresh).await;
    time_until_refused(&client, &b.base, &again.access, Duration::from_secs(1)).await;
}

/// Terminates every listener connection of this test's database; returns their process ids.
async fn cut_listeners(admin: &tessera_store::SeaStore) -> Vec<i32> {
    // Only this test's database: other tests run in parallel with listeners of their own.
    let rows = admin
        .connection()
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pid, pg_terminate_backend(pid) AS terminated FROM pg_stat_activity \
             WHERE application_name = 'tessera-listener' AND datname = current_database()",
        ))
        .await
        .unwrap();
    rows.iter().map(|row| row.try_get::<i32>("", "pid").unwrap()).collect()
}

/// Waits (under a deadline) until `count` listener connections other than the `cut` ones listen
/// on this test's database again.
async fn wait_for_new_listeners(admin: &tessera_store::SeaStore, cut: &[i32], count: i64) {
    let cut = cut.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
    let sql = format!(
        "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
         AND application_name = 'tessera-listener' AND query ILIKE 'LISTEN%' \
         AND pid <> ALL('{{{cut}}}'::int[])"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let row = admin
            .connection()
            .query_one_raw(Statement::from_string(DbBackend::Postgres, sql.clone()))
            .await
            .unwrap()
            .unwrap();
        if row.try_get::<i64>("", "n").unwrap() >= count {
            return;
        }
        assert!(Instant::now() < deadline, "the listeners never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A revocation made while the listeners are cut (at several moments after the cut) reaches the
/// other instance within one poll interval: the listener reconnects at once and catches up as
/// soon as it listens again, instead of waiting for the poll after next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_listener_cut_a_revocation_arrives_within_one_poll_interval() {
    let Some(db) = postgres() else { return };
    let a = start(&db.url).await;
    let b = start(&db.url).await;
    let client = reqwest::Client::new();
    let admin = tessera_store::SeaStore::connect(&db.url).await.unwrap();
    let poll_interval = Duration::from_secs(1); // TESSERA_SYNC_INTERVAL of `tessera()`
    let mut worst = Duration::ZERO;
    for (round, pause_ms) in [0u64, 20, 50, 100, 200, 400].into_iter().enumerate() {
        let tokens = register(&client, &a.base, &format!("user{round}@example.com")).await;
        assert_eq!(me_status(&client, &b.base, &tokens.access).await, StatusCode::OK);
        cut_listeners(&admin).await;
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        logout(&client, &a.base, &tokens.refresh).await;
        let took = time_until_refused(&client, &b.base, &tokens.access, Duration::from_secs(5)).await;
        println!("listener cut, revoked {pause_ms} ms later: refused by the other instance after {took:?}");
        worst = worst.max(took);
    }
    println!("listener-cut bound: worst {worst:?} (poll interval {poll_interval:?})");
    assert!(
        worst < poll_interval,
        "a revocation during a listener cut took {worst:?}, more than one poll interval"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_reaches_running_instances_and_old_tokens_keep_working() {
    let Some(db) = postgres() else { return };
    let a = start(&db.url).await;
    let b = start(&db.url).await;
    let client = reqwest::Client::new();
    let before = register(&client, &a.base, "ada@example.com").await;
    let jwks = |base: String| {
        let client = client.clone();
        async move {
            let body: Value = client
                .get(format!("{base}/.well-known/jwks.json"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(jwks(a.base.clone()).await.len(), 1);

    let data = tempfile::tempdir().unwrap();
    let output = tessera(&db.url, data.path()).args(["keys", "rotate"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    for instance in [&a, &b] {
        let deadline = Instant::now() + Duration::from_secs(5);
        while jwks(instance.base.clone()).await.len() != 2 {
            assert!(
                Instant::now() < deadline,
                "{} did not pick up the new key",
                instance.base
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // Tokens signed with the old key still verify on both; new tokens use the new key.
    for instance in [&a, &b] {
        assert_eq!(me_status(&client, &instance.base, &before.access).await, StatusCode::OK);
    }
    let after = register(&client, &b.base, "bob@example.com").await;
    let kid_of = |token: &str| {
        use base64::Engine;
        let header = token.split('.').next().unwrap();
        let header: Value =
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    assert_ne!(kid_of(&before.access), kid_of(&after.access));
    assert_eq!(me_status(&client, &a.base, &after.access).await, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_me_needs_no_database() {
    let Some(db) = postgres() else { return };
    let a = start(&db.url).await;
    let client = reqwest::Client::new();
    let tokens = register(&client, &a.base, "ada@example.com").await;

    // Take the database away entirely: terminate the instance's connections and forbid new ones.
    let server_url = std::env::var("TEST_DATABASE_URL").unwrap();
    let admin = tessera_store::SeaStore::connect(&server_url).await.unwrap();
    let name = db.url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned();
    admin
        .connection()
        .execute_unprepared(&format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    admin
        .connection()
        .execute_unprepared(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();

    let ready = client.get(format!("{}/api/ready", a.base)).send().await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the database really is gone"
    );
    for _ in 0..20 {
        assert_eq!(me_status(&client, &a.base, &tokens.access).await, StatusCode::OK);
    }
    admin
        .connection()
        .execute_unprepared(&format!("ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
}
