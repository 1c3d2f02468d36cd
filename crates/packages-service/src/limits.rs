//! The size limits of uploads: a format's largest file and an owner's quota, with the
//! reference registry's messages. Site admins are exempt.

use packages_core::{Limit, PackageType};

use crate::error::{ServiceError, ServiceResult};
use crate::state::Service;

/// The largest body an upload may have, and what to say when it is crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyLimit {
    pub max: u64,
    pub message: &'static str,
}

pub const TYPE_SIZE: &str = "maximum allowed package type size exceeded";
pub use crate::error::{OWNER_COUNT, OWNER_SIZE};

/// Decides the body limit of an upload before its body is read, and refuses at once when
/// the announced size (or the owner's current usage) already breaks a limit. Blocking.
pub fn body_limit(
    state: &Service,
    package_type: PackageType,
    owner_id: i64,
    exempt: bool,
    announced: Option<u64>,
) -> ServiceResult<Option<BodyLimit>> {
    if exempt {
        return Ok(None);
    }
    let limits = &state.settings.limits;
    let mut limit = match limits.size_of(package_type) {
        Limit::AtMost(max) => Some(BodyLimit {
            max,
            message: TYPE_SIZE,
        }),
        Limit::None => None,
    };
    if let Limit::AtMost(total) = limits.total_owner_size {
        let (_, used) = state.db.owner_usage(owner_id)?;
        // Over the quota already: even an empty file is refused, as in the reference.
        let remaining = total
            .checked_sub(used)
            .ok_or(ServiceError::Forbidden(OWNER_SIZE))?;
        if limit.is_none_or(|l| remaining < l.max) {
            limit = Some(BodyLimit {
                max: remaining,
                message: OWNER_SIZE,
            });
        }
    }
    if let (Some(l), Some(size)) = (limit, announced) {
        if size > l.max {
            return Err(ServiceError::Forbidden(l.message));
        }
    }
    Ok(limit)
}
