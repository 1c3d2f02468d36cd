//! The Gitea-compatible management API under `/api/v1`.
//!
//! Every route accepts the registry's credentials (token, Bearer, Basic password or Basic
//! token) and answers errors as JSON `{"message", "url"}`. A scoped token needs `read:` (GET)
//! or `write:` (other methods) of the route's category: `user` for `/user`, `admin` for
//! `/admin`, `organization` for `/orgs` and `/teams`, `package` for `/packages`.
//!
//! - `/users/{username}/tokens` in [`tokens`];
//! - `/user` and `/admin/users` in [`users`];
//! - `/orgs` and `/orgs/{org}` in [`orgs`];
//! - `/orgs/{org}/teams`, `/teams/{id}` and `/teams/{id}/members/{username}` in [`teams`];
//! - `/packages/{owner}` and below in [`packages`], except `/packages/{owner}/-/settings` in
//!   [`owner_settings`] and `/packages/{owner}/-/cleanup-rules` in [`cleanup_rules`] (our
//!   extensions; `-` is no package type);
//! - `/version`, `/settings/api`, user and organisation listings and members in
//!   [`directory`].

pub mod cleanup_rules;
pub mod directory;
pub mod gate;
pub mod json;
pub mod orgs;
pub mod owner_settings;
pub mod packages;
pub mod paging;
pub mod teams;
pub mod tokens;
pub mod users;

#[cfg(test)]
mod tests;

use actix_web::{error::JsonPayloadError, web, HttpRequest};

use crate::error::{ApiError, JsonError};

crate::routes::route_table! {
    ROUTES, register;
    "/users/{username}/tokens" => [get => tokens::list, post => tokens::create],
    "/users/{username}/tokens/{token}" => [delete => tokens::delete],
    "/version" => [get => directory::version],
    "/settings/api" => [get => directory::api_settings],
    // Before `/users/{username}`.
    "/users/search" => [get => directory::search_users],
    "/users/{username}" => [get => directory::user],
    "/users/{username}/orgs" => [get => directory::user_orgs],
    "/user" => [get => users::current],
    "/user/orgs" => [get => directory::my_orgs],
    "/admin/orgs" => [get => directory::admin_orgs],
    "/admin/users" => [get => directory::admin_users, post => users::create],
    "/admin/users/{username}" => [patch => users::edit, delete => users::delete],
    "/orgs" => [get => directory::orgs, post => orgs::create],
    "/orgs/{org}" => [get => orgs::get, patch => orgs::edit, delete => orgs::delete],
    "/orgs/{org}/members" => [get => directory::org_members],
    "/orgs/{org}/teams" => [get => teams::list, post => teams::create],
    "/teams/{id}" => [get => teams::get, patch => teams::edit, delete => teams::delete],
    "/teams/{id}/members" => [get => teams::members],
    "/teams/{id}/members/{username}" => [
        get => teams::member,
        put => teams::add_member,
        delete => teams::remove_member,
    ],
    "/packages/{owner}" => [get => packages::list],
    // Before `{type}/{name}…`: no format is called `-`.
    "/packages/{owner}/-/settings" => [get => owner_settings::get, patch => owner_settings::edit],
    "/packages/{owner}/-/cleanup-rules" => [get => cleanup_rules::list, post => cleanup_rules::create],
    "/packages/{owner}/-/cleanup-rules/{id}" => [
        get => cleanup_rules::get,
        patch => cleanup_rules::edit,
        delete => cleanup_rules::delete,
    ],
    "/packages/{owner}/-/cleanup-rules/{id}/preview" => [get => cleanup_rules::preview],
    "/packages/{owner}/{type}/{name}" => [
        get => packages::list_package_versions,
        delete => packages::delete_package,
    ],
    // Before `{version}/files`: a version may be called `-`, but not `-/latest`.
    "/packages/{owner}/{type}/{name}/-/latest" => [get => packages::latest],
    "/packages/{owner}/{type}/{name}/{version}" => [
        get => packages::get_version,
        delete => packages::delete_version,
    ],
    "/packages/{owner}/{type}/{name}/{version}/files" => [get => packages::files],
    "/packages/{owner}/generic/{name}/{version}/files/{file}/links" => [
        post => packages::create_link,
    ],
}

/// Registers the `/api/v1` routes (the table above) with their JSON error handling.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .wrap(actix_web::middleware::from_fn(
                crate::control_chars::reject_in_target,
            ))
            // Clients such as curl often send JSON without a JSON content type.
            .app_data(
                web::JsonConfig::default()
                    .content_type_required(false)
                    .error_handler(json_body_error),
            )
            .configure(register)
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(JsonError(ApiError::NotFound("not found")))
            })),
    );
}

fn json_body_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    JsonError(ApiError::BadRequest(format!("invalid JSON body: {err}"))).into()
}
