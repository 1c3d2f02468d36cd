//! The JSON shapes of the `/api/v1` API, with Gitea's field names and order, and the rules
//! for what each caller may see of a user.
//!
//! Links (`html_url`) are absolute: the base is the scheme and host the request came in on
//! (actix's connection info, which honours `Forwarded`/`X-Forwarded-*`). A server behind a
//! proxy under a sub-path would need a configured base URL; none exists yet.

use std::collections::BTreeMap;

use forge_auth::{Doer, GHOST_USER_ID};
use packages_core::{AccessMode, Visibility};
use packages_db::{PackageBlob, PackageFile, Team, User, VersionListing};
use serde::Serialize;

use crate::urls::{path_escape, Site};
use packages_core::clock::rfc3339;

/// The Go zero time, which Gitea shows for dates a caller may not see.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Name of the placeholder shown for a deleted user.
const GHOST_NAME: &str = "Ghost";

/// The name of an access mode in the API (`none`, `read`, `write`, `admin`, `owner`).
pub fn access_mode_name(mode: AccessMode) -> &'static str {
    match mode {
        AccessMode::None => "none",
        AccessMode::Read => "read",
        AccessMode::Write => "write",
        AccessMode::Admin => "admin",
        AccessMode::Owner => "owner",
    }
}

/// A user as the API shows it (Gitea's `User`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UserJson {
    pub id: i64,
    pub login: String,
    /// Sign-in name at an external source; local accounts have none.
    pub login_name: String,
    pub source_id: i64,
    pub full_name: String,
    pub email: String,
    pub avatar_url: String,
    pub html_url: String,
    pub language: String,
    pub is_admin: bool,
    pub last_login: String,
    pub created: String,
    pub restricted: bool,
    pub active: bool,
    pub prohibit_login: bool,
    pub location: String,
    pub pronouns: String,
    pub website: String,
    pub description: String,
    #[schema(value_type = String)]
    pub visibility: &'static str,
    pub followers_count: i64,
    pub following_count: i64,
    pub starred_repos_count: i64,
    /// Same as `login`; older clients read this one.
    pub username: String,
}

/// An organisation as the API shows it (Gitea's `Organization`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct OrgJson {
    pub id: i64,
    pub name: String,
    pub full_name: String,
    pub email: String,
    pub avatar_url: String,
    pub description: String,
    pub website: String,
    pub location: String,
    #[schema(value_type = String)]
    pub visibility: &'static str,
    /// Repositories do not exist here; always false.
    pub repo_admin_change_team_access: bool,
    /// Same as `name`; older clients read this one.
    pub username: String,
}

/// A team as the API shows it (Gitea's `Team`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TeamJson {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub organization: Option<OrgJson>,
    pub includes_all_repositories: bool,
    #[schema(value_type = String)]
    pub permission: &'static str,
    pub units: Vec<String>,
    #[schema(value_type = BTreeMap<String, String>)]
    pub units_map: BTreeMap<String, &'static str>,
    pub can_create_org_repo: bool,
}

/// A package version as the API shows it (Gitea's `Package`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PackageJson {
    /// The version's id.
    pub id: i64,
    pub owner: UserJson,
    /// Packages are never linked to repositories here.
    #[schema(value_type = Option<Object>)]
    pub repository: Option<()>,
    pub creator: UserJson,
    #[serde(rename = "type")]
    pub package_type: String,
    pub name: String,
    pub version: String,
    pub html_url: String,
    pub created_at: String,
}

/// A file of a package version (Gitea's `PackageFile`; `Size` is capitalised upstream).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PackageFileJson {
    pub id: i64,
    #[serde(rename = "Size")]
    pub size: i64,
    pub name: String,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    pub sha512: String,
}

impl PackageFileJson {
    /// The file with its content's digests.
    pub fn new(file: &PackageFile, blob: &PackageBlob) -> Self {
        PackageFileJson {
            id: file.id,
            size: blob.size,
            name: file.name.clone(),
            md5: blob.hash_md5.clone(),
            sha1: blob.hash_sha1.clone(),
            sha256: blob.hash_sha256.clone(),
            sha512: blob.hash_sha512.clone(),
        }
    }
}

/// Renders rows for one caller: what a user's JSON holds depends on who asks.
#[derive(Debug, Clone)]
pub struct Presenter {
    site: Site,
    doer: Option<Doer>,
}

