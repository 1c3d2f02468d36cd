//! Profile fields, e-mail and admin look-ups, guarded deletion of owners and team management
//! that keeps every organisation owned.

use packages_core::{AccessMode, Visibility};

use super::packages::upload;
use super::{backend_tests, user};
use crate::{
    Database, NewTeam, NewUser, OwnerDeletion, TeamMemberRemoval, UserChanges, PACKAGES_UNIT,
};

backend_tests!(
    profile_fields_round_trip,
    email_in_use_ignores_case_orgs_and_self,
    admins_are_counted,
    owners_with_packages_or_orgs_are_kept,
    teams_record_repo_creation_and_membership,
    the_last_owner_stays,
);

fn profile_fields_round_trip(db: &Database) {
    let created = db
        .create_user(&NewUser {
            website: "https://example.com".into(),
            location: "Berlin".into(),
            ..NewUser::user("profiled", "p@example.com", None)
        })
        .unwrap();
    assert_eq!(created.website, "https://example.com");
    assert_eq!(created.location, "Berlin");
    assert_eq!(db.user_by_id(created.id).unwrap().unwrap(), created);

    let plain = user(db, "plain");
    assert_eq!((plain.website.as_str(), plain.location.as_str()), ("", ""));
    let changed = db
        .update_user(
            plain.id,
            &UserChanges {
                website: Some("https://plain.example".into()),
                location: Some("Paris".into()),
                is_restricted: Some(true),
                ..UserChanges::default()
            },
        )
        .unwrap();
    assert_eq!(changed.website, "https://plain.example");
    assert_eq!(changed.location, "Paris");
    assert!(changed.is_restricted);
    // Untouched columns stay.
    assert_eq!(changed.email, plain.email);
}

fn email_in_use_ignores_case_orgs_and_self(db: &Database) {
    let a = user(db, "a");
    assert!(db.email_in_use("A@EXAMPLE.com", None).unwrap());
    assert!(!db.email_in_use("a@example.com", Some(a.id)).unwrap());
    assert!(!db.email_in_use("nobody@example.com", None).unwrap());
    assert!(!db.email_in_use("", None).unwrap());
    let org = NewUser {
        email: "org@example.com".into(),
        ..NewUser::org("org", Visibility::Public)
    };
    db.create_org(&org, a.id).unwrap();
    assert!(!db.email_in_use("org@example.com", None).unwrap());
}

fn admins_are_counted(db: &Database) {
    assert_eq!(db.count_admins().unwrap(), 0);
    let a = user(db, "a");
    user(db, "b");
    db.update_user(
        a.id,
        &UserChanges {
            is_admin: Some(true),
            ..UserChanges::default()
        },
    )
    .unwrap();
    assert_eq!(db.count_admins().unwrap(), 1);
}

fn owners_with_packages_or_orgs_are_kept(db: &Database) {
    let owner = user(db, "owner");
    let member = user(db, "member");
    let (org, owners) = db
        .create_org(&NewUser::org("org", Visibility::Public), owner.id)
        .unwrap();
    db.add_file(&upload(owner.id, "pkg", "1.0", "f", b"x"))
        .unwrap();
    db.add_file(&upload(org.id, "pkg", "1.0", "f", b"x"))
        .unwrap();

    assert_eq!(
        db.delete_owner_if_unused(owner.id).unwrap(),
        OwnerDeletion::OwnsPackages
    );
    assert_eq!(
        db.delete_owner_if_unused(org.id).unwrap(),
        OwnerDeletion::OwnsPackages
    );
    assert_eq!(
        db.delete_owner_if_unused(owner.id + 1000).unwrap(),
        OwnerDeletion::NotFound
    );

    // A package whose versions are all gone no longer counts.
    assert!(db
        .delete_version(org.id, packages_core::PackageType::Generic, "pkg", "1.0")
        .unwrap());
    assert_eq!(
        db.delete_owner_if_unused(org.id).unwrap(),
        OwnerDeletion::Deleted
    );
    assert_eq!(db.user_by_id(org.id).unwrap(), None);
    assert_eq!(db.team_by_id(owners.id).unwrap(), None);

    // Membership of an organisation keeps a user; leaving it lets the user go.
    let (org2, owners2) = db
        .create_org(&NewUser::org("org2", Visibility::Public), owner.id)
        .unwrap();
    db.add_team_member(owners2.id, member.id).unwrap();
    assert_eq!(
        db.delete_owner_if_unused(member.id).unwrap(),
        OwnerDeletion::InOrganizations
    );
    assert!(db.remove_team_member(owners2.id, member.id).unwrap());
    assert_eq!(
        db.delete_owner_if_unused(member.id).unwrap(),
        OwnerDeletion::Deleted
    );
    assert_eq!(db.user_by_id(member.id).unwrap(), None);
    assert!(db.user_by_id(org2.id).unwrap().is_some());
}

