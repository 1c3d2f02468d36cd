//! A format built only for the tests, registered by the harness when it starts a server: one
//! file per version, to show that a format needs nothing but the seam. No production build
//! contains it.
//!
//! Routes (below `/api/packages/{owner}/single/`): `PUT {name}/{version}` stores the body
//! (201; a second upload of the version is a 409), `GET`/`HEAD {name}/{version}` serves it,
//! `DELETE {name}/{version}` removes the version. Names compare with `_` and `-` alike;
//! the `X-Single-Note` header of the upload is kept as a version property, and the version's
//! metadata records the announced length.

use actix_web::http::header::HeaderMap;
use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::Credentials;
use futures_util::future::LocalBoxFuture;
use packages_core::{lower, AccessMode, FormatRules, PackageType};
use packages_db::{FileDetails, NewProperty, PropertyOf};

use packages_api::auth::credentials_or_bare_token;
use packages_api::blocking;
use packages_api::body::RequestBody;
use packages_api::error::{ApiError, ApiResult};
use packages_api::files;
use packages_api::formats::{Format, Route};
use packages_api::registry::path::RegistryPath;
use packages_api::registry::Target;
use packages_api::state::AppState;
use packages_api::upload::{
    authorize_upload, content_length, receive_body, store_upload, UploadPlan,
};
use packages_service::reads::Reads;

/// The version property that keeps the note.
const NOTE: &str = "single.note";
/// The one file every version has.
const FILE_NAME: &str = "content";
const METHODS: &[Method] = &[
    Method::GET,
    Method::HEAD,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];
const VERSION: Route = Route {
    template: "/api/packages/{owner}/single/{name}/{version}",
    methods: METHODS,
};

/// The single-file test format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Single;

impl FormatRules for Single {
    fn package_type(&self) -> PackageType {
        PackageType::new("single")
    }

    fn lookup_name(&self, name: &str) -> String {
        lower(name).replace('_', "-")
    }
}

impl Format for Single {
    fn routes(&self) -> &'static [Route] {
        std::slice::from_ref(&VERSION)
    }

    fn openapi(&self) -> utoipa::openapi::Paths {
        use packages_api::openapi::build::{self, Op};
        use utoipa::openapi::path::HttpMethod;
        let params = || {
            vec![
                build::path_param("owner", "user or organisation"),
                build::path_param("name", "package name"),
                build::path_param("version", "version"),
            ]
        };
        let mut paths = utoipa::openapi::Paths::new();
        let put = Op::new(
            "singleUpload",
            "Store the version's one file",
            "single",
            params(),
        )
        .body("the content", build::octets())
        .responses(build::upload_responses());
        build::add(&mut paths, VERSION.template, HttpMethod::Put, put.build());
        for (method, id) in [
            (HttpMethod::Get, "singleDownload"),
            (HttpMethod::Head, "singleHead"),
        ] {
            let mut params = params();
            params.extend(build::download_params());
            let op = Op::new(id, "Fetch the version's file", "single", params)
                .responses(build::download_responses());
            build::add(&mut paths, VERSION.template, method, op.build());
        }
        let patch = Op::new(
            "singleNote",
            "Set the version's note (X-Single-Note), or remove it when the header is empty",
            "single",
            params(),
        )
        .response("204", build::response("changed", &[], None));
        build::add(
            &mut paths,
            VERSION.template,
            HttpMethod::Patch,
            patch.build(),
        );
        let delete = Op::new("singleDelete", "Delete the version", "single", params())
            .response("204", build::response("deleted", &[], None));
        build::add(
            &mut paths,
            VERSION.template,
            HttpMethod::Delete,
            delete.build(),
        );
        paths
    }

    fn handle(
        &'static self,
        req: HttpRequest,
        payload: RequestBody,
        state: web::Data<AppState>,
        path: RegistryPath,
    ) -> LocalBoxFuture<'static, ApiResult<HttpResponse>> {
        Box::pin(async move {
            let RegistryPath { owner, rest, .. } = path;
            let [name, version] = <[String; 2]>::try_from(rest).map_err(|_| ApiError::NoRoute)?;
            packages_api::request::set_route(VERSION.template);
            let target = Target {
                owner,
                name,
                version,
            };
            let file = FILE_NAME.to_owned();
            match *req.method() {
                Method::PUT => upload(self, req, payload, state, target).await,
                Method::GET => files::download(req, state, self, target, file, false).await,
                Method::HEAD => files::download(req, state, self, target, file, true).await,
                Method::DELETE => files::delete_version(req, state, self, target).await,
                Method::PATCH => note(self, req, state, target).await,
                _ => Err(ApiError::MethodNotAllowed(METHODS)),
            }
        })
    }

    /// Like cargo, its clients may send a bare token.
    fn credentials(&self, headers: &HeaderMap) -> ApiResult<Option<Credentials>> {
        credentials_or_bare_token(headers)
    }

    fn download_path(&self, owner: &str, name: &str, version: &str, file: &str) -> Option<String> {
        use packages_api::urls::path_escape;
        (file == FILE_NAME).then(|| {
            format!(
                "/api/packages/{}/single/{}/{}",
                path_escape(owner),
                path_escape(name),
                path_escape(version)
            )
        })
    }

    fn metadata_fields(&self, metadata_json: Option<&str>) -> Vec<(&'static str, String)> {
        metadata_json
            .map(|m| vec![("metadata", m.to_owned())])
            .unwrap_or_default()
    }
}

