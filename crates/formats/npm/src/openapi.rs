//! The OpenAPI description of the npm routes (see the crate's documentation).

use utoipa::openapi::path::{HttpMethod, Parameter};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Paths, RefOr, Response};

use super::{
    DIST_TAG, DIST_TAGS, PACKAGE, PING, REVISION, SEARCH, TARBALL, TARBALL_BY_NAME,
    TARBALL_REVISION, WHOAMI,
};
use crate::packument::ABBREVIATED;
use packages_api::openapi::build::{self, Op};

const TAG: &str = "npm";

fn owner() -> Parameter {
    build::path_param("owner", "user or organisation that owns the packages")
}

fn id() -> Parameter {
    build::path_param(
        "id",
        "package name; a scoped one as `@scope%2fname` (`%2F` and a literal `/` work too)",
    )
}

fn rev() -> Parameter {
    build::path_param("rev", "revision npm read before (any value is accepted)")
}

fn json() -> RefOr<utoipa::openapi::schema::Schema> {
    RefOr::T(ObjectBuilder::new().schema_type(Type::Object).into())
}

fn json_response(description: &str) -> Response {
    build::response(description, &[], Some(("application/json", json())))
}

fn ok() -> Response {
    json_response("done: `{\"ok\":true}`")
}

fn missing(what: &str) -> (&'static str, Response) {
    ("404", build::text_error(what))
}

/// Every route of [`super::ROUTES`].
pub fn paths() -> Paths {
    let mut paths = Paths::new();
    build::get_and_head(
        &mut paths,
        PACKAGE.template,
        |op| {
            Op::new(
                op,
                "The packument: every version with its manifest, dist-tags and times",
                TAG,
                vec![
                    owner(),
                    id(),
                    build::header_param(
                        "Accept",
                        &format!("`{ABBREVIATED}` for the abbreviated form installs use"),
                    ),
                    build::header_param("If-None-Match", "an earlier `ETag`: 304 when unchanged"),
                    build::query_param("write", "`true`: the full form, to edit and send back"),
                ],
            )
            .response(
                "200",
                build::response(
                    "the packument (headers only for HEAD)",
                    &[("ETag", "changes with the document")],
                    Some(("application/json", json())),
                ),
            )
            .response(
                "304",
                build::response("unchanged since the ETag", &[], None),
            )
            .responses(vec![missing("no such package")])
        },
        "npmPackument",
    );
    let publish = Op::new(
        "npmPublish",
        "Publish a version (the tarball base64 in `_attachments`), or, without a tarball, \
         change the versions' `deprecated` messages",
        TAG,
        vec![owner(), id()],
    )
    .body(
        "npm's publish document: `name`, `versions` with one manifest and its `dist.integrity` \
         and `dist.shasum`, `dist-tags`, `_attachments`",
        ("application/json", json()),
    )
    .response("201", json_response("published"))
    .response("200", json_response("deprecation messages changed"))
    .response(
        "400",
        build::text_error(
            "bad name, version, dist-tag or JSON; digests that do not match the tarball; a new \
             package without a tarball",
        ),
    )
    .response("409", build::text_error("the version exists"))
    .response(
        "413",
        build::text_error("the metadata is larger than 16 MiB"),
    );
    build::add(
        &mut paths,
        PACKAGE.template,
        HttpMethod::Put,
        publish.build(),
    );

    let edit = Op::new(
        "npmRevisionEdit",
        "npm's edit before it removes a version: accepted, changes nothing",
        TAG,
        vec![owner(), id(), rev()],
    )
    .response("200", ok());
    build::add(&mut paths, REVISION.template, HttpMethod::Put, edit.build());
    let remove = Op::new(
        "npmUnpublishPackage",
        "Remove the package with every version",
        TAG,
        vec![owner(), id(), rev()],
    )
    .response("200", ok())
    .responses(vec![missing("no such package")]);
    build::add(
        &mut paths,
        REVISION.template,
        HttpMethod::Delete,
        remove.build(),
    );

    let download = |op: &str, template: &str, with_version: bool| {
        let mut params = vec![owner(), id()];
        if with_version {
            params.push(build::path_param("version", "version"));
        }
        params.push(build::path_param(
            "file",
            "tarball name, `{name}-{version}.tgz`",
        ));
        params.extend(build::download_params());
        let summary = if with_version {
            "Download a tarball (the URL `dist.tarball` names)"
        } else {
            "Download a tarball by its file name (older lockfiles)"
        };
        let mut paths = Paths::new();
        build::get_and_head(
            &mut paths,
            template,
            |id| Op::new(id, summary, TAG, params.clone()).responses(build::download_responses()),
            op,
        );
        paths
    };
    paths
        .paths
        .extend(download("npmTarball", TARBALL.template, true).paths);
    paths
        .paths
        .extend(download("npmTarballByName", TARBALL_BY_NAME.template, false).paths);

    let unpublish = Op::new(
        "npmUnpublishVersion",
        "Remove the version the tarball belongs to",
        TAG,
        vec![
            owner(),
            id(),
            build::path_param("version", "version"),
            build::path_param("file", "tarball name"),
            rev(),
        ],
    )
    .response("200", ok())
    .responses(vec![missing("no such version")]);
    build::add(
        &mut paths,
        TARBALL_REVISION.template,
        HttpMethod::Delete,
        unpublish.build(),
    );

    let list = Op::new(
        "npmDistTags",
        "The package's dist-tags (always with `latest`)",
        TAG,
        vec![owner(), id()],
    )
    .response("200", json_response("tag to version"))
    .responses(vec![missing("no such package")]);
    build::add(
        &mut paths,
        DIST_TAGS.template,
        HttpMethod::Get,
        list.build(),
    );
    let tag = || build::path_param("tag", "dist-tag; one that reads as a version is refused");
    let set = Op::new(
        "npmDistTagSet",
        "Point a dist-tag at a version",
        TAG,
        vec![owner(), id(), tag()],
    )
    .body(
        "the version, as a JSON string",
        ("application/json", RefOr::T(build::string())),
    )
    .response("200", ok())
    .response("400", build::text_error("bad tag or body"))
    .responses(vec![missing("no such package or version")]);
    build::add(&mut paths, DIST_TAG.template, HttpMethod::Put, set.build());
    let unset = Op::new(
        "npmDistTagRemove",
        "Remove a dist-tag (200 when it was not set)",
        TAG,
        vec![owner(), id(), tag()],
    )
    .response("200", ok())
    .response("400", build::text_error("bad tag"));
    build::add(
        &mut paths,
        DIST_TAG.template,
        HttpMethod::Delete,
        unset.build(),
    );

    let search = Op::new(
        "npmSearch",
        "Search the owner's packages by name",
        TAG,
        vec![
            owner(),
            build::query_param("text", "part of the name"),
            build::query_param("from", "how many hits to skip (0)"),
            build::query_param("size", "hits per page (20, at most 250)"),
        ],
    )
    .response(
        "200",
        json_response("`objects` (each a `package` with its newest version) and `total`"),
    )
    .response("400", build::text_error("from or size is not a number"));
    build::add(&mut paths, SEARCH.template, HttpMethod::Get, search.build());

    let whoami = Op::new("npmWhoami", "The signed-in user's name", TAG, vec![owner()])
        .response("200", json_response("`{\"username\": …}`"));
    build::add(&mut paths, WHOAMI.template, HttpMethod::Get, whoami.build());
    let ping = Op::new("npmPing", "npm's reachability check", TAG, vec![owner()])
        .response("200", json_response("`{}`"));
    build::add(&mut paths, PING.template, HttpMethod::Get, ping.build());
    paths
}
