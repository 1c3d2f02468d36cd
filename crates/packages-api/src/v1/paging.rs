//! Pagination of `/api/v1` listings as Gitea does it: `page` and `limit` query parameters,
//! an `X-Total-Count` header and a `Link` header with `next`, `last`, `first` and `prev`.

use actix_web::http::header::HeaderValue;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;

/// Page size when none (or a non-positive one) is asked for (`[api] DEFAULT_PAGING_NUM`).
pub const DEFAULT_LIMIT: u64 = 30;
/// Largest page size served (`[api] MAX_RESPONSE_ITEMS`).
pub const MAX_LIMIT: u64 = 50;

/// What Go's `url.QueryEscape` leaves alone (a space becomes `+` separately).
const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub use crate::urls::{query_pairs as parse_query, query_value};

/// Reads an integer the way Gitea's `FormInt` does: anything unparsable is 0.
fn form_int(pairs: &[(String, String)], key: &str) -> i64 {
    query_value(pairs, key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The `page` and `limit` query parameters of a paged listing, as the OpenAPI document shows
/// them.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page number, from 1.
    pub page: Option<u64>,
    /// Rows per page, at most 50 (default 30).
    pub limit: Option<u64>,
}

/// The page a listing request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// 1-based.
    pub page: u64,
    /// Rows per page, 1 to [`MAX_LIMIT`].
    pub limit: u64,
}

impl Paging {
    /// The page a request's `page` and `limit` query parameters ask for.
    pub fn of(req: &HttpRequest) -> Paging {
        Paging::from_query(&parse_query(req.query_string()))
    }

    /// `page` ≤ 0 means 1; `limit` ≤ 0 means [`DEFAULT_LIMIT`]; above [`MAX_LIMIT`] is capped.
    pub fn from_query(pairs: &[(String, String)]) -> Paging {
        let page = form_int(pairs, "page").max(1) as u64;
        let limit = match form_int(pairs, "limit") {
            l if l <= 0 => DEFAULT_LIMIT,
            l => (l as u64).min(MAX_LIMIT),
        };
        Paging { page, limit }
    }

    /// The same page as the database layer takes it.
    pub fn db_page(self) -> packages_db::Page {
        packages_db::Page {
            page: self.page,
            limit: self.limit,
        }
    }

    /// Index of the first row of this page.
    pub fn offset(self) -> usize {
        usize::try_from((self.page - 1).saturating_mul(self.limit)).unwrap_or(usize::MAX)
    }
}

