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
pub mod validate;

#[cfg(test)]
mod tests;

use actix_web::{error::JsonPayloadError, web, HttpRequest};

use crate::error::{ApiError, JsonError};

/// Registers the `/api/v1` routes.
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
            .service(
                web::resource("/users/{username}/tokens")
                    .route(web::get().to(tokens::list))
                    .route(web::post().to(tokens::create)),
            )
            .service(
                web::resource("/users/{username}/tokens/{token}")
                    .route(web::delete().to(tokens::delete)),
            )
            .service(web::resource("/version").route(web::get().to(directory::version)))
            .service(web::resource("/settings/api").route(web::get().to(directory::api_settings)))
            // Before `/users/{username}`.
            .service(web::resource("/users/search").route(web::get().to(directory::search_users)))
            .service(web::resource("/users/{username}").route(web::get().to(directory::user)))
            .service(
                web::resource("/users/{username}/orgs").route(web::get().to(directory::user_orgs)),
            )
            .service(web::resource("/user").route(web::get().to(users::current)))
            .service(web::resource("/user/orgs").route(web::get().to(directory::my_orgs)))
            .service(web::resource("/admin/orgs").route(web::get().to(directory::admin_orgs)))
            .service(
                web::resource("/admin/users")
                    .route(web::get().to(directory::admin_users))
                    .route(web::post().to(users::create)),
            )
            .service(
                web::resource("/admin/users/{username}")
                    .route(web::patch().to(users::edit))
                    .route(web::delete().to(users::delete)),
            )
            .service(
                web::resource("/orgs")
                    .route(web::get().to(directory::orgs))
                    .route(web::post().to(orgs::create)),
            )
            .service(
                web::resource("/orgs/{org}")
                    .route(web::get().to(orgs::get))
                    .route(web::patch().to(orgs::edit))
                    .route(web::delete().to(orgs::delete)),
            )
            .service(
                web::resource("/orgs/{org}/members").route(web::get().to(directory::org_members)),
            )
            .service(
                web::resource("/orgs/{org}/teams")
                    .route(web::get().to(teams::list))
                    .route(web::post().to(teams::create)),
            )
            .service(
                web::resource("/teams/{id}")
                    .route(web::get().to(teams::get))
                    .route(web::patch().to(teams::edit))
                    .route(web::delete().to(teams::delete)),
            )
            .service(web::resource("/teams/{id}/members").route(web::get().to(teams::members)))
            .service(
                web::resource("/teams/{id}/members/{username}")
                    .route(web::get().to(teams::member))
                    .route(web::put().to(teams::add_member))
                    .route(web::delete().to(teams::remove_member)),
            )
            .service(web::resource("/packages/{owner}").route(web::get().to(packages::list)))
            // Before `{type}/{name}…`: no format is called `-`.
            .service(
                web::resource("/packages/{owner}/-/settings")
                    .route(web::get().to(owner_settings::get))
                    .route(web::patch().to(owner_settings::edit)),
            )
            .service(
                web::resource("/packages/{owner}/-/cleanup-rules")
                    .route(web::get().to(cleanup_rules::list))
                    .route(web::post().to(cleanup_rules::create)),
            )
            .service(
                web::resource("/packages/{owner}/-/cleanup-rules/{id}")
                    .route(web::get().to(cleanup_rules::get))
                    .route(web::patch().to(cleanup_rules::edit))
                    .route(web::delete().to(cleanup_rules::delete)),
            )
            .service(
                web::resource("/packages/{owner}/-/cleanup-rules/{id}/preview")
                    .route(web::get().to(cleanup_rules::preview)),
            )
            .service(
                web::resource("/packages/{owner}/{type}/{name}")
                    .route(web::get().to(packages::list_package_versions))
                    .route(web::delete().to(packages::delete_package)),
            )
            // Before `{version}/files`: a version may be called `-`, but not `-/latest`.
            .service(
                web::resource("/packages/{owner}/{type}/{name}/-/latest")
                    .route(web::get().to(packages::latest)),
            )
            .service(
                web::resource("/packages/{owner}/{type}/{name}/{version}")
                    .route(web::get().to(packages::get_version))
                    .route(web::delete().to(packages::delete_version)),
            )
            .service(
                web::resource("/packages/{owner}/{type}/{name}/{version}/files")
                    .route(web::get().to(packages::files)),
            )
            .service(
                web::resource("/packages/{owner}/generic/{name}/{version}/files/{file}/links")
                    .route(web::post().to(packages::create_link)),
            )
            .default_service(web::to(|| async {
                Err::<actix_web::HttpResponse, _>(JsonError(ApiError::NotFound("not found")))
            })),
    );
}

fn json_body_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    JsonError(ApiError::BadRequest(format!("invalid JSON body: {err}"))).into()
}
