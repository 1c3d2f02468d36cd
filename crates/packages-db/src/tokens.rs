//! Personal access tokens.

use diesel::prelude::*;

use crate::changes::Change;
use crate::error::{DbError, TxError};
use crate::models::{AccessToken, NewAccessToken, User, UserRow};
use crate::pool::{now_unix, Database};
use crate::schema::{access_token, users};

impl Database {
    /// Stores a new token. A name the user already uses (or a hash already stored) is
    /// [`DbError::Conflict`]; an unknown user is [`DbError::NotFound`].
    pub fn create_token(&self, new: &NewAccessToken) -> Result<AccessToken, DbError> {
        let now = now_unix();
        self.write_additive(|c| {
            let inserted = run!(c, |c| diesel::insert_into(access_token::table)
                .values((
                    access_token::user_id.eq(new.user_id),
                    access_token::name.eq(&new.name),
                    access_token::token_hash.eq(&new.token_hash),
                    access_token::token_last_eight.eq(&new.token_last_eight),
                    access_token::scope.eq(&new.scope),
                    access_token::created_unix.eq(now),
                    access_token::updated_unix.eq(now),
                ))
                .returning(AccessToken::as_returning())
                .get_result(c));
            inserted.map_err(|e| {
                let e = TxError::from(e);
                if e.is_unique_violation() {
                    DbError::Conflict(format!("token name {:?} is already used", new.name)).into()
                } else if e.is_foreign_key_violation() {
                    DbError::NotFound.into()
                } else {
                    e
                }
            })
        })
    }

    /// The token with this hash and its user.
    pub fn token_with_user(
        &self,
        token_hash: &str,
    ) -> Result<Option<(AccessToken, User)>, DbError> {
        self.read(|c| {
            let row = run!(c, |c| access_token::table
                .inner_join(users::table)
                .filter(access_token::token_hash.eq(token_hash))
                .select((AccessToken::as_select(), UserRow::as_select()))
                .first::<(AccessToken, UserRow)>(c)
                .optional())?;
            Ok(row.map(|(t, u)| (t, u.into())))
        })
    }

    /// Records a use of the token now.
    pub fn touch_token(&self, id: i64) -> Result<(), DbError> {
        self.touch_tokens(&[(id, now_unix())])
    }

    /// Records the last use of each `(token id, unix time)` in one transaction. Only the
    /// bookkeeping column changes, so cached reads stay valid.
    pub fn touch_tokens(&self, uses: &[(i64, i64)]) -> Result<(), DbError> {
        if uses.is_empty() {
            return Ok(());
        }
        self.write_additive(|c| {
            for &(id, at) in uses {
                run!(c, |c| diesel::update(access_token::table.find(id))
                    .set(access_token::updated_unix.eq(at))
                    .execute(c))?;
            }
            Ok(())
        })
    }

    /// The user's tokens, oldest first.
    pub fn list_tokens(&self, user_id: i64) -> Result<Vec<AccessToken>, DbError> {
        self.read(|c| {
            Ok(run!(c, |c| access_token::table
                .filter(access_token::user_id.eq(user_id))
                .select(AccessToken::as_select())
                .order(access_token::id.asc())
                .load(c))?)
        })
    }

    /// Deletes one of the user's tokens: a numeric argument names the id, anything else the
    /// name. A number that is no id of the user's tokens is tried as a name too, so tokens
    /// named like numbers stay deletable. False when nothing matched.
    pub fn delete_token(&self, user_id: i64, id_or_name: &str) -> Result<bool, DbError> {
        self.write(&[Change::Tokens(user_id)], |c| {
            if let Ok(id) = id_or_name.parse::<i64>() {
                let n = run!(c, |c| diesel::delete(
                    access_token::table
                        .filter(access_token::user_id.eq(user_id))
                        .filter(access_token::id.eq(id))
                )
                .execute(c))?;
                if n > 0 {
                    return Ok(true);
                }
            }
            let n = run!(c, |c| diesel::delete(
                access_token::table
                    .filter(access_token::user_id.eq(user_id))
                    .filter(access_token::name.eq(id_or_name))
            )
            .execute(c))?;
            Ok(n > 0)
        })
    }
}
