//! The OpenAPI description of the registry's routes below `/v2`.

use utoipa::openapi::path::{HttpMethod, Parameter};
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
use utoipa::openapi::{Paths, RefOr, Response, Schema};

use packages_api::openapi::build::{self, Op};

use crate::{BASE, BLOB, CATALOG, MANIFEST, REFERRERS, TAGS, TOKEN, UPLOAD, UPLOADS};

const TAG: &str = "container";

fn name() -> Parameter {
    build::path_param(
        "name",
        "repository: `{owner}/{image}`, the image possibly with further `/` segments",
    )
}

fn object(description: &str) -> RefOr<Schema> {
    RefOr::T(Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Object))
            .description(Some(description))
            .build(),
    ))
}

/// The registry's error envelope.
fn error(description: &str) -> Response {
    build::response(
        description,
        &[],
        Some((
            "application/json",
            RefOr::Ref(utoipa::openapi::Ref::from_schema_name("OciErrors")),
        )),
    )
}

fn errors() -> Vec<(&'static str, Response)> {
    vec![
        ("400", error("invalid name, tag, digest or manifest")),
        (
            "401",
            build::response(
                "credentials needed: `WWW-Authenticate` names the token endpoint",
                &[(
                    "WWW-Authenticate",
                    "`Bearer realm=\"…/v2/token\",service=\"container_registry\",scope=\"*\"`",
                )],
                Some((
                    "application/json",
                    RefOr::Ref(utoipa::openapi::Ref::from_schema_name("OciErrors")),
                )),
            ),
        ),
        ("403", error("the caller may not do this (`DENIED`)")),
        ("404", error("unknown repository, blob, manifest or upload")),
    ]
}

/// The schemas the paths refer to.
pub fn schemas() -> packages_api::formats::Schemas {
    vec![(
        "OciErrors".to_owned(),
        object(
            "`{\"errors\":[{\"code\",\"message\",\"detail\"}]}` with the distribution spec's codes",
        ),
    )]
}

fn op(id: &str, summary: &str, params: Vec<Parameter>) -> Op {
    Op::new(id, summary, TAG, params).responses(errors())
}

fn digest_param() -> Parameter {
    build::path_param("digest", "`sha256:` and 64 hex digits")
}