async fn upload(
    format: &'static Single,
    req: HttpRequest,
    payload: RequestBody,
    state: web::Data<AppState>,
    target: Target,
) -> ApiResult<HttpResponse> {
    let credentials = format.credentials(req.headers())?;
    let announced = content_length(req.headers())?;
    let note = req
        .headers()
        .get("x-single-note")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let app = state.clone().into_inner();
    let plan = blocking::run(move || {
        let uploader = authorize_upload(&Reads::blocking(&app), credentials, &target.owner)?;
        if target.name.is_empty() || target.version.is_empty() {
            return Err(ApiError::BadRequest("empty name or version".to_owned()));
        }
        let package_type = format.package_type();
        let mut details = FileDetails::plain(&target.name);
        details.lower_name = format.lookup_name(&target.name);
        details.version_metadata = Some(serde_json::json!({ "announced": announced }).to_string());
        details.properties = note
            .into_iter()
            .map(|value| NewProperty {
                of: PropertyOf::Version,
                name: NOTE.to_owned(),
                value,
            })
            .collect();
        Ok(UploadPlan {
            owner_id: uploader.owner_id,
            creator_id: uploader.creator_id,
            exempt_from_limits: uploader.is_admin,
            package_type,
            name: target.name,
            version: target.version,
            file_name: FILE_NAME.to_owned(),
            details,
            claimed: Vec::new(),
            mode: Default::default(),
            // No early or streaming limit on purpose: the kit still refuses a file over the
            // type's size limit before it is recorded (format_seam tests it).
            body_limit: None,
        })
    })
    .await?;
    let body = payload;
    let ingested = receive_body(&state, body, plan.body_limit).await?;
    store_upload(state.into_inner(), plan, ingested).await?;
    Ok(HttpResponse::Created().finish())
}

/// `PATCH {name}/{version}`: sets the version's note from `X-Single-Note`, or removes it
/// when the header is empty or absent; 204. A property changed after the upload, as npm
/// dist-tags and Cargo's yanked flag are.
async fn note(
    format: &'static Single,
    req: HttpRequest,
    state: web::Data<AppState>,
    target: Target,
) -> ApiResult<HttpResponse> {
    let credentials = format.credentials(req.headers())?;
    let note = req
        .headers()
        .get("x-single-note")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_owned);
    let app = state.into_inner();
    blocking::run(move || {
        let auth = packages_api::auth::authenticate(&app, credentials)?;
        let access = packages_service::access::authorize_owner(
            &app,
            &auth,
            &target.owner,
            AccessMode::Write,
        )?;
        let version = app
            .db
            .version_detail(
                access.owner.id,
                format.package_type(),
                &format.lookup_name(&target.name),
                &lower(&target.version),
            )?
            .ok_or(ApiError::NotFound("package does not exist"))?
            .version
            .id;
        match note {
            Some(note) => app
                .db
                .set_property(PropertyOf::Version, version, NOTE, &note)?,
            None => {
                app.db.remove_property(PropertyOf::Version, version, NOTE)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
