//! Optional login (`web.auth`): HTTP Basic, checked against each user's argon2 hash in PHC form
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`, as `argon2 SALT -id -e` prints it), so the
//! configuration holds no password. Browsers ask for the credentials themselves and send them
//! with every request, the live tail's stream included; scripts use `curl -u user:password`.
//!
//! Verifying costs what the hash's parameters say (tens of milliseconds at argon2's defaults),
//! on a blocking thread, never on the runtime's.

use std::sync::Arc;

use argon2::password_hash::PasswordHash;
use argon2::{Argon2, PasswordVerifier};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64ct::{Base64, Encoding};
use maud::html;

use crate::html::page;
use crate::AppState;

/// A user who may log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebUser {
    pub name: String,
    /// The password's argon2 hash in PHC string form.
    pub password_hash: String,
}

/// Whether `hash` is an argon2 PHC string this crate can verify against; why not.
pub fn check_hash(hash: &str) -> Result<(), String> {
    let parsed = PasswordHash::new(hash).map_err(|e| format!("not a PHC hash string: {e}"))?;
    match parsed.algorithm.as_str() {
        "argon2id" | "argon2i" | "argon2d" => Ok(()),
        other => Err(format!("{other} is not argon2")),
    }
}

/// `Authorization: Basic …` as (user, password).
fn credentials(request: &Request) -> Option<(String, String)> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let encoded = value.strip_prefix("Basic ")?.trim();
    let decoded = Base64::decode_vec(encoded).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

fn verify(users: &[WebUser], user: &str, password: &str) -> bool {
    let Some(u) = users.iter().find(|u| u.name == user) else {
        return false;
    };
    PasswordHash::new(&u.password_hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Let the request through when there is no login or its credentials verify; else 401.
pub(crate) async fn require(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(users) = state.users.clone() else {
        return next.run(request).await;
    };
    let ok = match credentials(&request) {
        Some((user, password)) => {
            tokio::task::spawn_blocking(move || verify(&users, &user, &password))
                .await
                .unwrap_or(false)
        }
        None => false,
    };
    if ok {
        return next.run(request).await;
    }
    let body = page(
        "Login required",
        None,
        html! { p { "Give a user name and password from web.auth in mutt_config.yaml." } },
    );
    (
        StatusCode::UNAUTHORIZED,
        [(
            header::WWW_AUTHENTICATE,
            "Basic realm=\"MUTT\", charset=\"UTF-8\"",
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `printf %s 'correct horse' | argon2 mutt-test-salt -id -t 1 -m 6 -p 1 -e`
    const HASH: &str =
        "$argon2id$v=19$m=64,t=1,p=1$bXV0dC10ZXN0LXNhbHQ$iQisuIqe+G77/mbHZpwsCJnKkcD0sso0EIePr6xN1NU";

    #[test]
    fn a_password_verifies_against_its_argon2_hash_and_others_do_not() {
        let users = vec![WebUser {
            name: "ops".into(),
            password_hash: HASH.into(),
        }];
        assert!(verify(&users, "ops", "correct horse"));
        assert!(!verify(&users, "ops", "correct horse "));
        assert!(!verify(&users, "root", "correct horse"));
    }

    #[test]
    fn only_argon2_phc_strings_are_accepted() {
        assert!(check_hash(HASH).is_ok());
        assert!(check_hash("correct horse").is_err());
        assert!(check_hash("$5$rounds=1000$salt$hash").is_err());
    }
}
