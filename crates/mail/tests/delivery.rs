//! Mail delivery end to end through a real SMTP server (aiosmtpd, a child process on loopback),
//! on SQLite and PostgreSQL (`TEST_DATABASE_URL`): the queue, the worker, the transports. Time is a
//! manual clock: the tests step it through backoffs and leases and wake the worker.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tessera_auth_core::clock::Clock;
use tessera_auth_core::mail::{CLAIM_LEASE, LinkToken, MailIntent, OutgoingMail, Recipient};
use tessera_auth_core::ports::MailQueue;
use tessera_auth_core::secret::MasterKey;
use tessera_mail::templates::{TemplateContext, render};
use tessera_mail::transport::{build_message, hello_name};
use tessera_mail::{OutboxTransport, SmtpTransport, SmtpUrl, Transport};
use tessera_store::SeaStore;
use tessera_store::testing::{TestDatabase, migrated_store};

use support::{
    Env, ORIGIN, SilentRelay, SinkTls, SmtpAt, SmtpSink, TOKEN, clock, eventually, free_port, row_state, smtp,
};

const WAIT: Duration = Duration::from_secs(30);

async fn env(db: &TestDatabase) -> Env {
    Env::new(migrated_store(db).await, clock(), &MasterKey::generate())
}

async fn wait_sent(store: &SeaStore, count: u64) {
    eventually(&format!("{count} messages marked sent"), WAIT, || async {
        let stats = store.mail_stats().await.expect("stats");
        (stats.sent >= count).then_some(())
    })
    .await;
}

async fn a_queued_message_is_delivered_with_both_parts_and_a_fragment_link(db: &TestDatabase) {
    let env = env(db).await;
    let sink = SmtpSink::start().await;
    let worker = env.worker(smtp(&sink.url()));
    let mail = env.reset_mail("ada@example.com");
    env.store.enqueue_mail(mail.clone()).await.expect("enqueue");

    let messages = sink.wait_for(1).await;
    let message = &messages[0];
    assert_eq!(message["rcpt_tos"], serde_json::json!(["ada@example.com"]));
    assert_eq!(message["mail_from"], "no-reply@app.example.com");
    assert_eq!(message["from"], "Tessera <no-reply@app.example.com>");
    assert_eq!(message["to"], "Ada Lovelace <ada@example.com>");
    assert_eq!(message["subject"], "Reset your Tessera password");
    assert_eq!(message["message_id"], format!("<{}@app.example.com>", mail.id));
    let date = message["date"].as_str().unwrap();
    let expected_date = env
        .clock
        .now()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap();
    assert_eq!(date, expected_date, "Date is when the message was queued");
    assert_eq!(message["content_type"], "multipart/alternative");
    assert_eq!(message["defects"], serde_json::json!([]));
    let link = format!("{ORIGIN}/reset-password#token={TOKEN}");
    let text = message["text"][0].as_str().unwrap();
    let html = message["html"][0].as_str().unwrap();
    assert!(text.contains(&link), "{text}");
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");
    assert_eq!(message["text"].as_array().unwrap().len(), 1);
    assert_eq!(message["html"].as_array().unwrap().len(), 1);

    wait_sent(&env.store, 1).await;
    assert_eq!(row_state(&env.store, mail.id).await, ("sent".to_owned(), 1, false));
    // Woken again, the worker finds nothing to send twice.
    worker.wake();
    env.clock.advance(time::Duration::hours(1));
    worker.wake();
    worker.stop().await;
    assert_eq!(sink.messages().len(), 1);
}

async fn mail_queued_while_smtp_is_down_arrives_once_it_comes_up(db: &TestDatabase) {
    let env = env(db).await;
    let port = free_port();
    let url = SmtpUrl::parse(&format!("smtp://127.0.0.1:{port}?tls=none")).unwrap();
    let worker = env.worker(smtp(&url));
    let mail = env.reset_mail("ada@example.com");
    env.store
        .enqueue_mail(mail.clone())
        .await
        .expect("enqueue while SMTP is down");
    // The attempt fails and the message waits for its retry, payload kept.
    eventually("the failed first attempt", WAIT, || async {
        let (status, attempts, payload) = row_state(&env.store, mail.id).await;
        let stats = env.store.mail_stats().await.unwrap();
        (status == "queued" && attempts == 1 && payload && stats.queued == 1).then_some(())
    })
    .await;
    let sink = SmtpSink::start_on(port, None).await;
    // The first retry is due 15 s later (the contract: within 30 s).
    env.clock.advance(time::Duration::seconds(15));
    worker.wake();
    let messages = sink.wait_for(1).await;
    assert_eq!(messages[0]["message_id"], format!("<{}@app.example.com>", mail.id));
    wait_sent(&env.store, 1).await;
    assert_eq!(row_state(&env.store, mail.id).await, ("sent".to_owned(), 2, false));
    worker.stop().await;
}

