//! The `tessera` command line as an operator uses it.

use std::io::{Read, Write};
use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tessera_tests::process::{GRACE, terminate};

use crate::support::{PASSWORD, Server, eventually, free_port, login_native, run_with_stdin, stderr, stdout, tessera};

#[tokio::test]
async fn user_create_reads_a_piped_password_and_says_what_it_created() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = tessera(data.path(), &[]);
    cmd.args(["user", "create", "--email", "Ada@Example.com", "--admin"]);
    let out = run_with_stdin(cmd, &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(
        said.starts_with("created ada@example.com (role admin, id ") && said.ends_with(")\n"),
        "{said:?}"
    );
    assert!(!said.contains("user user"), "{said:?}");
    assert!(!said.contains(PASSWORD) && !stderr(&out).contains(PASSWORD));

    // The same email again: one line, exit 1.
    let mut cmd = tessera(data.path(), &[]);
    cmd.args(["user", "create", "--email", "ada@example.com"]);
    let out = run_with_stdin(cmd, &format!("{PASSWORD}\n"));
    assert!(!out.status.success());
    assert_eq!(stderr(&out), "tessera: a user with this email already exists\n");

    // The password works.
    let server = Server::start(data.path(), &format!("127.0.0.1:{}", free_port()), &[]).await;
    let (status, body) = login_native(&server.base, "ada@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["role"], "admin");
    assert_eq!(body["user"]["name"], "Ada");
}

#[test]
fn user_create_without_a_password_says_so_and_creates_nothing() {
    let data = tempfile::tempdir().unwrap();
    for stdin in ["", "\n", "\r\n"] {
        let mut cmd = tessera(data.path(), &[]);
        cmd.args(["user", "create", "--email", "ada@example.com"]);
        let out = run_with_stdin(cmd, stdin);
        assert!(!out.status.success(), "stdin {stdin:?}");
        let err = stderr(&out);
        assert!(err.starts_with("tessera: no password given"), "{err:?}");
        assert_eq!(err.lines().count(), 1, "{err:?}");
    }
    // Nothing was created: the address is still free.
    let mut cmd = tessera(data.path(), &[]);
    cmd.args(["user", "create", "--email", "ada@example.com"]);
    let out = run_with_stdin(cmd, &format!("{PASSWORD}\n"));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn user_create_refuses_a_weak_password() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = tessera(data.path(), &[]);
    cmd.args(["user", "create", "--email", "x@example.com"]);
    let out = run_with_stdin(cmd, "short\n");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("password"), "{}", stderr(&out));
}

#[test]
fn bad_configuration_stops_start_up_naming_the_variable() {
    let data = tempfile::tempdir().unwrap();
    let vars = [
        ("DATABASE_URL", "sqlite::memory:"),
        ("TESSERA_ACCESS_TTL", "ten minutes"),
    ];
    let out = tessera(data.path(), &vars).arg("serve").output().expect("runs");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("TESSERA_ACCESS_TTL"), "{err}");
    assert_eq!(err.lines().count(), 1, "one clear line: {err}");
}

/// `tessera user create` in a terminal (a pty from util-linux `script`): it prompts twice, does
/// not echo what is typed, and refuses two different entries.
#[test]
fn user_create_prompts_without_echo_on_a_terminal() {
    if !std::path::Path::new("/usr/bin/script").exists() {
        panic!("this test needs util-linux `script` (apt-get install -y util-linux)");
    }
    let data = tempfile::tempdir().unwrap();
    let created = in_terminal(data.path(), "ada@example.com", &[PASSWORD, PASSWORD]);
    assert!(created.contains("Password for the new user: "), "{created:?}");
    assert!(created.contains("Repeat the password: "), "{created:?}");
    assert!(
        created.contains("created ada@example.com (role user, id "),
        "{created:?}"
    );
    assert!(!created.contains(PASSWORD), "the password was echoed: {created:?}");

    let mismatch = in_terminal(
        data.path(),
        "bob@example.com",
        &[PASSWORD, "something-else-entirely-42"],
    );
    assert!(mismatch.contains("tessera: the passwords do not match"), "{mismatch:?}");
    assert!(!mismatch.contains("created"), "{mismatch:?}");

    let empty = in_terminal(data.path(), "bob@example.com", &[""]);
    assert!(empty.contains("tessera: no password given"), "{empty:?}");
}

/// Runs `tessera user create --email EMAIL` on a pseudo-terminal, typing each of `entries` once
/// its prompt is shown and the terminal's echo is off; returns everything the terminal showed.
fn in_terminal(data: &std::path::Path, email: &str, entries: &[&str]) -> String {
    let command = format!("exec {} user create --email {email}", env!("CARGO_BIN_EXE_tessera"));
    let mut child = std::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &command, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TESSERA_DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script starts");
    let mut input = child.stdin.take().expect("stdin");
    let mut output = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = output.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    let prompts = ["Password for the new user: ", "Repeat the password: "];
    for (entry, prompt) in entries.iter().zip(prompts) {
        while !String::from_utf8_lossy(&seen).contains(prompt) {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(chunk) => seen.extend(chunk),
                Err(_) => panic!("no prompt {prompt:?}: {:?}", String::from_utf8_lossy(&seen)),
            }
        }
        wait_for_echo_off(child.id(), deadline);
        input.write_all(format!("{entry}\r").as_bytes()).expect("type");
        input.flush().expect("flush");
    }
    // Until tessera is done and script has relayed all it showed.
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(chunk) => seen.extend(chunk),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                terminate(&mut child, GRACE);
                panic!("tessera did not finish: {:?}", String::from_utf8_lossy(&seen));
            }
        }
    }
    drop(input);
    child.wait().expect("script exits");
    String::from_utf8_lossy(&seen).into_owned()
}

