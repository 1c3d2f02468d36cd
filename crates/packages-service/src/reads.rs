//! Database reads of the request path, through the read cache.
//!
//! A [`Reads`] either may block (it runs on the blocking pool and asks the database on a
//! cache miss) or may not (it runs on an async worker and answers [`ServiceError::WouldBlock`] on
//! a miss, so the caller retries the whole step on the blocking pool). Requests whose reads
//! are all cached thus never leave the async worker. On the blocking pool the cache is asked
//! through its loading calls only, which also reload an answer due for reloading ahead of its
//! expiry (see [`crate::cache`]).

use std::sync::Arc;

use packages_core::{lower, PackageType};
use packages_db::{AccessToken, FileLookup, MembershipRow, User};

use crate::cache::FileKey;
use crate::error::{ServiceError, ServiceResult};
use crate::state::Service;

/// Reads for one step of a request.
#[derive(Clone, Copy)]
pub struct Reads<'a> {
    pub state: &'a Service,
    may_block: bool,
}

impl<'a> Reads<'a> {
    /// Reads that ask the database on a miss; only on the blocking pool.
    pub fn blocking(state: &'a Service) -> Self {
        Reads {
            state,
            may_block: true,
        }
    }

    /// Reads that answer from memory or give up with [`ServiceError::WouldBlock`].
    pub fn cached_only(state: &'a Service) -> Self {
        Reads {
            state,
            may_block: false,
        }
    }

    /// Whether this step may block.
    pub fn may_block(&self) -> bool {
        self.may_block
    }

    /// Fails unless blocking is allowed.
    pub fn need_blocking(&self) -> ServiceResult<()> {
        if self.may_block {
            Ok(())
        } else {
            Err(ServiceError::WouldBlock)
        }
    }

    /// A user or organisation by name, case-insensitively.
    pub fn user_by_name(&self, name: &str) -> ServiceResult<Option<Arc<User>>> {
        let cache = &self.state.cache;
        let lower_name = lower(name);
        if !self.may_block {
            return cache
                .owner(&lower_name)
                .map(Some)
                .ok_or(ServiceError::WouldBlock);
        }
        let db = &self.state.db;
        Ok(cache.owner_or_load(lower_name, || Ok(db.user_by_name(name)?.map(Arc::new)))?)
    }

    /// A personal access token by the hash of its secret, with its user.
    pub fn token_with_user(&self, hash: &str) -> ServiceResult<Option<Arc<(AccessToken, User)>>> {
        let cache = &self.state.cache;
        if !self.may_block {
            return cache.token(hash).map(Some).ok_or(ServiceError::WouldBlock);
        }
        let db = &self.state.db;
        Ok(cache.token_or_load(hash.to_owned(), || {
            Ok(db.token_with_user(hash)?.map(Arc::new))
        })?)
    }

    /// What a user is in an organisation.
    pub fn membership(&self, org_id: i64, user_id: i64) -> ServiceResult<MembershipRow> {
        let cache = &self.state.cache;
        if !self.may_block {
            return cache
                .membership(org_id, user_id)
                .ok_or(ServiceError::WouldBlock);
        }
        let db = &self.state.db;
        Ok(cache.membership_or_load(org_id, user_id, || db.membership(org_id, user_id))?)
    }

    /// A file of a package version: `name` in the format's look-up form, version and file
    /// name compared case-insensitively.
    pub fn find_file(
        &self,
        owner_id: i64,
        package_type: PackageType,
        name: &str,
        version: &str,
        file: &str,
    ) -> ServiceResult<Arc<FileLookup>> {
        let cache = &self.state.cache;
        let key: FileKey = (
            owner_id,
            package_type.as_str(),
            name.to_owned(),
            lower(version),
            lower(file),
        );
        if !self.may_block {
            return cache.file(&key).ok_or(ServiceError::WouldBlock);
        }
        let db = &self.state.db;
        Ok(cache.file_or_load(key.clone(), || {
            Ok(Arc::new(db.find_file(
                owner_id,
                package_type,
                &key.2,
                &key.3,
                &key.4,
            )?))
        })?)
    }
}
