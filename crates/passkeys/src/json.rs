//! The WebAuthn Level 3 JSON forms and webauthn-rs's own, and the conversions between them.
//!
//! What webauthn-rs 0.6 emits and expects, compared field by field with the Level 3 IDL
//! (`PublicKeyCredentialCreationOptionsJSON`, `PublicKeyCredentialRequestOptionsJSON`,
//! `RegistrationResponseJSON`, `AuthenticationResponseJSON`):
//!
//! Options (server → browser):
//! - webauthn-rs wraps options as `{publicKey: …}` (and adds `mediation` *beside* it for
//!   conditional UI). `parse…OptionsFromJSON` take the inner dictionary, and `mediation` belongs
//!   to `navigator.credentials.get()`'s own argument, which the SPA sets. [`creation_options`] and
//!   [`request_options`] return the inner dictionary; the endpoints wrap it in `{publicKey}`.
//! - Binary members (`challenge`, `user.id`, credential descriptors' `id`) are unpadded
//!   base64url strings in both: the same.
//! - Member names are the same camelCase (`pubKeyCredParams`, `excludeCredentials`,
//!   `authenticatorSelection.residentKey`/`requireResidentKey`/`userVerification`,
//!   `allowCredentials`, `rpId`, `timeout`, `attestation`, `hints`, `extensions`).
//! - Absent optional members: webauthn-rs omits them (`skip_serializing_if`), which is what
//!   WebIDL needs (a `null` would become the string `"null"` or a TypeError). The conversion
//!   still strips any `null` so that rule does not depend on the library's attributes.
//! - Transports: webauthn-rs maps transports it does not know (`smart-card`, future ones) to
//!   `"unknown"`, which is not a Level 3 value; the conversion drops it.
//!
//! Credentials (browser → server), the output of `PublicKeyCredential.toJSON()`:
//! - webauthn-rs reads `id`, `rawId`, `type`, `response.{clientDataJSON, attestationObject,
//!   transports}` or `response.{clientDataJSON, authenticatorData, signature, userHandle}`, and
//!   `clientExtensionResults` (alias of its `extensions`). Level 3 adds `authenticatorAttachment`,
//!   `response.authenticatorData`/`publicKey`/`publicKeyAlgorithm` on registration: webauthn-rs
//!   ignores them (it reads the same data from the attestation object).
//! - The conversion parses the browser's object itself and builds webauthn-rs's types from the
//!   members it needs, so unknown members and extension outputs (`prf`, `largeBlob`, …) cannot
//!   break deserialisation, and checks what webauthn-rs does not: `type` is `public-key`, `id` is
//!   the base64url of `rawId`, the credential id is at most 1023 bytes (WebAuthn's limit), and
//!   `userHandle` may be absent or `null` (Level 3 omits it; some clients send `null`).

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::{Map, Value};
use tessera_auth_core::mfa::passkey::PasskeyError;
use webauthn_rs_core::proto::{
    AuthenticationExtensionsClientOutputs, AuthenticatorAssertionResponseRaw, AuthenticatorAttestationResponseRaw,
    AuthenticatorTransport, CredProps, PublicKeyCredential, PublicKeyCredentialCreationOptions,
    PublicKeyCredentialRequestOptions, RegisterPublicKeyCredential, RegistrationExtensionsClientOutputs,
};

/// WebAuthn's limit on credential ids.
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;

/// Unpadded base64url as browsers send it; padded input is accepted too.
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode(text: &str, what: &'static str) -> Result<Vec<u8>, PasskeyError> {
    LENIENT.decode(text).map_err(|_| PasskeyError::Malformed(what))
}

/// `PublicKeyCredentialCreationOptionsJSON` from webauthn-rs's options.
pub fn creation_options(options: &PublicKeyCredentialCreationOptions) -> Result<Value, PasskeyError> {
    let value = serde_json::to_value(options).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    Ok(normalise_options(value))
}

