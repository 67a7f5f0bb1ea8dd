//! Who a request is: the principal its credentials authenticate ([`Caller`]) and the
//! credentials themselves, by which a long poll or a webhook is checked again later
//! ([`Credential`]).

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath};
use axum::http::header;
use axum::http::request::Parts;

use crate::Principal;
use crate::api_error::ApiError;
use crate::certificates::CertificateSubject;
use crate::server::App;
use crate::tls::Peer;

/// The bearer token an `Authorization` header presents.
pub(crate) fn bearer(value: &header::HeaderValue) -> Option<&str> {
    // RFC 7235 §2.1: the scheme is case-insensitive (`bearer`, `BEARER`).
    let (scheme, presented) = value.to_str().ok()?.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(presented)
}

/// The credentials a request presented, by which it can be checked again later: the id of
/// its bearer token (never the token) and the subject of its client certificate. A long poll
/// or a webhook ends when its credential is revoked.
#[derive(Debug, Clone, Default)]
pub(crate) struct Credential {
    /// The public id of the bearer token.
    pub(crate) token: Option<String>,
    /// The client certificate's subject.
    pub(crate) certificate: Option<CertificateSubject>,
}

impl<S: Send + Sync> FromRequestParts<S> for Credential {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(bearer)
            .and_then(|presented| crate::tokens::token_id(presented.trim()))
            .map(str::to_owned);
        let certificate = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .and_then(|peer| peer.0.certificate.as_deref().cloned());
        Ok(Self { token, certificate })
    }
}

/// The principal of an authenticated request. Extracting it answers 401 when the request has
/// no valid credentials, so a handler that takes a `Caller` never runs unauthenticated.
#[derive(Debug, Clone)]
pub(crate) struct Caller(pub(crate) Principal);

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let certificate = parts
            .extensions
            .get::<ConnectInfo<Peer>>()
            .and_then(|peer| peer.0.certificate.clone());
        match app
            .authenticate(&parts.headers, certificate.as_deref())
            .await?
        {
            Some(principal) => Ok(Caller(principal)),
            None => {
                // Named by the route as declared, never by the caller's path or credentials.
                let route = parts
                    .extensions
                    .get::<MatchedPath>()
                    .map_or("unmatched", |m| m.as_str());
                app.record_unauthenticated(route);
                Err(ApiError::Unauthorised)
            }
        }
    }
}
