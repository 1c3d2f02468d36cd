//! Whose packages, and may the doer touch them: owner resolution and the access check.

use forge_auth::{Membership, OwnerInfo, PackageAccessDenied};
use packages_core::{lower, AccessMode, OwnerKind};
use packages_db::User;

use crate::auth::AuthContext;
use crate::error::{ServiceError, ServiceResult};
use crate::reads::Reads;
use crate::state::Service;

/// An owner together with what the doer may do with its packages.
#[derive(Debug, Clone)]
pub struct OwnerAccess {
    pub owner: User,
    pub mode: AccessMode,
}

/// Finds the owner named in a URL (case-insensitive). Blocking.
pub fn resolve_owner(state: &Service, auth: &AuthContext, name: &str) -> ServiceResult<User> {
    resolve_owner_with(&Reads::blocking(state), auth, name)
}

/// Finds the owner named in a URL through `reads`.
pub fn resolve_owner_with(
    reads: &Reads<'_>,
    auth: &AuthContext,
    name: &str,
) -> ServiceResult<User> {
    if let Some(doer) = &auth.doer {
        if doer.lower_name == lower(name) {
            return Ok(doer.clone());
        }
    }
    reads
        .user_by_name(name)?
        .map(|u| (*u).clone())
        .ok_or(ServiceError::NotFound("owner does not exist"))
}

/// Computes the doer's access mode on `owner`. Blocking (reads team memberships).
pub fn access_mode(state: &Service, auth: &AuthContext, owner: &User) -> ServiceResult<AccessMode> {
    access_mode_with(&Reads::blocking(state), auth, owner)
}

/// Computes the doer's access mode on `owner` through `reads`.
pub fn access_mode_with(
    reads: &Reads<'_>,
    auth: &AuthContext,
    owner: &User,
) -> ServiceResult<AccessMode> {
    let doer = auth.doer_facts();
    let membership = match (&auth.doer, owner.kind) {
        (Some(d), OwnerKind::Organization) => {
            let m = reads.membership(owner.id, d.id)?;
            Membership {
                is_member: m.is_member,
                is_owner: m.is_owner,
                team_mode: m.max_team_authorize,
                packages_unit_mode: m.max_packages_unit,
            }
        }
        _ => Membership::default(),
    };
    Ok(forge_auth::owner_access_mode(
        doer.as_ref(),
        &owner_info(owner),
        &membership,
        reads.state.settings.require_signin_view,
    ))
}

/// Whether the doer administers the owner's packages (its settings, cleanup rules and the
/// storage it uses): with admin access to the owner, or as a site administrator.
pub fn administers(auth: &AuthContext, mode: AccessMode) -> bool {
    mode >= AccessMode::Admin || auth.doer_facts().is_some_and(|d| d.is_admin)
}

/// The permission-relevant facts of an owner.
pub fn owner_info(owner: &User) -> OwnerInfo {
    OwnerInfo {
        id: owner.id,
        kind: owner.kind,
        visibility: owner.visibility,
    }
}

/// Resolves the owner and checks the doer has `required` access to its packages, with the
/// registry's precedence: unknown owner (404) before refusal (401/403). Blocking.
pub fn authorize_owner(
    state: &Service,
    auth: &AuthContext,
    owner_name: &str,
    required: AccessMode,
) -> ServiceResult<OwnerAccess> {
    authorize_owner_with(&Reads::blocking(state), auth, owner_name, required)
}

/// [`authorize_owner`] through `reads`.
pub fn authorize_owner_with(
    reads: &Reads<'_>,
    auth: &AuthContext,
    owner_name: &str,
    required: AccessMode,
) -> ServiceResult<OwnerAccess> {
    let owner = resolve_owner_with(reads, auth, owner_name)?;
    let mode = access_mode_with(reads, auth, &owner)?;
    check(auth, &owner, mode, AccessMode::Read)?;
    if required > AccessMode::Read {
        check(auth, &owner, mode, required)?;
    }
    Ok(OwnerAccess { owner, mode })
}

/// Whether the doer has `required` access to `owner`'s packages under the same rules as
/// [`authorize_owner`]. Blocking.
pub fn allows(
    state: &Service,
    auth: &AuthContext,
    owner: &User,
    required: AccessMode,
) -> ServiceResult<bool> {
    let mode = access_mode(state, auth, owner)?;
    Ok(check(auth, owner, mode, AccessMode::Read).is_ok()
        && (required <= AccessMode::Read || check(auth, owner, mode, required).is_ok()))
}

fn check(
    auth: &AuthContext,
    owner: &User,
    mode: AccessMode,
    required: AccessMode,
) -> ServiceResult<()> {
    let doer = auth.doer_facts();
    forge_auth::check_package_access(
        required,
        mode,
        doer.as_ref(),
        auth.scopes.as_ref(),
        owner.visibility,
    )
    .map_err(denial_error)
}

/// The registry's answer to each kind of refusal.
pub fn denial_error(denied: PackageAccessDenied) -> ServiceError {
    match denied {
        PackageAccessDenied::ScopeMissing => {
            ServiceError::SignInRequired("the token does not have the package scope this needs")
        }
        PackageAccessDenied::PublicOnlyPrivateOwner => {
            ServiceError::Forbidden("the token is limited to public packages")
        }
        PackageAccessDenied::NotAllowed => {
            ServiceError::SignInRequired("not allowed to access these packages")
        }
    }
}
