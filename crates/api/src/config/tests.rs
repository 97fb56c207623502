use super::*;
use std::collections::HashMap;

fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(|name| map.get(name).cloned())
}

#[test]
fn defaults_match_the_design() {
    let c = config(&[]).unwrap();
    assert_eq!(c.addr.to_string(), "127.0.0.1:8080");
    assert_eq!(c.public_origin, "http://127.0.0.1:8080");
    assert_eq!(c.database_url.expose(), "sqlite://./data/tessera.db?mode=rwc");
    assert_eq!(c.access_ttl, Duration::minutes(10));
    assert_eq!(c.refresh_idle_ttl, Duration::days(14));
    assert_eq!(c.refresh_absolute_ttl, Duration::days(30));
    assert_eq!(c.refresh_grace, Duration::seconds(10));
    assert_eq!(c.jwt, JwtSigning::EdDsa);
    assert_eq!((c.issuer.as_str(), c.audience.as_str()), ("tessera", "tessera-api"));
    assert!(c.cookie_secure);
    assert_eq!(c.rate_limit_per_ip, 30);
    assert_eq!(c.forwarded_header, ForwardedHeader::XForwardedFor);
    assert_eq!(c.log_format, LogFormat::Pretty);
    assert_eq!(c.sync_interval, std::time::Duration::from_secs(2));
    assert!(c.serve_spa);
    assert!(!config(&[("TESSERA_SERVE_SPA", "false")]).unwrap().serve_spa);
}