impl Presenter {
    /// A presenter for `doer` (None when anonymous) on `site`.
    pub fn new(site: Site, doer: Option<Doer>) -> Self {
        Presenter { site, doer }
    }

    /// The site links point to.
    pub fn site(&self) -> &Site {
        &self.site
    }

    /// Whether the caller may see the private fields of `user_id`: itself or a site admin.
    fn sees_private_fields_of(&self, user_id: i64) -> bool {
        self.doer.is_some_and(|d| d.is_admin || d.id == user_id)
    }

    /// A user (or an organisation shown as a user, as package owners are). Signed-in callers
    /// see the e-mail address, anonymous ones a placeholder; only the user itself and site
    /// admins see the account state.
    pub fn user(&self, user: &User) -> UserJson {
        let full = self.sees_private_fields_of(user.id);
        let email = if self.doer.is_some() {
            user.email.clone()
        } else {
            self.placeholder_email(&user.lower_name)
        };
        UserJson {
            id: user.id,
            login: user.name.clone(),
            login_name: String::new(),
            source_id: 0,
            full_name: user.full_name.clone(),
            email,
            avatar_url: String::new(),
            html_url: self.site.owner_url(&user.name),
            language: String::new(),
            is_admin: full && user.is_admin,
            // Never signed in reads as the zero time, as for callers who may not see it.
            last_login: if full && user.last_login_unix > 0 {
                rfc3339(user.last_login_unix)
            } else {
                ZERO_TIME.to_owned()
            },
            created: rfc3339(user.created_unix),
            restricted: user.is_restricted,
            active: full && user.is_active,
            prohibit_login: full && user.prohibit_login,
            location: user.location.clone(),
            pronouns: String::new(),
            website: user.website.clone(),
            description: user.description.clone(),
            visibility: user.visibility.as_str(),
            followers_count: 0,
            following_count: 0,
            starred_repos_count: 0,
            username: user.name.clone(),
        }
    }

    /// The placeholder for a deleted user (id -1, `Ghost`), as Gitea shows it.
    pub fn ghost(&self) -> UserJson {
        UserJson {
            id: GHOST_USER_ID,
            login: GHOST_NAME.to_owned(),
            login_name: String::new(),
            source_id: 0,
            full_name: String::new(),
            email: if self.doer.is_some() {
                String::new()
            } else {
                self.placeholder_email(&GHOST_NAME.to_ascii_lowercase())
            },
            avatar_url: String::new(),
            html_url: self.site.owner_url(GHOST_NAME),
            language: String::new(),
            is_admin: false,
            last_login: ZERO_TIME.to_owned(),
            created: rfc3339(0),
            restricted: false,
            active: false,
            prohibit_login: false,
            location: String::new(),
            pronouns: String::new(),
            website: String::new(),
            description: String::new(),
            visibility: Visibility::Public.as_str(),
            followers_count: 0,
            following_count: 0,
            starred_repos_count: 0,
            username: GHOST_NAME.to_owned(),
        }
    }

    fn placeholder_email(&self, lower_name: &str) -> String {
        format!("{lower_name}@{}", self.site.noreply_domain)
    }

    /// An organisation.
    pub fn org(&self, org: &User) -> OrgJson {
        OrgJson {
            id: org.id,
            name: org.name.clone(),
            full_name: org.full_name.clone(),
            email: org.email.clone(),
            avatar_url: String::new(),
            description: org.description.clone(),
            website: org.website.clone(),
            location: org.location.clone(),
            visibility: org.visibility.as_str(),
            repo_admin_change_team_access: false,
            username: org.name.clone(),
        }
    }

    /// A team with its units, inside `org`.
    pub fn team(&self, team: &Team, units: &[(String, AccessMode)], org: &User) -> TeamJson {
        TeamJson {
            id: team.id,
            name: team.name.clone(),
            description: team.description.clone(),
            organization: Some(self.org(org)),
            includes_all_repositories: team.includes_all_repositories,
            permission: access_mode_name(team.authorize),
            units: units.iter().map(|(unit, _)| unit.clone()).collect(),
            units_map: units
                .iter()
                .map(|(unit, mode)| (unit.clone(), access_mode_name(*mode)))
                .collect(),
            can_create_org_repo: team.can_create_org_repo,
        }
    }

