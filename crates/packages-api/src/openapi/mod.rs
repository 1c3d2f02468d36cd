//! `GET /api/openapi.json`: the OpenAPI 3.1 document of every route outside the web
//! interface, generated with utoipa from the code: the `#[utoipa::path]` annotations of the
//! handlers and the `ToSchema` derives of the JSON types they read and write, plus each
//! package format's description of the routes it dispatches itself
//! ([`crate::formats::Format::openapi`]). [`crate::routes::registered`] lists what the server
//! registers; the end-to-end tests check the document covers every entry and validates
//! against the OpenAPI 3.1 schema.

pub mod build;

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Response};
use utoipa::{Modify, OpenApi};

use crate::error::{ApiError, ErrorBody};
use crate::formats::Formats;
use crate::state::AppState;
use crate::{health, v1};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "forge-packages",
        description = "A Forgejo/Gitea-compatible package registry: the registry routes below \
            `/api/packages`, the Gitea-compatible management API below `/api/v1`, health and \
            metrics. Credentials: `Authorization: token …`, Bearer, Basic password or Basic \
            token."
    ),
    paths(
        health::healthz,
        serve,
        health::serve_metrics,
        v1::tokens::list,
        v1::tokens::create,
        v1::tokens::delete,
        v1::directory::version,
        v1::directory::api_settings,
        v1::directory::search_users,
        v1::directory::user,
        v1::directory::user_orgs,
        v1::users::current,
        v1::directory::my_orgs,
        v1::directory::admin_orgs,
        v1::directory::admin_users,
        v1::users::create,
        v1::users::edit,
        v1::users::delete,
        v1::directory::orgs,
        v1::orgs::create,
        v1::orgs::get,
        v1::orgs::edit,
        v1::orgs::delete,
        v1::directory::org_members,
        v1::teams::list,
        v1::teams::create,
        v1::teams::get,
        v1::teams::edit,
        v1::teams::delete,
        v1::teams::members,
        v1::teams::member,
        v1::teams::add_member,
        v1::teams::remove_member,
        v1::packages::list,
        v1::owner_settings::get,
        v1::owner_settings::edit,
        v1::cleanup_rules::list,
        v1::cleanup_rules::create,
        v1::cleanup_rules::get,
        v1::cleanup_rules::edit,
        v1::cleanup_rules::delete,
        v1::cleanup_rules::preview,
        v1::packages::list_package_versions,
        v1::packages::delete_package,
        v1::packages::latest,
        v1::packages::get_version,
        v1::packages::delete_version,
        v1::packages::files,
        v1::packages::create_link,
    ),
    components(schemas(
        ErrorBody,
        crate::upload::StoredFile,
    )),
    modifiers(&Conventions)
)]
struct ApiDoc;

/// What holds for many operations at once: the credentials every route accepts, the errors
/// every `/api/v1` route may answer, and the paging headers of paged listings.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`token <access token>`",
            ))),
        );
        let error = |description: &str| -> RefOr<Response> {
            RefOr::T(build::response(
                description,
                &[],
                Some((
                    "application/json",
                    RefOr::Ref(Ref::from_schema_name("ErrorBody")),
                )),
            ))
        };
        for (path, item) in doc.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                if path.starts_with("/api/v1/") {
                    let responses = &mut op.responses.responses;
                    for (status, about) in [
                        ("401", "credentials are invalid, or needed here"),
                        ("500", "internal server error (details are only logged)"),
                        ("503", "the database cannot serve now (`Retry-After`)"),
                    ] {
                        responses
                            .entry(status.to_owned())
                            .or_insert_with(|| error(about));
                    }
                }
                let paged = op.parameters.iter().flatten().any(|p| p.name == "page");
                if let (true, Some(RefOr::T(ok))) = (paged, op.responses.responses.get_mut("200")) {
                    for (name, about) in [
                        ("X-Total-Count", "number of entries on all pages"),
                        ("Link", "`next`, `prev`, `first` and `last` page URLs"),
                    ] {
                        let header = utoipa::openapi::header::HeaderBuilder::new()
                            .schema(build::string())
                            .description(Some(about))
                            .build();
                        ok.headers.insert(name.to_owned(), header);
                    }
                }
            }
        }
    }
}

/// The whole document: the annotated routes and every format's routes and schemas.
pub fn document(formats: &Formats) -> Document {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    for format in formats.iter() {
        doc.paths.merge(format.openapi());
        let components = doc.components.get_or_insert_with(Default::default);
        components.schemas.extend(format.openapi_schemas());
    }
    doc
}

/// `GET /api/openapi.json`: the document, rendered once per process. Public.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    operation_id = "openapi",
    tag = "miscellaneous",
    summary = "This document",
    responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn serve(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let json = match state.api_document.get() {
        Some(json) => json,
        None => {
            let rendered = document(&state.formats)
                .to_json()
                .map_err(ApiError::internal)?;
            state.api_document.get_or_init(|| rendered)
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(json.clone()))
}
