//! SQLite on a full disk and on read-only (immutable) files, for every write endpoint: no 2xx
//! and no token for a change that was not committed (503 `storage_unavailable` with
//! `Retry-After`, no cookie touched), reads keep working, the database is exactly as before,
//! and once the storage is back the old tokens are still current and every write works again.
//!
//! The data directory is a small tmpfs mounted for the test (root only; CI runs as root), so
//! "full" is a real ENOSPC. It is unmounted afterwards, also when the test fails.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use reqwest::{Method, StatusCode};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, EntityTrait};
use serde_json::json;
use tessera_store::entity::{login_throttle, security_events, sessions, signing_keys, users};

use crate::client::{
    CookieSession, Native, PASSWORD, Reply, http, login_cookie, login_native, refresh_native, register_native, send,
};
use crate::process::{MASTER_KEY, Tessera};

/// A tmpfs mounted on a fresh directory; unmounted (and the directory removed) on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

/// Whether this process runs as root (effective uid 0), from /proc.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

impl Tmpfs {
    /// `None` (with a message) when not root: mounting needs it.
    pub fn mount(size: &str) -> Option<Tmpfs> {
        if !is_root() {
            eprintln!("skipped: this fault-injection test mounts a tmpfs and sets immutable files, which needs root");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("tessera-faults-")
            .tempdir()
            .expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tessera-faults"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed");
        Some(Tmpfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills every free byte with one file (a real ENOSPC follows); returns it.
    pub fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("create the filler");
        let chunk = vec![0u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.kind() == std::io::ErrorKind::StorageFull => break,
                Err(err) => panic!("filling the tmpfs: {err}"),
            }
        }
        // Whatever a partial write left: one byte at a time up to the last page.
        while file.write(&[0]).is_ok_and(|n| n == 1) {}
        path
    }

