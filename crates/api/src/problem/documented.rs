//! Which problems each operation documents in the spec, and the pass that writes them there.
//!
//! An operation can answer with the problems its handler returns, declared beside the handler as
//! codes (each endpoint module's `PROBLEMS`, gathered in `app::DECLARED`), and with those that the
//! layers around every handler add, derived here by rule from what the operation is: its method,
//! path, input and security. The status and example of each code come from
//! [`ProblemCode::examples`], so no status is written by hand.

use std::collections::{BTreeMap, BTreeSet};

use poem::http::Method;
use poem_openapi::registry::Registry;
use poem_openapi::types::{ParseFromJSON, ToJSON, Type};
use serde_json::{Map, Value, json};

use super::{ApiError, PROBLEM_CONTENT_TYPE, ProblemBody, ProblemCode};
use crate::rate_limit;

/// The problems the handlers of one endpoint module return themselves, by operation id. Leave out
/// what the rules of [`by_rule`] already give every operation of its kind.
pub type Declared = &'static [(&'static str, &'static [ProblemCode])];

/// What the rules look at, read from the generated spec.
struct Operation<'a> {
    method: Method,
    path: &'a str,
    /// Takes a (JSON) request body.
    body: bool,
    /// Takes path, query or header parameters.
    parameters: bool,
    /// Requires an access token (its handler takes `Authenticated`).
    authenticated: bool,
}

/// The problems the layers around a handler can answer an operation like `op` with.
fn by_rule(op: &Operation<'_>) -> Vec<(u16, ProblemCode)> {
    let mut found = Vec::new();
    // Input that does not parse: a body (poem-openapi, `OptionalJson`, the request guard's
    // duplicate keys, a content type other than JSON) or a path, query or header parameter.
    if op.body || op.parameters {
        found.push((400, ProblemCode::ValidationFailed));
    }
    // The request guard's body limit.
    if op.body {
        found.push((413, ProblemCode::PayloadTooLarge));
    }
    // `auth::authenticate`: no token or a bad one, an expired one, an ended session.
    if op.authenticated {
        found.extend([
            (401, ProblemCode::Unauthenticated),
            (401, ProblemCode::TokenExpired),
            (401, ProblemCode::SessionRevoked),
        ]);
    }
    // Unsafe methods: the request guard (Sec-Fetch-Site, Origin, a body that is not JSON) and the
    // CSRF header of cookie sessions. Every method: with CORS on (`TESSERA_ALLOWED_ORIGINS`), the
    // CORS layer refuses an `Origin` that is not allowed, GETs included.
    found.push((403, ProblemCode::CsrfFailed));
    if rate_limit::bucket_for(&op.method, op.path).is_some() {
        found.push((429, ProblemCode::RateLimited));
    }
    // `middleware::header_limits`, and the last resort of every layer.
    found.extend([
        (431, ProblemCode::RequestHeaderFieldsTooLarge),
        (500, ProblemCode::InternalError),
    ]);
    found
}

