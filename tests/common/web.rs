//! The web UI over HTTP as a test reads it: a page's status, headers and body, the message ids
//! its list links to, and its "Older" link.

use std::time::Duration;

pub struct Page {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Page {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The message ids the list links to, in page order.
    pub fn ids(&self) -> Vec<String> {
        let table = self
            .body
            .split("<tbody>")
            .nth(1)
            .and_then(|t| t.split("</tbody>").next())
            .unwrap_or("");
        table
            .split("href=\"/messages/")
            .skip(1)
            .filter_map(|s| s.split('"').next())
            .map(str::to_string)
            .collect()
    }

    /// The href of the link with `rel=next`, decoded of `&amp;`.
    pub fn next(&self) -> Option<String> {
        let rest = self.body.split("rel=\"next\" href=\"").nth(1)?;
        Some(rest.split('"').next()?.replace("&amp;", "&"))
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

pub fn get(url: &str) -> Page {
    let mut r = agent()
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let status = r.status().as_u16();
    let body = r
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_to_string()
        .expect("body");
    Page {
        status,
        body,
        headers,
    }
}
