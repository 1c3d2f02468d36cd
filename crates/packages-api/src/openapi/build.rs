//! Small builders for the parts of the document that no handler annotation describes: the
//! routes a package format dispatches itself below `/api/packages`.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::{
    ContentBuilder, ObjectBuilder, Paths, Ref, RefOr, Required, Response, ResponseBuilder, Schema,
    Type,
};

/// A string schema.
pub fn string() -> Schema {
    ObjectBuilder::new().schema_type(Type::String).into()
}

/// A required path parameter.
pub fn path_param(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(string()))
        .build()
}

/// An optional request header.
pub fn header_param(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(string()))
        .build()
}

/// An optional query parameter.
pub fn query_param(name: &str, description: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(string()))
        .build()
}

/// A response: its description, response headers (name, description) and, when `media` is
/// given, a body of that media type with the given schema.
pub fn response(
    description: &str,
    headers: &[(&str, &str)],
    media: Option<(&str, RefOr<Schema>)>,
) -> Response {
    let mut builder = ResponseBuilder::new().description(description);
    for (name, about) in headers {
        builder = builder.header(
            *name,
            HeaderBuilder::new()
                .schema(string())
                .description(Some(*about))
                .build(),
        );
    }
    if let Some((media_type, schema)) = media {
        builder = builder.content(
            media_type,
            ContentBuilder::new().schema(Some(schema)).build(),
        );
    }
    builder.build()
}

/// An error of the registry routes: a short plain-text message.
pub fn text_error(description: &str) -> Response {
    response(description, &[], Some(("text/plain", RefOr::T(string()))))
}

/// A JSON body described by a schema of the document's components.
pub fn json_ref(name: &str) -> Option<(&'static str, RefOr<Schema>)> {
    Some(("application/json", RefOr::Ref(Ref::from_schema_name(name))))
}

/// A binary body.
pub fn octets() -> (&'static str, RefOr<Schema>) {
    (
        "application/octet-stream",
        RefOr::T(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .content_media_type("application/octet-stream")
                .into(),
        ),
    )
}

/// Errors every registry route can answer besides its own.
pub fn common_errors() -> Vec<(&'static str, Response)> {
    vec![
        (
            "401",
            response(
                "credentials are invalid, or needed for this owner",
                &[("WWW-Authenticate", "`Basic realm=\"Gitea Package API\"`")],
                Some(("text/plain", RefOr::T(string()))),
            ),
        ),
        ("403", text_error("the caller may not do this here")),
        ("404", text_error("no such owner, package, version or file")),
        (
            "500",
            text_error("internal server error (details are only logged)"),
        ),
        (
            "503",
            response(
                "the database or the package storage cannot serve now",
                &[("Retry-After", "seconds to wait")],
                Some(("text/plain", RefOr::T(string()))),
            ),
        ),
    ]
}

/// One operation of a dispatched route.
pub struct Op {
    builder: OperationBuilder,
}

impl Op {
    /// An operation with a unique id, a summary, the given parameters and the common errors.
    pub fn new(id: &str, summary: &str, tag: &str, params: Vec<Parameter>) -> Op {
        let mut builder = OperationBuilder::new()
            .operation_id(Some(id))
            .summary(Some(summary))
            .tag(tag)
            .parameters(Some(params));
        for (status, r) in common_errors() {
            builder = builder.response(status, r);
        }
        Op { builder }
    }

    pub fn response(mut self, status: &str, response: Response) -> Op {
        self.builder = self.builder.response(status, response);
        self
    }

    pub fn responses(mut self, responses: Vec<(&str, Response)>) -> Op {
        for (status, r) in responses {
            self.builder = self.builder.response(status, r);
        }
        self
    }

    /// A request body of this media type and schema.
    pub fn body(mut self, description: &str, media: (&str, RefOr<Schema>)) -> Op {
        self.builder = self.builder.request_body(Some(
            RequestBodyBuilder::new()
                .description(Some(description))
                .content(media.0, ContentBuilder::new().schema(Some(media.1)).build())
                .required(Some(Required::True))
                .build(),
        ));
        self
    }

    pub fn build(self) -> Operation {
        self.builder.build()
    }
}

/// Adds a GET and a HEAD operation made by `op` (their ids: `id` + `Get` / `Head`).
pub fn get_and_head(paths: &mut Paths, template: &str, op: impl Fn(&str) -> Op, id: &str) {
    add(
        paths,
        template,
        HttpMethod::Get,
        op(&format!("{id}Get")).build(),
    );
    add(
        paths,
        template,
        HttpMethod::Head,
        op(&format!("{id}Head")).build(),
    );
}

/// Adds an operation to `paths`.
pub fn add(paths: &mut Paths, template: &str, method: HttpMethod, op: Operation) {
    paths.add_path_operation(template, vec![method], op);
}

