//! Packages through the general API: `/api/v1/packages/{owner}/…`.
//!
//! Every route runs, in order: the `package` token-scope check (403), owner resolution
//! (404), owner access of at least Read with the registry's rule (403), and the public-only
//! token rule (403). Routes naming a version or package then look it up (404), and deletes
//! finally need a signed-in caller (401) with write access (403). Unlike Gitea, the access
//! check comes before the version look-up, so a private owner's versions cannot be probed
//! through 404 versus 403.
//!
//! Deletes remove rows only; the blob sweep removes content later, as on the registry.

use actix_web::{web, HttpRequest, HttpResponse};
use forge_auth::signed_link::LinkClaims;
use forge_auth::{PackageAccessDenied, ScopeCategory};
use packages_core::{lower, AccessMode, PackageType, Visibility};
use packages_db::{FileLookup, User, VersionFilter, VersionListing};

use super::gate::{scope_message, Caller, RequestFacts};
use super::json::PackageFileJson;
use super::paging::{self, query_value, Paging};
use crate::blocking;
use crate::error::{ApiError, ApiResult, JsonError};
use crate::formats::Format;
use crate::links;
use crate::state::AppState;
use packages_service::{access, packages};

use packages_service::packages::NO_PACKAGE;

/// Resolves the owner and checks the caller may read its packages. Blocking.
fn readable_owner(state: &AppState, caller: &Caller, owner_name: &str) -> ApiResult<User> {
    let owner = access::resolve_owner(state, &caller.auth, owner_name)?;
    check(state, caller, &owner, AccessMode::Read)?;
    if caller.public_only() && owner.visibility == Visibility::Private {
        return Err(ApiError::Forbidden(
            "token scope is limited to public packages",
        ));
    }
    Ok(owner)
}

/// Checks the caller's access mode on the owner's packages against `required`; the token's
/// scopes were already checked by the gate.
fn check(state: &AppState, caller: &Caller, owner: &User, required: AccessMode) -> ApiResult<()> {
    let mode = access::access_mode(state, &caller.auth, owner)?;
    let doer = caller.auth.doer_facts();
    forge_auth::check_package_access(required, mode, doer.as_ref(), None, owner.visibility).map_err(
        |denied| match denied {
            PackageAccessDenied::ScopeMissing => ApiError::Forbidden(scope_message(
                ScopeCategory::Package,
                required > AccessMode::Read,
            )),
            PackageAccessDenied::PublicOnlyPrivateOwner => {
                ApiError::Forbidden("token scope is limited to public packages")
            }
            PackageAccessDenied::NotAllowed => {
                ApiError::Forbidden("user should have specific permission or be a site admin")
            }
        },
    )
}

/// Checks that the caller may delete the owner's packages: signed in (401), write (403).
fn check_write(state: &AppState, caller: &Caller, owner: &User) -> ApiResult<()> {
    caller.require_doer()?;
    check(state, caller, owner, AccessMode::Write)
}

/// The registered format a URL names; unknown types simply have no packages.
fn format_of(state: &AppState, name: &str) -> ApiResult<&'static dyn Format> {
    state
        .formats
        .find(name)
        .ok_or(ApiError::NotFound(NO_PACKAGE))
}

/// The version named in a URL (case-insensitive). Blocking.
fn find_version(
    state: &AppState,
    owner: &User,
    ptype: &str,
    name: &str,
    version: &str,
) -> ApiResult<VersionListing> {
    let format = format_of(state, ptype)?;
    packages::find_version(state, owner.id, format, name, version)?
        .ok_or(ApiError::NotFound(NO_PACKAGE))
}