fn teams_record_repo_creation_and_membership(db: &Database) {
    let owner = user(db, "owner");
    let other = user(db, "other");
    let (org, _) = db
        .create_org(&NewUser::org("org", Visibility::Public), owner.id)
        .unwrap();
    let new = NewTeam {
        org_id: org.id,
        name: "Devs".into(),
        description: String::new(),
        authorize: AccessMode::Write,
        includes_all_repositories: false,
        units: vec![(PACKAGES_UNIT.into(), AccessMode::Write)],
    };
    let team = db.create_team_with(&new, true).unwrap();
    assert!(team.can_create_org_repo);
    let (stored, units) = db.team_by_id(team.id).unwrap().unwrap();
    assert!(stored.can_create_org_repo);
    assert_eq!(units, vec![(PACKAGES_UNIT.to_owned(), AccessMode::Write)]);

    assert!(!db.is_team_member(team.id, other.id).unwrap());
    db.add_team_member(team.id, other.id).unwrap();
    assert!(db.is_team_member(team.id, other.id).unwrap());
    assert!(!db.is_team_member(team.id + 1000, other.id).unwrap());
}

fn the_last_owner_stays(db: &Database) {
    let first = user(db, "first");
    let second = user(db, "second");
    let (org, owners) = db
        .create_org(&NewUser::org("org", Visibility::Public), first.id)
        .unwrap();
    let devs = db
        .create_team(&NewTeam {
            org_id: org.id,
            name: "Devs".into(),
            description: String::new(),
            authorize: AccessMode::Read,
            includes_all_repositories: false,
            units: vec![],
        })
        .unwrap();

    assert_eq!(
        db.remove_team_member_keeping_owner(owners.id, first.id)
            .unwrap(),
        TeamMemberRemoval::LastOwner
    );
    assert!(db.membership(org.id, first.id).unwrap().is_owner);
    assert_eq!(
        db.remove_team_member_keeping_owner(owners.id, second.id)
            .unwrap(),
        TeamMemberRemoval::NotMember
    );
    assert_eq!(
        db.remove_team_member_keeping_owner(owners.id + 1000, first.id)
            .unwrap(),
        TeamMemberRemoval::NotMember
    );

    // Members of ordinary teams leave freely.
    db.add_team_member(devs.id, second.id).unwrap();
    assert_eq!(
        db.remove_team_member_keeping_owner(devs.id, second.id)
            .unwrap(),
        TeamMemberRemoval::Removed
    );
    assert!(!db.membership(org.id, second.id).unwrap().is_member);

    // With a second owner, the first may go.
    db.add_team_member(owners.id, second.id).unwrap();
    assert_eq!(
        db.remove_team_member_keeping_owner(owners.id, first.id)
            .unwrap(),
        TeamMemberRemoval::Removed
    );
    let left = db.membership(org.id, first.id).unwrap();
    assert!(!left.is_member && !left.is_owner);
    assert_eq!(
        db.remove_team_member_keeping_owner(owners.id, second.id)
            .unwrap(),
        TeamMemberRemoval::LastOwner
    );
}
