//! Connection set-up (backend-independent cases, plain tests).

use tessera_store::{Backend, SeaStore, StoreError};

#[tokio::test]
async fn sqlite_creates_missing_directories_and_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested/deeper/tessera.db");
    let url = format!("sqlite://{}", path.display());
    let store = SeaStore::connect(&url).await.expect("connect creates the file");
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().await.expect("migrate");
    assert!(path.exists());
}

#[tokio::test]
async fn connection_errors_never_show_the_password() {
    // Port 1 on loopback: refused at once.
    let url = "postgres://tessera:hunter2-very-secret@127.0.0.1:1/tessera";
    let Err(StoreError::Backend(message)) = SeaStore::connect(url).await else {
        panic!("connecting to a closed port must fail with a backend error");
    };
    assert!(!message.contains("hunter2-very-secret"), "{message}");
    assert!(message.contains("127.0.0.1"), "the message names the server: {message}");
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    let Err(StoreError::Backend(message)) = SeaStore::connect("mysql://root:pw-secret@db/x").await else {
        panic!("mysql is not supported");
    };
    assert!(message.contains("unsupported"), "{message}");
    assert!(!message.contains("pw-secret"), "{message}");
}

#[tokio::test]
async fn sqlite_in_memory_works_for_tools_and_experiments() {
    use tessera_auth_core::ports::UserRepository;

    let store = SeaStore::connect("sqlite::memory:").await.expect("connect");
    store.migrate().await.expect("migrate");
    let user = store
        .create_user(super::support::new_user("mem@example.com"))
        .await
        .expect("create");
    assert_eq!(store.find_user(user.id).await.expect("find"), Some(user));
}
