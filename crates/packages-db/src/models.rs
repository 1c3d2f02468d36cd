//! Rows as the rest of the server sees them, and the inputs of the operations that create or
//! change them.

use diesel::prelude::*;
use packages_core::{lower, AccessMode, Digests, Limit, OwnerKind, PackageType, Visibility};

use crate::schema::{
    access_token, package, package_blob, package_file, package_version, team, users,
};

/// The stored integer form of an access mode (0 none, 1 read, 2 write, 3 admin, 4 owner).
pub fn access_mode_to_i16(mode: AccessMode) -> i16 {
    match mode {
        AccessMode::None => 0,
        AccessMode::Read => 1,
        AccessMode::Write => 2,
        AccessMode::Admin => 3,
        AccessMode::Owner => 4,
    }
}

/// Reads a stored access mode; unknown values grant nothing.
pub fn access_mode_from_i16(v: i16) -> AccessMode {
    match v {
        1 => AccessMode::Read,
        2 => AccessMode::Write,
        3 => AccessMode::Admin,
        4 => AccessMode::Owner,
        _ => AccessMode::None,
    }
}

/// A user or an organisation; both share one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub lower_name: String,
    pub kind: OwnerKind,
    pub full_name: String,
    pub description: String,
    pub email: String,
    pub lower_email: String,
    /// `None` for organisations, which cannot sign in.
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub is_active: bool,
    pub prohibit_login: bool,
    pub is_restricted: bool,
    pub visibility: Visibility,
    pub must_change_password: bool,
    pub created_unix: i64,
    pub updated_unix: i64,
    /// 0 until the first sign-in.
    pub last_login_unix: i64,
    /// Profile link shown by the API; may be empty.
    pub website: String,
    /// Free-text location shown by the API; may be empty.
    pub location: String,
}

impl User {
    /// True for organisations.
    pub fn is_org(&self) -> bool {
        self.kind == OwnerKind::Organization
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    id: i64,
    name: String,
    lower_name: String,
    kind: i16,
    full_name: String,
    description: String,
    email: String,
    lower_email: String,
    password_hash: Option<String>,
    is_admin: bool,
    is_active: bool,
    prohibit_login: bool,
    is_restricted: bool,
    visibility: i16,
    must_change_password: bool,
    created_unix: i64,
    updated_unix: i64,
    last_login_unix: i64,
    website: String,
    location: String,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            name: r.name,
            lower_name: r.lower_name,
            kind: OwnerKind::from_i16(r.kind),
            full_name: r.full_name,
            description: r.description,
            email: r.email,
            lower_email: r.lower_email,
            password_hash: r.password_hash,
            is_admin: r.is_admin,
            is_active: r.is_active,
            prohibit_login: r.prohibit_login,
            is_restricted: r.is_restricted,
            visibility: Visibility::from_i16(r.visibility),
            must_change_password: r.must_change_password,
            created_unix: r.created_unix,
            updated_unix: r.updated_unix,
            last_login_unix: r.last_login_unix,
            website: r.website,
            location: r.location,
        }
    }
}

/// A user or organisation to create. `lower_name`, `lower_email` and the timestamps are
/// derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub name: String,
    pub kind: OwnerKind,
    pub full_name: String,
    pub description: String,
    pub email: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub is_active: bool,
    pub prohibit_login: bool,
    pub is_restricted: bool,
    pub visibility: Visibility,
    pub must_change_password: bool,
    pub website: String,
    pub location: String,
}

impl NewUser {
    /// An active, public, non-admin person with the given credentials.
    pub fn user(name: &str, email: &str, password_hash: Option<String>) -> NewUser {
        NewUser {
            name: name.to_owned(),
            kind: OwnerKind::User,
            full_name: String::new(),
            description: String::new(),
            email: email.to_owned(),
            password_hash,
            is_admin: false,
            is_active: true,
            prohibit_login: false,
            is_restricted: false,
            visibility: Visibility::Public,
            must_change_password: false,
            website: String::new(),
            location: String::new(),
        }
    }

    /// An active organisation with the given visibility.
    pub fn org(name: &str, visibility: Visibility) -> NewUser {
        NewUser {
            kind: OwnerKind::Organization,
            visibility,
            ..NewUser::user(name, "", None)
        }
    }
}

/// Changes to a user; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserChanges {
    /// `Some(None)` removes the password.
    pub password_hash: Option<Option<String>>,
    pub email: Option<String>,
    pub is_admin: Option<bool>,
    pub is_active: Option<bool>,
    pub prohibit_login: Option<bool>,
    pub visibility: Option<Visibility>,
    pub must_change_password: Option<bool>,
    pub full_name: Option<String>,
    pub description: Option<String>,
    pub is_restricted: Option<bool>,
    pub website: Option<String>,
    pub location: Option<String>,
}

