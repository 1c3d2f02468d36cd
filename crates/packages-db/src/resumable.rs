//! Resumable (tus) uploads in progress: who started which file, how far it got, and the
//! blob store's state for its content.
//!
//! A request that writes to an upload first takes its lease: a compare-and-set on the row
//! that succeeds only while nobody else holds an unexpired lease (and, for an append, only
//! at the offset the client names). The row is the one place every instance sees, so two
//! appends never write at once whichever instances serve them.

use diesel::prelude::*;

use crate::error::DbError;
use crate::pool::Database;
use crate::schema::resumable_upload as ru;

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable)]
#[diesel(table_name = crate::schema::resumable_upload)]
pub struct ResumableUpload {
    /// 32 hex digits, the last segment of the upload's URL.
    pub id: String,
    pub owner_id: i64,
    pub creator_id: i64,
    /// The creator was a site admin: the package limits do not apply.
    pub exempt_from_limits: bool,
    pub package_name: String,
    pub package_version: String,
    pub file_name: String,
    /// The size the client announced (`Upload-Length`).
    pub upload_length: i64,
    /// Bytes durably received.
    pub upload_offset: i64,
    /// `Upload-Metadata` as the client sent it.
    pub metadata: String,
    /// What the blob store needs to go on with the content (opaque here).
    pub store_state: String,
    pub lease: Option<String>,
    /// Unix milliseconds.
    pub lease_until: Option<i64>,
    pub created_unix: i64,
    pub expires_unix: i64,
    /// The format the upload belongs to; each format only ever sees its own uploads.
    pub package_type: String,
}

/// What an attempt to take an upload's lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    /// The lease is ours; the row as it was when it was taken.
    Taken(Box<ResumableUpload>),
    /// No such upload.
    Missing,
    /// The upload is at another offset than the one named.
    Offset(i64),
    /// Another request holds the lease.
    Busy,
}

impl Database {
    /// Records a new upload.
    pub fn create_resumable(&self, upload: &ResumableUpload) -> Result<(), DbError> {
        self.write_additive(|c| {
            run!(c, |c| diesel::insert_into(ru::table)
                .values(upload)
                .execute(c))?;
            Ok(())
        })
    }

    /// The upload with this id, expired or not.
    pub fn resumable(&self, id: &str) -> Result<Option<ResumableUpload>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| ru::table
                .filter(ru::id.eq(id))
                .select(ResumableUpload::as_select())
                .first(c)
                .optional())?)
        })
    }

    /// Takes the lease of upload `id` for `token` until `until_ms`, if nobody holds an
    /// unexpired one at `now_ms` and (when `offset` is given) the upload is at that offset.
    pub fn take_resumable_lease(
        &self,
        id: &str,
        offset: Option<i64>,
        token: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> Result<Lease, DbError> {
        self.write_additive(|c| {
            let free = ru::lease.is_null().or(ru::lease_until.lt(now_ms));
            let target = ru::table.filter(ru::id.eq(id)).filter(free);
            let n = match offset {
                Some(offset) => run!(c, |c| diesel::update(
                    target.filter(ru::upload_offset.eq(offset))
                )
                .set((ru::lease.eq(token), ru::lease_until.eq(until_ms)))
                .execute(c))?,
                None => run!(c, |c| diesel::update(target)
                    .set((ru::lease.eq(token), ru::lease_until.eq(until_ms)))
                    .execute(c))?,
            };
            let row: Option<ResumableUpload> = run!(c, |c| ru::table
                .filter(ru::id.eq(id))
                .select(ResumableUpload::as_select())
                .first(c)
                .optional())?;
            Ok(match row {
                None => Lease::Missing,
                Some(row) if n == 1 => Lease::Taken(Box::new(row)),
                Some(row) if offset.is_some_and(|o| o != row.upload_offset) => {
                    Lease::Offset(row.upload_offset)
                }
                Some(_) => Lease::Busy,
            })
        })
    }

    /// Extends a held lease; false when it is no longer `token`'s.
    pub fn renew_resumable_lease(
        &self,
        id: &str,
        token: &str,
        until_ms: i64,
    ) -> Result<bool, DbError> {
        self.write_additive(|c| {
            let n = run!(c, |c| diesel::update(
                ru::table.filter(ru::id.eq(id)).filter(ru::lease.eq(token))
            )
            .set(ru::lease_until.eq(until_ms))
            .execute(c))?;
            Ok(n == 1)
        })
    }

    /// Records the new offset and store state under `token`'s lease, releasing the lease if
    /// `release`; false when the lease was lost (the values are then not recorded).
    pub fn advance_resumable(
        &self,
        id: &str,
        token: &str,
        offset: i64,
        store_state: &str,
        release: bool,
    ) -> Result<bool, DbError> {
        self.write_additive(|c| {
            let target = ru::table.filter(ru::id.eq(id)).filter(ru::lease.eq(token));
            let n = if release {
                run!(c, |c| diesel::update(target)
                    .set((
                        ru::upload_offset.eq(offset),
                        ru::store_state.eq(store_state),
                        ru::lease.eq(None::<String>),
                        ru::lease_until.eq(None::<i64>),
                    ))
                    .execute(c))?
            } else {
                run!(c, |c| diesel::update(target)
                    .set((
                        ru::upload_offset.eq(offset),
                        ru::store_state.eq(store_state),
                    ))
                    .execute(c))?
            };
            Ok(n == 1)
        })
    }

    /// Records `metadata` under `token`'s lease; false when the lease was lost.
    pub fn set_resumable_metadata(
        &self,
        id: &str,
        token: &str,
        metadata: &str,
    ) -> Result<bool, DbError> {
        self.write_additive(|c| {
            let target = ru::table.filter(ru::id.eq(id)).filter(ru::lease.eq(token));
            let n = run!(c, |c| diesel::update(target)
                .set(ru::metadata.eq(metadata))
                .execute(c))?;
            Ok(n == 1)
        })
    }

    /// Releases `token`'s lease without changing anything else.
    pub fn release_resumable_lease(&self, id: &str, token: &str) -> Result<(), DbError> {
        self.write_additive(|c| {
            run!(c, |c| diesel::update(
                ru::table.filter(ru::id.eq(id)).filter(ru::lease.eq(token))
            )
            .set((
                ru::lease.eq(None::<String>),
                ru::lease_until.eq(None::<i64>)
            ))
            .execute(c))?;
            Ok(())
        })
    }

    /// Deletes the upload's row while `token` holds its lease; false when it did not.
    pub fn delete_resumable(&self, id: &str, token: &str) -> Result<bool, DbError> {
        self.write_additive(|c| {
            let n = run!(c, |c| diesel::delete(
                ru::table.filter(ru::id.eq(id)).filter(ru::lease.eq(token))
            )
            .execute(c))?;
            Ok(n == 1)
        })
    }

    /// Up to `limit` uploads that expired at or before `now_unix`.
    pub fn expired_resumables(
        &self,
        now_unix: i64,
        limit: i64,
    ) -> Result<Vec<ResumableUpload>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| ru::table
                .filter(ru::expires_unix.le(now_unix))
                .order(ru::expires_unix.asc())
                .limit(limit)
                .select(ResumableUpload::as_select())
                .load(c))?)
        })
    }
}