async fn a_worker_killed_between_claim_and_send_delivers_after_a_restart(db: &TestDatabase) {
    let env = env(db).await;
    // The first worker claims the message and hangs on a relay that never answers; then it dies.
    let silent = SilentRelay::start().await;
    let first = env.worker(smtp(&silent.url()));
    let mail = env.reset_mail("ada@example.com");
    env.store.enqueue_mail(mail.clone()).await.expect("enqueue");
    eventually("the first worker's claim", WAIT, || async {
        (row_state(&env.store, mail.id).await.1 == 1).then_some(())
    })
    .await;
    first.kill();
    assert_eq!(row_state(&env.store, mail.id).await, ("queued".to_owned(), 1, true));

    // A new worker (the restarted instance) can send it once the claim's lease has run out.
    let sink = SmtpSink::start().await;
    let second = env.worker(smtp(&sink.url()));
    second.wake();
    env.clock.advance(CLAIM_LEASE);
    second.wake();
    let messages = sink.wait_for(1).await;
    assert_eq!(messages[0]["message_id"], format!("<{}@app.example.com>", mail.id));
    wait_sent(&env.store, 1).await;
    assert_eq!(row_state(&env.store, mail.id).await, ("sent".to_owned(), 2, false));
    second.stop().await;
    assert_eq!(sink.messages().len(), 1);
}

async fn the_outbox_writes_a_private_eml_that_parses_back(db: &TestDatabase) {
    let env = env(db).await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = OutboxTransport::new(dir.path().join("outbox"));
    let worker = env.worker(Arc::new(outbox.clone()));
    let now = env.clock.now();
    let mail = env.key.seal(&OutgoingMail::new(
        None,
        Recipient {
            address: "ada@example.com".to_owned(),
            name: "Ada".to_owned(),
        },
        MailIntent::VerifyAddress {
            token: LinkToken::new(TOKEN).unwrap(),
            expires_at: now + time::Duration::hours(24),
        },
        now,
    ));
    env.store.enqueue_mail(mail.clone()).await.expect("enqueue");
    wait_sent(&env.store, 1).await;
    let path = outbox.path_of(mail.id);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let parsed = support::parse_eml(&path);
    assert_eq!(parsed["to"], "Ada <ada@example.com>");
    assert_eq!(parsed["subject"], "Confirm your email address for Tessera");
    assert_eq!(parsed["message_id"], format!("<{}@app.example.com>", mail.id));
    assert_eq!(parsed["content_type"], "multipart/alternative");
    assert_eq!(parsed["defects"], serde_json::json!([]));
    let link = format!("{ORIGIN}/verify-email#token={TOKEN}");
    assert!(parsed["text"][0].as_str().unwrap().contains(&link));
    assert!(parsed["html"][0].as_str().unwrap().contains(&link));
    assert_eq!(row_state(&env.store, mail.id).await, ("sent".to_owned(), 1, false));
    worker.stop().await;
}

async fn a_failing_relay_never_blocks_or_fails_the_enqueuing_caller(db: &TestDatabase) {
    let env = env(db).await;
    let silent = SilentRelay::start().await;
    let worker = env.worker(smtp(&silent.url()));
    let first = env.reset_mail("ada@example.com");
    env.store.enqueue_mail(first.clone()).await.expect("enqueue");
    // The worker is now stuck waiting for a greeting that never comes...
    eventually("the stuck delivery", WAIT, || async {
        (row_state(&env.store, first.id).await.1 == 1).then_some(())
    })
    .await;
    // ...and queueing more is not held up by it (bounded far below the SMTP timeouts).
    for _ in 0..5 {
        let mail = env.reset_mail("bob@example.com");
        tokio::time::timeout(Duration::from_secs(10), env.store.enqueue_mail(mail))
            .await
            .expect("enqueue returns while the relay hangs")
            .expect("enqueue succeeds while the relay hangs");
    }
    assert_eq!(env.store.mail_stats().await.unwrap().queued, 6);
    worker.kill();
}

/// Panics on the message it was told to, writes the others to an outbox.
struct PanicsOn {
    id: uuid::Uuid,
    outbox: OutboxTransport,
}

#[async_trait::async_trait]
impl Transport for PanicsOn {
    async fn deliver(
        &self,
        mail_id: uuid::Uuid,
        message: &lettre::Message,
    ) -> Result<(), tessera_mail::transport::DeliveryError> {
        if mail_id == self.id {
            panic!("a bug while sending");
        }
        self.outbox.deliver(mail_id, message).await
    }

    fn describe(&self) -> String {
        "panics".to_owned()
    }
}

async fn a_panic_while_sending_fails_that_message_and_the_worker_goes_on(db: &TestDatabase) {
    let env = env(db).await;
    let dir = tempfile::tempdir().unwrap();
    let doomed = env.reset_mail("ada@example.com");
    let worker = env.worker(Arc::new(PanicsOn {
        id: doomed.id,
        outbox: OutboxTransport::new(dir.path()),
    }));
    env.store.enqueue_mail(doomed.clone()).await.unwrap();
    let fine = env.reset_mail("bob@example.com");
    env.store.enqueue_mail(fine.clone()).await.unwrap();
    wait_sent(&env.store, 1).await;
    assert_eq!(row_state(&env.store, doomed.id).await, ("failed".to_owned(), 1, false));
    assert_eq!(row_state(&env.store, fine.id).await, ("sent".to_owned(), 1, false));
    worker.stop().await;
}

