//! The middleware around every request: gives it a [`RequestContext`] (id taken from or
//! returned in `X-Request-Id`), counts the bytes that go in and out, and when the response
//! body is finished (or the client went away) writes one access-log line and counts the
//! request in the metrics.
//!
//! The access line never holds the query string or any header but the request id and
//! `X-Forwarded-For`; credentials therefore never reach the log.

use std::borrow::Cow;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderValue;
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpMessage};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::metrics::Finished;
use crate::request::{self, RequestContext, REQUEST_ID};
use crate::state::AppState;

/// Route label of a request no route matched; keeps metric labels bounded.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The middleware, for `App::wrap(actix_web::middleware::from_fn(observe::middleware))`.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let ctx = RequestContext::of_request(&req.extensions(), req.headers());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let peer = req.peer_addr().map(|a| a.ip());
    let client = match &state {
        Some(s) => s.settings.trusted_proxies.client(
            peer,
            req.headers()
                .get_all("x-forwarded-for")
                .filter_map(|v| v.to_str().ok()),
        ),
        None => peer,
    };
    ctx.set_client(client);
    let bytes_in = Arc::new(AtomicU64::new(0));
    let counted = bytes_in.clone();
    let payload = req.take_payload().map(move |chunk| {
        if let Ok(bytes) = &chunk {
            counted.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        chunk
    });
    req.set_payload(Payload::Stream {
        payload: Box::pin(payload),
    });
    // Standard methods clone without allocating; the URI shares the request's buffer.
    let method = req.method().clone();
    let uri = req.uri().clone();
    let mut res = request::scope(ctx.clone(), next.call(req)).await?;
    if let Ok(value) = HeaderValue::from_str(&ctx.id) {
        res.headers_mut().insert(REQUEST_ID, value);
    }
    let route: Cow<'static, str> = match ctx.route() {
        Some(route) => Cow::Borrowed(route),
        None => res
            .request()
            .match_pattern()
            .map_or(Cow::Borrowed(UNMATCHED_ROUTE), Cow::Owned),
    };
    let status = res.status().as_u16();
    let record = Record {
        ctx,
        method,
        uri,
        route,
        status,
        bytes_in,
        started,
        client,
        metrics: state.map(|s| s.metrics.clone()),
    };
    Ok(res.map_body(move |_, body| {
        BoxBody::new(Observed {
            body: body.boxed(),
            sent: 0,
            record: Some(record),
        })
    }))
}

struct Record {
    ctx: Arc<RequestContext>,
    method: actix_web::http::Method,
    uri: actix_web::http::Uri,
    route: Cow<'static, str>,
    status: u16,
    bytes_in: Arc<AtomicU64>,
    started: Instant,
    client: Option<IpAddr>,
    metrics: Option<Arc<crate::metrics::Metrics>>,
}

impl Record {
    fn finish(self, bytes_out: u64) {
        let finished = Finished {
            ctx: &self.ctx,
            method: self.method.as_str(),
            path: self.uri.path(),
            route: self.route,
            status: self.status,
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out,
            seconds: self.started.elapsed().as_secs_f64(),
            client: self.client,
        };
        access_log(&finished);
        if let Some(metrics) = &self.metrics {
            metrics.request_finished(&finished);
        }
    }
}

fn access_log(f: &Finished<'_>) {
    // The line's parts cost more than the check, and most deployments that care about
    // speed log warnings only.
    if !log::log_enabled!(target: "forge::access", log::Level::Info) {
        return;
    }
    let user = f.ctx.user();
    let user = user.as_deref().unwrap_or("-");
    let client = f.client.map_or_else(|| "-".to_owned(), |c| c.to_string());
    let duration_ms = (f.seconds * 1e4).round() / 10.0;
    log::info!(
        target: "forge::access",
        request_id = f.ctx.id.as_str(),
        method = f.method,
        path = f.path,
        route = f.route,
        status = f.status,
        bytes_in = f.bytes_in,
        bytes_out = f.bytes_out,
        duration_ms = duration_ms,
        user = user,
        client = client.as_str();
        "{client} \"{} {}\" {} {} {duration_ms}ms user={user}",
        f.method,
        f.path,
        f.status,
        f.bytes_out,
    );
}

/// The response body, counted; the request is finished when it is dropped.
struct Observed {
    body: BoxBody,
    sent: u64,
    record: Option<Record>,
}

impl MessageBody for Observed {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let polled = Pin::new(&mut self.body).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &polled {
            self.sent += chunk.len() as u64;
        }
        polled
    }
}

impl Drop for Observed {
    fn drop(&mut self) {
        if let Some(record) = self.record.take() {
            record.finish(self.sent);
        }
    }
}
