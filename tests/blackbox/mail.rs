//! The mail queue as `tessera serve` runs it: the worker started with the server delivers to the
//! outbox in the data directory (the default, no SMTP configured), an outbox it cannot write to
//! delays mail without losing it, and GET /api/admin/mail shows the counts to admins only.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tessera_auth_core::mail::{LinkToken, MailIntent, OutgoingMail, Recipient};
use tessera_auth_core::ports::MailQueue;
use tessera_store::testing::TestDatabase;

use crate::admin::admin;
use crate::harness::{TestServer, assert_problem};

fn mail(server: &TestServer, address: &str) -> tessera_auth_core::mail::SealedMail {
    let now = server.now();
    let mail = OutgoingMail::new(
        None,
        Recipient {
            address: address.to_owned(),
            name: "Ada".to_owned(),
        },
        MailIntent::ResetPassword {
            token: LinkToken::new("q3Xh0-_Zt9Y2bLr8Vw1kPn4sJd6Gf5Hc7Am0Ee2Ui3o").expect("token"),
            expires_at: now + time::Duration::minutes(30),
        },
        now,
    );
    server.state().master_key.mail_sealing_key().seal(&mail)
}

async fn queue_view(browser: &mut crate::harness::Browser) -> Value {
    let reply = browser.get("/api/admin/mail").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    reply.json()
}

/// Polls the admin view until `check` holds.
async fn view_until(browser: &mut crate::harness::Browser, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let view = queue_view(browser).await;
        if check(&view) {
            return view;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {view}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn the_served_worker_delivers_to_the_outbox_and_admins_see_the_queue(db: &TestDatabase) {
    let server = TestServer::start(db, &[]).await;
    // The outbox path is taken by a file: delivery fails, messages wait for their retry.
    let outbox = std::path::Path::new(server.env("TESSERA_DATA_DIR").expect("data dir")).join("outbox");
    std::fs::write(&outbox, b"in the way").expect("block the outbox");
    // Each registration queues a verification mail.
    let mut root = admin(&server, "root@example.com").await;
    let (mut bob, _) = server.register("bob@example.com").await;
    assert_problem(&bob.get("/api/admin/mail").await, 403, "forbidden");
    assert_problem(&server.get("/api/admin/mail").await, 401, "unauthenticated");
    let reply = root.send(root.request_csrf(Method::POST, "/api/admin/mail")).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);

    let waiting = queue_view(&mut root).await;
    assert_eq!(
        (&waiting["queued"], &waiting["failed"], &waiting["sent"]),
        (&serde_json::json!(2), &serde_json::json!(0), &serde_json::json!(0)),
        "{waiting}"
    );

    let delayed = mail(&server, "ada@example.com");
    let store = &server.state().store;
    store.enqueue_mail(delayed.clone()).await.expect("enqueue");
    // An address no message can be built for is given up at once.
    store
        .enqueue_mail(mail(&server, "not-an-address"))
        .await
        .expect("enqueue");
    view_until(&mut root, "one failed, one waiting", |v| {
        v["failed"] == 1 && v["queued"] == 3
    })
    .await;
    server.advance(time::Duration::seconds(10));
    let view = queue_view(&mut root).await;
    assert_eq!(view["oldest_queued_age_seconds"], 10, "{view}");
    assert!(view["oldest_queued_at"].is_string(), "{view}");

    // The outbox becomes writable; once the retry is due the worker delivers.
    std::fs::remove_file(&outbox).expect("unblock");
    server.advance(time::Duration::seconds(15));
    store.wake_mail_worker();
    let view = view_until(&mut root, "the retries delivered", |v| v["sent"] == 3).await;
    assert_eq!(view, serde_json::json!({"queued": 0, "failed": 1, "sent": 3}));
    let file = outbox.join(format!("{}.eml", delayed.id));
    let text = std::fs::read_to_string(&file).expect("the .eml is in <data dir>/outbox");
    assert!(text.contains("Subject: Reset your Tessera password"));
    assert!(
        text.contains("no-reply@tessera.test"),
        "the sender is on the public origin's host"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
            0o600
        );
    }
}

tessera_store::backend_tests!(the_served_worker_delivers_to_the_outbox_and_admins_see_the_queue);