/// `PublicKeyCredentialRequestOptionsJSON` from webauthn-rs's options.
pub fn request_options(options: &PublicKeyCredentialRequestOptions) -> Result<Value, PasskeyError> {
    let value = serde_json::to_value(options).map_err(|e| PasskeyError::Internal(e.to_string()))?;
    Ok(normalise_options(value))
}

/// Drops `null` members and `"unknown"` transports, recursively.
fn normalise_options(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| {
                    let v = if k == "transports" {
                        match v {
                            Value::Array(items) => {
                                Value::Array(items.into_iter().filter(|t| t.as_str() != Some("unknown")).collect())
                            }
                            other => other,
                        }
                    } else {
                        normalise_options(v)
                    };
                    (k, v)
                })
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalise_options).collect()),
        other => other,
    }
}

/// The members of `toJSON()` every credential has.
#[derive(Deserialize)]
struct CredentialJson {
    id: String,
    #[serde(rename = "rawId")]
    raw_id: String,
    #[serde(rename = "type")]
    type_: String,
    response: Map<String, Value>,
    #[serde(rename = "clientExtensionResults", default)]
    client_extension_results: Option<Map<String, Value>>,
}

struct Common {
    raw_id: Vec<u8>,
    id: String,
    response: Map<String, Value>,
    extensions: Map<String, Value>,
}

fn common(credential: &Value) -> Result<Common, PasskeyError> {
    let parsed = CredentialJson::deserialize(credential).map_err(|_| PasskeyError::Malformed("credential"))?;
    if parsed.type_ != "public-key" {
        return Err(PasskeyError::Malformed("type"));
    }
    let raw_id = decode(&parsed.raw_id, "rawId")?;
    if raw_id.is_empty() || raw_id.len() > MAX_CREDENTIAL_ID_LEN {
        return Err(PasskeyError::Malformed("rawId"));
    }
    if decode(&parsed.id, "id")? != raw_id {
        return Err(PasskeyError::Malformed("id"));
    }
    Ok(Common {
        id: b64url(&raw_id),
        raw_id,
        response: parsed.response,
        extensions: parsed.client_extension_results.unwrap_or_default(),
    })
}

fn required_bytes(response: &Map<String, Value>, member: &'static str) -> Result<Vec<u8>, PasskeyError> {
    match response.get(member) {
        Some(Value::String(text)) => decode(text, member),
        _ => Err(PasskeyError::Malformed(member)),
    }
}

/// `response.clientDataJSON`'s `challenge`, decoded: the handle of the ceremony to finish.
pub fn challenge(credential: &Value) -> Result<Vec<u8>, PasskeyError> {
    let common = common(credential)?;
    let client_data = required_bytes(&common.response, "clientDataJSON")?;
    #[derive(Deserialize)]
    struct ClientData {
        challenge: String,
    }
    let parsed: ClientData =
        serde_json::from_slice(&client_data).map_err(|_| PasskeyError::Malformed("clientDataJSON"))?;
    decode(&parsed.challenge, "clientDataJSON")
}

/// A registration's `toJSON()` as webauthn-rs's type, and the transports it reported.
pub fn registration(credential: &Value) -> Result<RegisterPublicKeyCredential, PasskeyError> {
    let common = common(credential)?;
    let transports = match common.response.get("transports") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|t| t.as_str().ok_or(PasskeyError::Malformed("transports")))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter_map(|t| t.parse::<AuthenticatorTransport>().ok())
                .collect(),
        ),
        Some(_) => return Err(PasskeyError::Malformed("transports")),
    };
    let rk = match common.extensions.get("credProps") {
        None | Some(Value::Null) => None,
        Some(Value::Object(props)) => match props.get("rk") {
            None | Some(Value::Null) => None,
            Some(Value::Bool(rk)) => Some(*rk),
            Some(_) => return Err(PasskeyError::Malformed("clientExtensionResults")),
        },
        Some(_) => return Err(PasskeyError::Malformed("clientExtensionResults")),
    };
    Ok(RegisterPublicKeyCredential {
        id: common.id,
        raw_id: common.raw_id,
        response: AuthenticatorAttestationResponseRaw {
            attestation_object: required_bytes(&common.response, "attestationObject")?,
            client_data_json: required_bytes(&common.response, "clientDataJSON")?,
            transports,
        },
        type_: "public-key".to_owned(),
        extensions: RegistrationExtensionsClientOutputs {
            cred_props: rk.map(|rk| CredProps { rk: Some(rk) }),
            ..RegistrationExtensionsClientOutputs::default()
        },
    })
}

