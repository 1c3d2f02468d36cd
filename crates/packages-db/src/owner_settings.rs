//! Package settings an owner chose instead of the server's defaults.

use diesel::prelude::*;

use crate::error::DbError;
use crate::pool::Database;
use crate::schema::owner_package_setting as setting;

impl Database {
    /// Whether the owner allows replacing stored files; `None` when the owner has not chosen
    /// and the server's default applies. Read only by replacing uploads, so not cached.
    pub fn owner_allow_replace(&self, owner_id: i64) -> Result<Option<bool>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| setting::table
                .find(owner_id)
                .select(setting::allow_replace)
                .first::<bool>(c)
                .optional())?)
        })
    }

    /// Records the owner's choice; `None` returns the owner to the server's default.
    pub fn set_owner_allow_replace(
        &self,
        owner_id: i64,
        allow: Option<bool>,
    ) -> Result<(), DbError> {
        self.write_additive(|c| {
            match allow {
                Some(allow) => run!(c, |c| diesel::insert_into(setting::table)
                    .values((
                        setting::owner_id.eq(owner_id),
                        setting::allow_replace.eq(allow)
                    ))
                    .on_conflict(setting::owner_id)
                    .do_update()
                    .set(setting::allow_replace.eq(allow))
                    .execute(c))?,
                None => run!(c, |c| diesel::delete(setting::table.find(owner_id))
                    .execute(c))?,
            };
            Ok(())
        })
    }
}