/// Encodes pairs like Go's `url.Values.Encode`: sorted by key (stably), query-escaped.
fn encode_query(pairs: &[(String, String)]) -> String {
    let escape = |s: &str| {
        utf8_percent_encode(s, QUERY_COMPONENT)
            .to_string()
            .replace("%20", "+")
    };
    let mut sorted: Vec<&(String, String)> = pairs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    sorted
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `Link` header of one page of `total` rows, or `None` when no relation applies.
///
/// `base` is the scheme and host, `path` the request path and `pairs` its query; each link
/// is that address with `page` set. As in Gitea, a page past the end counts as the last one.
pub fn link_header(
    base: &str,
    path: &str,
    pairs: &[(String, String)],
    total: u64,
    paging: Paging,
) -> Option<String> {
    let limit = paging.limit.max(1);
    let total_pages = if total == 0 { 1 } else { total.div_ceil(limit) };
    let current = paging.page.clamp(1, total_pages);
    let has_next = total > current.saturating_mul(limit);
    let is_last = total == 0 || (total > (current - 1).saturating_mul(limit) && !has_next);

    let link = |page: u64, rel: &str| {
        let mut query: Vec<(String, String)> =
            pairs.iter().filter(|(k, _)| k != "page").cloned().collect();
        query.push(("page".to_owned(), page.to_string()));
        format!("<{base}{path}?{}>; rel=\"{rel}\"", encode_query(&query))
    };
    let mut links = Vec::new();
    if has_next {
        links.push(link(current + 1, "next"));
    }
    if !is_last {
        links.push(link(total_pages, "last"));
    }
    if current != 1 {
        links.push(link(1, "first"));
    }
    if current > 1 {
        links.push(link(current - 1, "prev"));
    }
    (!links.is_empty()).then(|| links.join(","))
}

/// A 200 carrying Gitea's paging headers for one page of `total` rows: `X-Total-Count`, and
/// `Link` when another page exists, both exposed to scripts in browsers.
pub fn paged(req: &HttpRequest, base: &str, total: u64, paging: Paging) -> HttpResponseBuilder {
    let pairs = parse_query(req.query_string());
    let link = link_header(base, req.path(), &pairs, total, paging);
    let mut builder = HttpResponse::Ok();
    builder.insert_header(("X-Total-Count", total.to_string()));
    let mut exposed = "X-Total-Count";
    if let Some(link) = link.and_then(|l| HeaderValue::from_str(&l).ok()) {
        builder.insert_header(("Link", link));
        exposed = "X-Total-Count, Link";
    }
    builder.insert_header(("Access-Control-Expose-Headers", exposed));
    builder
}

/// A 200 with one page of `items` and the paging headers.
pub fn page_response<T: Serialize>(
    req: &HttpRequest,
    base: &str,
    items: &[T],
    total: u64,
    paging: Paging,
) -> HttpResponse {
    paged(req, base, total, paging).json(items)
}

/// A 200 with the page `paging` asks for out of all of `items`, and the paging headers.
pub fn page_of<T: Serialize>(
    req: &HttpRequest,
    base: &str,
    items: Vec<T>,
    paging: Paging,
) -> HttpResponse {
    let total = items.len() as u64;
    let page: Vec<T> = items
        .into_iter()
        .skip(paging.offset())
        .take(usize::try_from(paging.limit).unwrap_or(usize::MAX))
        .collect();
    page_response(req, base, &page, total, paging)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paging(page: u64, limit: u64) -> Paging {
        Paging { page, limit }
    }

    fn pairs(q: &str) -> Vec<(String, String)> {
        parse_query(q)
    }

    #[test]
    fn page_and_limit_defaults() {
        assert_eq!(Paging::from_query(&pairs("")), paging(1, 30));
        assert_eq!(Paging::from_query(&pairs("page=0&limit=0")), paging(1, 30));
        assert_eq!(
            Paging::from_query(&pairs("page=-3&limit=-1")),
            paging(1, 30)
        );
        assert_eq!(Paging::from_query(&pairs("page=x&limit=y")), paging(1, 30));
        assert_eq!(Paging::from_query(&pairs("page=3&limit=51")), paging(3, 50));
        assert_eq!(Paging::from_query(&pairs("page=2&limit=7")), paging(2, 7));
        assert_eq!(paging(3, 7).offset(), 14);
    }

    #[test]
    fn query_parsing_decodes() {
        assert_eq!(
            pairs("q=a+b%2Bc&type=&x"),
            vec![
                ("q".into(), "a b+c".into()),
                ("type".into(), String::new()),
                ("x".into(), String::new())
            ]
        );
    }

    const BASE: &str = "http://h";
    const PATH: &str = "/api/v1/packages/u";

    #[test]
    fn middle_page_has_every_relation() {
        let link = link_header(BASE, PATH, &pairs("limit=2&page=2"), 7, paging(2, 2));
        assert_eq!(
            link.as_deref(),
            Some(
                "<http://h/api/v1/packages/u?limit=2&page=3>; rel=\"next\",\
                 <http://h/api/v1/packages/u?limit=2&page=4>; rel=\"last\",\
                 <http://h/api/v1/packages/u?limit=2&page=1>; rel=\"first\",\
                 <http://h/api/v1/packages/u?limit=2&page=1>; rel=\"prev\""
            )
        );
    }

    #[test]
    fn first_and_last_pages() {
        let first = link_header(BASE, PATH, &pairs("limit=2"), 5, paging(1, 2));
        assert_eq!(
            first.as_deref(),
            Some(
                "<http://h/api/v1/packages/u?limit=2&page=2>; rel=\"next\",\
                 <http://h/api/v1/packages/u?limit=2&page=3>; rel=\"last\""
            )
        );
        let last = link_header(BASE, PATH, &pairs("limit=2&page=3"), 5, paging(3, 2));
        assert_eq!(
            last.as_deref(),
            Some(
                "<http://h/api/v1/packages/u?limit=2&page=1>; rel=\"first\",\
                 <http://h/api/v1/packages/u?limit=2&page=2>; rel=\"prev\""
            )
        );
    }

    #[test]
    fn single_or_empty_page_has_no_links() {
        assert_eq!(link_header(BASE, PATH, &[], 0, paging(1, 30)), None);
        assert_eq!(link_header(BASE, PATH, &[], 30, paging(1, 30)), None);
    }

    #[test]
    fn page_past_the_end_counts_as_last() {
        let link = link_header(BASE, PATH, &pairs("page=9"), 3, paging(9, 2));
        assert_eq!(
            link.as_deref(),
            Some(
                "<http://h/api/v1/packages/u?page=1>; rel=\"first\",\
                 <http://h/api/v1/packages/u?page=1>; rel=\"prev\""
            )
        );
    }

    #[test]
    fn other_parameters_are_kept_sorted_and_escaped() {
        let link = link_header(
            BASE,
            PATH,
            &pairs("type=generic&q=a+b%26c&page=1&page=5"),
            40,
            paging(1, 30),
        );
        assert_eq!(
            link.as_deref(),
            Some(
                "<http://h/api/v1/packages/u?page=2&q=a+b%26c&type=generic>; rel=\"next\",\
                 <http://h/api/v1/packages/u?page=2&q=a+b%26c&type=generic>; rel=\"last\""
            )
        );
    }
}