/// The outcome of deleting a user or organisation that must not own anything any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerDeletion {
    /// The owner and everything hanging off it (tokens, teams, memberships) is gone.
    Deleted,
    /// No user or organisation has this id.
    NotFound,
    /// It still owns a package with at least one non-internal version; nothing was deleted.
    OwnsPackages,
    /// A user that still belongs to an organisation; nothing was deleted.
    InOrganizations,
}

/// The outcome of removing a user from a team while keeping every organisation owned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamMemberRemoval {
    /// The user was in the team and is not any more.
    Removed,
    /// The team does not exist or the user was not in it; nothing changed.
    NotMember,
    /// The user is the organisation's last owner; nothing changed.
    LastOwner,
}

/// A personal access token; only the hash of the secret is stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = access_token)]
pub struct AccessToken {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub token_last_eight: String,
    /// Comma-separated scope names, as given at creation.
    pub scope: String,
    pub created_unix: i64,
    /// Time of the last use.
    pub updated_unix: i64,
}

/// A token to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccessToken {
    pub user_id: i64,
    pub name: String,
    pub token_hash: String,
    pub token_last_eight: String,
    pub scope: String,
}

/// A team of an organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Team {
    pub id: i64,
    pub org_id: i64,
    pub name: String,
    pub lower_name: String,
    pub description: String,
    /// The team's overall level; `Owner` marks the owners team.
    pub authorize: AccessMode,
    pub includes_all_repositories: bool,
    pub can_create_org_repo: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = team)]
pub(crate) struct TeamRow {
    id: i64,
    org_id: i64,
    name: String,
    lower_name: String,
    description: String,
    authorize: i16,
    includes_all_repositories: bool,
    can_create_org_repo: bool,
}

impl From<TeamRow> for Team {
    fn from(r: TeamRow) -> Self {
        Team {
            id: r.id,
            org_id: r.org_id,
            name: r.name,
            lower_name: r.lower_name,
            description: r.description,
            authorize: access_mode_from_i16(r.authorize),
            includes_all_repositories: r.includes_all_repositories,
            can_create_org_repo: r.can_create_org_repo,
        }
    }
}

/// A team to create, with its per-unit access modes (unit names such as `repo.packages`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTeam {
    pub org_id: i64,
    pub name: String,
    pub description: String,
    pub authorize: AccessMode,
    pub includes_all_repositories: bool,
    pub units: Vec<(String, AccessMode)>,
}

/// The unit name of package access in team units.
pub const PACKAGES_UNIT: &str = "repo.packages";

/// What a user is in an organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MembershipRow {
    /// Member of the organisation (of at least one of its teams).
    pub is_member: bool,
    /// Member of a team whose `authorize` is `Owner`.
    pub is_owner: bool,
    /// The highest `authorize` over the user's teams in the organisation.
    pub max_team_authorize: AccessMode,
    /// The highest `repo.packages` unit mode over the user's teams in the organisation.
    pub max_packages_unit: AccessMode,
}

/// A package: a name under an owner and a type.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = package)]
pub struct Package {
    pub id: i64,
    pub owner_id: i64,
    /// 0 when not linked to a repository.
    pub repo_id: i64,
    /// The type's name, e.g. `generic`.
    pub package_type: String,
    /// The casing of the first upload.
    pub name: String,
    pub lower_name: String,
    pub semver_compatible: bool,
    pub is_internal: bool,
}

/// A version of a package.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = package_version)]
pub struct PackageVersion {
    pub id: i64,
    pub package_id: i64,
    /// 0 when unknown.
    pub creator_id: i64,
    pub version: String,
    pub lower_version: String,
    pub created_unix: i64,
    pub is_internal: bool,
    pub metadata_json: Option<String>,
    pub download_count: i64,
}

/// A file of a version; its content is a (possibly shared) blob.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = package_file)]
pub struct PackageFile {
    pub id: i64,
    pub version_id: i64,
    pub blob_id: i64,
    pub name: String,
    pub lower_name: String,
    pub composite_key: String,
    pub is_lead: bool,
    pub created_unix: i64,
}

/// Stored content, shared by every file with the same SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = package_blob)]
pub struct PackageBlob {
    pub id: i64,
    pub size: i64,
    pub hash_md5: String,
    pub hash_sha1: String,
    pub hash_sha256: String,
    pub hash_sha512: String,
    pub created_unix: i64,
    /// The key of the content in the blob store when it is not the SHA-256 itself.
    pub storage_key: Option<String>,
}

impl PackageBlob {
    /// The key of the content in the blob store.
    pub fn store_key(&self) -> &str {
        self.storage_key.as_deref().unwrap_or(&self.hash_sha256)
    }
}

