//! Creating users, organisations and tokens: the one implementation behind
//! `POST /api/v1/admin/users`, `POST /api/v1/orgs`, `POST /api/v1/users/{username}/tokens`
//! and the admin command line, so both apply the same rules (name, e-mail format and
//! uniqueness, password policy, scopes). Blocking.

use forge_auth::{Secret, TokenScopes};
use packages_core::Visibility;
use packages_db::{AccessToken, Database, NewAccessToken, NewUser, User};

use crate::error::{ServiceError, ServiceResult};
use crate::validate;

/// What a new user account is made of.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: Secret,
    pub full_name: String,
    pub visibility: Visibility,
    pub is_admin: bool,
    pub restricted: bool,
    pub must_change_password: bool,
}

impl NewAccount {
    /// A public, unrestricted account that need not change its password.
    pub fn new(username: &str, email: &str, password: &str) -> Self {
        NewAccount {
            username: username.to_owned(),
            email: email.to_owned(),
            password: Secret::new(password),
            full_name: String::new(),
            visibility: Visibility::Public,
            is_admin: false,
            restricted: false,
            must_change_password: false,
        }
    }
}

/// Checks a new password against the policy (400) and hashes it.
pub fn hash_new_password(password: &str, bcrypt_cost: u32) -> ServiceResult<String> {
    if password.is_empty() {
        return Err(ServiceError::BadInput("a password is required".to_owned()));
    }
    forge_auth::validate_new_password(password)
        .map_err(|e| ServiceError::BadInput(e.to_string()))?;
    forge_auth::hash_password(password, bcrypt_cost).map_err(ServiceError::internal)
}

/// Creates a user: 422 for a bad or taken name or e-mail address, 400 for a password the
/// policy refuses.
pub fn create_user(db: &Database, bcrypt_cost: u32, new: &NewAccount) -> ServiceResult<User> {
    validate::owner_name(&new.username)?;
    validate::email(&new.email)?;
    validate::max_chars("full_name", &new.full_name, 100)?;
    let hash = hash_new_password(new.password.expose(), bcrypt_cost)?;
    if db.email_in_use(&new.email, None)? {
        return Err(ServiceError::Refused(format!(
            "e-mail already in use [email: {}]",
            new.email
        )));
    }
    let row = NewUser {
        full_name: new.full_name.clone(),
        visibility: new.visibility,
        is_admin: new.is_admin,
        is_restricted: new.restricted,
        must_change_password: new.must_change_password,
        ..NewUser::user(&new.username, &new.email, Some(hash))
    };
    db.create_user(&row)
        .map_err(validate::name_taken(&new.username, &new.email))
}

/// Creates an organisation from `new` (an organisation row: `NewUser::org` with its
/// details) and makes `creator` its first owner: 422 for a bad or taken name, a bad e-mail
/// address or website, or details longer than Gitea takes.
pub fn create_org(db: &Database, creator: &User, new: &NewUser) -> ServiceResult<User> {
    validate::owner_name(&new.name)?;
    validate::max_chars("full_name", &new.full_name, 100)?;
    validate::max_chars("email", &new.email, 255)?;
    validate::max_chars("description", &new.description, 255)?;
    validate::max_chars("location", &new.location, 50)?;
    validate::website(&new.website)?;
    if !new.email.is_empty() && !validate::is_email(&new.email) {
        return Err(ServiceError::Refused(format!(
            "e-mail invalid [email: {}]",
            new.email
        )));
    }
    let (org, _) = db
        .create_org(new, creator.id)
        .map_err(validate::name_taken(&new.name, &new.email))?;
    Ok(org)
}

/// Mints a personal access token for `user`: 400 for an empty or long name, no scopes or a
/// name the user already gave a token. The token itself is returned once, never stored.
pub fn create_token(
    db: &Database,
    user: &User,
    name: &str,
    scopes: &TokenScopes,
) -> ServiceResult<(AccessToken, Secret)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 255 {
        return Err(ServiceError::BadInput(
            "token name must be 1 to 255 bytes".to_owned(),
        ));
    }
    if scopes.names().is_empty() {
        return Err(ServiceError::BadInput(
            "a token needs at least one scope".to_owned(),
        ));
    }
    let secret = forge_auth::generate_token().map_err(ServiceError::internal)?;
    let row = db
        .create_token(&NewAccessToken {
            user_id: user.id,
            name: name.to_owned(),
            token_hash: secret.hash.clone(),
            token_last_eight: secret.last_eight.clone(),
            scope: scopes.to_stored_string(),
        })
        .map_err(|e| match e {
            packages_db::DbError::Conflict(_) => {
                ServiceError::BadInput("access token name has been used already".to_owned())
            }
            other => other.into(),
        })?;
    Ok((row, secret.token))
}

/// Reads token scopes as clients send them: each element may hold a comma-separated list.
pub fn parse_scopes(scopes: &[String]) -> ServiceResult<TokenScopes> {
    TokenScopes::parse_list(scopes)
        .map_err(|e| ServiceError::BadInput(format!("invalid token scopes: {e}")))
}

/// Deletes one of `user`'s tokens by id or name.
pub fn delete_token(db: &Database, user: &User, token: &str) -> ServiceResult<()> {
    if db.delete_token(user.id, token)? {
        Ok(())
    } else {
        Err(ServiceError::NotFound("access token does not exist"))
    }
}
