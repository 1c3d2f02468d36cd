//! `Expect: 100-continue`: an upload that will be refused is refused before the client sends
//! its body. The HTTP server asks [`ExpectGate`] before answering `100 Continue`; the gate
//! asks the format of the path (`Format::expect_continue`), which runs the same pre-body
//! checks as its upload handler (credentials, owner, permission, validation, limits against
//! `Content-Length`, an existing file) and answers with the final error status when one
//! fails. Requests the gate lets through are checked again by their handler, which keeps the
//! handler the single authority.

use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_http::body::BoxBody;
use actix_http::{HttpMessage, Method, Request, Response};
use actix_web::dev::{Service, ServiceFactory};
use actix_web::{web, ResponseError};

use actix_web::http::header::HeaderValue;

use crate::error::ApiResult;
use crate::registry::path;
use crate::request::{self, RequestContext, REQUEST_ID};
use crate::state::AppState;

/// The expectation handler to install in the HTTP service.
#[derive(Clone)]
pub struct ExpectGate {
    state: web::Data<AppState>,
}

impl ExpectGate {
    /// A gate over the given application state.
    pub fn new(state: web::Data<AppState>) -> Self {
        ExpectGate { state }
    }
}

impl ServiceFactory<Request> for ExpectGate {
    type Response = Request;
    type Error = Response<BoxBody>;
    type Config = ();
    type Service = ExpectGate;
    type InitError = ();
    type Future = Ready<Result<ExpectGate, ()>>;

    fn new_service(&self, _: ()) -> Self::Future {
        ready(Ok(self.clone()))
    }
}

impl Service<Request> for ExpectGate {
    type Response = Request;
    type Error = Response<BoxBody>;
    type Future = Pin<Box<dyn Future<Output = Result<Request, Response<BoxBody>>>>>;

    actix_web::dev::always_ready!();

    fn call(&self, req: Request) -> Self::Future {
        let state = self.state.clone();
        // The request's id starts here, so the gate's log lines and a refusal carry it; a
        // request let through keeps it (`request::of_request`).
        let ctx = RequestContext::from_headers(req.headers());
        req.extensions_mut().insert(ctx.clone());
        Box::pin(request::scope(ctx.clone(), async move {
            match verdict(&state, &req).await {
                Ok(()) => Ok(req),
                Err(e) => {
                    // These never reach the request logger, so they are logged here.
                    log::info!(
                        "{} {} refused before its body: {}",
                        req.method(),
                        req.uri().path(),
                        e.status_code()
                    );
                    let mut response = e.error_response();
                    if let Ok(id) = HeaderValue::from_str(&ctx.id) {
                        response.headers_mut().insert(REQUEST_ID, id);
                    }
                    Err(response.into())
                }
            }
        }))
    }
}

/// Decides whether the body of `req` is wanted.
async fn verdict(state: &web::Data<AppState>, req: &Request) -> ApiResult<()> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return Ok(());
    }
    // A client that waits for 100 Continue sends nothing when every upload slot is taken.
    if matches!(*req.method(), Method::PUT | Method::POST | Method::PATCH) && state.uploads.full() {
        return Err(crate::state::too_many_uploads());
    }
    // Anything that is not a registry request of a known format is left to the router.
    let Ok(parsed) = path::parse(req.uri().path()) else {
        return Ok(());
    };
    let Some(format) = state.formats.find(&parsed.package_type) else {
        return Ok(());
    };
    format
        .expect_continue(
            state.clone().into_inner(),
            req.method(),
            &req.head().headers,
            parsed,
        )
        .await
}
