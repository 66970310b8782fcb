//! The issue API as a service over its three ports: the configuration (the sealed key set and,
//! on AWS, the ledger's table), the ledger (state and revocation), and credentials (presigned
//! links). Each is pulled only by the routes that need it, and every dependency failure becomes
//! the same 503 in every shell, its detail logged here with the request's id.
//!
//! ```text
//! ApiRequest ─► Route::read ─► Preflight ─────────────────────────────► 204
//!                   │          Issue ─► validate ─► keys | credentials ─► mint ─► 201 / 200 / 302
//!                   │          State | Revoke ─► config ─► ledger ──────► 200
//!                   └─ 4xx ──────────────────────────────────────────────► error JSON  (+ CORS)
//! ```

use std::sync::Arc;
use std::time::SystemTime;

use super::links;
use super::mint::{IssuedLink, Signer, issue};
use super::policy::{LinkRequest, validate};
use super::response::add_cors;
use super::router::{IssueAnswer, Route};
use super::{ApiRequest, ApiResponse, IssueError, IssuerSettings};
use crate::config::{ConfigCache, ConfigSource, EdgeConfig};
use crate::credentials::CredentialSource;
use crate::ledger::LedgerFor;
use crate::link::LinkMode;
use crate::metrics::ApiOutcome;

pub struct IssueService<C: ConfigSource, L, K> {
    settings: IssuerSettings,
    /// `None` when the deployment has no shared configuration (presigned links without SSM):
    /// then there is no ledger to revoke in either.
    config: Option<Arc<ConfigCache<C>>>,
    ledger: L,
    credentials: K,
}

impl<C, L, K> IssueService<C, L, K>
where
    C: ConfigSource,
    L: LedgerFor<C::Config>,
    K: CredentialSource,
{
    pub fn new(settings: IssuerSettings, config: Option<Arc<ConfigCache<C>>>, ledger: L, credentials: K) -> Self {
        Self { settings, config, ledger, credentials }
    }

    pub fn settings(&self) -> &IssuerSettings {
        &self.settings
    }

    /// Answers one API request. Never fails: every problem is a 4xx/5xx JSON answer.
    pub async fn handle(&self, request: &ApiRequest<'_>, now: SystemTime) -> ApiResponse {
        let mut response = match Route::read(request) {
            Ok(route) => self.answer(route, request.request_id, now).await.unwrap_or_else(|e| ApiResponse::error(&e)),
            Err(error) => ApiResponse::error(&error),
        };
        add_cors(&self.settings.cors_origins, request.origin, &mut response);
        response
    }

    async fn answer(&self, route: Route, request_id: &str, now: SystemTime) -> Result<ApiResponse, IssueError> {
        match route {
            Route::Preflight => Ok(ApiResponse::no_content()),
            Route::Issue { request, answer } => {
                let link = self.mint(&request, request_id, now).await?;
                let outcome = ApiOutcome::ok(Some((link.mode, link.method)));
                Ok(match answer {
                    IssueAnswer::Redirect => ApiResponse::redirect(link.url, outcome),
                    IssueAnswer::Created | IssueAnswer::Json => {
                        let status = if answer == IssueAnswer::Created { 201 } else { 200 };
                        ApiResponse { outcome, ..ApiResponse::json(status, serde_json::to_string(&link).unwrap_or_default()) }
                    }
                })
            }
            Route::State(id) => Ok(ApiResponse::json(200, links::state(&self.ledger(request_id).await?, &id, now, request_id).await?)),
            Route::Revoke(id) => {
                Ok(ApiResponse::json(200, links::revoke(&self.settings, &self.ledger(request_id).await?, &id, now, request_id).await?))
            }
        }
    }

    /// The ledger of this deployment (named by its configuration on AWS).
    async fn ledger(&self, request_id: &str) -> Result<L::Ledger, IssueError> {
        let config = self.config(request_id).await.map_err(|_| IssueError::LedgerUnavailable)?;
        Ok(self.ledger.ledger_for(&config))
    }

    /// Validates first (a bad request is told so even when a dependency is away), then pulls
    /// what signs in this deployment's mode, then signs; a tagged link's tag is kept in the
    /// ledger before the link is answered.
    async fn mint(&self, request: &LinkRequest, request_id: &str, now: SystemTime) -> Result<IssuedLink, IssueError> {
        validate(&self.settings, request)?;
        let link = self.sign(request, request_id, now).await?;
        if let Some(tag) = &request.tag {
            // The link is handed out only once its tag is kept: every trail and event names it.
            links::tag(&self.settings, &self.ledger(request_id).await?, &link.link_id, tag, now, request_id).await?;
        }
        Ok(link)
    }

    async fn sign(&self, request: &LinkRequest, request_id: &str, now: SystemTime) -> Result<IssuedLink, IssueError> {
        match self.settings.mode {
            LinkMode::Sealed => {
                let config = self.config(request_id).await.map_err(|_| IssueError::KeysUnavailable)?;
                let edge: &EdgeConfig = (*config).as_ref();
                issue(&self.settings, Signer { credentials: None, keys: edge.keys.as_ref() }, request, now)
            }
            LinkMode::Presigned => {
                let credentials = self.credentials.credentials().await.map_err(|error| {
                    tracing::error!(%error, request_id, "no signing credentials");
                    IssueError::CredentialsUnavailable
                })?;
                issue(&self.settings, Signer { credentials: Some(&credentials), keys: None }, request, now)
            }
        }
    }

    async fn config(&self, request_id: &str) -> Result<Arc<C::Config>, IssueError> {
        let cache = self.config.as_ref().ok_or(IssueError::ConfigUnavailable)?;
        cache.get().await.map_err(|error| {
            tracing::error!(%error, request_id, "configuration unavailable");
            IssueError::ConfigUnavailable
        })
    }
}
