//! Browser sessions of the web interface.

use diesel::prelude::*;

use crate::error::DbError;
use crate::models::{User, UserRow, WebSession};
use crate::pool::Database;
use crate::schema::{users, web_session};

impl Database {
    /// Stores a new session for the user. Sessions are not cached, so adding or removing one
    /// leaves cached reads valid.
    pub fn create_session(
        &self,
        session_hash: &str,
        user_id: i64,
        csrf_token: &str,
        created_unix: i64,
        expires_unix: i64,
    ) -> Result<WebSession, DbError> {
        self.write_additive(|c| {
            Ok(run!(c, |c| diesel::insert_into(web_session::table)
                .values((
                    web_session::session_hash.eq(session_hash),
                    web_session::user_id.eq(user_id),
                    web_session::csrf_token.eq(csrf_token),
                    web_session::created_unix.eq(created_unix),
                    web_session::expires_unix.eq(expires_unix),
                ))
                .returning(WebSession::as_returning())
                .get_result(c))?)
        })
    }

    /// The unexpired session with this hash and its user.
    pub fn session_with_user(
        &self,
        session_hash: &str,
        now_unix: i64,
    ) -> Result<Option<(WebSession, User)>, DbError> {
        self.read(|c| {
            let row = run!(c, |c| web_session::table
                .inner_join(users::table)
                .filter(web_session::session_hash.eq(session_hash))
                .filter(web_session::expires_unix.gt(now_unix))
                .select((WebSession::as_select(), UserRow::as_select()))
                .first::<(WebSession, UserRow)>(c)
                .optional())?;
            Ok(row.map(|(s, u)| (s, u.into())))
        })
    }

    /// Ends a session; false when there was none.
    pub fn delete_session(&self, session_hash: &str) -> Result<bool, DbError> {
        self.write_additive(|c| {
            let n = run!(c, |c| diesel::delete(
                web_session::table.filter(web_session::session_hash.eq(session_hash))
            )
            .execute(c))?;
            Ok(n > 0)
        })
    }

    /// Removes sessions that expired before `now_unix`; returns how many.
    pub fn delete_expired_sessions(&self, now_unix: i64) -> Result<u64, DbError> {
        self.write_additive(|c| {
            let n = run!(c, |c| diesel::delete(
                web_session::table.filter(web_session::expires_unix.le(now_unix))
            )
            .execute(c))?;
            Ok(n as u64)
        })
    }
}