#[test]
fn errors_name_the_variable() {
    let cases = [
        ("TESSERA_ADDR", "localhost"),
        ("TESSERA_ACCESS_TTL", "10 minutes"),
        ("TESSERA_REFRESH_GRACE", "-5s"),
        ("TESSERA_JWT_ALG", "RS256"),
        ("TESSERA_COOKIE_SECURE", "yes"),
        ("TESSERA_SERVE_SPA", "off"),
        ("TESSERA_RATE_LIMIT_PER_IP", "-1"),
        ("TESSERA_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("TESSERA_FORWARDED_HEADER", "x-real-ip"),
        ("TESSERA_LOG_FORMAT", "xml"),
        ("TESSERA_MASTER_KEY", "abcd"),
        ("TESSERA_PUBLIC_ORIGIN", "ftp://x"),
        ("TESSERA_ALLOWED_ORIGINS", "https://ok.example, nope"),
        ("DATABASE_URL", "mysql://x"),
    ];
    for (name, value) in cases {
        let err = config(&[(name, value)]).unwrap_err();
        assert_eq!(err.variable, name, "{name}={value}");
        assert!(err.to_string().contains(name));
    }
}

#[test]
fn secrets_are_not_echoed() {
    let err = config(&[("TESSERA_MASTER_KEY", "supersecretvalue")]).unwrap_err();
    assert!(!err.to_string().contains("supersecretvalue"));
    let err = config(&[("TESSERA_JWT_ALG", "HS256"), ("TESSERA_JWT_SECRET", "short-secret")]).unwrap_err();
    assert_eq!(err.variable, "TESSERA_JWT_SECRET");
    assert!(!err.to_string().contains("short-secret"));
    let ok = config(&[("TESSERA_JWT_ALG", "HS256"), ("TESSERA_JWT_SECRET", &"k".repeat(32))]).unwrap();
    assert!(!format!("{ok:?}").contains(&"k".repeat(32)));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30s"), Some(Duration::seconds(30)));
    assert_eq!(parse_duration("10m"), Some(Duration::minutes(10)));
    assert_eq!(parse_duration("12h"), Some(Duration::hours(12)));
    assert_eq!(parse_duration("14d"), Some(Duration::days(14)));
    for bad in ["", "s", "0s", "-1m", "1w", "1.5h", "10", "9999999999999999999d", "é"] {
        assert_eq!(parse_duration(bad), None, "{bad:?}");
    }
}

#[test]
fn origins_are_normalised() {
    assert_eq!(
        parse_origin("HTTPS://App.Example.com/").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        parse_origin("http://127.0.0.1:8080").as_deref(),
        Some("http://127.0.0.1:8080")
    );
    for bad in [
        "app.example.com",
        "https://",
        "https://x/path",
        "javascript://x",
        "https://u@x",
    ] {
        assert_eq!(parse_origin(bad), None, "{bad:?}");
    }
}

#[test]
fn cidrs() {
    let net = Cidr::parse("10.0.0.0/8").unwrap();
    assert!(net.contains("10.1.2.3".parse().unwrap()));
    assert!(!net.contains("11.0.0.1".parse().unwrap()));
    assert!(net.contains("::ffff:10.0.0.1".parse().unwrap()));
    let host = Cidr::parse("::1").unwrap();
    assert!(host.contains("::1".parse().unwrap()));
    assert!(Cidr::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
    assert!(Cidr::parse("nope").is_none());
}

#[test]
fn mail_defaults_to_the_outbox_and_a_sender_on_the_public_host() {
    let c = config(&[("TESSERA_DATA_DIR", "/srv/tessera")]).unwrap();
    assert_eq!(
        c.mail.transport,
        MailTransportSetting::Outbox(PathBuf::from("/srv/tessera/outbox"))
    );
    assert_eq!(c.mail.from.to_string(), "Tessera <no-reply@localhost>", "an IP host");
    let c = config(&[("TESSERA_PUBLIC_ORIGIN", "https://App.Example.com:8443")]).unwrap();
    assert_eq!(c.mail.from.to_string(), "Tessera <no-reply@app.example.com>");
    let c = config(&[
        ("TESSERA_SMTP_URL", "smtps://mailer:hunter2@smtp.example.com"),
        ("TESSERA_MAIL_FROM", "Acme <accounts@acme.example>"),
    ])
    .unwrap();
    match &c.mail.transport {
        MailTransportSetting::Smtp(url) => assert_eq!((url.host.as_str(), url.port), ("smtp.example.com", 465)),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.mail.from.product_name(), "Acme");
    assert!(!format!("{c:?}").contains("hunter2"), "the SMTP password is redacted");
}

#[test]
fn mail_link_lifetimes_and_the_verified_address_rule() {
    let c = config(&[]).unwrap();
    assert_eq!(
        (c.mail.reset_ttl, c.mail.verify_ttl, c.mail.require_verified_email),
        (Duration::minutes(30), Duration::hours(24), false)
    );
    let c = config(&[
        ("TESSERA_RESET_TTL", "2s"),
        ("TESSERA_VERIFY_TTL", "3s"),
        ("TESSERA_REQUIRE_VERIFIED_EMAIL", "true"),
    ])
    .unwrap();
    assert_eq!(
        (c.mail.reset_ttl, c.mail.verify_ttl, c.mail.require_verified_email),
        (Duration::seconds(2), Duration::seconds(3), true)
    );
    for (name, value) in [
        ("TESSERA_RESET_TTL", "soon"),
        ("TESSERA_VERIFY_TTL", "0s"),
        ("TESSERA_REQUIRE_VERIFIED_EMAIL", "yes"),
    ] {
        let err = config(&[(name, value)]).unwrap_err();
        assert_eq!(err.variable, name);
    }
}

#[test]
fn bad_mail_settings_name_the_variable_and_hide_the_password() {
    for (name, value) in [
        ("TESSERA_SMTP_URL", "smtp://mailer:hunter2@smtp.example.com?tls=none"),
        ("TESSERA_SMTP_URL", "http://mailer:hunter2@smtp.example.com"),
        (
            "TESSERA_SMTP_URL",
            "smtp://mailer:hunter2@smtp.example.com?tls=opportunistic",
        ),
        ("TESSERA_MAIL_FROM", "not an address"),
    ] {
        let err = config(&[(name, value)]).unwrap_err();
        assert_eq!(err.variable, name, "{value}");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
    assert_eq!(origin_host("http://[::1]:8080"), "::1");
    assert_eq!(origin_host("https://a.example"), "a.example");
    assert_eq!(origin_host("http://127.0.0.1:8080"), "127.0.0.1");
}

#[test]
fn forwarded_header() {
    let c = config(&[("TESSERA_FORWARDED_HEADER", "Forwarded")]).unwrap();
    assert_eq!(c.forwarded_header, ForwardedHeader::Forwarded);
    let c = config(&[("TESSERA_FORWARDED_HEADER", "X-Forwarded-For")]).unwrap();
    assert_eq!(c.forwarded_header, ForwardedHeader::XForwardedFor);
}

#[test]
fn idle_cannot_exceed_absolute() {
    let err = config(&[("TESSERA_REFRESH_IDLE_TTL", "40d")]).unwrap_err();
    assert_eq!(err.variable, "TESSERA_REFRESH_IDLE_TTL");
    let err = config(&[
        ("TESSERA_REFRESH_IDLE_TTL", "8d"),
        ("TESSERA_REFRESH_ABSOLUTE_TTL", "7d"),
    ])
    .unwrap_err();
    assert_eq!(
        err.variable, "TESSERA_REFRESH_IDLE_TTL",
        "both set: an explicit contradiction"
    );
}

#[test]
fn a_default_idle_ttl_is_capped_at_a_shorter_absolute_ttl() {
    let c = config(&[("TESSERA_REFRESH_ABSOLUTE_TTL", "7d")]).unwrap();
    assert_eq!(
        (c.refresh_idle_ttl, c.refresh_absolute_ttl),
        (Duration::days(7), Duration::days(7))
    );
    let c = config(&[("TESSERA_REFRESH_ABSOLUTE_TTL", "60d")]).unwrap();
    assert_eq!(
        c.refresh_idle_ttl,
        Duration::days(14),
        "a longer absolute TTL leaves the default"
    );
    let c = config(&[
        ("TESSERA_REFRESH_IDLE_TTL", "2d"),
        ("TESSERA_REFRESH_ABSOLUTE_TTL", "7d"),
    ])
    .unwrap();
    assert_eq!(c.refresh_idle_ttl, Duration::days(2));
}