/// The request headers a download takes (`crate::serve::plan`).
pub fn download_params() -> Vec<Parameter> {
    vec![
        header_param(
            "Range",
            "`bytes=first-last`, `bytes=first-` or `bytes=-suffix` (one range)",
        ),
        header_param(
            "If-Range",
            "entity tag or date: the range only while the file is unchanged",
        ),
        header_param(
            "If-None-Match",
            "entity tags: 304 when one matches (weak comparison)",
        ),
        header_param(
            "If-Modified-Since",
            "HTTP date: 304 when not modified since",
        ),
        header_param(
            "If-Match",
            "entity tags: 412 unless one matches (strong comparison)",
        ),
        header_param("If-Unmodified-Since", "HTTP date: 412 when modified since"),
        header_param(
            "Want-Repr-Digest",
            "preferred `Repr-Digest` algorithms (RFC 9530)",
        ),
    ]
}

/// The headers of a download's answer.
const DOWNLOAD_HEADERS: &[(&str, &str)] = &[
    (
        "ETag",
        "strong entity tag: the quoted SHA-256 of the content",
    ),
    ("Last-Modified", "when the file was stored"),
    ("Accept-Ranges", "`bytes`"),
    ("X-Checksum-Sha256", "SHA-256 of the whole file, hex"),
    (
        "Repr-Digest",
        "RFC 9530 digests of the whole file (sha-256, sha-512)",
    ),
    (
        "Content-Disposition",
        "`attachment` with the file name, plain and RFC 8187",
    ),
    ("Cache-Control", "`private, max-age=300`"),
];

/// What a download answers (`crate::files::download`, `crate::serve::respond`).
pub fn download_responses() -> Vec<(&'static str, Response)> {
    let mut partial: Vec<(&str, &str)> = DOWNLOAD_HEADERS.to_vec();
    partial.push(("Content-Range", "`bytes first-last/size`"));
    vec![
        (
            "200",
            response(
                "the file (headers only for HEAD)",
                DOWNLOAD_HEADERS,
                Some(octets()),
            ),
        ),
        (
            "206",
            response("the requested range", &partial, Some(octets())),
        ),
        (
            "304",
            response("not modified", &[("ETag", "entity tag")], None),
        ),
        (
            "307",
            response(
                "the file at a short-lived presigned URL of the object store",
                &[
                    ("Location", "presigned URL"),
                    ("Cache-Control", "`no-store`"),
                ],
                None,
            ),
        ),
        (
            "412",
            response("a precondition failed", &[("ETag", "entity tag")], None),
        ),
        (
            "416",
            response(
                "range not satisfiable",
                &[("Content-Range", "`bytes */size`")],
                None,
            ),
        ),
    ]
}

/// The request headers of an upload (`crate::upload`, `crate::write_mode`).
pub fn upload_params() -> Vec<Parameter> {
    vec![
        header_param(
            "Content-Length",
            "size of the file; without it the body is streamed",
        ),
        header_param(
            "Expect",
            "`100-continue`: refusals are answered before the body",
        ),
        header_param(
            "X-Checksum-Sha256",
            "expected SHA-256 (hex); 400 when the body differs",
        ),
        header_param("X-Checksum-Sha1", "expected SHA-1 (hex)"),
        header_param("X-Checksum-Md5", "expected MD5 (hex)"),
        header_param("Content-Digest", "RFC 9530 digests the body must have"),
        header_param("Repr-Digest", "RFC 9530 digests the file must have"),
        header_param(
            "If-None-Match",
            "`*`: create only (412 when the file exists)",
        ),
        header_param(
            "If-Match",
            "entity tag of the current file, or `*`: replace it (412 when stale or missing)",
        ),
    ]
}

/// What an upload answers besides the common errors (`crate::upload::created`,
/// `crate::error`).
pub fn upload_responses() -> Vec<(&'static str, Response)> {
    let stored = Some((
        "application/json",
        RefOr::Ref(Ref::from_schema_name("StoredFile")),
    ));
    let location = [("Location", "the file's download URL")];
    vec![
        ("201", response("stored", &location, stored.clone())),
        (
            "200",
            response("replaced (with `If-Match`)", &location, stored),
        ),
        (
            "400",
            text_error("bad name, version, file name, digest or body"),
        ),
        ("408", text_error("the body stopped arriving")),
        ("409", text_error("the file exists")),
        (
            "412",
            text_error("the `If-Match` / `If-None-Match` precondition does not hold"),
        ),
        (
            "413",
            text_error("the file is larger than the limit of the format or storage"),
        ),
        ("507", text_error("the storage is full")),
    ]
}

/// A delete's answer.
pub fn deleted() -> Vec<(&'static str, Response)> {
    vec![("204", response("deleted", &[], None))]
}
