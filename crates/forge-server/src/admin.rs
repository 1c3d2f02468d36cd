//! Operations behind `forge-server admin …`, callable in-process too.

use forge_auth::TokenScopes;
use packages_core::{OwnerKind, Visibility};
use packages_db::{CleanupRule, Database, Job, NewUser, User};
use packages_service::accounts::{self, NewAccount};
use packages_service::cleanup_rules::{self as rules, Removal, RuleInput, RunReport};
use packages_service::users;

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
    Rejected(#[from] packages_service::ServiceError),
    #[error("user {0:?} does not exist")]
    NoSuchUser(String),
}

fn open(config: &Config) -> Result<Database, AdminError> {
    Ok(open_backends(config)?.0)
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

/// Sets a user's password, with the rules of the API's user edit.
pub fn change_password(config: &Config, username: &str, password: &str) -> Result<(), AdminError> {
    let db = open(config)?;
    let user = find_user(&db, username)?;
    users::change_password(&db, config.auth.bcrypt_cost, None, &user, password)?;
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

/// Creates an organisation owned by `owner` (who joins its Owners team), with the API's
/// rules (name, uniqueness).
pub fn create_org(
    config: &Config,
    name: &str,
    owner: &str,
    visibility: Visibility,
) -> Result<User, AdminError> {
    let db = open(config)?;
    let owner = find_user(&db, owner)?;
    Ok(accounts::create_org(
        &db,
        &owner,
        &NewUser::org(name, visibility),
    )?)
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

/// Finds a user or organisation by name.
fn find_owner(db: &Database, name: &str) -> Result<User, AdminError> {
    db.user_by_name(name)?
        .ok_or_else(|| AdminError::NoSuchUser(name.to_owned()))
}

/// The owner's package cleanup rules (`admin cleanup-rules list`).
pub fn cleanup_rules(config: &Config, owner: &str) -> Result<Vec<CleanupRule>, AdminError> {
    let db = open(config)?;
    let owner = find_owner(&db, owner)?;
    Ok(rules::list(&db, &owner)?)
}

/// Adds a cleanup rule for the owner, with the API's checks (`admin cleanup-rules add`).
pub fn add_cleanup_rule(
    config: &Config,
    owner: &str,
    input: RuleInput,
) -> Result<CleanupRule, AdminError> {
    let db = open(config)?;
    let owner = find_owner(&db, owner)?;
    Ok(rules::create(
        &db,
        &crate::formats::production().types(),
        &owner,
        input,
    )?)
}

/// Changes the given fields of a rule (`admin cleanup-rules edit`).
pub fn edit_cleanup_rule(
    config: &Config,
    id: i64,
    input: RuleInput,
) -> Result<CleanupRule, AdminError> {
    let db = open(config)?;
    let rule = rules::by_id(&db, id)?;
    Ok(rules::edit(
        &db,
        &crate::formats::production().types(),
        &rule,
        input,
    )?)
}

/// Deletes a rule (`admin cleanup-rules remove`).
pub fn remove_cleanup_rule(config: &Config, id: i64) -> Result<(), AdminError> {
    let db = open(config)?;
    let rule = rules::by_id(&db, id)?;
    Ok(rules::delete(&db, &rule)?)
}

/// The versions a rule would remove now (`admin cleanup-rules preview`).
pub fn preview_cleanup_rule(config: &Config, id: i64) -> Result<Vec<Removal>, AdminError> {
    let db = open(config)?;
    let rule = rules::by_id(&db, id)?;
    Ok(rules::preview(&db, &rule)?)
}

/// Applies one rule, enabled or not, or else every enabled rule as the background job does
/// (`admin cleanup-rules run`); the content of removed versions is left to the sweep.
pub fn run_cleanup_rules(config: &Config, id: Option<i64>) -> Result<RunReport, AdminError> {
    let db = open(config)?;
    match id {
        Some(id) => {
            let rule = rules::by_id(&db, id)?;
            Ok(RunReport {
                rules: 1,
                removed: rules::apply(&db, &rule)?,
                failed: Vec::new(),
            })
        }
        None => db
            .run_exclusive(Job::CleanupRules, || rules::apply_enabled(&db))?
            .ok_or_else(|| {
                AdminError::Invalid(
                    "another process is applying the cleanup rules now; try again later".to_owned(),
                )
            })?
            .map_err(AdminError::from),
    }
}
