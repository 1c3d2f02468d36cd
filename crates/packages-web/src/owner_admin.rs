//! Pages only an owner's administrators see (the storage used, the cleanup rules): who
//! that is, by the service's one rule ([`access::administers`]).

use packages_core::AccessMode;
use packages_db::User;

use super::layout::hidden;
use super::session::{RequestCookies, Viewer};
use packages_api::error::{ApiError, ApiResult};
use packages_api::state::AppState;
use packages_service::access;

/// The viewer and the owner, when the viewer administers the owner (the owner, an
/// organisation's owners and administrators) or the site; 404 for an owner the viewer may
/// not see, 403 otherwise. Blocking.
pub fn administered_owner(
    state: &AppState,
    cookies: &RequestCookies,
    owner_name: &str,
) -> ApiResult<(Viewer, User)> {
    let viewer = Viewer::load(state, cookies)?;
    let access = access::authorize_owner(state, &viewer.auth, owner_name, AccessMode::Read)
        .map_err(hidden)?;
    if !access::administers(&viewer.auth, access.mode) {
        return Err(ApiError::Forbidden(
            "only the owner and site administrators see the storage used and the cleanup rules",
        ));
    }
    Ok((viewer, access.owner))
}
