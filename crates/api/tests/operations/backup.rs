//! `tessera backup --to FILE` while serving, a restore into a fresh data directory, and the ways a
//! backup can fail (one line, no partial file, an existing FILE left as it was).

use std::path::Path;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{PASSWORD, Server, free_port, login_native, register_native, stderr, stdout, tessera};

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_backup_of_a_serving_instance_restores_with_the_master_key() {
    let old = tempfile::tempdir().unwrap();
    let server = Server::start(old.path(), &format!("127.0.0.1:{}", free_port()), &[]).await;
    let (access, refresh) = register_native(&server.base, "ada@example.com").await;

    // While it serves: writes keep coming in during and after the copy.
    let backups = tempfile::tempdir().unwrap();
    let target = backups.path().join("tessera-backup.db");
    let out = tessera(old.path(), &[])
        .args(["backup", "--to"])
        .arg(&target)
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.starts_with(&format!("backed up {}", old.path().join("tessera.db").display())),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "keep a copy of {} separately",
            old.path().join("master.key").display()
        )),
        "{said}"
    );
    assert_eq!(entries(backups.path()), ["tessera-backup.db"], "no temporary file left");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the backup holds password hashes: owner only");
    }
    register_native(&server.base, "after-the-backup@example.com").await;
    server.stop();

    // Restore: the database file and, separately, the master key, into a fresh data directory.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&target, restored.path().join("tessera.db")).unwrap();
    std::fs::copy(old.path().join("master.key"), restored.path().join("master.key")).unwrap();
    let server = Server::start(restored.path(), &format!("127.0.0.1:{}", free_port()), &[]).await;
    let (status, body) = login_native(&server.base, "ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "the old password logs in: {body}");
    let client = reqwest::Client::new();
    let me = client
        .get(format!("{}/api/me", server.base))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "an access token signed before the backup verifies"
    );
    let refreshed = client
        .post(format!("{}/api/auth/refresh", server.base))
        .json(&json!({ "refresh_token": refresh }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        refreshed.status(),
        StatusCode::OK,
        "the old session's refresh token is still valid"
    );
    let (status, _) = login_native(&server.base, "after-the-backup@example.com", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the backup is the database as of the copy"
    );
    server.stop();

    // Without the master key the backup is useless: a new key is generated and cannot open the
    // signing keys, and start-up says so.
    let keyless = tempfile::tempdir().unwrap();
    std::fs::copy(&target, keyless.path().join("tessera.db")).unwrap();
    let out = tessera(
        keyless.path(),
        &[("TESSERA_ADDR", &format!("127.0.0.1:{}", free_port()))],
    )
    .arg("serve")
    .output()
    .expect("runs");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("tessera: signing keys"), "{}", stderr(&out));
}

#[test]
fn a_backup_to_an_unwritable_path_fails_with_one_line_and_leaves_no_file() {
    let data = tempfile::tempdir().unwrap();
    let out = tessera(data.path(), &[]).arg("migrate").output().expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let scratch = tempfile::tempdir().unwrap();
    let a_file = scratch.path().join("a-file");
    std::fs::write(&a_file, "not a directory").unwrap();
    let read_only = scratch.path().join("read-only");
    std::fs::create_dir(&read_only).unwrap();
    #[cfg(unix)]
    let root = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o555)).unwrap();
        // root writes anywhere: the mode proves nothing then.
        std::fs::File::create(read_only.join("probe")).is_ok()
    };
    let mut targets = vec![
        scratch.path().join("missing-dir").join("backup.db"),
        a_file.join("backup.db"),
        scratch.path().to_path_buf(),
        Path::new("/proc/tessera-backup.db").to_path_buf(),
    ];
    if !root {
        targets.push(read_only.join("backup.db"));
    }
    for target in targets {
        let out = tessera(data.path(), &[])
            .args(["backup", "--to"])
            .arg(&target)
            .output()
            .expect("runs");
        assert!(!out.status.success(), "{}", target.display());
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one line for {}: {err:?}", target.display());
        assert!(
            err.starts_with(&format!("tessera: cannot write the backup to {}: ", target.display())),
            "{err:?}"
        );
        assert!(stdout(&out).is_empty());
    }
    let mut left = entries(scratch.path());
    left.retain(|name| name != "a-file" && name != "read-only");
    assert!(left.is_empty(), "left behind: {left:?}");
    if root {
        std::fs::remove_file(read_only.join("probe")).unwrap();
    }
    assert!(entries(&read_only).is_empty());
}

/// A failure after the temporary file exists (here: the database is not a database) removes it,
/// and an existing backup under the target name is left untouched.
#[test]
fn a_failed_backup_leaves_the_previous_one_in_place() {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("tessera.db"), vec![0x5a; 8192]).unwrap();
    let backups = tempfile::tempdir().unwrap();
    let target = backups.path().join("nightly.db");
    std::fs::write(&target, "yesterday's backup").unwrap();
    let out = tessera(data.path(), &[])
        .args(["backup", "--to"])
        .arg(&target)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with("tessera: "), "{err:?}");
    assert_eq!(entries(backups.path()), ["nightly.db"], "no temporary file left");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "yesterday's backup");
}

#[test]
fn backup_points_postgresql_users_at_pg_dump_and_refuses_a_missing_database() {
    let data = tempfile::tempdir().unwrap();
    let out = tessera(
        data.path(),
        &[("DATABASE_URL", "postgres://tessera:secret-password@db.internal/tessera")],
    )
    .args(["backup", "--to", "x.db"])
    .output()
    .expect("runs");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.contains("pg_dump"), "{err:?}");
    assert!(!err.contains("secret-password"), "{err:?}");

    // No database yet: say so instead of copying an empty one into existence.
    let out = tessera(data.path(), &[])
        .args(["backup", "--to"])
        .arg(data.path().join("x.db"))
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(stderr(&out).starts_with("tessera: no database at "), "{}", stderr(&out));
    assert!(
        !data.path().join("tessera.db").exists(),
        "backup must not create the database"
    );
    assert!(!data.path().join("x.db").exists());
}
