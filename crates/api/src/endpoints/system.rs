//! GET /api/health and /api/ready.

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::problem::documented::Declared;
use crate::state::SharedState;

#[derive(Debug, Object)]
pub struct StatusView {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The process is up.
    #[oai(status = 200)]
    Ok(Json<StatusView>),
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// The database is reachable.
    #[oai(status = 200)]
    Ready(Json<StatusView>),
    /// The database is not reachable.
    #[oai(status = 503)]
    Unavailable(Json<StatusView>),
}

/// The problems these handlers return themselves, by operation id (input, authentication,
/// origin, rate-limit and header problems are added by rule: `problem::documented`).
pub const PROBLEMS: Declared = &[
    ("health", &[]),
    // An unreachable database is its own typed 503, not a problem.
    ("ready", &[]),
];

pub struct SystemApi;

#[OpenApi(tag = "ApiTags::System")]
impl SystemApi {
    /// Liveness: answers whenever the process can serve HTTP.
    #[oai(path = "/api/health", method = "get", operation_id = "health")]
    async fn health(&self) -> HealthResponse {
        HealthResponse::Ok(Json(StatusView {
            status: "ok".to_owned(),
        }))
    }

    /// Readiness: the database answers.
    #[oai(path = "/api/ready", method = "get", operation_id = "ready")]
    async fn ready(&self, state: poem::web::Data<&SharedState>) -> ReadyResponse {
        match state.store.ping().await {
            Ok(()) => ReadyResponse::Ready(Json(StatusView {
                status: "ready".to_owned(),
            })),
            Err(err) => {
                tracing::warn!(error = %err, "readiness check failed");
                ReadyResponse::Unavailable(Json(StatusView {
                    status: "unavailable".to_owned(),
                }))
            }
        }
    }
}
