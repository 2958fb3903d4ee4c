//! The web layer's one error type and its single mapping to HTTP.
//!
//! Policy: 4xx errors carry a message written for the person or script that
//! made the request (which field, and why). A 500 logs the detail with a
//! reference and returns only that reference: internals never reach a page
//! or a response body. Pages get HTML (`PageError`), the API gets JSON.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::store;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("authentication required")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("missing or invalid CSRF token")]
    Csrf,
    /// 422: a value that cannot be accepted; names the field.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    /// 409: the request is valid but collides with stored state.
    #[error("{field}: {reason}")]
    Conflict { field: String, reason: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub fn conflict(field: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Conflict {
            field: field.into(),
            reason: reason.into(),
        }
    }
    pub fn internal(e: impl std::fmt::Display) -> Error {
        Error::Internal(e.to_string())
    }

    fn status(&self) -> StatusCode {
        match self {
            Error::NotFound => StatusCode::NOT_FOUND,
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) | Error::Csrf => StatusCode::FORBIDDEN,
            Error::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Error::NotFound => "not_found",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::Csrf => "csrf",
            Error::Invalid { .. } => "invalid",
            Error::Conflict { .. } => "conflict",
            Error::BadRequest(_) => "bad_request",
            Error::Internal(_) => "internal",
        }
    }

    /// Logs a 500 and returns the reference to show instead of the detail.
    fn log_internal(&self) -> Option<String> {
        if let Error::Internal(detail) = self {
            let reference = uuid::Uuid::new_v4().simple().to_string();
            tracing::error!(error_ref = %reference, detail = %detail, "internal error");
            Some(reference)
        } else {
            None
        }
    }
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Error {
        match e {
            store::Error::NotFound => Error::NotFound,
            store::Error::Conflict(field) => Error::conflict(field, conflict_reason(field)),
            other => Error::internal(other),
        }
    }
}

fn conflict_reason(field: &str) -> &'static str {
    match field {
        "username" => "another user in this organization already has this username (compared ignoring case)",
        "email" => "another user in this organization already has this email (compared ignoring case)",
        "external_id" => "another user in this organization already has this external id",
        "slug" => "an organization with this slug already exists",
        "reference" | "role" => "refers to something that does not exist",
        _ => "already exists",
    }
}

impl From<tower_sessions::session::Error> for Error {
    fn from(e: tower_sessions::session::Error) -> Error {
        Error::internal(format!("session: {e}"))
    }
}

/// JSON for the API.
impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match (&self, self.log_internal()) {
            (_, Some(reference)) => json!({ "error": "internal", "message": "internal error", "reference": reference }),
            (Error::Invalid { field, reason } | Error::Conflict { field, reason }, _) => {
                json!({ "error": self.code(), "field": field, "message": reason })
            }
            _ => json!({ "error": self.code(), "message": self.to_string() }),
        };
        (status, Json(body)).into_response()
    }
}

impl From<crate::connection_setup::LoadError> for Error {
    fn from(e: crate::connection_setup::LoadError) -> Error {
        use crate::connection_setup::LoadError;
        match e {
            LoadError::NotFound => Error::NotFound,
            LoadError::Store(e) => e.into(),
            broken @ LoadError::Broken { .. } => Error::internal(broken),
        }
    }
}

/// HTML for pages: the same errors, rendered for a person.
#[derive(Debug)]
pub struct PageError(pub Error);

impl<E: Into<Error>> From<E> for PageError {
    fn from(e: E) -> PageError {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let message = match (&self.0, self.0.log_internal()) {
            (_, Some(reference)) => format!("Something went wrong on our side. Reference: {reference}"),
            (Error::NotFound, _) => "There is nothing at this address.".to_string(),
            (Error::Csrf, _) => {
                "This form has expired or was not sent from our page. Go back, reload the page and try again."
                    .to_string()
            }
            (e, _) => e.to_string(),
        };
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head>\
             <body style=\"font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto\">\
             <h1>{title}</h1><p>{message}</p></body></html>",
            title = status.canonical_reason().unwrap_or("Error"),
            message = html_escape(&message),
        );
        (status, Html(page)).into_response()
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
