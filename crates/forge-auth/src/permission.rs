//! Who may read or write an owner's packages: Forgejo's owner access mode and package check.

use packages_core::{AccessMode, OwnerKind, Visibility};

use crate::scope::TokenScopes;

/// Id of Forgejo's "ghost" placeholder user, which is treated exactly like an anonymous doer.
pub const GHOST_USER_ID: i64 = -1;

/// The signed-in user making a request, reduced to what the decision needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Doer {
    pub id: i64,
    pub is_admin: bool,
    pub is_active: bool,
    pub prohibit_login: bool,
    /// Restricted users only see organisations they belong to.
    pub is_restricted: bool,
}

impl Doer {
    /// Whether the account may act at all: active and not prohibited from signing in.
    pub fn may_sign_in(&self) -> bool {
        self.is_active && !self.prohibit_login
    }

    fn is_ghost(&self) -> bool {
        self.id == GHOST_USER_ID
    }
}

/// The user or organisation owning the packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnerInfo {
    pub id: i64,
    pub kind: OwnerKind,
    pub visibility: Visibility,
}

/// The doer's standing in an organisation owner. Meaningless for user owners; the default is
/// "not a member".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// In at least one of the organisation's teams.
    pub is_member: bool,
    /// In the organisation's Owners team.
    pub is_owner: bool,
    /// Highest team `authorize` level over the doer's teams in the organisation.
    pub team_mode: AccessMode,
    /// Highest access to the packages unit over the doer's teams in the organisation.
    pub packages_unit_mode: AccessMode,
}

impl Default for Membership {
    fn default() -> Self {
        Membership {
            is_member: false,
            is_owner: false,
            team_mode: AccessMode::None,
            packages_unit_mode: AccessMode::None,
        }
    }
}

/// Why a package operation is refused. The registry answers 401 (with
/// `WWW-Authenticate: Basic realm=...`) for everything but a public-only token on a private
/// owner, which is a 403; the v1 API answers 403 for all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PackageAccessDenied {
    /// The token's scopes do not cover the operation (401).
    #[error("token does not have the required package scope")]
    ScopeMissing,
    /// A public-only token was used on a private owner (403).
    #[error("token scope is limited to public packages")]
    PublicOnlyPrivateOwner,
    /// The doer's access mode on the owner is too low (401).
    #[error("user should have specific permission or be a site admin")]
    NotAllowed,
}

/// The doer's access mode on `owner`'s packages, as Forgejo computes it for each request.
///
/// `membership` is only consulted for organisation owners; pass `Membership::default()` when
/// the doer is anonymous or not a member. Site admins get no special mode here: they are let
/// through later by [`check_package_access`], exactly as in Forgejo.
pub fn owner_access_mode(
    doer: Option<&Doer>,
    owner: &OwnerInfo,
    membership: &Membership,
    require_signin_view: bool,
) -> AccessMode {
    // The ghost user counts as nobody signed in.
    let doer = doer.filter(|d| !d.is_ghost());

    if require_signin_view && doer.is_none() {
        return AccessMode::None;
    }
    // Even on their own namespace and on public owners: a disabled account gets nothing.
    if doer.is_some_and(|d| !d.may_sign_in()) {
        return AccessMode::None;
    }

    match owner.kind {
        OwnerKind::Organization => {
            let mut mode = AccessMode::None;
            if doer.is_some() {
                mode = if membership.is_owner {
                    AccessMode::Owner
                } else {
                    membership.team_mode
                };
                // A team can grant write on the packages unit without a general write level.
                if mode < AccessMode::Write {
                    mode = mode.max(membership.packages_unit_mode);
                }
            }
            if mode == AccessMode::None && org_visible_to(doer, owner, membership) {
                mode = AccessMode::Read;
            }
            mode
        }
        OwnerKind::User => match doer {
            Some(d) if d.id == owner.id => AccessMode::Owner,
            Some(_) if owner.visibility != Visibility::Private => AccessMode::Read,
            None if owner.visibility == Visibility::Public => AccessMode::Read,
            _ => AccessMode::None,
        },
    }
}

