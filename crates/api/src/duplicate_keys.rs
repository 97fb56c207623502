//! Duplicate keys in JSON bodies. RFC 8259 leaves their meaning open, and parsers disagree (serde
//! keeps the last, others the first, others refuse): `{"email":"a@b.c","email":"admin@…"}` would
//! mean one thing to a proxy or WAF that looks at the first and another to Tessera. So a body
//! with the same key twice in one object, at any depth, is refused before any handler sees it.
//!
//! The scan walks the body the request guard already holds, borrowing keys from it (a key with
//! escapes is the only one copied, and `"e"` and `"\u0065"` are the same key); values are
//! skipped without being built.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Longest key quoted back in an error.
const SHOWN_KEY_CHARS: usize = 40;

/// What the scan found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scan {
    /// Well-formed, every key once per object.
    Clean,
    /// This key appears twice in one object (truncated for display).
    Duplicate(String),
    /// Not well-formed JSON: left to the handler, whose parser reports it in its own words.
    Malformed,
}

pub fn scan(body: &[u8]) -> Scan {
    let found = RefCell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let walked = Walk { found: &found }
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    match (walked, found.into_inner()) {
        (_, Some(key)) => Scan::Duplicate(key),
        (Ok(()), None) => Scan::Clean,
        (Err(_), None) => Scan::Malformed,
    }
}

/// Walks one value, recording the first duplicate key into `found` (and then stopping).
#[derive(Clone, Copy)]
struct Walk<'f> {
    found: &'f RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            if keys.contains(&key) {
                let shown: String = key.chars().take(SHOWN_KEY_CHARS).collect();
                *self.found.borrow_mut() = Some(shown);
                return Err(de::Error::custom("duplicate key"));
            }
            // Small objects (every request Tessera takes) are searched linearly; a large one
            // is sorted once and its neighbours compared, so the scan stays O(n log n).
            keys.push(key);
            if keys.len() > 32 {
                map.next_value_seed(self)?;
                return self.rest_of_large_map(map, keys);
            }
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

impl Walk<'_> {
    fn rest_of_large_map<'de, A: MapAccess<'de>>(
        self,
        mut map: A,
        mut keys: Vec<Cow<'de, str>>,
    ) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key()? {
            keys.push(key);
            map.next_value_seed(self)?;
        }
        keys.sort_unstable();
        if let Some(pair) = keys.windows(2).find(|pair| pair.first() == pair.get(1)) {
            let shown: String = pair
                .first()
                .map(|key| key.chars().take(SHOWN_KEY_CHARS).collect())
                .unwrap_or_default();
            *self.found.borrow_mut() = Some(shown);
            return Err(de::Error::custom("duplicate key"));
        }
        Ok(())
    }
}

/// An object key, borrowed from the body unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_owned())))
            }

            fn visit_string<E>(self, key: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key)))
            }
        }

        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dup(key: &str) -> Scan {
        Scan::Duplicate(key.to_owned())
    }

    #[test]
    fn duplicates_are_found_at_any_depth() {
        assert_eq!(scan(br#"{"email":"a@b.c","email":"admin@example.com"}"#), dup("email"));
        assert_eq!(scan(br#"{"a":{"b":[{"c":1},{"d":1,"d":2}]}}"#), dup("d"));
        assert_eq!(scan(br#"[[{"x":null,"y":1,"x":[]}]]"#), dup("x"));
        assert_eq!(
            scan(br#"{"email":1,"\u0065mail":2}"#),
            dup("email"),
            "escapes are decoded"
        );
        assert_eq!(scan("{\"é\":1,\"\\u00e9\":2}".as_bytes()), dup("é"));
        let many: String = (0..100).map(|i| format!("\"k{i}\":{i},")).collect();
        assert_eq!(
            scan(format!("{{{many}\"k7\":0}}").as_bytes()),
            dup("k7"),
            "large objects"
        );
        let long = "k".repeat(1000);
        assert_eq!(
            scan(format!("{{\"{long}\":1,\"{long}\":2}}").as_bytes()),
            dup(&"k".repeat(SHOWN_KEY_CHARS))
        );
    }

    #[test]
    fn distinct_keys_pass() {
        for body in [
            r#"{"email":"a@b.c","password":"x"}"#,
            r#"{"a":{"a":{"a":1}}}"#,
            r#"[{"a":1},{"a":2}]"#,
            "{\"e\":1,\"E\":2,\"\u{e9}\":3,\"e\u{301}\":4}",
            r#"{}"#,
            r#"[]"#,
            r#""just a string""#,
            "  {\"a\" : [1, 2.5e10, -3, true, false, null, \"s\\n\"] }\n",
        ] {
            assert_eq!(scan(body.as_bytes()), Scan::Clean, "{body}");
        }
        let many: String = (0..100).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(",");
        assert_eq!(scan(format!("{{{many}}}").as_bytes()), Scan::Clean);
    }

    #[test]
    fn malformed_bodies_are_left_to_the_handler() {
        for body in [
            "",
            "{",
            r#"{"a":1,}"#,
            r#"{"a":1} trailing"#,
            "nul",
            r#"{"a" 1}"#,
            "\u{feff}{}",
        ] {
            assert_eq!(scan(body.as_bytes()), Scan::Malformed, "{body:?}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            scan(deep.as_bytes()),
            Scan::Malformed,
            "nesting is bounded, no stack overflow"
        );
        // A duplicate before the syntax error is still a duplicate.
        assert_eq!(scan(br#"{"a":1,"a":2,"#), dup("a"));
    }

    proptest! {
        /// Agrees with building the document: a clean scan means no object lost a key to a
        /// later duplicate, and serde_json parses what the scan calls well-formed.
        #[test]
        fn agrees_with_a_full_parse(keys in proptest::collection::vec("[a-c]{1,2}", 0..8), nested in any::<bool>()) {
            let members: Vec<String> = keys.iter().enumerate().map(|(i, k)| format!("\"{k}\":{i}")).collect();
            let object = format!("{{{}}}", members.join(","));
            let body = if nested { format!("{{\"outer\":[{object}]}}") } else { object };
            let mut distinct = keys.clone();
            distinct.sort();
            distinct.dedup();
            let expected_clean = distinct.len() == keys.len();
            let result = scan(body.as_bytes());
            prop_assert_eq!(result == Scan::Clean, expected_clean, "{}", body);
            prop_assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok());
        }

        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = scan(&body);
        }
    }
}