/// `GET /api/v1/packages/{owner}` → 200 with one entry per version, newest first, paged.
/// Query: `type` (empty or `all` for any), `q` (part of the name), `page`, `limit`.
#[utoipa::path(
    get,
    path = "/api/v1/packages/{owner}",
    operation_id = "listPackages",
    tag = "package",
    summary = "The owner's package versions, newest first",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("type" = Option<String>, Query, description = "package type; empty or `all` for any"),
        ("q" = Option<String>, Query, description = "part of the name"),
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the versions", body = Vec<super::json::PackageJson>),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, JsonError> {
    let base = crate::urls::Site::of(&req).base_url;
    let pairs = paging::parse_query(req.query_string());
    let paging = Paging::from_query(&pairs);
    let filter = VersionFilter {
        package_type: query_value(&pairs, "type")
            .map(str::trim)
            .filter(|t| !t.is_empty() && *t != "all")
            .map(str::to_owned),
        query: query_value(&pairs, "q")
            .map(str::trim)
            .filter(|q| !q.is_empty())
            .map(str::to_owned),
        name: None,
    };
    let owner_name = path.into_inner();
    let (items, total) =
        super::gate::as_caller(&req, state, ScopeCategory::Package, move |state, caller| {
            let owner = readable_owner(state, &caller, &owner_name)?;
            let (rows, total) = state
                .db
                .list_versions(owner.id, &filter, paging.db_page())?;
            let items = rows
                .iter()
                .map(|row| caller.presenter.package(&owner, row))
                .collect::<Vec<_>>();
            Ok((items, total))
        })
        .await?;
    Ok(paging::page_response(&req, &base, &items, total, paging))
}