/// Waits until the terminal of `script`'s child (tessera) has echo turned off, so that typing
/// cannot race the prompt: the pty is found through /proc and read with `stty`.
fn wait_for_echo_off(script_pid: u32, deadline: Instant) {
    loop {
        if let Some(pty) = child_terminal(script_pid) {
            let out = std::process::Command::new("stty")
                .args(["-F", &pty, "-a"])
                .output()
                .expect("stty runs");
            let settings = String::from_utf8_lossy(&out.stdout);
            if settings.split_whitespace().any(|flag| flag == "-echo") {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the terminal's echo never went off");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The terminal device of the first child of `pid` (`/dev/pts/N`).
fn child_terminal(pid: u32) -> Option<String> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    let child = children.split_whitespace().next()?;
    let target = std::fs::read_link(format!("/proc/{child}/fd/0")).ok()?;
    let target = target.to_string_lossy().into_owned();
    target.starts_with("/dev/pts/").then_some(target)
}

#[test]
fn help_documents_every_flag_and_the_environment() {
    let data = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let out = tessera(data.path(), &[]).args(args).output().expect("runs");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let top = help(&["--help"]);
    for command in ["serve", "migrate", "openapi", "user", "keys", "backup"] {
        assert!(top.contains(&format!("  {command} ")), "{command} missing from:\n{top}");
    }
    for variable in [
        "TESSERA_ADDR",
        "DATABASE_URL",
        "TESSERA_MASTER_KEY",
        "TESSERA_TRUSTED_PROXIES",
        "TESSERA_SERVE_SPA",
    ] {
        assert!(top.contains(variable), "{variable} missing from:\n{top}");
    }
    let create = help(&["user", "create", "--help"]);
    for flag in [
        "--email <EMAIL>  The user's email",
        "--name <NAME>    Display name",
        "--admin          Give",
    ] {
        assert!(create.contains(flag), "{flag} missing from:\n{create}");
    }
    assert!(
        create.contains("terminal") && create.contains("standard input"),
        "{create}"
    );
    let backup = help(&["backup", "--help"]);
    assert!(
        backup.contains("--to <FILE>") && backup.contains("master.key") && backup.contains("pg_dump"),
        "{backup}"
    );
    let rotate = help(&["keys", "rotate", "--help"]);
    assert!(rotate.contains("TESSERA_SYNC_INTERVAL"), "{rotate}");
}

/// `keys rotate` says when running instances switch, and a running instance does so within
/// the time it says (SQLite: 5 sync intervals).
#[tokio::test]
async fn keys_rotate_says_when_instances_pick_the_key_up_and_they_do() {
    let data = tempfile::tempdir().unwrap();
    let vars = [("TESSERA_SYNC_INTERVAL", "1s")];
    let server = Server::start(data.path(), &format!("127.0.0.1:{}", free_port()), &vars).await;
    let jwks = || async {
        reqwest::get(format!("{}/.well-known/jwks.json", server.base))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["keys"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };
    assert_eq!(jwks().await, 1);

    let out = tessera(data.path(), &vars)
        .args(["keys", "rotate"])
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stdout(&out);
    assert!(said.starts_with("new signing key "), "{said}");
    assert!(
        said.contains("running instances on this database switch to it within 5 x TESSERA_SYNC_INTERVAL (5s with this environment's setting)"),
        "{said}"
    );
    assert!(
        said.contains("tokens signed by the previous key stay valid until they expire"),
        "{said}"
    );
    // What it promised, with a second of slack for the reload itself.
    let took = eventually(
        Duration::from_secs(6),
        "the running instance loads the new key",
        async || jwks().await == 2,
    )
    .await;
    println!("a running SQLite instance picked the rotated key up after {took:?}");
}

/// The start-up log says where the database is and how many migrations it applied.
#[tokio::test]
async fn the_start_up_log_names_the_database_and_the_migrations_applied() {
    let data = tempfile::tempdir().unwrap();
    let vars = [("TESSERA_LOG_FORMAT", "json"), ("RUST_LOG", "info")];
    let database = data.path().join("tessera.db").display().to_string();
    let lines = |server: &Server| -> Vec<serde_json::Value> {
        server
            .log_text()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    };
    let first = Server::start(data.path(), &format!("127.0.0.1:{}", free_port()), &vars).await;
    let migrated = lines(&first)
        .into_iter()
        .find(|l| l["message"] == "database migrated")
        .unwrap_or_else(|| panic!("no migration line in:\n{}", first.log_text()));
    assert_eq!(migrated["database"], database.as_str());
    assert!(migrated["applied"].as_u64().is_some_and(|n| n >= 1), "{migrated}");
    first.stop();

    let second = Server::start(data.path(), &format!("127.0.0.1:{}", free_port()), &vars).await;
    let up_to_date = lines(&second)
        .into_iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("database schema is up to date"))
        })
        .unwrap_or_else(|| panic!("no up-to-date line in:\n{}", second.log_text()));
    assert_eq!(up_to_date["database"], database.as_str());
}
