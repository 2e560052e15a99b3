//! The page shell, shared bits of markup, and the error pages: what a user sees when a query
//! cannot run (400, saying what to fix), an id is unknown (404) or the database is not there.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::db::DbError;
use crate::filter::BadQuery;

const NAV: &[(&str, &str)] = &[
    ("/", "Messages"),
    ("/tail", "Live"),
    ("/devices", "Devices"),
    ("/alerts", "Alerts"),
    ("/rules", "Rules"),
    ("/snmpv3", "SNMPv3 failures"),
    ("/archives", "Archives"),
    ("/health", "Health"),
];

/// A whole page: title, navigation, body; the one stylesheet and, when given, one script.
pub fn page(title: &str, script: Option<&str>, body: Markup) -> Html<String> {
    Html(markup(title, script, body).into_string())
}

fn markup(title: &str, script: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — MUTT" }
                link rel="stylesheet" href="/assets/style.css";
                link rel="icon" href="data:,";
                @if let Some(src) = script {
                    script src=(src) defer {}
                }
            }
            body {
                nav {
                    span.brand { "MUTT" }
                    @for (href, name) in NAV {
                        a href=(href) { (name) }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("{0}")]
    BadQuery(#[from] BadQuery),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("{0}")]
    Db(#[from] DbError),
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, title, hint) = match &self {
            UiError::BadQuery(_) => (
                StatusCode::BAD_REQUEST,
                "Bad query",
                "Fix the parameter named above, or start again from the messages page.",
            ),
            UiError::NotFound(_) => (StatusCode::NOT_FOUND, "Not found", ""),
            UiError::Db(DbError::Missing(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "No database yet",
                "The pages show messages once the collector has stored some.",
            ),
            UiError::Db(DbError::TooLong) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Query stopped",
                "Narrow the time range, or filter by an indexed column: device address, rule or \
                 severity.",
            ),
            UiError::Db(e) => {
                tracing::warn!(error = %e, "web UI query failed");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Database unavailable",
                    "Try again; the collector may be holding a long write.",
                )
            }
        };
        let body = page(
            title,
            None,
            html! {
                p.error { (self.to_string()) }
                @if !hint.is_empty() { p { (hint) } }
                p { a href="/" { "Messages" } }
            },
        );
        (status, body).into_response()
    }
}

pub async fn not_found(uri: axum::http::Uri) -> UiError {
    UiError::NotFound(uri.path().to_string())
}

/// Text that may be long, cut at `max` characters with an ellipsis.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// Bytes shown as text: UTF-8 as is, anything else escaped (`\xff`), so a binary message can
/// be read and copied without breaking the page.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_escaped_and_valid_text_kept() {
        assert_eq!(
            escape_bytes(b"ok \xff\xfe caf\xc3\xa9"),
            "ok \\xff\\xfe café"
        );
    }

    #[test]
    fn interpolated_markup_is_escaped() {
        let evil = "<script>alert(1)</script>\"'";
        let out = page(evil, None, html! { a href=(evil) { (evil) } }).0;
        assert!(!out.contains("<script>alert"));
        assert!(out.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;"));
    }
}
