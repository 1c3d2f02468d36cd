//! Operations behind `forge-server admin …`, callable in-process too.

use forge_auth::TokenScopes;
use packages_api::accounts::{self, NewAccount};
use packages_core::{OwnerKind, Visibility};
use packages_db::{Database, NewUser, User, UserChanges};

use crate::config::Config;
use crate::server::{open_backends, ServerError};

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error("database: {0}")]
    Database(#[from] packages_db::DbError),
    #[error("storage: {0}")]
    Storage(#[from] packages_core::StorageError),
    #[error("{0}")]
    Invalid(String),
    /// Refused by the rules the API applies too.
    #[error("{0}")]
    Rejected(#[from] packages_api::ApiError),
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

/// Creates a user with a password and the given visibility, with the API's rules (name,
/// e-mail format and uniqueness, password policy).
pub fn create_user_with_visibility(
    config: &Config,
    username: &str,
    password: &str,
    email: &str,
    admin: bool,
    visibility: Visibility,
) -> Result<User, AdminError> {
    let db = open(config)?;
    let new = NewAccount {
        is_admin: admin,
        visibility,
        ..NewAccount::new(username, email, password)
    };
    Ok(accounts::create_user(&db, config.auth.bcrypt_cost, &new)?)
}

/// Sets a user's password.
pub fn change_password(config: &Config, username: &str, password: &str) -> Result<(), AdminError> {
    let hash = accounts::hash_new_password(password, config.auth.bcrypt_cost)?;
    let db = open(config)?;
    let user = find_user(&db, username)?;
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
    let db = open(config)?;
    let user = find_user(&db, username)?;
    let (_, token) = accounts::create_token(&db, &user, token_name, &scopes)?;
    Ok(token.expose().to_owned())
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

/// Checks stored content against the database (`admin verify`); see [`crate::verify`].
pub fn verify(
    config: &Config,
    options: &crate::verify::VerifyOptions,
    out: &mut dyn std::io::Write,
) -> Result<crate::verify::VerifyReport, AdminError> {
    let (db, store) = open_backends(config)?;
    crate::verify::verify(&db, &*store, options, out).map_err(AdminError::Invalid)
}

/// Copies the local store (`storage.path`, or `packages/` in the data directory) into the
/// configured bucket and records each copy (`admin storage migrate --to s3`); see
/// [`crate::migrate`]. The local files are kept.
pub fn migrate_to_s3(
    config: &Config,
    out: &mut dyn std::io::Write,
) -> Result<crate::migrate::MigrateReport, AdminError> {
    let root = config.packages_dir();
    if !root.is_dir() {
        return Err(AdminError::Invalid(format!(
            "no local store at {} (storage.path / FORGE_STORAGE_PATH, or packages/ in FORGE_DATA_DIR)",
            root.display()
        )));
    }
    let db = crate::server::open_database(config)?;
    let bucket = crate::storage::open_s3(config)?;
    let local = packages_storage::LocalBlobStore::open(root)?;
    Ok(crate::migrate::migrate_to_s3(&db, &local, &bucket, out)?)
}
