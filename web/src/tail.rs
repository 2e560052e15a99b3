//! Live tail: `/tail` shows the newest matching messages and a script (assets/tail.js) that
//! follows `/events`, a Server-Sent Events stream of the rows stored since. The stream polls the
//! database every [`POLL`] on the UI's runtime (`id > last ORDER BY id`, the primary key's
//! index alone, at most [`BATCH`] rows a poll), applies the same filters, and sends each row as JSON
//! with its id as the event id, so a reconnecting browser resumes where it was.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream};
use maud::html;
use mutt_query::{Conn, Value};

use crate::db::{self, DbError};
use crate::filter::{parse_cursor, Filter};
use crate::html::{page as shell, UiError};
use crate::messages::{form, list, now_ms, pairs, table, ListRow, LIST_COLUMNS};
use crate::{AppState, State};

pub const POLL: Duration = Duration::from_millis(500);
pub const BATCH: usize = 200;
/// Rows the page starts with.
const START_ROWS: usize = 50;

pub async fn page(
    state: State,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, UiError> {
    let filter = pairs(q)?;
    let f = filter.clone();
    let (listing, newest) = db::with(&state.0, move |c| {
        let newest = newest_id(c)?;
        Ok((list(c, &f, START_ROWS, 10_000)?, newest))
    })
    .await?;
    let after = newest.unwrap_or_else(|| crate::filter::id_lower_bound(now_ms()));
    let body = html! {
        (form(&filter, "/tail"))
        p.live {
            button type="button" #pause { "Pause" }
            " "
            span #status data-after=(after) { "connecting…" }
            " New messages appear at the top; the page keeps the newest 500."
        }
        (table(&filter, &listing.rows))
    };
    Ok(shell("Live", Some("/assets/tail.js"), body).into_response())
}

struct Follow {
    state: Arc<AppState>,
    filter: Filter,
    last: String,
    ready: VecDeque<ListRow>,
    first: bool,
}

/// `/events?…&after=ID`: the filter's parameters, and the id to start after.
pub async fn events(
    state: State,
    headers: HeaderMap,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, UiError> {
    let mut after = None;
    let q = q.map(|Query(pairs)| {
        Query(
            pairs
                .into_iter()
                .filter(|(k, v)| {
                    if k == "after" {
                        after = Some(v.clone());
                        false
                    } else {
                        true
                    }
                })
                .collect(),
        )
    });
    let filter = pairs(q)?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let last = match resume.or(after) {
        Some(id) => parse_cursor(&id).map_err(|mut e| {
            e.param = "after".into();
            e
        })?,
        None => crate::filter::id_lower_bound(now_ms()),
    };
    let follow = Follow {
        state: state.0,
        filter,
        last,
        ready: VecDeque::new(),
        first: true,
    };
    Ok(Sse::new(stream(follow))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn stream(follow: Follow) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(follow, |mut f| async move {
        if f.first {
            f.first = false;
            // Tells the page the stream is open, before any row.
            return Some((Ok(Event::default().event("ready").data(&f.last)), f));
        }
        loop {
            if let Some(row) = f.ready.pop_front() {
                let data = serde_json::to_string(&row).unwrap_or_default();
                return Some((Ok(Event::default().id(&row.id).data(data)), f));
            }
            tokio::time::sleep(POLL).await;
            let (filter, last) = (f.filter.clone(), f.last.clone());
            match db::with(&f.state, move |c| newer(c, &filter, &last)).await {
                Ok((rows, scanned_to)) => {
                    if let Some(id) = scanned_to {
                        f.last = id;
                    }
                    f.ready.extend(rows);
                }
                Err(e) => tracing::debug!(error = %e, "live tail poll"),
            }
        }
    })
}

/// Rows after `last` that match, oldest first, and the id the next poll starts after: the
/// newest id now when fewer than a batch matched (so a filter that rarely matches does not make
/// every poll read the same unmatched rows again), else the last row sent.
fn newer(
    conn: &mut Conn,
    filter: &Filter,
    last: &str,
) -> Result<(Vec<ListRow>, Option<String>), DbError> {
    let Some(newest) = newest_id(conn)?.filter(|n| n.as_str() > last) else {
        return Ok((Vec::new(), None));
    };
    let (equals, values) = filter.equals_unindexed(conn.dialect());
    let sql = format!(
        "SELECT {LIST_COLUMNS} FROM messages WHERE id > ? AND id <= ?{equals} \
         ORDER BY id ASC LIMIT {BATCH}"
    );
    let mut params = vec![Value::Text(last.to_string()), Value::Text(newest.clone())];
    params.extend(values);
    let (mut out, mut read, mut last_read) = (Vec::new(), 0, None);
    conn.for_each(&sql, &params, |r| {
        let row = ListRow::from_row(r)?;
        read += 1;
        last_read = Some(row.id.clone());
        if filter
            .search
            .as_ref()
            .map_or(true, |s| s.matches(&row.text))
        {
            out.push(row);
        }
        Ok(std::ops::ControlFlow::Continue(()))
    })?;
    let next = if read < BATCH {
        Some(newest)
    } else {
        last_read
    };
    Ok((out, next))
}

/// The newest message id stored, if any.
fn newest_id(conn: &mut Conn) -> Result<Option<String>, DbError> {
    let newest = conn.first("SELECT max(id) FROM messages", &[], |r| {
        r.get::<Option<String>>(0)
    })?;
    Ok(newest.flatten())
}