    /// A package version of `owner`.
    pub fn package(&self, owner: &User, row: &VersionListing) -> PackageJson {
        let html_url = format!(
            "{}/-/packages/{}/{}/{}",
            self.site.owner_url(&owner.name),
            path_escape(&row.package.package_type),
            path_escape(&row.package.lower_name),
            path_escape(&row.version.lower_version),
        );
        PackageJson {
            id: row.version.id,
            owner: self.user(owner),
            repository: None,
            creator: row
                .creator
                .as_ref()
                .map_or_else(|| self.ghost(), |c| self.user(c)),
            package_type: row.package.package_type.clone(),
            name: row.package.name.clone(),
            version: row.version.version.clone(),
            html_url,
            created_at: rfc3339(row.version.created_unix),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::urls::Site;
    use packages_core::OwnerKind;
    use packages_db::{Package, PackageVersion};

    fn alice() -> User {
        User {
            id: 7,
            name: "Alice".into(),
            lower_name: "alice".into(),
            kind: OwnerKind::User,
            full_name: "Alice A.".into(),
            description: "about".into(),
            email: "alice@example.com".into(),
            lower_email: "alice@example.com".into(),
            password_hash: None,
            is_admin: true,
            is_active: true,
            prohibit_login: false,
            is_restricted: false,
            visibility: Visibility::Limited,
            must_change_password: false,
            created_unix: 1_700_000_000,
            updated_unix: 1_700_000_000,
            last_login_unix: 0,
            website: "https://a.example".into(),
            location: "Here".into(),
        }
    }

    fn doer(id: i64, is_admin: bool) -> Doer {
        Doer {
            id,
            is_admin,
            is_active: true,
            prohibit_login: false,
            is_restricted: false,
        }
    }

    fn presenter(doer: Option<Doer>) -> Presenter {
        Presenter::new(Site::new("http", "pkg.example:3000"), doer)
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(4_102_444_800), "2100-01-01T00:00:00Z");
    }

    #[test]
    fn path_segments_escape_like_go() {
        assert_eq!(path_escape("a b/c;d,e?f"), "a%20b%2Fc%3Bd%2Ce%3Ff");
        assert_eq!(path_escape("v1.0+build~x:y=z@w$&"), "v1.0+build~x:y=z@w$&");
        assert_eq!(path_escape("ä%"), "%C3%A4%25");
    }

    #[test]
    fn sites_from_hosts() {
        let site = Site::new("https", "example.com:8443");
        assert_eq!(site.base_url, "https://example.com:8443");
        assert_eq!(site.noreply_domain, "noreply.example.com");
        assert_eq!(
            Site::new("http", "[::1]:3000").noreply_domain,
            "noreply.[::1]"
        );
        assert_eq!(Site::new("http", "host").noreply_domain, "noreply.host");
        assert_eq!(site.owner_url("a b"), "https://example.com:8443/a%20b");
    }

    #[test]
    fn user_keys_in_gitea_order() {
        let json = serde_json::to_value(presenter(None).user(&alice())).expect("json");
        let keys: Vec<&str> = json
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        // serde_json's map is ordered by key unless preserve_order is on; compare as sets
        // and check the serialised text for the order.
        let mut expected = vec![
            "id",
            "login",
            "login_name",
            "source_id",
            "full_name",
            "email",
            "avatar_url",
            "html_url",
            "language",
            "is_admin",
            "last_login",
            "created",
            "restricted",
            "active",
            "prohibit_login",
            "location",
            "pronouns",
            "website",
            "description",
            "visibility",
            "followers_count",
            "following_count",
            "starred_repos_count",
            "username",
        ];
        let text = serde_json::to_string(&presenter(None).user(&alice())).expect("json");
        let positions: Vec<usize> = expected
            .iter()
            .map(|k| text.find(&format!("\"{k}\":")).expect("key present"))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        let mut keys = keys;
        keys.sort_unstable();
        expected.sort_unstable();
        assert_eq!(keys, expected);
    }

    #[test]
    fn privacy_of_user_fields() {
        let a = alice();
        let anonymous = presenter(None).user(&a);
        assert_eq!(anonymous.email, "alice@noreply.pkg.example");
        assert!(!anonymous.is_admin && !anonymous.active && !anonymous.prohibit_login);
        assert_eq!(anonymous.last_login, ZERO_TIME);
        assert_eq!(anonymous.created, "2023-11-14T22:13:20Z");
        assert_eq!(anonymous.html_url, "http://pkg.example:3000/Alice");
        assert_eq!(anonymous.visibility, "limited");
        assert_eq!(anonymous.username, "Alice");

        let other = presenter(Some(doer(8, false))).user(&a);
        assert_eq!(other.email, "alice@example.com");
        assert!(!other.is_admin && !other.active);
        assert_eq!(other.last_login, ZERO_TIME);

        for viewer in [doer(7, false), doer(8, true)] {
            let full = presenter(Some(viewer)).user(&a);
            assert!(full.is_admin && full.active);
            assert_eq!(full.last_login, ZERO_TIME);
        }
    }

    #[test]
    fn package_and_file_shapes() {
        let owner = alice();
        let row = VersionListing {
            package: Package {
                id: 1,
                owner_id: 7,
                repo_id: 0,
                package_type: "generic".into(),
                name: "My Pkg".into(),
                lower_name: "my pkg".into(),
                semver_compatible: false,
                is_internal: false,
            },
            version: PackageVersion {
                id: 42,
                package_id: 1,
                creator_id: 99,
                version: "V1/x".into(),
                lower_version: "v1/x".into(),
                created_unix: 0,
                is_internal: false,
                metadata_json: None,
                download_count: 0,
            },
            creator: None,
        };
        let json = serde_json::to_value(presenter(None).package(&owner, &row)).expect("json");
        assert_eq!(json["id"], 42);
        assert_eq!(json["repository"], serde_json::Value::Null);
        assert_eq!(json["type"], "generic");
        assert_eq!(json["name"], "My Pkg");
        assert_eq!(json["version"], "V1/x");
        assert_eq!(
            json["html_url"],
            "http://pkg.example:3000/Alice/-/packages/generic/my%20pkg/v1%2Fx"
        );
        assert_eq!(json["created_at"], "1970-01-01T00:00:00Z");
        assert_eq!(json["creator"]["id"], -1);
        assert_eq!(json["creator"]["login"], "Ghost");
        assert_eq!(json["owner"]["login"], "Alice");

        let file = PackageFile {
            id: 3,
            version_id: 42,
            blob_id: 5,
            name: "f.bin".into(),
            lower_name: "f.bin".into(),
            composite_key: String::new(),
            is_lead: true,
            created_unix: 0,
        };
        let blob = PackageBlob {
            id: 5,
            size: 9,
            hash_md5: "m".into(),
            hash_sha1: "s1".into(),
            hash_sha256: "s256".into(),
            hash_sha512: "s512".into(),
            created_unix: 0,
            storage_key: None,
        };
        let text = serde_json::to_string(&PackageFileJson::new(&file, &blob)).expect("json");
        assert_eq!(
            text,
            r#"{"id":3,"Size":9,"name":"f.bin","md5":"m","sha1":"s1","sha256":"s256","sha512":"s512"}"#
        );
    }

    #[test]
    fn team_shape() {
        let org = User {
            kind: OwnerKind::Organization,
            name: "Org".into(),
            lower_name: "org".into(),
            ..alice()
        };
        let team = Team {
            id: 4,
            org_id: org.id,
            name: "Devs".into(),
            lower_name: "devs".into(),
            description: String::new(),
            authorize: AccessMode::Write,
            includes_all_repositories: false,
            can_create_org_repo: true,
        };
        let units = vec![
            ("repo.packages".to_owned(), AccessMode::Write),
            ("repo.code".to_owned(), AccessMode::Read),
        ];
        let json = serde_json::to_value(presenter(None).team(&team, &units, &org)).expect("json");
        assert_eq!(json["permission"], "write");
        assert_eq!(
            json["units"],
            serde_json::json!(["repo.packages", "repo.code"])
        );
        assert_eq!(
            json["units_map"],
            serde_json::json!({"repo.code": "read", "repo.packages": "write"})
        );
        assert_eq!(json["organization"]["name"], "Org");
        assert_eq!(json["organization"]["username"], "Org");
        assert_eq!(json["organization"]["repo_admin_change_team_access"], false);
        assert_eq!(json["can_create_org_repo"], true);
    }
}