/// Limits that an upload must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadLimits {
    /// Most non-internal versions an owner may have.
    pub total_owner_count: Limit,
    /// Most bytes all files of an owner may take, a shared blob counted once per file.
    pub total_owner_size: Limit,
    /// Site admins upload without limits.
    pub exempt: bool,
}

/// One file to add to a package version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUpload {
    pub owner_id: i64,
    pub creator_id: i64,
    pub ptype: PackageType,
    pub name: String,
    pub version: String,
    pub file_name: String,
    pub digests: Digests,
    /// Where the blob store put the content, when the key is not the SHA-256; used only
    /// when the content is new (known content keeps the key it has).
    pub storage_key: Option<String>,
    pub limits: UploadLimits,
}

/// `package_property.ref_type` of a version's properties.
pub(crate) const REF_VERSION: i16 = 0;
/// `package_property.ref_type` of a file's properties.
pub(crate) const REF_FILE: i16 = 1;
/// `package_property.ref_type` of a package's properties.
pub(crate) const REF_PACKAGE: i16 = 2;

/// What a package property belongs to (`package_property.ref_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyOf {
    Version,
    File,
    Package,
}

impl PropertyOf {
    /// The stored `ref_type`.
    pub fn ref_type(self) -> i16 {
        match self {
            PropertyOf::Version => REF_VERSION,
            PropertyOf::File => REF_FILE,
            PropertyOf::Package => REF_PACKAGE,
        }
    }
}

/// A property a format keeps beside its package, version or file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProperty {
    pub of: PropertyOf,
    pub name: String,
    pub value: String,
}

/// What a format stores with an upload beyond the shared coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDetails {
    /// The package name in the form look-ups compare (`package.lower_name`).
    pub lower_name: String,
    /// `package_version.metadata_json` of a version this upload creates.
    pub version_metadata: Option<String>,
    /// Tells apart files of one version that share a name (empty for most formats).
    pub composite_key: String,
    /// The version's main file.
    pub is_lead: bool,
    /// A version this upload creates is internal: kept, but never listed or found by the
    /// shared look-ups (a format's staging area, such as container blobs before a manifest).
    pub internal_version: bool,
    pub properties: Vec<NewProperty>,
}

impl FileDetails {
    /// The details of a format that keeps nothing of its own: the name compared
    /// case-insensitively, JSON `null` as version metadata (as the reference registry writes
    /// for such formats), one lead file per name and no properties.
    pub fn plain(name: &str) -> Self {
        FileDetails {
            lower_name: lower(name),
            version_metadata: Some("null".to_owned()),
            composite_key: String::new(),
            is_lead: true,
            internal_version: false,
            properties: Vec::new(),
        }
    }
}

/// What an upload created or reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddedFile {
    pub package_id: i64,
    pub version_id: i64,
    pub file_id: i64,
    pub blob_id: i64,
    /// The blob row is new: its content must be stored (and deleted again if the caller
    /// fails later).
    pub blob_created: bool,
    /// The version is new (the reference registry announces new versions).
    pub version_created: bool,
}

/// The result of looking a file up for download.
// Returned once per request and matched at once; boxing `Found` would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileLookup {
    /// No such (non-internal) version.
    NoVersion,
    /// The version exists but has no such file.
    NoFile { version_id: i64 },
    /// The file with its version and blob.
    Found {
        version: PackageVersion,
        file: PackageFile,
        blob: PackageBlob,
    },
}

/// The result of deleting one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteFileOutcome {
    /// No such (non-internal) version.
    NoVersion,
    /// The version exists but has no such file.
    NoFile,
    /// The file is gone; when it was the last one, so is its version.
    Deleted { version_removed: bool },
}

/// Filters of a version listing; all must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionFilter {
    /// Exact type name, e.g. `generic`; an unknown name matches nothing.
    pub package_type: Option<String>,
    /// Substring of the package name, compared lowercased with `LIKE '%q%'`; as in the
    /// reference registry `%` and `_` act as wildcards.
    pub query: Option<String>,
    /// Exact package name, compared case-insensitively.
    pub name: Option<String>,
}

/// One page of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based; 0 is read as 1.
    pub page: u64,
    /// Rows per page.
    pub limit: u64,
}

/// A version with its package and its creator (`None` once the creator is deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionListing {
    pub package: Package,
    pub version: PackageVersion,
    pub creator: Option<User>,
}

/// A browser sign-in; only the hash of the session id is stored.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = crate::schema::web_session)]
pub struct WebSession {
    pub id: i64,
    pub session_hash: String,
    pub user_id: i64,
    /// The token every form of this session must send back.
    pub csrf_token: String,
    pub created_unix: i64,
    pub expires_unix: i64,
}

/// What one package of an owner takes: its versions and the bytes of their files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageUsage {
    pub package: Package,
    pub versions: u64,
    pub bytes: u64,
}