tessera_store::backend_tests!(
    a_panic_while_sending_fails_that_message_and_the_worker_goes_on,
    a_queued_message_is_delivered_with_both_parts_and_a_fragment_link,
    mail_queued_while_smtp_is_down_arrives_once_it_comes_up,
    a_worker_killed_between_claim_and_send_delivers_after_a_restart,
    the_outbox_writes_a_private_eml_that_parses_back,
    a_failing_relay_never_blocks_or_fails_the_enqueuing_caller,
);

/// Two instances (two pools, two workers) on one PostgreSQL: each of many messages is sent
/// exactly once, and both workers take part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_postgres_send_each_message_exactly_once() {
    let Some(db) = TestDatabase::postgres() else {
        eprintln!("skipped: TEST_DATABASE_URL not set");
        return;
    };
    let master = MasterKey::generate();
    let clock = clock();
    let a = Env::new(migrated_store(&db).await, clock.clone(), &master);
    let b = Env::new(SeaStore::connect(&db.url).await.unwrap(), clock.clone(), &master);
    let sink = SmtpSink::start().await;
    // Each instance says its own name in EHLO, so the server can tell who sent what.
    let transport = |name: &str| -> Arc<dyn Transport> {
        Arc::new(SmtpTransport::new(&sink.url(), hello_name(name), None).unwrap())
    };
    let worker_a = a.worker(transport("a.example.com"));
    let worker_b = b.worker(transport("b.example.com"));
    let mut ids = HashSet::new();
    for i in 0..60 {
        // Each instance queues half, waking its own worker; the other finds them by claiming.
        let env = if i % 2 == 0 { &a } else { &b };
        let mail = env.reset_mail(&format!("user{i}@example.com"));
        ids.insert(format!("<{}@app.example.com>", mail.id));
        env.store.enqueue_mail(mail).await.unwrap();
        worker_a.wake();
        worker_b.wake();
    }
    wait_sent(&a.store, 60).await;
    worker_a.stop().await;
    worker_b.stop().await;
    let messages = sink.messages();
    let received: Vec<String> = messages
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(received.len(), 60, "no message sent twice");
    assert_eq!(
        received.iter().cloned().collect::<HashSet<_>>(),
        ids,
        "every message sent"
    );
}

fn tls_message() -> (uuid::Uuid, lettre::Message) {
    let from = support::from();
    let to = Recipient {
        address: "ada@example.com".to_owned(),
        name: "Ada".to_owned(),
    };
    let intent = MailIntent::PasswordChanged {
        at: time::OffsetDateTime::now_utc(),
    };
    let ctx = TemplateContext {
        product: "Tessera".to_owned(),
        origin: ORIGIN.to_owned(),
    };
    let id = uuid::Uuid::now_v7();
    let message = build_message(
        &from,
        id,
        time::OffsetDateTime::now_utc(),
        &to,
        &render(&ctx, &to, &intent),
    )
    .unwrap();
    (id, message)
}

/// STARTTLS and implicit TLS against a relay with a certificate the transport was told to
/// trust; the same relays are refused when the certificate does not verify, and a relay
/// without STARTTLS is refused by `smtp://` (never a downgrade to clear text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_relays_are_used_only_with_a_verified_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = support::self_signed_certificate(dir.path());
    let pem = std::fs::read(&cert).unwrap();
    for (mode, scheme) in [("starttls", "smtp"), ("implicit", "smtps")] {
        let tls = SinkTls {
            cert: cert.clone(),
            key: key.clone(),
            mode,
        };
        let sink = SmtpSink::start_on(free_port(), Some(&tls)).await;
        let url = SmtpUrl::parse(&format!("{scheme}://localhost:{}", sink.port)).unwrap();
        let (id, message) = tls_message();

        let untrusted = SmtpTransport::new(&url, hello_name("app.example.com"), None).unwrap();
        let err = untrusted
            .deliver(id, &message)
            .await
            .expect_err("an unverified certificate is refused");
        assert!(err.to_string().contains("SMTP"), "{err}");

        let trusted = SmtpTransport::new(&url, hello_name("app.example.com"), Some(&pem)).unwrap();
        trusted.deliver(id, &message).await.expect("delivered over TLS");
        let messages = sink.wait_for(1).await;
        assert_eq!(messages.len(), 1, "{mode}");
        assert_eq!(messages[0]["tls"], true, "{mode}");
        assert_eq!(messages[0]["message_id"], format!("<{id}@app.example.com>"));
    }

    // A relay that offers no STARTTLS: smtp:// (STARTTLS required) sends nothing.
    let plain = SmtpSink::start().await;
    let url = SmtpUrl::parse(&format!("smtp://localhost:{}", plain.port)).unwrap();
    let transport = SmtpTransport::new(&url, hello_name("app.example.com"), Some(&pem)).unwrap();
    let (id, message) = tls_message();
    transport
        .deliver(id, &message)
        .await
        .expect_err("no clear-text fallback");
    assert!(plain.messages().is_empty());
}