/// `GET /api/v1/packages/{owner}/{type}/{name}` → 200 with the package's versions, newest
/// first, paged; 404 when it has none.
#[utoipa::path(
    get,
    path = "/api/v1/packages/{owner}/{type}/{name}",
    operation_id = "listPackageVersions",
    tag = "package",
    summary = "A package's versions",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("type" = String, Path, description = "package type (`generic`, `pypi`)"),
        ("name" = String, Path, description = "package name"),
        super::paging::PageQuery
    ),
    responses(
        (status = 200, description = "the versions", body = Vec<super::json::PackageJson>),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn list_package_versions(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, JsonError> {
    let base = crate::urls::Site::of(&req).base_url;
    let paging = Paging::of(&req);
    let (owner_name, ptype, name) = path.into_inner();
    let (items, total) =
        super::gate::as_caller(&req, state, ScopeCategory::Package, move |state, caller| {
            let owner = readable_owner(state, &caller, &owner_name)?;
            let format = format_of(state, &ptype)?;
            let filter = VersionFilter {
                package_type: Some(format.package_type().as_str().to_owned()),
                query: None,
                name: Some(format.lookup_name(&name)),
            };
            let (rows, total) = state
                .db
                .list_versions(owner.id, &filter, paging.db_page())?;
            if total == 0 {
                return Err(ApiError::NotFound(NO_PACKAGE));
            }
            let items = rows
                .iter()
                .map(|row| caller.presenter.package(&owner, row))
                .collect::<Vec<_>>();
            Ok((items, total))
        })
        .await?;
    Ok(paging::page_response(&req, &base, &items, total, paging))
}

/// `GET /api/v1/packages/{owner}/{type}/{name}/-/latest` → 200 with the most recently
/// created version (highest id).
#[utoipa::path(
    get,
    path = "/api/v1/packages/{owner}/{type}/{name}/-/latest",
    operation_id = "getLatestPackageVersion",
    tag = "package",
    summary = "A package's newest version",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("type" = String, Path, description = "package type (`generic`, `pypi`)"),
        ("name" = String, Path, description = "package name")
    ),
    responses(
        (status = 200, description = "the version", body = super::json::PackageJson),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn latest(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, JsonError> {
    let (owner_name, ptype, name) = path.into_inner();
    let json = super::gate::as_caller(&req, state, ScopeCategory::Package, move |state, caller| {
        let owner = readable_owner(state, &caller, &owner_name)?;
        let format = format_of(state, &ptype)?;
        let row = state
            .db
            .latest_version(owner.id, format.package_type(), &format.lookup_name(&name))?
            .ok_or(ApiError::NotFound(NO_PACKAGE))?;
        Ok(caller.presenter.package(&owner, &row))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `POST /api/v1/packages/{owner}/generic/{name}/{version}/files/{file}/links` with an
/// optional `{"expires_in": SECONDS}` → 201 `{"url", "expires_at"}`: a download URL that
/// works without credentials for that file and content until it expires. Needs read access
/// (a `read:package` token is enough).
#[utoipa::path(
    post,
    path = "/api/v1/packages/{owner}/generic/{name}/{version}/files/{file}/links",
    operation_id = "createSignedLink",
    tag = "package",
    summary = "A signed download link for a file, valid without credentials until it expires (read access)",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("name" = String, Path, description = "package name"),
        ("version" = String, Path, description = "version"),
        ("file" = String, Path, description = "file name")
    ),
    request_body = Option<crate::links::LinkRequest>,
    responses(
        (status = 201, description = "the link", body = SignedLink),
        (status = 400, description = "a malformed body or expiry", body = crate::error::ErrorBody),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn create_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, JsonError> {
    let mut facts = RequestFacts::of(&req)?;
    // Making a link reads the file; it changes nothing.
    facts.method = actix_web::http::Method::GET;
    let request = links::LinkRequest::from_body(&body)?;
    let (owner_name, name, version, file_name) = path.into_inner();
    let state = state.into_inner();
    let (path, token, claims) = blocking::run(move || {
        let caller = Caller::authenticate(&state, facts, ScopeCategory::Package)?;
        let owner = readable_owner(&state, &caller, &owner_name)?;
        let ttl = request.ttl_secs(state.settings.links.max_ttl_secs)?;
        let generic = state
            .formats
            .find(PackageType::Generic.as_str())
            .ok_or(ApiError::NotFound("package file does not exist"))?;
        let lookup = state.db.find_file(
            owner.id,
            PackageType::Generic,
            &generic.lookup_name(&name),
            &lower(&version),
            &lower(&file_name),
        )?;
        let FileLookup::Found {
            version: v,
            file,
            blob,
        } = lookup
        else {
            return Err(ApiError::NotFound("package file does not exist"));
        };
        let subject = LinkClaims::subject(
            owner.id,
            PackageType::Generic.as_str(),
            &name,
            &v.version,
            &file.name,
        );
        let (token, claims) = state
            .settings
            .links
            .keys
            .sign(subject, &blob.hash_sha256, links::now_unix(), ttl)
            .map_err(ApiError::internal)?;
        let path = generic
            .download_path(&owner.name, &name, &v.version, &file.name)
            .ok_or(ApiError::NotFound("package file does not exist"))?;
        Ok((path, token, claims))
    })
    .await?;
    let url = format!(
        "{}?{}={token}",
        crate::urls::absolute(&req, &path),
        links::LINK_QUERY
    );
    Ok(HttpResponse::Created().json(SignedLink {
        url,
        expires_at: packages_core::clock::rfc3339(claims.exp.min(i64::MAX as u64) as i64),
    }))
}

/// A signed download link.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SignedLink {
    /// The file's download URL with its `link_token`.
    pub url: String,
    /// RFC 3339, UTC.
    pub expires_at: String,
}

/// `DELETE /api/v1/packages/{owner}/{type}/{name}` → 204: the package with every version.
#[utoipa::path(
    delete,
    path = "/api/v1/packages/{owner}/{type}/{name}",
    operation_id = "deletePackage",
    tag = "package",
    summary = "Delete a package with all its versions",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("type" = String, Path, description = "package type (`generic`, `pypi`)"),
        ("name" = String, Path, description = "package name")
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn delete_package(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, JsonError> {
    let (owner_name, ptype, name) = path.into_inner();
    super::gate::as_caller(&req, state, ScopeCategory::Package, move |state, caller| {
        let owner = readable_owner(state, &caller, &owner_name)?;
        let format = format_of(state, &ptype)?;
        // Gitea finds the package before it checks the permission: 404 comes first.
        if !packages::package_exists(state, owner.id, format, &name)? {
            return Err(ApiError::NotFound(NO_PACKAGE));
        }
        check_write(state, &caller, &owner)?;
        Ok(packages::delete_package(state, owner.id, format, &name)?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/packages/{owner}/{type}/{name}/{version}` → 200 with the version.
#[utoipa::path(
    get,
    path = "/api/v1/packages/{owner}/{type}/{name}/{version}",
    operation_id = "getPackage",
    tag = "package",
    summary = "A package version",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("type" = String, Path, description = "package type (`generic`, `pypi`)"),
        ("name" = String, Path, description = "package name"),
        ("version" = String, Path, description = "version")
    ),
    responses(
        (status = 200, description = "the version", body = super::json::PackageJson),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn get_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, JsonError> {
    let (owner_name, ptype, name, version) = path.into_inner();
    let json = super::gate::as_caller(&req, state, ScopeCategory::Package, move |state, caller| {
        let owner = readable_owner(state, &caller, &owner_name)?;
        let row = find_version(state, &owner, &ptype, &name, &version)?;
        Ok(caller.presenter.package(&owner, &row))
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}

/// `DELETE /api/v1/packages/{owner}/{type}/{name}/{version}` → 204.
#[utoipa::path(
    delete,
    path = "/api/v1/packages/{owner}/{type}/{name}/{version}",
    operation_id = "deletePackageVersion",
    tag = "package",
    summary = "Delete a package version",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("type" = String, Path, description = "package type (`generic`, `pypi`)"),
        ("name" = String, Path, description = "package name"),
        ("version" = String, Path, description = "version")
    ),
    responses(
        (status = 204, description = "deleted"),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn delete_version(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, JsonError> {
    let (owner_name, ptype, name, version) = path.into_inner();
    super::gate::as_caller(&req, state, ScopeCategory::Package, move |state, caller| {
        let owner = readable_owner(state, &caller, &owner_name)?;
        // Gitea finds the version before it checks the permission: 404 comes first.
        find_version(state, &owner, &ptype, &name, &version)?;
        check_write(state, &caller, &owner)?;
        let format = format_of(state, &ptype)?;
        Ok(packages::delete_version(
            state, owner.id, format, &name, &version,
        )?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/packages/{owner}/{type}/{name}/{version}/files` → 200 with the files, by id.
#[utoipa::path(
    get,
    path = "/api/v1/packages/{owner}/{type}/{name}/{version}/files",
    operation_id = "listPackageFiles",
    tag = "package",
    summary = "A version's files",
    params(
        ("owner" = String, Path, description = "user or organisation that owns the packages"),
        ("type" = String, Path, description = "package type (`generic`, `pypi`)"),
        ("name" = String, Path, description = "package name"),
        ("version" = String, Path, description = "version")
    ),
    responses(
        (status = 200, description = "the files", body = Vec<super::json::PackageFileJson>),
        (status = 403, description = "the caller may not do this", body = crate::error::ErrorBody),
        (status = 404, description = "not found, or not visible to the caller", body = crate::error::ErrorBody)
    )
)]
pub async fn files(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String, String)>,
) -> Result<HttpResponse, JsonError> {
    let (owner_name, ptype, name, version) = path.into_inner();
    let json = super::gate::as_caller(&req, state, ScopeCategory::Package, move |state, caller| {
        let owner = readable_owner(state, &caller, &owner_name)?;
        let row = find_version(state, &owner, &ptype, &name, &version)?;
        let files = state.db.version_files(row.version.id)?;
        Ok(files
            .iter()
            .map(|(file, blob)| PackageFileJson::new(file, blob))
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json))
}
