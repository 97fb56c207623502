//! `OptionalJson<T>`: a JSON request body that may be absent.
//!
//! poem-openapi's `Json<Option<T>>` still demands a `Content-Type`, so a browser's bare
//! `fetch(url, {method: 'POST'})` to /refresh or /logout would be refused. Here an empty body is
//! `None` whatever the headers; a non-empty one must be JSON (the request guard already refused
//! other content types) and is validated like any other payload.

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::ParseFromJSON;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::problem::ApiError;

pub struct OptionalJson<T>(pub Option<T>);

impl<'a, T: ParseFromJSON> ApiExtractor<'a> for OptionalJson<T> {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: T::schema_ref(),
            }],
            required: false,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let bytes = body
            .take()?
            .into_bytes()
            .await
            .map_err(|_| ApiError::validation("request body could not be read"))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJson(None));
        }
        let value: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|err| ApiError::validation(format!("request body is not valid JSON: {err}")))?;
        let parsed = T::parse_from_json(Some(value)).map_err(|err| ApiError::validation(err.into_message()))?;
        Ok(OptionalJson(Some(parsed)))
    }
}
