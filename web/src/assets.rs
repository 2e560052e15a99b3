//! The static files, built into the binary: the stylesheet and the live tail's script (the
//! only script: the CSP allows this origin's files and nothing inline).

use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::html::UiError;

const STYLE: &[u8] = include_bytes!("../assets/style.css");
const TAIL: &[u8] = include_bytes!("../assets/tail.js");

pub async fn serve(Path(name): Path<String>) -> Result<Response, UiError> {
    let (body, kind) = match name.as_str() {
        "style.css" => (STYLE, "text/css; charset=utf-8"),
        "tail.js" => (TAIL, "text/javascript; charset=utf-8"),
        _ => return Err(UiError::NotFound(format!("/assets/{name}"))),
    };
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        body,
    )
        .into_response())
}
