//! Reading variables: the lookup every parser goes through, so "empty counts as unset" and the
//! shape of each error are decided once.

use time::Duration;

use super::ConfigError;
use super::values::parse_duration;

pub(super) fn invalid(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        message: message.into(),
    }
}

/// The variables, through a lookup (the environment, or a map in tests).
pub(super) struct Vars<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Vars<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Vars<'a> {
        Vars { lookup }
    }

    /// The value, trimmed; empty values count as unset.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value exactly as given (secrets, where spaces are part of the value).
    pub(super) fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    pub(super) fn is_set(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub(super) fn duration(&self, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
        let text = self.get(name).unwrap_or_else(|| default.to_owned());
        parse_duration(&text).ok_or_else(|| {
            invalid(
                name,
                format!("expected a positive duration like 30s, 10m, 12h or 14d, got {text:?}"),
            )
        })
    }

    /// `true`/`1` or `false`/`0`; unset is `true`.
    pub(super) fn boolean(&self, name: &'static str) -> Result<bool, ConfigError> {
        self.boolean_or(name, true)
    }

    /// `true`/`1` or `false`/`0`; unset is `default`.
    pub(super) fn boolean_or(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("true") | Some("1") => Ok(true),
            Some("false") | Some("0") => Ok(false),
            Some(other) => Err(invalid(name, format!("expected true or false, got {other:?}"))),
        }
    }

    /// A comma-separated list, each non-empty element through `parse`; unset is empty.
    pub(super) fn list<T>(
        &self,
        name: &'static str,
        example: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Vec<T>, ConfigError> {
        let Some(list) = self.get(name) else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                parse(item).ok_or_else(|| invalid(name, format!("expected comma-separated {example}, got {item:?}")))
            })
            .collect()
    }
}