    /// `chattr +i` (or `-i`) on every file of the directory.
    pub fn set_immutable(&self, immutable: bool) {
        let flag = if immutable { "+i" } else { "-i" };
        for entry in std::fs::read_dir(self.path()).expect("list the tmpfs") {
            let path = entry.expect("entry").path();
            let status = Command::new("chattr")
                .arg(flag)
                .arg(&path)
                .stderr(Stdio::null())
                .status()
                .expect("run chattr");
            assert!(status.success() || !immutable, "chattr {flag} {}", path.display());
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        self.set_immutable(false);
        let unmounted = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|status| status.success());
        if !unmounted {
            // Something still holds it open: detach it now, the kernel frees it when released.
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// Every row of every table (compared before, during and after a fault).
#[derive(Debug, PartialEq)]
struct Snapshot {
    users: Vec<users::Model>,
    sessions: Vec<sessions::Model>,
    events: Vec<security_events::Model>,
    keys: Vec<signing_keys::Model>,
    throttle: Vec<login_throttle::Model>,
}

/// A read-only connection of the test's own (the server's pool is the server's business).
async fn reader(db_file: &Path) -> DatabaseConnection {
    let mut options = ConnectOptions::new(format!("sqlite://{}?mode=ro", db_file.display()));
    options.max_connections(1).sqlx_logging(false);
    Database::connect(options).await.expect("open the database read-only")
}

async fn snapshot(db_file: &Path) -> Snapshot {
    let db = reader(db_file).await;
    let mut snapshot = Snapshot {
        users: users::Entity::find().all(&db).await.expect("users"),
        sessions: sessions::Entity::find().all(&db).await.expect("sessions"),
        events: security_events::Entity::find().all(&db).await.expect("events"),
        keys: signing_keys::Entity::find().all(&db).await.expect("keys"),
        throttle: login_throttle::Entity::find().all(&db).await.expect("throttle"),
    };
    db.close().await.expect("close");
    snapshot.users.sort_by_key(|row| row.id);
    snapshot.sessions.sort_by_key(|row| row.id);
    snapshot.events.sort_by_key(|row| row.id);
    snapshot.keys.sort_by(|a, b| a.kid.cmp(&b.kid));
    snapshot.throttle.sort_by(|a, b| a.key.cmp(&b.key));
    snapshot
}

/// Moves every committed page into the database file and empties the WAL, so that the next
/// write has to grow the WAL (which a full disk refuses).
async fn checkpoint(db_file: &Path) {
    let mut options = ConnectOptions::new(format!("sqlite://{}", db_file.display()));
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await.expect("open the database");
    for _ in 0..50 {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Sqlite,
                "PRAGMA wal_checkpoint(TRUNCATE)",
            ))
            .await
            .expect("checkpoint")
            .expect("a row");
        let busy: i32 = row.try_get_by_index(0).expect("busy flag");
        if busy == 0 {
            db.close().await.expect("close");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("the WAL could not be checkpointed");
}

fn create_admin(database_url: &str, data_dir: &Path, email: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["user", "create", "--email", email, "--admin"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", database_url)
        .env("TESSERA_MASTER_KEY", MASTER_KEY)
        .env("TESSERA_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("tessera user create");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("write the password");
    assert!(child.wait().expect("wait").success(), "tessera user create failed");
}

/// The sessions and users the write endpoints are tried on, created while storage works.
struct World {
    native: Native,
    refresh: CookieSession,
    logout: CookieSession,
    logout_all: CookieSession,
    profile: CookieSession,
    password: CookieSession,
    revoker: CookieSession,
    revoked: CookieSession,
    admin: CookieSession,
    bob_id: String,
}

async fn world(client: &reqwest::Client, base: &str) -> World {
    let native = register_native(client, base, "ada@example.com").await;
    let bob = register_native(client, base, "bob@example.com").await;
    let me = send(client.get(format!("{base}/api/me")).bearer_auth(&bob.access)).await;
    let bob_id = me.json()["id"].as_str().expect("bob's id").to_owned();
    let mut sessions = Vec::new();
    for _ in 0..7 {
        sessions.push(login_cookie(client, base, "ada@example.com").await);
    }
    let admin = login_cookie(client, base, "root@example.com").await;
    // A failed login last, so that a login with the right password has a throttle row to clear.
    let wrong = json!({"email": "ada@example.com", "password": "not-the-password-at-all"});
    let reply = send(client.post(format!("{base}/api/auth/login")).json(&wrong)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let [refresh, logout, logout_all, profile, password, revoker, revoked] =
        <[CookieSession; 7]>::try_from(sessions).unwrap_or_else(|_| unreachable!());
    World {
        native,
        refresh,
        logout,
        logout_all,
        profile,
        password,
        revoker,
        revoked,
        admin,
        bob_id,
    }
}

/// Every write endpoint once, each of which must be refused; `round` keeps new emails unique.
async fn every_write(client: &reqwest::Client, base: &str, world: &World, round: &str) -> Vec<(&'static str, Reply)> {
    let url = |path: &str| format!("{base}{path}");
    let mut replies = Vec::new();
    let register = json!({"email": format!("new-{round}@example.com"), "password": PASSWORD, "name": "New"});
    replies.push((
        "POST /api/auth/register",
        send(client.post(url("/api/auth/register")).json(&register)).await,
    ));
    let login = json!({"email": "ada@example.com", "password": PASSWORD});
    replies.push((
        "POST /api/auth/login",
        send(client.post(url("/api/auth/login")).json(&login)).await,
    ));
    let wrong = json!({"email": "ada@example.com", "password": "still-not-the-password"});
    replies.push((
        "POST /api/auth/login (wrong password)",
        send(client.post(url("/api/auth/login")).json(&wrong)).await,
    ));
    replies.push((
        "POST /api/auth/refresh (body)",
        refresh_native(client, base, &world.native.refresh).await,
    ));
    replies.push((
        "POST /api/auth/refresh (cookie)",
        send(world.refresh.request(client, base, Method::POST, "/api/auth/refresh")).await,
    ));
    replies.push((
        "POST /api/auth/logout",
        send(world.logout.request(client, base, Method::POST, "/api/auth/logout")).await,
    ));
    replies.push((
        "POST /api/auth/logout-all",
        send(
            world
                .logout_all
                .request(client, base, Method::POST, "/api/auth/logout-all"),
        )
        .await,
    ));
    replies.push((
        "PATCH /api/me",
        send(
            world
                .profile
                .request(client, base, Method::PATCH, "/api/me")
                .json(&json!({"name": "Grace"})),
        )
        .await,
    ));
    let change = json!({"current_password": PASSWORD, "new_password": "amber-Lattice-93-slowly-Harbor"});
    replies.push((
        "POST /api/me/password",
        send(
            world
                .password
                .request(client, base, Method::POST, "/api/me/password")
                .json(&change),
        )
        .await,
    ));
    let wrong_change =
        json!({"current_password": "not-my-password-at-all", "new_password": "amber-Lattice-93-slowly-Harbor"});
    replies.push((
        "POST /api/me/password (wrong password)",
        send(
            world
                .password
                .request(client, base, Method::POST, "/api/me/password")
                .json(&wrong_change),
        )
        .await,
    ));
    let target = format!("/api/sessions/{}", world.revoked.sid());
    replies.push((
        "DELETE /api/sessions/{id}",
        send(world.revoker.request(client, base, Method::DELETE, &target)).await,
    ));
    let user = format!("/api/admin/users/{}", world.bob_id);
    replies.push((
        "PATCH /api/admin/users/{id} (disable)",
        send(
            world
                .admin
                .request(client, base, Method::PATCH, &user)
                .json(&json!({"disabled": true})),
        )
        .await,
    ));
    replies.push((
        "PATCH /api/admin/users/{id} (role)",
        send(
            world
                .admin
                .request(client, base, Method::PATCH, &user)
                .json(&json!({"role": "admin"})),
        )
        .await,
    ));
    replies.push((
        "POST /api/admin/users/{id}/revoke-sessions",
        send(
            world
                .admin
                .request(client, base, Method::POST, &format!("{user}/revoke-sessions")),
        )
        .await,
    ));
    replies
}

/// Reads need no write and keep answering while the storage refuses writes.
async fn reads_still_work(client: &reqwest::Client, base: &str, world: &World) {
    for path in ["/api/me", "/api/sessions", "/api/me/events"] {
        let reply = send(world.refresh.request(client, base, Method::GET, path)).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {path}: {}", reply.body);
    }
    let reply = send(world.admin.request(client, base, Method::GET, "/api/admin/users")).await;
    assert_eq!(reply.status, StatusCode::OK, "GET /api/admin/users: {}", reply.body);
}

/// After the fault: the tokens presented during it are still current, and writing works.
async fn old_tokens_still_current(client: &reqwest::Client, base: &str, world: &mut World, round: &str) {
    let reply = refresh_native(client, base, &world.native.refresh).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "refresh with the old token: {}",
        reply.body
    );
    world.native.refresh = reply.json()["refresh_token"].as_str().expect("token").to_owned();
    let reply = send(world.refresh.request(client, base, Method::POST, "/api/auth/refresh")).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "cookie refresh with the old cookie: {}",
        reply.body
    );
    world.refresh.absorb(&reply);
    for session in [
        &world.logout,
        &world.logout_all,
        &world.profile,
        &world.password,
        &world.revoked,
    ] {
        let reply = send(session.request(client, base, Method::GET, "/api/me")).await;
        assert_eq!(reply.status, StatusCode::OK, "a session survived the refused writes");
    }
    let email = format!("after-{round}@example.com");
    register_native(client, base, &email).await;
    login_native(client, base, "ada@example.com").await;
}

/// Writes answered with success are really stored: each of a run of profile changes (enough to
/// go through every pooled connection) is read back from the database file.
async fn writes_are_stored(client: &reqwest::Client, base: &str, world: &World, db_file: &Path) {
    for i in 0..20 {
        let name = format!("Name {i}");
        let reply = send(
            world
                .profile
                .request(client, base, Method::PATCH, "/api/me")
                .json(&json!({ "name": name })),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "PATCH /api/me after the fault: {}",
            reply.body
        );
        let stored = snapshot(db_file).await;
        assert!(
            stored.users.iter().any(|user| user.name == name),
            "PATCH /api/me answered 200 but {name:?} is not in the database"
        );
    }
}

fn refused_and_logged(tessera: &Tessera, replies: &[(&'static str, Reply)], world: &World) {
    for (what, reply) in replies {
        reply.assert_storage_unavailable(what);
    }
    let log = tessera.log();
    assert!(
        log.contains("storage unavailable"),
        "the failures were not logged:\n{}",
        tessera.log_tail()
    );
    for secret in [
        PASSWORD,
        world.native.refresh.as_str(),
        world.refresh.refresh.as_str(),
        world.refresh.access.as_str(),
    ] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_a_full_disk_refuses_every_write_and_loses_nothing() {
    let Some(tmpfs) = Tmpfs::mount("8m") else { return };
    let db_file = tmpfs.path().join("tessera.db");
    let url = format!("sqlite://{}?mode=rwc", db_file.display());
    let logs = tempfile::tempdir().expect("log dir");
    create_admin(&url, tmpfs.path(), "root@example.com");
    let tessera = Tessera::start(&url, tmpfs.path(), logs.path(), &[]).await;
    let client = http();
    let mut world = world(&client, &tessera.base).await;

    checkpoint(&db_file).await;
    let before = snapshot(&db_file).await;
    let filler = tmpfs.fill();
    // Twice: the failed commits of the first round must not leave the server in a state that
    // answers the second differently (a pooled connection inside a dead transaction did).
    let mut replies = every_write(&client, &tessera.base, &world, "full").await;
    replies.extend(every_write(&client, &tessera.base, &world, "full-again").await);
    reads_still_work(&client, &tessera.base, &world).await;
    assert_eq!(snapshot(&db_file).await, before, "a refused write changed the database");
    refused_and_logged(&tessera, &replies, &world);
    println!(
        "full disk: {} write requests answered 503, nothing changed",
        replies.len()
    );

    // Space returns: the same process, with nothing lost, serves the old tokens and writes.
    std::fs::remove_file(filler).expect("free the space");
    assert_eq!(snapshot(&db_file).await, before);
    old_tokens_still_current(&client, &tessera.base, &mut world, "full").await;
    writes_are_stored(&client, &tessera.base, &world, &db_file).await;
    drop(tessera);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_on_read_only_files_refuses_every_write_and_loses_nothing() {
    let Some(tmpfs) = Tmpfs::mount("16m") else { return };
    let db_file = tmpfs.path().join("tessera.db");
    let url = format!("sqlite://{}?mode=rwc", db_file.display());
    let logs = tempfile::tempdir().expect("log dir");
    create_admin(&url, tmpfs.path(), "root@example.com");
    let mut tessera = Tessera::start(&url, tmpfs.path(), logs.path(), &[]).await;
    let client = http();
    let mut world = world(&client, &tessera.base).await;
    let before = snapshot(&db_file).await;

    // The files become immutable (root cannot write them either); a running process keeps
    // writing through the descriptors it has, so the server is restarted onto them.
    tmpfs.set_immutable(true);
    tessera.stop().await;
    tessera.restart().await;
    let replies = every_write(&client, &tessera.base, &world, "ro").await;
    reads_still_work(&client, &tessera.base, &world).await;
    refused_and_logged(&tessera, &replies, &world);
    println!("read-only files: {} write endpoints answered 503", replies.len());
    tessera.stop().await;

    tmpfs.set_immutable(false);
    assert_eq!(snapshot(&db_file).await, before, "a refused write changed the database");
    tessera.restart().await;
    old_tokens_still_current(&client, &tessera.base, &mut world, "ro").await;
    writes_are_stored(&client, &tessera.base, &world, &db_file).await;
    drop(tessera);
}
