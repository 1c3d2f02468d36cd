//! Operations behind `forge-server admin …`, callable in-process too.

use forge_auth::TokenScopes;
use packages_core::{OwnerKind, Visibility};
use packages_db::{Database, NewAccessToken, NewUser, User, UserChanges};

use crate::config::Config;
use crate::server::{open_backends, ServerError};

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("database: {0}")]
    Database(#[from] packages_db::DbError),
    #[error("{0}")]
    Invalid(String),
    #[error("user {0:?} does not exist")]
    NoSuchUser(String),
}

fn open(config: &Config) -> Result<Database, AdminError> {
    Ok(open_backends(config)?.0)
}

fn check_owner_name(name: &str) -> Result<(), AdminError> {
    packages_core::check_owner_name(name).map_err(|e| AdminError::Invalid(e.to_string()))
}

/// Creates a user with a password.
pub fn create_user(
    config: &Config,
    username: &str,
    password: &str,
    email: &str,
    admin: bool,
) -> Result<User, AdminError> {
    create_user_with_visibility(config, username, password, email, admin, Visibility::Public)
}

/// Creates a user with a password and the given visibility.
pub fn create_user_with_visibility(
    config: &Config,
    username: &str,
    password: &str,
    email: &str,
    admin: bool,
    visibility: Visibility,
) -> Result<User, AdminError> {
    check_owner_name(username)?;
    forge_auth::validate_new_password(password).map_err(|e| AdminError::Invalid(e.to_string()))?;
    if !packages_core::is_email(email) {
        return Err(AdminError::Invalid(format!(
            "invalid email address {email:?}"
        )));
    }
    let hash = forge_auth::hash_password(password, config.auth.bcrypt_cost)
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
    let db = open(config)?;
    let user = db
        .create_user(&NewUser {
            is_admin: admin,
            visibility,
            ..NewUser::user(username, email, Some(hash))
        })
        .map_err(|e| match e {
            packages_db::DbError::Conflict(_) => {
                AdminError::Invalid(format!("the name {username:?} is already taken"))
            }
            other => other.into(),
        })?;
    Ok(user)
}

/// Sets a user's password.
pub fn change_password(config: &Config, username: &str, password: &str) -> Result<(), AdminError> {
    forge_auth::validate_new_password(password).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let db = open(config)?;
    let user = find_user(&db, username)?;
    let hash = forge_auth::hash_password(password, config.auth.bcrypt_cost)
        .map_err(|e| AdminError::Invalid(e.to_string()))?;
    db.update_user(
        user.id,
        &UserChanges {
            password_hash: Some(Some(hash)),
            ..UserChanges::default()
        },
    )?;
    Ok(())
}

/// Lists users (not organisations).
pub fn list_users(config: &Config) -> Result<Vec<User>, AdminError> {
    Ok(open(config)?.list_users(Some(OwnerKind::User))?)
}

/// Mints a personal access token and returns it; it is not stored in readable form.
pub fn generate_access_token(
    config: &Config,
    username: &str,
    token_name: &str,
    scopes: &str,
) -> Result<String, AdminError> {
    let scopes = TokenScopes::parse(scopes).map_err(|e| AdminError::Invalid(e.to_string()))?;
    if scopes.names().is_empty() {
        return Err(AdminError::Invalid(
            "a token needs at least one scope".to_owned(),
        ));
    }
    if token_name.trim().is_empty() {
        return Err(AdminError::Invalid("the token needs a name".to_owned()));
    }
    let db = open(config)?;
    let user = find_user(&db, username)?;
    let secret = forge_auth::generate_token().map_err(|e| AdminError::Invalid(e.to_string()))?;
    db.create_token(&NewAccessToken {
        user_id: user.id,
        name: token_name.to_owned(),
        token_hash: secret.hash.clone(),
        token_last_eight: secret.last_eight.clone(),
        scope: scopes.to_stored_string(),
    })
    .map_err(|e| match e {
        packages_db::DbError::Conflict(_) => AdminError::Invalid(format!(
            "{username} already has a token named {token_name:?}"
        )),
        other => other.into(),
    })?;
    Ok(secret.token.expose().to_owned())
}

/// Creates an organisation owned by `owner` (who joins its Owners team).
pub fn create_org(
    config: &Config,
    name: &str,
    owner: &str,
    visibility: Visibility,
) -> Result<User, AdminError> {
    check_owner_name(name)?;
    let db = open(config)?;
    let owner = find_user(&db, owner)?;
    let (org, _) = db
        .create_org(&NewUser::org(name, visibility), owner.id)
        .map_err(|e| match e {
            packages_db::DbError::Conflict(_) => {
                AdminError::Invalid(format!("the name {name:?} is already taken"))
            }
            other => other.into(),
        })?;
    Ok(org)
}

fn find_user(db: &Database, username: &str) -> Result<User, AdminError> {
    db.user_by_name(username)?
        .filter(|u| u.kind == OwnerKind::User)
        .ok_or_else(|| AdminError::NoSuchUser(username.to_owned()))
}
