//! A cookie-keeping client for the web interface's pages, as a browser without JavaScript
//! would use them: it stores `Set-Cookie`s, sends them back, and fills in the form token.

use crate::{Resp, TestServer, ANON};

/// Cookies of one browser and the server they belong to.
pub struct WebClient<'a> {
    server: &'a TestServer,
    /// (name, value) pairs, the newest value per name.
    pub cookies: Vec<(String, String)>,
    /// Extra headers sent with every request (e.g. `X-Forwarded-Proto`).
    pub extra_headers: Vec<(String, String)>,
}

/// Encodes a form field for `application/x-www-form-urlencoded`.
pub fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The value of the first hidden `_csrf` field of a page.
pub fn csrf_of(html: &str) -> String {
    let marker = "name=\"_csrf\" value=\"";
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("no form token in page: {html}"))
        + marker.len();
    html[start..start + 64].to_owned()
}

impl<'a> WebClient<'a> {
    /// A browser with no cookies.
    pub fn new(server: &'a TestServer) -> WebClient<'a> {
        WebClient {
            server,
            cookies: Vec::new(),
            extra_headers: Vec::new(),
        }
    }

    /// A browser signed in as `user` through the sign-in form.
    pub fn signed_in(server: &'a TestServer, user: &str, password: &str) -> WebClient<'a> {
        let mut client = WebClient::new(server);
        let r = client.sign_in(user, password);
        assert_eq!(r.status, 303, "sign in as {user}: {}", r.describe());
        client
    }

    /// The value of cookie `name`, if the browser has one.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets a cookie as a page on another site might plant it.
    pub fn set_cookie(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(n, _)| n != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn remember(&mut self, resp: &Resp) {
        for (name, value) in &resp.headers {
            if name != "set-cookie" {
                continue;
            }
            let first = value.split(';').next().unwrap_or_default();
            let Some((n, v)) = first.split_once('=') else {
                continue;
            };
            let removed = value.contains("Max-Age=0");
            self.cookies.retain(|(c, _)| c != n);
            if !removed {
                self.cookies.push((n.to_owned(), v.to_owned()));
            }
        }
    }

    fn send(&mut self, method: &str, path: &str, body: Option<&[u8]>) -> Resp {
        let cookie = self.cookie_header();
        let mut headers: Vec<(&str, &str)> = vec![("Accept", "text/html")];
        if !cookie.is_empty() {
            headers.push(("Cookie", &cookie));
        }
        if body.is_some() {
            headers.push(("Content-Type", "application/x-www-form-urlencoded"));
        }
        for (n, v) in &self.extra_headers {
            headers.push((n, v));
        }
        let resp = self.server.request(method, path, &ANON, &headers, body);
        self.remember(&resp);
        resp
    }

    /// GETs a page.
    pub fn get(&mut self, path: &str) -> Resp {
        self.send("GET", path, None)
    }

    /// POSTs a form with exactly these fields.
    pub fn post_form(&mut self, path: &str, fields: &[(&str, &str)]) -> Resp {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", form_encode(k), form_encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send("POST", path, Some(body.as_bytes()))
    }

    /// Opens `page`, then POSTs a form to `action` with the page's form token added.
    pub fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Resp {
        let html = self.get(page).text();
        let token = csrf_of(&html);
        let mut all = vec![("_csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_form(action, &all)
    }

    /// Fills in and sends the sign-in form.
    pub fn sign_in(&mut self, user: &str, password: &str) -> Resp {
        self.submit(
            "/user/login",
            "/user/login",
            &[("user_name", user), ("password", password)],
        )
    }
}
