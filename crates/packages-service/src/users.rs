//! Changing and deleting user accounts: the rules `/api/v1/admin/users` and `forge-server
//! admin user` share (field checks, the e-mail in use, the last site administrator, no
//! self-delete, a new password forgetting verified ones). Blocking.

use forge_auth::VerifiedPasswordCache;
use packages_core::lower;
use packages_db::{Database, OwnerDeletion, User, UserChanges};

use crate::accounts;
use crate::error::{ServiceError, ServiceResult};
use crate::validate;

/// What to change of a user; absent fields keep their value. Empty password and visibility
/// mean unchanged, as in Gitea.
#[derive(Debug, Clone, Default)]
pub struct UserEdit {
    pub email: Option<String>,
    pub full_name: Option<String>,
    pub password: Option<String>,
    pub must_change_password: Option<bool>,
    pub website: Option<String>,
    pub location: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
    pub admin: Option<bool>,
    pub prohibit_login: Option<bool>,
    pub restricted: Option<bool>,
    pub visibility: Option<String>,
}

/// The user (not organisation) of this name: 404 unknown, 422 an organisation.
pub fn target_user(db: &Database, username: &str) -> ServiceResult<User> {
    let user = db
        .user_by_name(username)?
        .ok_or(ServiceError::NotFound("user does not exist"))?;
    if user.kind == packages_core::OwnerKind::Organization {
        return Err(ServiceError::Refused(format!(
            "{} is an organization not a user",
            user.name
        )));
    }
    Ok(user)
}

/// Checks an edit and applies it. A changed password drops the verified passwords `cache`
/// holds for the user (a server's own cache; the command line has none).
pub fn edit_user(
    db: &Database,
    bcrypt_cost: u32,
    cache: Option<&VerifiedPasswordCache>,
    user: &User,
    edit: UserEdit,
) -> ServiceResult<User> {
    let changes = changes_of(db, bcrypt_cost, user, edit)?;
    let updated = db.update_user(user.id, &changes).map_err(|e| match e {
        // Gitea answers 400 here where creation answers 422.
        packages_db::DbError::EmailTaken => ServiceError::BadInput(validate::email_taken_message(
            changes.email.as_deref().unwrap_or_default(),
        )),
        other => other.into(),
    })?;
    if changes.password_hash.is_some() {
        // The cache is keyed by the stored hash, so the old password already misses;
        // dropping the entries also frees them at once.
        if let Some(cache) = cache {
            cache.forget_user(&user.lower_name);
        }
    }
    Ok(updated)
}

/// Sets a user's password, with the rules of any other edit.
pub fn change_password(
    db: &Database,
    bcrypt_cost: u32,
    cache: Option<&VerifiedPasswordCache>,
    user: &User,
    password: &str,
) -> ServiceResult<User> {
    let edit = UserEdit {
        password: Some(password.to_owned()),
        ..UserEdit::default()
    };
    edit_user(db, bcrypt_cost, cache, user, edit)
}

/// Validates an edit and turns it into column changes (bcrypt, look-ups).
fn changes_of(
    db: &Database,
    bcrypt_cost: u32,
    user: &User,
    edit: UserEdit,
) -> ServiceResult<UserChanges> {
    let visibility = match edit.visibility.as_deref() {
        Some(v) => validate::visibility(v)?,
        None => None,
    };
    for (field, value, max) in [
        ("full_name", &edit.full_name, 100),
        ("description", &edit.description, 255),
        ("location", &edit.location, 50),
    ] {
        if let Some(value) = value {
            validate::max_chars(field, value, max)?;
        }
    }
    if let Some(website) = &edit.website {
        validate::website(website)?;
    }
    let password_hash = match edit.password.as_deref() {
        None | Some("") => None,
        Some(password) => Some(Some(accounts::hash_new_password(password, bcrypt_cost)?)),
    };
    if let Some(email) = &edit.email {
        // Gitea answers 400 here where creation answers 422.
        if !validate::is_email(email) {
            return Err(ServiceError::BadInput(format!(
                "e-mail invalid [email: {email}]"
            )));
        }
        if lower(email) != user.lower_email && db.email_in_use(email, Some(user.id))? {
            return Err(ServiceError::BadInput(format!(
                "e-mail already in use [email: {email}]"
            )));
        }
    }
    // The last-administrator rule is the database's, checked inside the update's
    // transaction with the administrators' rows locked (`Database::update_user`).
    Ok(UserChanges {
        password_hash,
        email: edit.email,
        is_admin: edit.admin,
        is_active: edit.active,
        prohibit_login: edit.prohibit_login,
        visibility,
        must_change_password: edit.must_change_password,
        full_name: edit.full_name,
        description: edit.description,
        is_restricted: edit.restricted,
        website: edit.website,
        location: edit.location,
    })
}

/// Deletes a user that owns no packages and belongs to no organisation; nobody deletes
/// themselves (`doer_id`, when a signed-in user asks).
pub fn delete_user(
    db: &Database,
    cache: Option<&VerifiedPasswordCache>,
    doer_id: Option<i64>,
    user: &User,
) -> ServiceResult<()> {
    if doer_id == Some(user.id) {
        return Err(ServiceError::Refused(
            "you cannot delete yourself".to_owned(),
        ));
    }
    match db.delete_owner_if_unused(user.id)? {
        OwnerDeletion::Deleted => {
            if let Some(cache) = cache {
                cache.forget_user(&user.lower_name);
            }
            Ok(())
        }
        OwnerDeletion::NotFound => Err(ServiceError::NotFound("user does not exist")),
        OwnerDeletion::OwnsPackages => Err(ServiceError::Refused(
            "user still has ownership of packages".to_owned(),
        )),
        OwnerDeletion::InOrganizations => Err(ServiceError::Refused(
            "user still has membership of organizations".to_owned(),
        )),
    }
}