/// Every route of [`crate::ROUTES`].
pub fn paths() -> Paths {
    let mut paths = Paths::new();
    let json = |d: &str| Some(("application/json", object(d)));
    build::get_and_head(
        &mut paths,
        BASE.template,
        |id| {
            op(id, "API version check", Vec::new()).response(
                "200",
                build::response(
                    "the registry speaks the v2 API",
                    &[("Docker-Distribution-Api-Version", "`registry/2.0`")],
                    json("`{}`"),
                ),
            )
        },
        "containerBase",
    );
    build::get_and_head(
        &mut paths,
        TOKEN.template,
        |id| {
            let params = vec![
                build::query_param("service", "accepted and ignored"),
                build::query_param("scope", "accepted and ignored"),
            ];
            op(
                id,
                "Exchange Basic credentials (or none) for a bearer token",
                params,
            )
            .response(
                "200",
                build::response(
                    "the token",
                    &[],
                    json("`token`, `access_token`, `expires_in`, `issued_at`"),
                ),
            )
        },
        "containerToken",
    );
    let catalog = op(
        "containerCatalog",
        "Repositories the caller may see",
        vec![
            build::query_param("n", "page size"),
            build::query_param("last", "the last repository of the previous page"),
        ],
    )
    .response(
        "200",
        build::response(
            "one page",
            &[("Link", "the next page, when there is one")],
            json("`repositories`"),
        ),
    );
    build::add(
        &mut paths,
        CATALOG.template,
        HttpMethod::Get,
        catalog.build(),
    );
    let tags = op(
        "containerTags",
        "A repository's tags",
        vec![
            name(),
            build::query_param("n", "page size"),
            build::query_param("last", "the last tag of the previous page"),
        ],
    )
    .response(
        "200",
        build::response(
            "one page",
            &[("Link", "the next page, when there is one")],
            json("`name`, `tags`"),
        ),
    );
    build::add(&mut paths, TAGS.template, HttpMethod::Get, tags.build());

    let manifest_params = || vec![name(), build::path_param("reference", "a tag or a digest")];
    build::get_and_head(
        &mut paths,
        MANIFEST.template,
        |id| {
            op(id, "A manifest, as stored", manifest_params()).response(
                "200",
                build::response(
                    "the manifest, typed by its media type",
                    &[("Docker-Content-Digest", "its digest")],
                    json("the manifest"),
                ),
            )
        },
        "containerManifest",
    );
    let put = op("containerPutManifest", "Push a manifest", manifest_params())
        .body(
            "the manifest",
            (
                "application/vnd.oci.image.manifest.v1+json",
                object("a manifest or index"),
            ),
        )
        .response(
            "201",
            build::response(
                "stored",
                &[
                    ("Location", "the manifest by digest"),
                    ("Docker-Content-Digest", "its digest"),
                    (
                        "OCI-Subject",
                        "the subject's digest, when the manifest has one",
                    ),
                ],
                None,
            ),
        );
    build::add(&mut paths, MANIFEST.template, HttpMethod::Put, put.build());
    let delete = op(
        "containerDeleteManifest",
        "Delete a tag, or a manifest by digest",
        manifest_params(),
    )
    .response("202", build::response("deleted", &[], None));
    build::add(
        &mut paths,
        MANIFEST.template,
        HttpMethod::Delete,
        delete.build(),
    );

    build::get_and_head(
        &mut paths,
        BLOB.template,
        |id| {
            let mut params = vec![name(), digest_param()];
            params.extend(build::download_params());
            op(id, "A blob", params).responses(build::download_responses())
        },
        "containerBlob",
    );
    let delete = op(
        "containerDeleteBlob",
        "Remove a blob from the repository",
        vec![name(), digest_param()],
    )
    .response("202", build::response("removed", &[], None));
    build::add(
        &mut paths,
        BLOB.template,
        HttpMethod::Delete,
        delete.build(),
    );

    let session_headers: &[(&str, &str)] = &[
        ("Location", "the upload's URL"),
        ("Range", "`0-{last byte received}`"),
        ("Docker-Upload-UUID", "the upload's id"),
    ];
    let start = op(
        "containerStartUpload",
        "Start a blob upload, upload a whole blob (`digest`), or mount one (`mount`, `from`)",
        vec![
            name(),
            build::query_param("digest", "the whole blob is the body"),
            build::query_param("mount", "digest of a blob to take from another repository"),
            build::query_param("from", "the repository to mount from"),
        ],
    )
    .body("the blob, with `digest`", build::octets())
    .response(
        "201",
        build::response(
            "the blob is in the repository",
            &[
                ("Location", "the blob"),
                ("Docker-Content-Digest", "its digest"),
            ],
            None,
        ),
    )
    .response(
        "202",
        build::response("an upload session", session_headers, None),
    );
    build::add(
        &mut paths,
        UPLOADS.template,
        HttpMethod::Post,
        start.build(),
    );

    let session = || vec![name(), build::path_param("uuid", "the upload's id")];
    let status = op("containerUploadStatus", "Where an upload stands", session()).response(
        "204",
        build::response("the upload's state", session_headers, None),
    );
    build::add(&mut paths, UPLOAD.template, HttpMethod::Get, status.build());
    let mut patch_params = session();
    patch_params.push(build::header_param(
        "Content-Range",
        "`{start}-{end}` of a chunk; start must be the upload's offset",
    ));
    let patch = op(
        "containerUploadChunk",
        "Append a chunk (or stream the rest)",
        patch_params,
    )
    .body("the chunk", build::octets())
    .response("202", build::response("appended", session_headers, None))
    .response(
        "416",
        error("the chunk does not start at the upload's offset"),
    );
    build::add(
        &mut paths,
        UPLOAD.template,
        HttpMethod::Patch,
        patch.build(),
    );
    let mut put_params = session();
    put_params.push(build::query_param("digest", "the blob's digest"));
    let put = op(
        "containerFinishUpload",
        "Complete an upload, with a last chunk or none",
        put_params,
    )
    .body("the last chunk", build::octets())
    .response(
        "201",
        build::response(
            "the blob is in the repository",
            &[
                ("Location", "the blob"),
                ("Docker-Content-Digest", "its digest"),
            ],
            None,
        ),
    );
    build::add(&mut paths, UPLOAD.template, HttpMethod::Put, put.build());
    let cancel = op("containerCancelUpload", "Abandon an upload", session())
        .response("204", build::response("abandoned", &[], None));
    build::add(
        &mut paths,
        UPLOAD.template,
        HttpMethod::Delete,
        cancel.build(),
    );

    let referrers = op(
        "containerReferrers",
        "Manifests whose subject is the digest",
        vec![
            name(),
            digest_param(),
            build::query_param("artifactType", "only referrers of this artifact type"),
        ],
    )
    .response(
        "200",
        build::response(
            "an image index of the referrers",
            &[("OCI-Filters-Applied", "`artifactType` when filtered")],
            Some((
                "application/vnd.oci.image.index.v1+json",
                object("an image index"),
            )),
        ),
    );
    build::add(
        &mut paths,
        REFERRERS.template,
        HttpMethod::Get,
        referrers.build(),
    );
    paths
}