/// Whether an organisation can be seen at all by the doer (Forgejo's "has org or user visible").
fn org_visible_to(doer: Option<&Doer>, org: &OwnerInfo, membership: &Membership) -> bool {
    let Some(doer) = doer else {
        return org.visibility == Visibility::Public;
    };
    if doer.is_admin || doer.id == org.id {
        return true;
    }
    let is_member = membership.is_member || membership.is_owner;
    if org.visibility == Visibility::Private || doer.is_restricted {
        return is_member;
    }
    true
}

/// The package access check each route runs for its required level (Read, and Write on top
/// for uploads and deletes), in Forgejo's order.
///
/// `scopes` is `Some` only when the request was authenticated by a token that carries scopes
/// (a personal access token or a package JWT); passwords and scope-less tokens skip the scope
/// step entirely.
///
/// Site admins pass the mode check whatever their mode. Forgejo tests only `is_admin` here,
/// so an admin whose account is inactive or login-prohibited would pass too; we keep that rule
/// as it is because such accounts never become a doer: the server refuses them when it
/// authenticates the request (password sign-in and token alike).
pub fn check_package_access(
    required: AccessMode,
    mode: AccessMode,
    doer: Option<&Doer>,
    scopes: Option<&TokenScopes>,
    owner_visibility: Visibility,
) -> Result<(), PackageAccessDenied> {
    if let Some(scopes) = scopes {
        if !scopes.allows_package(required) {
            return Err(PackageAccessDenied::ScopeMissing);
        }
        // Limited owners are fine: only private ones are out of a public-only token's reach.
        if scopes.public_only() && owner_visibility == Visibility::Private {
            return Err(PackageAccessDenied::PublicOnlyPrivateOwner);
        }
    }
    let is_site_admin = doer.is_some_and(|d| d.is_admin);
    if mode < required && !is_site_admin {
        return Err(PackageAccessDenied::NotAllowed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use packages_core::AccessMode::{None as NoAccess, Owner, Read, Write};
    use packages_core::OwnerKind::{Organization as Org, User};
    use packages_core::Visibility::{Limited, Private, Public};

    // Forgejo's integration fixtures (§16.3 of the reference), in the matrices' column order.
    const OWNERS: [(&str, i64, OwnerKind, Visibility); 11] = [
        ("user1", 1, User, Public),
        ("user9", 9, User, Public),
        ("user5", 5, User, Public),
        ("user33", 33, User, Limited),
        ("user31", 31, User, Private),
        ("privated_org", 23, Org, Private),
        ("limited_org36", 36, Org, Limited),
        ("org25", 25, Org, Public),
        ("private_org35", 35, Org, Private),
        ("limited_org", 22, Org, Limited),
        ("org17", 17, Org, Public),
    ];

    fn user(id: i64) -> Doer {
        Doer {
            id,
            is_admin: false,
            is_active: true,
            prohibit_login: false,
            is_restricted: false,
        }
    }

    fn admin() -> Doer {
        Doer {
            is_admin: true,
            ..user(1)
        }
    }

    fn inactive_user9() -> Doer {
        Doer {
            is_active: false,
            ..user(9)
        }
    }

    fn owner(id: i64, kind: OwnerKind, visibility: Visibility) -> OwnerInfo {
        OwnerInfo {
            id,
            kind,
            visibility,
        }
    }

    /// user5's team memberships in the fixtures; nobody else's matter for these tables.
    fn membership(doer: Option<&Doer>, owner_id: i64) -> Membership {
        let member = |packages_unit_mode| Membership {
            is_member: true,
            is_owner: false,
            team_mode: Read,
            packages_unit_mode,
        };
        match (doer.map(|d| d.id), owner_id) {
            (Some(5), 23) => member(Write),
            (Some(5), 25) => member(Read),
            (Some(5), 36) => member(Write),
            _ => Membership::default(),
        }
    }

    fn mode_for(doer: Option<&Doer>, owner: &OwnerInfo) -> AccessMode {
        owner_access_mode(doer, owner, &membership(doer, owner.id), false)
    }

    /// Status the registry gives for the checks of a route needing `levels`, in order.
    fn status(
        levels: &[AccessMode],
        ok: u16,
        doer: Option<&Doer>,
        scopes: Option<&TokenScopes>,
        owner: &OwnerInfo,
    ) -> u16 {
        let mode = mode_for(doer, owner);
        for &required in levels {
            match check_package_access(required, mode, doer, scopes, owner.visibility) {
                Ok(()) => {}
                Err(PackageAccessDenied::PublicOnlyPrivateOwner) => return 403,
                Err(PackageAccessDenied::ScopeMissing | PackageAccessDenied::NotAllowed) => {
                    return 401
                }
            }
        }
        ok
    }

    fn upload(doer: Option<&Doer>, owner: &OwnerInfo) -> u16 {
        status(&[Read, Write], 201, doer, None, owner)
    }

    fn download(doer: Option<&Doer>, owner: &OwnerInfo) -> u16 {
        status(&[Read], 200, doer, None, owner)
    }

    fn check_row(
        name: &str,
        doer: Option<&Doer>,
        f: fn(Option<&Doer>, &OwnerInfo) -> u16,
        want: [u16; 11],
    ) {
        for ((owner_name, id, kind, visibility), want) in OWNERS.iter().zip(want) {
            let got = f(doer, &owner(*id, *kind, *visibility));
            assert_eq!(got, want, "{name} on {owner_name}");
        }
    }

    #[test]
    fn upload_matrix() {
        // Scenarios 49-92.
        check_row("admin", Some(&admin()), upload, [201; 11]);
        check_row("anonymous", None, upload, [401; 11]);
        check_row("inactive user9", Some(&inactive_user9()), upload, [401; 11]);
        check_row(
            "user5",
            Some(&user(5)),
            upload,
            [401, 401, 201, 401, 401, 201, 201, 401, 401, 401, 401],
        );
    }

    #[test]
    fn download_matrix() {
        // Scenarios 93-136.
        check_row("admin", Some(&admin()), download, [200; 11]);
        check_row(
            "anonymous",
            None,
            download,
            [200, 200, 200, 401, 401, 401, 401, 200, 401, 401, 200],
        );
        check_row(
            "inactive user9",
            Some(&inactive_user9()),
            download,
            [401; 11],
        );
        check_row(
            "user5",
            Some(&user(5)),
            download,
            [200, 200, 200, 200, 401, 200, 200, 200, 401, 200, 200],
        );
    }

    #[test]
    fn v1_list_matrix_with_read_token() {
        // Scenarios 137-147: same decision; the v1 API maps a refusal to 403.
        let scopes = TokenScopes::parse("read:package").expect("scope");
        let doer = user(5);
        let want = [200, 200, 200, 200, 403, 200, 200, 200, 403, 200, 200];
        for ((name, id, kind, visibility), want) in OWNERS.iter().zip(want) {
            let got = match status(
                &[Read],
                200,
                Some(&doer),
                Some(&scopes),
                &owner(*id, *kind, *visibility),
            ) {
                200 => 200,
                _ => 403,
            };
            assert_eq!(got, want, "user5 on {name}");
        }
    }

    #[test]
    fn modes_behind_the_matrices() {
        let u5 = user(5);
        let expect = [
            ("user5", Owner),
            ("user33", Read),
            ("user31", NoAccess),
            ("privated_org", Write),
            ("limited_org36", Write),
            ("org25", Read),
            ("private_org35", NoAccess),
            ("limited_org", Read),
            ("org17", Read),
        ];
        for (name, want) in expect {
            let (_, id, kind, visibility) = OWNERS
                .iter()
                .find(|o| o.0 == name)
                .copied()
                .expect("fixture");
            assert_eq!(
                mode_for(Some(&u5), &owner(id, kind, visibility)),
                want,
                "{name}"
            );
        }
        // An admin sees a private org (Read) but has no mode on a private user; there only the
        // admin bypass in the check lets it through.
        assert_eq!(mode_for(Some(&admin()), &owner(35, Org, Private)), Read);
        assert_eq!(
            mode_for(Some(&admin()), &owner(31, User, Private)),
            NoAccess
        );
    }

    #[test]
    fn require_signin_view() {
        // Scenario 18: anonymous download from a public user with REQUIRE_SIGNIN_VIEW.
        let user2 = owner(2, User, Public);
        let none = Membership::default();
        assert_eq!(owner_access_mode(None, &user2, &none, true), NoAccess);
        assert_eq!(
            owner_access_mode(None, &owner(17, Org, Public), &none, true),
            NoAccess
        );
        assert_eq!(owner_access_mode(Some(&user(5)), &user2, &none, true), Read);
        assert_eq!(owner_access_mode(None, &user2, &none, false), Read);
    }

    #[test]
    fn disabled_accounts_get_nothing() {
        let prohibited = Doer {
            prohibit_login: true,
            ..user(5)
        };
        let user5 = owner(5, User, Public);
        assert_eq!(
            owner_access_mode(Some(&prohibited), &user5, &Membership::default(), false),
            NoAccess
        );
        let org_owner = Membership {
            is_member: true,
            is_owner: true,
            team_mode: Owner,
            packages_unit_mode: Write,
        };
        assert_eq!(
            owner_access_mode(
                Some(&inactive_user9()),
                &owner(17, Org, Public),
                &org_owner,
                false
            ),
            NoAccess
        );
    }

    #[test]
    fn organisation_rules() {
        let org = owner(40, Org, Private);
        let doer = user(5);
        let owners_team = Membership {
            is_member: true,
            is_owner: true,
            team_mode: Owner,
            packages_unit_mode: NoAccess,
        };
        assert_eq!(
            owner_access_mode(Some(&doer), &org, &owners_team, false),
            Owner
        );

        // A general write team is not lowered by a read-only packages unit.
        let writers = Membership {
            is_member: true,
            is_owner: false,
            team_mode: Write,
            packages_unit_mode: Read,
        };
        assert_eq!(owner_access_mode(Some(&doer), &org, &writers, false), Write);

        // A member whose teams grant nothing on packages still sees a private org.
        let no_units = Membership {
            is_member: true,
            ..Membership::default()
        };
        assert_eq!(owner_access_mode(Some(&doer), &org, &no_units, false), Read);

        // The organisation itself acting as doer sees itself.
        assert_eq!(
            owner_access_mode(Some(&user(40)), &org, &Membership::default(), false),
            Read
        );
    }

    #[test]
    fn restricted_users_see_only_their_orgs() {
        let restricted = Doer {
            is_restricted: true,
            ..user(5)
        };
        let none = Membership::default();
        let member = Membership {
            is_member: true,
            ..none
        };
        for visibility in [Public, Limited, Private] {
            let org = owner(50, Org, visibility);
            assert_eq!(
                owner_access_mode(Some(&restricted), &org, &none, false),
                NoAccess
            );
            assert_eq!(
                owner_access_mode(Some(&restricted), &org, &member, false),
                Read
            );
        }
        // Restriction is about organisations; user owners follow their own rule.
        assert_eq!(
            owner_access_mode(Some(&restricted), &owner(33, User, Limited), &none, false),
            Read
        );
    }

    #[test]
    fn ghost_is_anonymous() {
        let ghost = user(GHOST_USER_ID);
        let none = Membership::default();
        assert_eq!(
            owner_access_mode(Some(&ghost), &owner(22, Org, Limited), &none, false),
            NoAccess
        );
        assert_eq!(
            owner_access_mode(Some(&ghost), &owner(33, User, Limited), &none, false),
            NoAccess
        );
        assert_eq!(
            owner_access_mode(Some(&ghost), &owner(17, Org, Public), &none, false),
            Read
        );
        assert_eq!(
            owner_access_mode(Some(&ghost), &owner(2, User, Public), &none, true),
            NoAccess
        );
    }

    #[test]
    fn scope_check_comes_first() {
        let read = TokenScopes::parse("read:package").expect("scope");
        let write = TokenScopes::parse("write:package").expect("scope");
        let other = TokenScopes::parse("write:user").expect("scope");
        let u = user(2);

        // Own namespace, mode Owner, but a read token cannot write.
        assert_eq!(
            check_package_access(Write, Owner, Some(&u), Some(&read), Public),
            Err(PackageAccessDenied::ScopeMissing)
        );
        assert_eq!(
            check_package_access(Read, Owner, Some(&u), Some(&read), Public),
            Ok(())
        );
        assert_eq!(
            check_package_access(Write, Owner, Some(&u), Some(&write), Public),
            Ok(())
        );
        assert_eq!(
            check_package_access(Read, Owner, Some(&u), Some(&other), Public),
            Err(PackageAccessDenied::ScopeMissing)
        );
        // Admins are bound by their token's scopes too.
        assert_eq!(
            check_package_access(Write, NoAccess, Some(&admin()), Some(&read), Private),
            Err(PackageAccessDenied::ScopeMissing)
        );
        // The scope check passes, then the mode check still applies.
        assert_eq!(
            check_package_access(Write, Read, Some(&u), Some(&write), Public),
            Err(PackageAccessDenied::NotAllowed)
        );
        // Password sign-in: no scopes to check.
        assert_eq!(
            check_package_access(Write, Owner, Some(&u), None, Public),
            Ok(())
        );
    }

    #[test]
    fn public_only_tokens() {
        let public_write = TokenScopes::parse("public-only,write:package").expect("scope");
        let u = user(2);
        assert_eq!(
            check_package_access(Read, Owner, Some(&u), Some(&public_write), Private),
            Err(PackageAccessDenied::PublicOnlyPrivateOwner)
        );
        assert_eq!(
            check_package_access(Write, Owner, Some(&u), Some(&public_write), Limited),
            Ok(())
        );
        assert_eq!(
            check_package_access(Write, Owner, Some(&u), Some(&public_write), Public),
            Ok(())
        );
        // Even a site admin's public-only token stays out of private owners.
        assert_eq!(
            check_package_access(Read, NoAccess, Some(&admin()), Some(&public_write), Private),
            Err(PackageAccessDenied::PublicOnlyPrivateOwner)
        );
        // A missing scope is reported before public-only.
        let public_only = TokenScopes::parse("public-only").expect("scope");
        assert_eq!(
            check_package_access(Read, Owner, Some(&u), Some(&public_only), Private),
            Err(PackageAccessDenied::ScopeMissing)
        );
    }

    #[test]
    fn admin_bypass_follows_forgejo_literally() {
        // Forgejo's rule looks at `is_admin` alone; inactive admins are refused earlier, at
        // authentication, so they never get here in practice.
        let inactive_admin = Doer {
            is_active: false,
            ..admin()
        };
        let private_org = owner(35, Org, Private);
        let mode = owner_access_mode(
            Some(&inactive_admin),
            &private_org,
            &Membership::default(),
            false,
        );
        assert_eq!(mode, NoAccess);
        assert_eq!(
            check_package_access(Write, mode, Some(&inactive_admin), None, Private),
            Ok(())
        );
        assert_eq!(
            check_package_access(Write, NoAccess, None, None, Public),
            Err(PackageAccessDenied::NotAllowed)
        );
        assert_eq!(
            check_package_access(NoAccess, NoAccess, None, None, Private),
            Ok(())
        );
    }
}
