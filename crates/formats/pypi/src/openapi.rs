//! The OpenAPI description of the PyPI routes (see the module above).

use utoipa::openapi::path::{HttpMethod, Parameter};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, Paths, RefOr, ResponseBuilder};

use super::{FILE, JSON_TYPE, PROJECT, PROJECTS, UPLOAD};
use packages_api::openapi::build::{self, Op};

const TAG: &str = "pypi";

fn owner() -> Parameter {
    build::path_param("owner", "user or organisation that owns the packages")
}

/// An index page: PEP 503 HTML, or PEP 691 JSON when `Accept` asks for it.
fn index(id: &str, summary: &str, params: Vec<Parameter>) -> Op {
    let mut params = params;
    params.push(build::header_param(
        "Accept",
        "`application/vnd.pypi.simple.v1+json` for PEP 691 JSON; HTML otherwise",
    ));
    let any = || RefOr::T(build::string());
    let json = RefOr::T(ObjectBuilder::new().schema_type(Type::Object).into());
    let page = ResponseBuilder::new()
        .description("the index (headers only for HEAD)")
        .content(
            "text/html",
            ContentBuilder::new().schema(Some(any())).build(),
        )
        .content(JSON_TYPE, ContentBuilder::new().schema(Some(json)).build())
        .build();
    Op::new(id, summary, TAG, params)
        .response("200", page)
        .response(
            "406",
            build::text_error("no representation the client accepts"),
        )
}

/// Every route of [`super::ROUTES`].
pub fn paths() -> Paths {
    let mut paths = Paths::new();
    let form = RefOr::T(ObjectBuilder::new().schema_type(Type::Object).into());
    let mut upload_params = vec![owner()];
    upload_params.push(build::header_param(
        "Expect",
        "`100-continue`: refusals are answered before the body",
    ));
    let upload = Op::new(
        "pypiUpload",
        "Upload a distribution (the legacy upload form twine and uv send)",
        TAG,
        upload_params,
    )
    .body(
        "`:action=file_upload`, `name`, `version`, `content` (the file), digests and metadata",
        ("multipart/form-data", form),
    )
    .response("201", build::response("stored", &[], None))
    .response(
        "400",
        build::text_error("bad form, name, version, file name or digest"),
    )
    .response("409", build::text_error("the file exists"))
    .response(
        "413",
        build::text_error("the file is larger than the limit"),
    )
    .response("507", build::text_error("the storage is full"));
    build::add(
        &mut paths,
        UPLOAD.template,
        HttpMethod::Post,
        upload.build(),
    );

    build::get_and_head(
        &mut paths,
        PROJECTS.template,
        |id| {
            index(
                id,
                "The owner's projects (PEP 503 / PEP 691)",
                vec![owner()],
            )
        },
        "pypiProjects",
    );
    build::get_and_head(
        &mut paths,
        PROJECT.template,
        |id| {
            index(
                id,
                "A project's files, with PEP 658 core metadata announced for wheels",
                vec![
                    owner(),
                    build::path_param("name", "project name (PEP 503 normalised or not)"),
                ],
            )
        },
        "pypiProject",
    );
    build::get_and_head(
        &mut paths,
        FILE.template,
        |id| {
            let mut params = vec![
                owner(),
                build::path_param("name", "project name"),
                build::path_param("version", "version"),
                build::path_param(
                    "file",
                    "file name; `{wheel}.metadata` answers the wheel's core metadata as text",
                ),
            ];
            params.extend(build::download_params());
            Op::new(
                id,
                "Download a distribution, or a wheel's core metadata",
                TAG,
                params,
            )
            .responses(build::download_responses())
        },
        "pypiDownload",
    );
    paths
}
