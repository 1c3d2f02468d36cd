//! The OpenAPI description of the generic format's routes (see the module above for what
//! each does); their shared parts (downloads, uploads, errors) come from
//! [`packages_api::openapi::build`].

use utoipa::openapi::path::{HttpMethod, Parameter};
use utoipa::openapi::{Paths, RefOr};

use super::{FILE, LATEST, LATEST_FILE, SUMS, VERSION};
use packages_api::openapi::build::{self, Op};

const TAG: &str = "generic";

fn params(names: &[&str]) -> Vec<Parameter> {
    names
        .iter()
        .map(|name| {
            let about = match *name {
                "owner" => "user or organisation that owns the package",
                "name" => "package name",
                "version" => "version",
                _ => "file name",
            };
            build::path_param(name, about)
        })
        .collect()
}

/// A generated document: 200 with it and its `ETag`, 304 on a matching `If-None-Match`.
fn document(
    id: &str,
    summary: &str,
    names: &[&str],
    media: Option<(&str, RefOr<utoipa::openapi::Schema>)>,
) -> Op {
    let mut params = params(names);
    params.push(build::header_param(
        "If-None-Match",
        "entity tag of a copy the client holds: 304 when still current",
    ));
    let headers = [
        ("ETag", "strong entity tag of the document"),
        ("Cache-Control", "`private, no-cache`"),
    ];
    Op::new(id, summary, TAG, params)
        .response(
            "200",
            build::response("the document (headers only for HEAD)", &headers, media),
        )
        .response(
            "304",
            build::response("not modified", &[("ETag", "entity tag")], None),
        )
}

/// Every route of [`super::ROUTES`].
pub fn paths() -> Paths {
    let mut paths = Paths::new();
    let file = ["owner", "name", "version", "file"];
    let version = ["owner", "name", "version"];

    let mut upload_params = params(&file);
    upload_params.extend(build::upload_params());
    let upload = Op::new("genericUpload", "Upload a file", TAG, upload_params)
        .body("the file's content", build::octets())
        .responses(build::upload_responses());
    build::add(&mut paths, FILE.template, HttpMethod::Put, upload.build());

    build::get_and_head(
        &mut paths,
        FILE.template,
        |id| {
            let mut p = params(&file);
            p.extend(build::download_params());
            p.push(build::query_param(
                packages_api::links::LINK_QUERY,
                "a signed download link's token: the file without credentials while it is valid",
            ));
            Op::new(id, "Download a file", TAG, p).responses(build::download_responses())
        },
        "genericDownload",
    );
    let delete = Op::new(
        "genericDeleteFile",
        "Delete a file (the version goes with its last file)",
        TAG,
        params(&file),
    )
    .responses(build::deleted());
    build::add(
        &mut paths,
        FILE.template,
        HttpMethod::Delete,
        delete.build(),
    );

    build::get_and_head(
        &mut paths,
        VERSION.template,
        |id| {
            document(
                id,
                "A version's manifest",
                &version,
                build::json_ref("Manifest"),
            )
        },
        "genericManifest",
    );
    let delete = Op::new(
        "genericDeleteVersion",
        "Delete a version with all its files",
        TAG,
        params(&version),
    )
    .responses(build::deleted());
    build::add(
        &mut paths,
        VERSION.template,
        HttpMethod::Delete,
        delete.build(),
    );

    build::get_and_head(
        &mut paths,
        SUMS.template,
        |id| {
            document(
                id,
                "A version's checksums, for `sha256sum -c`",
                &version,
                Some(("text/plain", RefOr::T(build::string()))),
            )
        },
        "genericSha256sums",
    );
    build::get_and_head(
        &mut paths,
        LATEST.template,
        |id| {
            document(
                id,
                "The newest version's manifest",
                &["owner", "name"],
                build::json_ref("Manifest"),
            )
        },
        "genericLatest",
    );
    build::get_and_head(
        &mut paths,
        LATEST_FILE.template,
        |id| {
            Op::new(
                id,
                "A file of the newest version",
                TAG,
                params(&["owner", "name", "file"]),
            )
            .response(
                "302",
                build::response(
                    "the file in the newest version",
                    &[
                        ("Location", "the file's download URL"),
                        ("Cache-Control", "`no-cache`"),
                    ],
                    None,
                ),
            )
        },
        "genericLatestFile",
    );
    super::tus::openapi::add(&mut paths, &params(&file));
    paths
}
