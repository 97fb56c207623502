use super::*;

fn url(text: &str) -> Url {
    Url::parse(text).unwrap()
}

#[test]
fn ip_hosts_and_plain_http_off_localhost_cannot_have_passkeys() {
    for (origin, expected) in [
        (
            "http://127.0.0.1:8080",
            PasskeysUnavailable::IpAddressHost("127.0.0.1".into()),
        ),
        ("https://[::1]:8443", PasskeysUnavailable::IpAddressHost("::1".into())),
        (
            "https://10.0.0.1",
            PasskeysUnavailable::IpAddressHost("10.0.0.1".into()),
        ),
        (
            "http://auth.example.com",
            PasskeysUnavailable::InsecureOrigin("http://auth.example.com".into()),
        ),
        (
            "ftp://auth.example.com",
            PasskeysUnavailable::UnusableOrigin("ftp://auth.example.com".into()),
        ),
    ] {
        assert_eq!(
            RelyingParty::new(&url(origin), &[], "Tessera").unwrap_err(),
            expected,
            "{origin}"
        );
        let (rp, reason) = RelyingParty::from_config(&url(origin), &[], "Tessera");
        assert_eq!(reason, Some(expected.clone()));
        assert_eq!(rp.start_login().unwrap_err(), PasskeyError::Unavailable(expected));
    }
}

#[test]
fn localhost_and_https_domains_can() {
    for origin in [
        "http://localhost:8080",
        "http://app.localhost",
        "https://auth.example.com",
        "https://AUTH.example.com:8443/x",
    ] {
        let (rp, reason) = RelyingParty::from_config(&url(origin), &[], "Tessera");
        assert_eq!(reason, None, "{origin}");
        let started = rp.start_login().unwrap();
        let rp_id = started.options["rpId"].as_str().unwrap();
        assert_eq!(rp_id, url(origin).host_str().unwrap().to_ascii_lowercase());
    }
}

#[test]
fn allowed_origins_are_origins_without_duplicates() {
    let rp = RelyingParty::new(
        &url("https://auth.example.com/app/"),
        &[url("https://auth.example.com"), url("https://www.example.com/path")],
        "Tessera",
    )
    .unwrap();
    let origins: Vec<&str> = rp.allowed_origins().iter().map(Url::as_str).collect();
    assert_eq!(origins, ["https://auth.example.com/", "https://www.example.com/"]);
}

#[test]
fn state_is_versioned_and_tagged() {
    let rp = RelyingParty::new(&url("https://auth.example.com"), &[], "Tessera").unwrap();
    let started = rp.start_login().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&started.state).unwrap();
    assert_eq!(value["v"], 1);
    assert_eq!(value["ceremony"], "login");
    let mut future = value.clone();
    future["v"] = 2.into();
    assert!(matches!(
        decode_state(&serde_json::to_vec(&future).unwrap()),
        Err(PasskeyError::Internal(_))
    ));
    assert!(matches!(decode_state(b"not json"), Err(PasskeyError::Internal(_))));
    // A login's state cannot finish a registration.
    assert_eq!(
        rp.finish_registration(&started.state, &serde_json::json!({}))
            .unwrap_err(),
        wrong_kind()
    );
}
