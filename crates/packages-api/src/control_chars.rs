//! Refusal of control characters in request targets, for every route and format.
//!
//! Names, versions, file names, owners and query parameters never need a control character;
//! a NUL cannot even be stored in a PostgreSQL text column. Checking the decoded path and
//! query here, before any route runs, keeps each format's own rules free of the concern.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::ResponseError;
use percent_encoding::percent_decode_str;

use crate::error::{ApiError, JsonError};

/// The message of the 400 answered for a control character in the path or query.
pub const MESSAGE: &str = "control characters are not allowed in names, versions or parameters";

/// True when `text` holds a C0 control character or DEL.
pub fn has_control_char(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_control())
}

/// True when the percent-decoded form of `raw` (a path or a query string, `+` read as a
/// space) holds a control character.
pub fn decoded_has_control_char(raw: &str) -> bool {
    percent_decode_str(raw).any(|b| b.is_ascii_control())
}

/// The error for a control character in a request target.
pub fn refusal() -> ApiError {
    ApiError::BadRequest(MESSAGE.to_owned())
}

/// Middleware of the `/api/v1` scope: a control character in the decoded path or query is a
/// JSON 400 before any handler runs.
pub async fn reject_in_target(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let uri = req.uri();
    let bad =
        decoded_has_control_char(uri.path()) || uri.query().is_some_and(decoded_has_control_char);
    if bad {
        let response = JsonError(refusal()).error_response();
        return Ok(req.into_response(response));
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_boxed_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_encoded_and_plain_control_characters() {
        assert!(decoded_has_control_char("/a%00b"));
        assert!(decoded_has_control_char("q=%1F"));
        assert!(decoded_has_control_char("q=%7f"));
        assert!(!decoded_has_control_char("/a%20b/%C3%A9?q=x+y"));
        assert!(has_control_char("1\u{0}"));
        assert!(has_control_char("a\tb"));
        assert!(!has_control_char("ünïcode 1.0"));
    }
}
