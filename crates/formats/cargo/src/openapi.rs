//! The OpenAPI description of the Cargo routes (see the crate's documentation).

use utoipa::openapi::path::{HttpMethod, Parameter};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Paths, RefOr, Response};

use super::{
    CONFIG, DOWNLOAD, INDEX_1, INDEX_2, INDEX_3, INDEX_4, OWNERS, PUBLISH, SEARCH, UNYANK, YANK,
};
use packages_api::openapi::build::{self, Op};

const TAG: &str = "cargo";

fn owner() -> Parameter {
    build::path_param("owner", "user or organisation that owns the crates")
}

fn name() -> Parameter {
    build::path_param("name", "crate name (compared case-insensitively)")
}

fn version() -> Parameter {
    build::path_param("version", "version")
}

fn json(description: &str) -> Response {
    build::response(
        description,
        &[],
        Some((
            "application/json",
            RefOr::T(ObjectBuilder::new().schema_type(Type::Object).into()),
        )),
    )
}

fn error(description: &str) -> Response {
    json(&format!(
        "{description}: `{{\"errors\": [{{\"detail\": …}}]}}`"
    ))
}

/// Every route of [`super::ROUTES`].
pub fn paths() -> Paths {
    let mut paths = Paths::new();
    build::get_and_head(
        &mut paths,
        CONFIG.template,
        |id| {
            Op::new(
                id,
                "The index configuration: `dl`, `api`, `auth-required`",
                TAG,
                vec![owner()],
            )
            .response("200", json("the configuration"))
            .response(
                "401",
                error("a private owner without credentials; `WWW-Authenticate: Cargo login_url=…`"),
            )
        },
        "cargoConfig",
    );
    let index_templates = [
        (INDEX_1.template, "cargoIndex1", vec![owner(), name()]),
        (INDEX_2.template, "cargoIndex2", vec![owner(), name()]),
        (
            INDEX_3.template,
            "cargoIndex3",
            vec![
                owner(),
                build::path_param("first", "the name's first character"),
                name(),
            ],
        ),
        (
            INDEX_4.template,
            "cargoIndex",
            vec![
                owner(),
                build::path_param("first_two", "the name's first two characters"),
                build::path_param("second_two", "the name's third and fourth characters"),
                name(),
            ],
        ),
    ];
    for (template, id, params) in index_templates {
        build::get_and_head(
            &mut paths,
            template,
            |op| {
                let mut params = params.clone();
                params.push(build::header_param("If-None-Match", "an earlier `ETag`"));
                params.push(build::header_param(
                    "If-Modified-Since",
                    "an earlier `Last-Modified`",
                ));
                Op::new(
                    op,
                    "A crate's index file: one JSON line per version (paths lowercase)",
                    TAG,
                    params,
                )
                .response(
                    "200",
                    build::response(
                        "the lines",
                        &[("ETag", "changes with the file"), ("Last-Modified", "")],
                        Some(("text/plain", RefOr::T(build::string()))),
                    ),
                )
                .response("304", build::response("unchanged", &[], None))
                .response("404", error("no such crate"))
            },
            id,
        );
    }
    let publish = Op::new(
        "cargoPublish",
        "Publish a crate: u32 LE length, JSON metadata, u32 LE length, the .crate",
        TAG,
        vec![owner()],
    )
    .body("cargo's publish body", build::octets())
    .response("200", json("published: `{\"warnings\": …}`"))
    .response(
        "400",
        error("invalid name, version, metadata or a truncated body"),
    )
    .response(
        "409",
        error("the version exists (under any case of the name)"),
    )
    .response("413", error("the metadata is larger than 16 MiB"));
    build::add(
        &mut paths,
        PUBLISH.template,
        HttpMethod::Put,
        publish.build(),
    );

    build::get_and_head(
        &mut paths,
        SEARCH.template,
        |id| {
            Op::new(
                id,
                "Search the owner's crates by name",
                TAG,
                vec![
                    owner(),
                    build::query_param("q", "part of the name"),
                    build::query_param("page", "page, from 1"),
                    build::query_param("per_page", "results per page (10, at most 100)"),
                ],
            )
            .response(
                "200",
                json("`{\"crates\": [{name, max_version, description}], \"meta\": {\"total\"}}`"),
            )
        },
        "cargoSearch",
    );

    build::get_and_head(
        &mut paths,
        DOWNLOAD.template,
        |id| {
            let mut params = vec![owner(), name(), version()];
            params.extend(build::download_params());
            Op::new(id, "Download a .crate (yanked ones too)", TAG, params)
                .responses(build::download_responses())
        },
        "cargoDownload",
    );
    for (template, method, id, summary) in [
        (
            YANK.template,
            HttpMethod::Delete,
            "cargoYank",
            "Yank a version",
        ),
        (
            UNYANK.template,
            HttpMethod::Put,
            "cargoUnyank",
            "Undo a yank",
        ),
    ] {
        let op = Op::new(id, summary, TAG, vec![owner(), name(), version()])
            .response("200", json("`{\"ok\": true}`"))
            .response("404", error("no such version"));
        build::add(&mut paths, template, method, op.build());
    }
    build::get_and_head(
        &mut paths,
        OWNERS.template,
        |id| {
            Op::new(id, "The crate's owner", TAG, vec![owner(), name()])
                .response("200", json("`{\"users\": [{id, login, name}]}`"))
                .response("404", error("no such crate"))
        },
        "cargoOwners",
    );
    paths
}