/// Writes each operation's problem responses into `spec` (poem-openapi's output, which has none:
/// see `ApiError::meta`): the declared codes at every status they are sent with, and the rules'.
/// Returns the mistakes found in the declarations (an operation declaring nothing, an unknown
/// or repeated id); an operation without a declaration documents every code rather than none.
pub fn document_problems(spec: &mut Value, declared: &[Declared]) -> Vec<String> {
    let mut mistakes = Vec::new();
    let mut table: BTreeMap<&str, &[ProblemCode]> = BTreeMap::new();
    for (id, codes) in declared.iter().flat_map(|module| module.iter()) {
        if table.insert(id, codes).is_some() {
            mistakes.push(format!("operation `{id}` is declared twice"));
        }
    }
    add_problem_schemas(spec);
    let every_code = every_code(spec);
    let mut seen = BTreeSet::new();
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        mistakes.push("the spec has no paths".to_owned());
        return mistakes;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for (method, operation) in item.iter_mut() {
            let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                continue;
            };
            let facts = Operation {
                method,
                path,
                body: operation.get("requestBody").is_some(),
                parameters: non_empty(operation.get("parameters")),
                authenticated: non_empty(operation.get("security")),
            };
            let id = operation.get("operationId").and_then(Value::as_str).unwrap_or_default();
            let codes = match table.get(id) {
                Some(codes) => {
                    seen.insert(id.to_owned());
                    codes.to_vec()
                }
                None => {
                    mistakes.push(format!(
                        "operation `{id}` ({} {path}) declares no problems: add it to `PROBLEMS` in its endpoint module",
                        facts.method
                    ));
                    every_code.clone()
                }
            };
            let mut by_status: BTreeMap<u16, Vec<ApiError>> = BTreeMap::new();
            let declared_examples = codes.iter().flat_map(|code| code.examples());
            let rule_examples = by_rule(&facts).into_iter().flat_map(|(status, code)| {
                code.examples()
                    .into_iter()
                    .filter(move |example| example.status.as_u16() == status)
            });
            for example in declared_examples.chain(rule_examples) {
                let at_status = by_status.entry(example.status.as_u16()).or_default();
                if !at_status.iter().any(|known| known.code == example.code) {
                    at_status.push(example);
                }
            }
            if let Some(responses) = operation.get_mut("responses").and_then(Value::as_object_mut) {
                for (status, examples) in by_status {
                    add_problem_response(responses, status, &examples);
                }
            }
        }
    }
    for id in table.keys().filter(|id| !seen.contains(**id)) {
        mistakes.push(format!("`{id}` is declared but no operation has that id"));
    }
    mistakes
}

/// `Problem` and `ProblemCode` into the components: poem-openapi leaves out schemas that none of
/// its responses refers to, and the problem responses are only written in here.
fn add_problem_schemas(spec: &mut Value) {
    let mut registry = Registry::new();
    <ProblemBody as Type>::register(&mut registry);
    let Some(schemas) = spec.pointer_mut("/components/schemas").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, schema) in registry.schemas {
        if let Ok(schema) = serde_json::to_value(&schema) {
            schemas.entry(name).or_insert(schema);
        }
    }
}

fn non_empty(value: Option<&Value>) -> bool {
    value.and_then(Value::as_array).is_some_and(|items| !items.is_empty())
}

/// Every code of the spec's `ProblemCode` enum: what an undeclared operation documents.
fn every_code(spec: &Value) -> Vec<ProblemCode> {
    let names = spec
        .pointer(&format!("/components/schemas/{}/enum", <ProblemCode as Type>::name()))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    names
        .into_iter()
        .filter_map(|name| ProblemCode::parse_from_json(Some(name)).ok())
        .collect()
}

/// The response for `status`: one named example per code, a description listing the codes. A
/// status the operation already answers with a typed body of its own (readiness's 503) keeps it
/// and gains the problem document beside it.
fn add_problem_response(responses: &mut Map<String, Value>, status: u16, examples: &[ApiError]) {
    let Some(first) = examples.first() else { return };
    let mut description = format!("{}:", first.title());
    for example in examples {
        description.push_str(&format!(
            "\n- `{}`: {}",
            example.code.wire_name(),
            example.detail.as_deref().unwrap_or("")
        ));
    }
    if examples.iter().any(|example| example.www_authenticate.is_some()) {
        description.push_str("\n\nCarries `WWW-Authenticate: Bearer`.");
    }
    if examples.iter().any(|example| example.retry_after_secs.is_some()) {
        description.push_str("\n\nRetry after the seconds in `Retry-After`.");
    }
    let named: Map<String, Value> = examples
        .iter()
        .map(|example| {
            let value = example.body().to_json().unwrap_or(Value::Null);
            (example.code.wire_name(), json!({ "value": value }))
        })
        .collect();
    let media = json!({
        "schema": { "$ref": format!("#/components/schemas/{}", <ProblemBody as Type>::name()) },
        "examples": named,
    });
    let response = responses
        .entry(status.to_string())
        .or_insert_with(|| json!({ "description": "" }));
    let Some(response) = response.as_object_mut() else {
        return;
    };
    let existing = response
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let description = match existing.is_empty() {
        true => description,
        false => format!("{existing}\n\nOr a problem document. {description}"),
    };
    response.insert("description".to_owned(), Value::String(description));
    if let Some(content) = response.entry("content").or_insert_with(|| json!({})).as_object_mut() {
        content.insert(PROBLEM_CONTENT_TYPE.to_owned(), media);
    }
}

#[cfg(test)]
mod tests;