/// An assertion's `toJSON()` as webauthn-rs's type.
pub fn assertion(credential: &Value) -> Result<PublicKeyCredential, PasskeyError> {
    let common = common(credential)?;
    let user_handle = match common.response.get("userHandle") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(decode(text, "userHandle")?),
        Some(_) => return Err(PasskeyError::Malformed("userHandle")),
    };
    Ok(PublicKeyCredential {
        id: common.id,
        raw_id: common.raw_id,
        response: AuthenticatorAssertionResponseRaw {
            authenticator_data: required_bytes(&common.response, "authenticatorData")?,
            client_data_json: required_bytes(&common.response, "clientDataJSON")?,
            signature: required_bytes(&common.response, "signature")?,
            user_handle,
        },
        // No extension is requested in assertions, so no output is read.
        extensions: AuthenticationExtensionsClientOutputs::default(),
        type_: "public-key".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registration_json() -> Value {
        json!({
            "id": "AQID",
            "rawId": "AQID",
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": b64url(br#"{"type":"webauthn.create","challenge":"BAUG","origin":"https://a.example"}"#),
                "attestationObject": "oA",
                "authenticatorData": "AA",
                "publicKey": "AA",
                "publicKeyAlgorithm": -7,
                "transports": ["internal", "hybrid", "smart-card", "usb"],
            },
            "clientExtensionResults": {"credProps": {"rk": true}, "prf": {"enabled": false}, "largeBlob": {}},
        })
    }

    fn assertion_json() -> Value {
        json!({
            "id": "AQID",
            "rawId": "AQID",
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(br#"{"type":"webauthn.get","challenge":"BAUG","origin":"https://a.example"}"#),
                "authenticatorData": "AA",
                "signature": "AA",
                "userHandle": b64url(&[9; 16]),
            },
            "clientExtensionResults": {},
        })
    }

    #[test]
    fn to_json_registrations_convert_and_unknown_members_are_ignored() {
        let reg = registration(&registration_json()).unwrap();
        assert_eq!(reg.raw_id, [1, 2, 3]);
        assert_eq!(reg.id, "AQID");
        assert_eq!(reg.response.attestation_object, [0xa0]);
        // `smart-card` is a Level 3 transport webauthn-rs does not know: dropped, not an error.
        assert_eq!(
            reg.response.transports,
            Some(vec![
                AuthenticatorTransport::Internal,
                AuthenticatorTransport::Hybrid,
                AuthenticatorTransport::Usb
            ])
        );
        assert_eq!(reg.extensions.cred_props.and_then(|p| p.rk), Some(true));
        assert_eq!(challenge(&registration_json()).unwrap(), [4, 5, 6]);
    }

    #[test]
    fn to_json_assertions_convert_with_or_without_a_user_handle() {
        let a = assertion(&assertion_json()).unwrap();
        assert_eq!(a.response.user_handle, Some(vec![9; 16]));
        assert_eq!(a.raw_id, [1, 2, 3]);
        let mut without = assertion_json();
        without["response"].as_object_mut().unwrap().remove("userHandle");
        assert_eq!(assertion(&without).unwrap().response.user_handle, None);
        without["response"]["userHandle"] = Value::Null;
        assert_eq!(assertion(&without).unwrap().response.user_handle, None);
        // Padded base64url is accepted too.
        let mut padded = assertion_json();
        padded["response"]["signature"] = json!("AA==");
        assert_eq!(assertion(&padded).unwrap().response.signature, [0]);
    }

    #[test]
    fn malformed_credentials_are_refused_with_the_member_named() {
        type Mutation = Box<dyn Fn(&mut Value)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("credential", Box::new(|v| *v = json!("a string"))),
            (
                "credential",
                Box::new(|v| drop(v.as_object_mut().unwrap().remove("rawId"))),
            ),
            ("credential", Box::new(|v| v["response"] = json!([]))),
            ("type", Box::new(|v| v["type"] = json!("password"))),
            ("rawId", Box::new(|v| v["rawId"] = json!("not base64!"))),
            (
                "rawId",
                Box::new(|v| {
                    v["rawId"] = json!("");
                    v["id"] = json!("");
                }),
            ),
            (
                "rawId",
                Box::new(|v| {
                    let long = b64url(&[1; 1024]);
                    v["rawId"] = json!(long);
                    v["id"] = json!(long);
                }),
            ),
            ("id", Box::new(|v| v["id"] = json!("AQIE"))),
            (
                "clientDataJSON",
                Box::new(|v| drop(v["response"].as_object_mut().unwrap().remove("clientDataJSON"))),
            ),
            (
                "clientDataJSON",
                Box::new(|v| v["response"]["clientDataJSON"] = json!(5)),
            ),
        ];
        for (member, mutate) in &cases {
            for base in [registration_json(), assertion_json()] {
                let mut value = base;
                mutate(&mut value);
                assert_eq!(
                    challenge(&value).unwrap_err(),
                    PasskeyError::Malformed(member),
                    "{value}"
                );
            }
        }
        let mut reg = registration_json();
        reg["response"]["transports"] = json!("usb");
        assert_eq!(registration(&reg).unwrap_err(), PasskeyError::Malformed("transports"));
        reg["response"]["transports"] = json!([1]);
        assert_eq!(registration(&reg).unwrap_err(), PasskeyError::Malformed("transports"));
        let mut reg = registration_json();
        reg["clientExtensionResults"]["credProps"] = json!({"rk": "yes"});
        assert_eq!(
            registration(&reg).unwrap_err(),
            PasskeyError::Malformed("clientExtensionResults")
        );
        let mut reg = registration_json();
        drop(reg["response"].as_object_mut().unwrap().remove("attestationObject"));
        assert_eq!(
            registration(&reg).unwrap_err(),
            PasskeyError::Malformed("attestationObject")
        );
        let mut a = assertion_json();
        a["response"]["userHandle"] = json!(7);
        assert_eq!(assertion(&a).unwrap_err(), PasskeyError::Malformed("userHandle"));
        let mut a = assertion_json();
        drop(a["response"].as_object_mut().unwrap().remove("signature"));
        assert_eq!(assertion(&a).unwrap_err(), PasskeyError::Malformed("signature"));
        let mut a = assertion_json();
        a["response"]["clientDataJSON"] = json!(b64url(b"{}"));
        assert_eq!(challenge(&a).unwrap_err(), PasskeyError::Malformed("clientDataJSON"));
    }

    #[test]
    fn options_lose_nulls_and_unknown_transports() {
        let value = json!({
            "challenge": "AA",
            "timeout": null,
            "allowCredentials": [{"type": "public-key", "id": "AQ", "transports": ["usb", "unknown"]}],
            "extensions": {"a": null, "b": 1},
        });
        assert_eq!(
            normalise_options(value),
            json!({
                "challenge": "AA",
                "allowCredentials": [{"type": "public-key", "id": "AQ", "transports": ["usb"]}],
                "extensions": {"b": 1},
            })
        );
    }
}
