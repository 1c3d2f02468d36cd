//! The OpenAPI description of the resumable upload routes: the creation and `OPTIONS` on a
//! file's URL, and the upload's own URL.

use utoipa::openapi::path::{HttpMethod, Parameter};
use utoipa::openapi::{Paths, RefOr};

use super::headers::{OFFSET_OCTET_STREAM, TUS_VERSION};
use crate::{FILE, UPLOAD};
use packages_api::openapi::build::{self, Op};

const TAG: &str = "generic";

fn tus_param() -> Parameter {
    build::header_param(
        "Tus-Resumable",
        "`1.0.0`, the protocol version; required (412 with `Tus-Version` for another)",
    )
}

fn bytes() -> (&'static str, RefOr<utoipa::openapi::Schema>) {
    (OFFSET_OCTET_STREAM, build::octets().1)
}

fn with_tus(description: &str, headers: &[(&str, &str)]) -> utoipa::openapi::Response {
    let mut all = vec![("Tus-Resumable", "`1.0.0`")];
    all.extend_from_slice(headers);
    build::response(description, &all, None)
}

fn options(id: &str, params: Vec<Parameter>) -> Op {
    Op::new(id, "What the resumable upload protocol offers", TAG, params).response(
        "204",
        build::response(
            "the protocol's capabilities",
            &[
                ("Tus-Version", TUS_VERSION),
                ("Tus-Extension", super::headers::EXTENSIONS),
                ("Tus-Max-Size", "the largest generic file, when limited"),
                (
                    "Tus-Checksum-Algorithm",
                    super::headers::CHECKSUM_ALGORITHMS,
                ),
            ],
            None,
        ),
    )
}

/// Adds the resumable upload operations; `file_params` are the path parameters of a file.
pub fn add(paths: &mut Paths, file_params: &[Parameter]) {
    let wrong_version = (
        "412",
        with_tus("another protocol version", &[("Tus-Version", TUS_VERSION)]),
    );
    let gone = ("410", build::text_error("the upload expired"));

    let mut params = file_params.to_vec();
    params.extend([
        tus_param(),
        build::header_param("Upload-Length", "the file's size in bytes; required"),
        build::header_param(
            "Upload-Metadata",
            "`key base64value` pairs, comma-separated",
        ),
        build::header_param(
            "Upload-Checksum",
            "`md5|sha1|sha256 <base64>` of the body, if any",
        ),
    ]);
    let create = Op::new(
        "genericResumableCreate",
        "Start a resumable upload of a file (tus creation, creation-with-upload)",
        TAG,
        params,
    )
    .body("optional: the first bytes of the file", bytes())
    .response(
        "201",
        with_tus(
            "the upload was created (and the body appended)",
            &[
                ("Location", "the upload's URL"),
                ("Upload-Offset", "bytes received"),
                ("Upload-Expires", "when an unfinished upload is removed"),
            ],
        ),
    )
    .response(
        "400",
        build::text_error("invalid name, version, file name or header"),
    )
    .response("405", build::text_error("a POST without `Tus-Resumable`"))
    .response("409", build::text_error("the file exists"))
    .response(wrong_version.0, wrong_version.1.clone())
    .response(
        "413",
        build::text_error("larger than the generic size limit"),
    )
    .response("415", build::text_error("a body of another media type"));
    build::add(paths, FILE.template, HttpMethod::Post, create.build());
    build::add(
        paths,
        FILE.template,
        HttpMethod::Options,
        options("genericResumableOptions", file_params.to_vec()).build(),
    );

    let upload_params = || {
        vec![
            build::path_param("owner", "user or organisation that owns the package"),
            build::path_param("id", "the upload's id (from the creation's `Location`)"),
            tus_param(),
        ]
    };
    let offset = Op::new(
        "genericResumableOffset",
        "How far a resumable upload got",
        TAG,
        upload_params(),
    )
    .response(
        "200",
        with_tus(
            "the upload's state",
            &[
                ("Upload-Offset", "bytes received"),
                ("Upload-Length", "the file's size"),
                ("Upload-Expires", "when an unfinished upload is removed"),
                ("Upload-Metadata", "as sent at creation"),
                ("Cache-Control", "`no-store`"),
            ],
        ),
    )
    .response(gone.0, gone.1.clone())
    .response(wrong_version.0, wrong_version.1.clone());
    build::add(paths, UPLOAD.template, HttpMethod::Head, offset.build());

    let mut append_params = upload_params();
    append_params.extend([
        build::header_param("Upload-Offset", "the upload's current offset; required"),
        build::header_param("Upload-Checksum", "`md5|sha1|sha256 <base64>` of the body"),
    ]);
    let append = Op::new(
        "genericResumableAppend",
        "Append to a resumable upload; the last byte publishes the file",
        TAG,
        append_params,
    )
    .body("the next bytes of the file", bytes())
    .response(
        "204",
        with_tus(
            "appended",
            &[
                ("Upload-Offset", "bytes received"),
                ("Upload-Expires", "while the upload is unfinished"),
            ],
        ),
    )
    .response("400", build::text_error("a missing or malformed header"))
    .response(
        "409",
        build::text_error("not the upload's offset, or the file appeared meanwhile"),
    )
    .response(gone.0, gone.1.clone())
    .response(wrong_version.0, wrong_version.1.clone())
    .response(
        "413",
        build::text_error("the body goes past `Upload-Length`"),
    )
    .response(
        "415",
        build::text_error("not `application/offset+octet-stream`"),
    )
    .response(
        "423",
        build::text_error("another request is writing to the upload"),
    )
    .response(
        "460",
        build::text_error("the body does not have its `Upload-Checksum`; it was discarded"),
    );
    build::add(paths, UPLOAD.template, HttpMethod::Patch, append.build());

    let terminate = Op::new(
        "genericResumableTerminate",
        "Abandon a resumable upload and its bytes",
        TAG,
        upload_params(),
    )
    .response("204", with_tus("removed", &[]))
    .response(wrong_version.0, wrong_version.1)
    .response(
        "423",
        build::text_error("another request is writing to the upload"),
    );
    build::add(
        paths,
        UPLOAD.template,
        HttpMethod::Delete,
        terminate.build(),
    );

    let mut params = upload_params();
    params.pop();
    build::add(
        paths,
        UPLOAD.template,
        HttpMethod::Options,
        options("genericResumableUploadOptions", params).build(),
    );
}
