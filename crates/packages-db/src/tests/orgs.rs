use packages_core::{AccessMode, Visibility};

use super::{backend_tests, user};
use crate::{Database, DbError, MembershipRow, NewTeam, NewUser, OWNERS_TEAM, PACKAGES_UNIT};

backend_tests!(org_teams_and_membership);

fn org_teams_and_membership(db: &Database) {
    let creator = user(db, "founder");
    let writer = user(db, "writer");
    let reader = user(db, "reader");
    let outsider = user(db, "outsider");
    let (org, owners) = db
        .create_org(&NewUser::org("Org", Visibility::Limited), creator.id)
        .unwrap();
    assert!(org.is_org());
    assert_eq!(org.visibility, Visibility::Limited);
    assert_eq!(owners.name, OWNERS_TEAM);
    assert_eq!(owners.authorize, AccessMode::Owner);
    assert!(owners.includes_all_repositories && owners.can_create_org_repo);
    assert_eq!(
        db.membership(org.id, creator.id).unwrap(),
        MembershipRow {
            is_member: true,
            is_owner: true,
            max_team_authorize: AccessMode::Owner,
            max_packages_unit: AccessMode::Admin,
        }
    );

    let team = |name: &str, authorize, unit| NewTeam {
        org_id: org.id,
        name: name.into(),
        description: format!("{name} team"),
        authorize,
        includes_all_repositories: false,
        units: vec![
            (PACKAGES_UNIT.into(), unit),
            ("repo.code".into(), AccessMode::Admin),
        ],
    };
    let writers = db
        .create_team(&team("Writers", AccessMode::Read, AccessMode::Write))
        .unwrap();
    let readers = db
        .create_team(&team("Readers", AccessMode::Read, AccessMode::Read))
        .unwrap();
    assert!(!writers.can_create_org_repo);
    assert!(matches!(
        db.create_team(&team("WRITERS", AccessMode::Read, AccessMode::Read)),
        Err(DbError::Conflict(_))
    ));
    assert!(matches!(
        db.create_team(&NewTeam {
            org_id: creator.id,
            ..team("x", AccessMode::Read, AccessMode::Read)
        }),
        Err(DbError::NotFound)
    ));

    db.add_team_member(writers.id, writer.id).unwrap();
    db.add_team_member(writers.id, writer.id).unwrap();
    db.add_team_member(readers.id, writer.id).unwrap();
    db.add_team_member(readers.id, reader.id).unwrap();
    assert!(matches!(
        db.add_team_member(9999, reader.id),
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.add_team_member(readers.id, 9999),
        Err(DbError::NotFound)
    ));

    assert_eq!(
        db.membership(org.id, writer.id).unwrap(),
        MembershipRow {
            is_member: true,
            is_owner: false,
            max_team_authorize: AccessMode::Read,
            max_packages_unit: AccessMode::Write,
        }
    );
    assert_eq!(
        db.membership(org.id, reader.id).unwrap().max_packages_unit,
        AccessMode::Read
    );
    assert_eq!(
        db.membership(org.id, outsider.id).unwrap(),
        MembershipRow {
            is_member: false,
            is_owner: false,
            max_team_authorize: AccessMode::None,
            max_packages_unit: AccessMode::None,
        }
    );

    let teams = db.teams_of_org(org.id).unwrap();
    let names: Vec<&str> = teams.iter().map(|(t, _)| t.name.as_str()).collect();
    assert_eq!(names, [OWNERS_TEAM, "Writers", "Readers"]);
    assert_eq!(
        teams[1].1,
        vec![
            (PACKAGES_UNIT.to_owned(), AccessMode::Write),
            ("repo.code".to_owned(), AccessMode::Admin)
        ]
    );
    let (found, units) = db.team_by_id(readers.id).unwrap().unwrap();
    assert_eq!(found, readers);
    assert_eq!(units[0], (PACKAGES_UNIT.to_owned(), AccessMode::Read));
    assert!(db.team_by_id(9999).unwrap().is_none());

    // Leaving one team keeps the membership while another team holds the user.
    assert!(db.remove_team_member(writers.id, writer.id).unwrap());
    assert!(!db.remove_team_member(writers.id, writer.id).unwrap());
    let m = db.membership(org.id, writer.id).unwrap();
    assert!(m.is_member);
    assert_eq!(m.max_packages_unit, AccessMode::Read);
    assert!(db.remove_team_member(readers.id, writer.id).unwrap());
    assert!(!db.membership(org.id, writer.id).unwrap().is_member);
    assert!(!db.remove_team_member(9999, writer.id).unwrap());

    // Deleting the organisation takes its teams along.
    assert!(db.delete_user(org.id).unwrap());
    assert!(db.team_by_id(readers.id).unwrap().is_none());
    assert!(!db.membership(org.id, reader.id).unwrap().is_member);
}
