use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use packages_core::{Limit, PackageType};

use super::{backend_tests, digests, user};
use crate::testing::seed_content;
use crate::{
    Change, ChangeSink, Database, DbError, DeleteFileOutcome, FileDetails, FileLookup, NewUpload,
    Page, PropertyOf, UploadLimits, UserChanges, VersionFilter,
};

const GENERIC: PackageType = PackageType::Generic;

pub(crate) fn upload(
    owner_id: i64,
    name: &str,
    version: &str,
    file: &str,
    content: &[u8],
) -> NewUpload {
    NewUpload {
        owner_id,
        creator_id: owner_id,
        ptype: GENERIC,
        name: name.into(),
        version: version.into(),
        file_name: file.into(),
        digests: digests(content),
        storage_key: None,
        limits: UploadLimits::default(),
    }
}

backend_tests!(
    changes_are_reported_by_kind_not_on_additions,
    add_file_keeps_first_casing_and_shares_blobs,
    count_limit,
    size_limit,
    find_file_and_count_downloads,
    delete_file_removes_the_last_version,
    delete_version_and_sweep_packages,
    delete_package_removes_everything,
    blob_sweep,
    blob_keys_in_use_by_digest_or_storage_key,
    list_versions_order_filters_and_paging,
    seed_versions_in_bulk,
    properties_are_set_replaced_and_removed,
    names_compare_in_the_form_the_format_gives,
    uploads_into_existing_packages_keep_every_outcome,
);

fn blob_keys_in_use_by_digest_or_storage_key(db: &Database) {
    let u = user(db, "keys");
    let by_digest = digests(b"by digest").sha256;
    db.add_file(&upload(u.id, "p", "1", "a", b"by digest"))
        .unwrap();
    let mut keyed = upload(u.id, "p", "1", "b", b"keyed");
    keyed.storage_key = Some("upload/0123".into());
    let added = db.add_file(&keyed).unwrap();
    assert!(added.blob_created);
    let blob = db
        .blob_by_sha256(&digests(b"keyed").sha256)
        .unwrap()
        .unwrap();
    assert_eq!(blob.store_key(), "upload/0123");

    // Known content keeps the key it was first stored under.
    let mut again = upload(u.id, "p", "1", "c", b"keyed");
    again.storage_key = Some("upload/4567".into());
    assert!(!db.add_file(&again).unwrap().blob_created);

    let asked: Vec<String> = [
        by_digest.as_str(),
        "upload/0123",
        "upload/4567",
        // A keyed blob's digest is not its key.
        &digests(b"keyed").sha256,
    ]
    .map(str::to_owned)
    .to_vec();
    let in_use = db.blob_keys_in_use(&asked).unwrap();
    let mut in_use: Vec<&str> = in_use.iter().map(String::as_str).collect();
    in_use.sort();
    let mut expected = vec![by_digest.as_str(), "upload/0123"];
    expected.sort();
    assert_eq!(in_use, expected);
    assert!(db.blob_key_in_use("upload/0123").unwrap());
    assert!(!db.blob_key_in_use("upload/4567").unwrap());
    assert!(db.blob_keys_in_use(&[]).unwrap().is_empty());
}

/// Remembers what it is told.
#[derive(Default)]
struct Recorder {
    changes: Mutex<Vec<Change>>,
    restored: AtomicUsize,
}

impl Recorder {
    fn take(&self) -> Vec<Change> {
        std::mem::take(&mut *self.changes.lock().unwrap())
    }
}

impl ChangeSink for Recorder {
    fn changed(&self, changes: &[Change]) {
        self.changes.lock().unwrap().extend_from_slice(changes);
    }
    fn changed_unknown(&self) {}
    fn feed_lost(&self) {}
    fn feed_restored(&self) {
        self.restored.fetch_add(1, Ordering::SeqCst);
    }
}

fn changes_are_reported_by_kind_not_on_additions(db: &Database) {
    let recorder = Arc::new(Recorder::default());
    assert!(db.set_change_sink(recorder.clone()));
    let u = user(db, "gen");
    let added = db.add_file(&upload(u.id, "p", "1", "f", b"x")).unwrap();
    db.count_download(added.version_id).unwrap();
    db.count_downloads(&[(added.version_id, 2)]).unwrap();
    db.touch_last_login(u.id).unwrap();
    let token = db
        .create_token(&crate::NewAccessToken {
            user_id: u.id,
            name: "ci".into(),
            token_hash: "h".repeat(64),
            token_last_eight: "hhhhhhhh".into(),
            scope: "all".into(),
        })
        .unwrap();
    // A token's use is bookkeeping: a fleet of CI tokens must not clear the caches.
    db.touch_token(token.id).unwrap();
    assert_eq!(recorder.take(), vec![], "additions keep cached reads valid");
    db.delete_version(u.id, GENERIC, "p", "1").unwrap();
    assert_eq!(recorder.take(), vec![Change::Files(u.id)]);
    db.update_user(
        u.id,
        &UserChanges {
            is_active: Some(false),
            ..UserChanges::default()
        },
    )
    .unwrap();
    assert_eq!(recorder.take(), vec![Change::Owner(u.id)]);
    db.delete_token(u.id, "ci").unwrap();
    assert_eq!(recorder.take(), vec![Change::Tokens(u.id)]);

    // Other processes hear of the changes through the feed (PostgreSQL only).
    let heard = Arc::new(Recorder::default());
    let Some(feed) = db.start_change_feed(heard.clone()).unwrap() else {
        assert_eq!(db.backend(), crate::Backend::Sqlite);
        return;
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while heard.restored.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        heard.restored.load(Ordering::SeqCst),
        1,
        "the feed connects"
    );
    db.touch_token(token.id).unwrap();
    db.delete_user(u.id).unwrap();
    let mut got = Vec::new();
    while got.len() < 4 && Instant::now() < deadline {
        got.extend(heard.take());
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        got,
        vec![
            Change::Owner(u.id),
            Change::Tokens(u.id),
            Change::Teams(u.id),
            Change::Files(u.id)
        ]
    );
    feed.stop();
}

fn add_file_keeps_first_casing_and_shares_blobs(db: &Database) {
    let u = user(db, "owner");
    let first = db
        .add_file(&upload(
            u.id,
            "Test-Package",
            "1.0.0-RC",
            "File.BIN",
            b"content",
        ))
        .unwrap();
    assert!(first.blob_created && first.version_created);

    // Same content under another name, different casing of package and version.
    let second = db
        .add_file(&upload(
            u.id,
            "test-PACKAGE",
            "1.0.0-rc",
            "copy.bin",
            b"content",
        ))
        .unwrap();
    assert_eq!(second.package_id, first.package_id);
    assert_eq!(second.version_id, first.version_id);
    assert_eq!(second.blob_id, first.blob_id);
    assert!(!second.blob_created && !second.version_created);
    assert_ne!(second.file_id, first.file_id);

    // A duplicate in any casing is refused, and nothing changes.
    assert!(matches!(
        db.add_file(&upload(
            u.id,
            "test-package",
            "1.0.0-RC",
            "file.bin",
            b"other"
        )),
        Err(DbError::FileExists)
    ));
    assert!(db
        .blob_by_sha256(&digests(b"other").sha256)
        .unwrap()
        .is_none());

    let detail = db
        .version_detail(u.id, GENERIC, "test-package", "1.0.0-RC")
        .unwrap()
        .unwrap();
    assert_eq!(detail.package.name, "Test-Package");
    assert_eq!(detail.package.package_type, "generic");
    assert_eq!(detail.version.version, "1.0.0-RC");
    assert_eq!(detail.version.metadata_json.as_deref(), Some("null"));
    assert_eq!(detail.version.creator_id, u.id);
    assert_eq!(detail.creator.as_ref().map(|c| c.id), Some(u.id));

    let files = db.version_files(first.version_id).unwrap();
    let names: Vec<&str> = files.iter().map(|(f, _)| f.name.as_str()).collect();
    assert_eq!(names, ["File.BIN", "copy.bin"]);
    let (file, blob) = &files[0];
    assert_eq!(file.lower_name, "file.bin");
    assert_eq!(file.composite_key, "");
    assert!(file.is_lead);
    assert_eq!(blob.hash_sha256, digests(b"content").sha256);
    assert_eq!(blob.size, 7);

    // The same blob is counted once per file.
    assert_eq!(db.owner_usage(u.id).unwrap(), (1, 14));

    assert!(matches!(
        db.add_file(&upload(u.id + 1000, "p", "1", "f", b"x")),
        Err(DbError::NotFound)
    ));
}

fn count_limit(db: &Database) {
    let u = user(db, "counted");
    let zero = UploadLimits {
        total_owner_count: Limit::AtMost(0),
        ..UploadLimits::default()
    };
    let mut up = upload(u.id, "p", "1", "a", b"a");
    up.limits = zero;
    assert!(matches!(db.add_file(&up), Err(DbError::CountLimit)));
    // Rolled back: no package version was left behind.
    assert_eq!(db.owner_usage(u.id).unwrap(), (0, 0));
    up.limits.exempt = true;
    db.add_file(&up).unwrap();

    let one = UploadLimits {
        total_owner_count: Limit::AtMost(1),
        ..UploadLimits::default()
    };
    // Adding a file to the existing version is not a new version.
    let mut more = upload(u.id, "p", "1", "b", b"b");
    more.limits = one;
    db.add_file(&more).unwrap();
    let mut next = upload(u.id, "p", "2", "a", b"a");
    next.limits = one;
    assert!(matches!(db.add_file(&next), Err(DbError::CountLimit)));
    next.limits.total_owner_count = Limit::AtMost(2);
    db.add_file(&next).unwrap();
    assert_eq!(db.owner_usage(u.id).unwrap().0, 2);
}

fn size_limit(db: &Database) {
    let u = user(db, "sized");
    let ten = UploadLimits {
        total_owner_size: Limit::AtMost(10),
        ..UploadLimits::default()
    };
    let mut up = upload(u.id, "p", "1", "a", b"123456");
    up.limits = ten;
    db.add_file(&up).unwrap();
    let mut again = upload(u.id, "p", "1", "b", b"123456");
    again.limits = ten;
    // The shared blob still counts once per file: 12 > 10.
    assert!(matches!(db.add_file(&again), Err(DbError::SizeLimit)));
    again.limits.exempt = true;
    db.add_file(&again).unwrap();

    // A size limit of 0 lets empty files through.
    let zero = UploadLimits {
        total_owner_size: Limit::AtMost(0),
        ..UploadLimits::default()
    };
    let other = user(db, "empty");
    let mut empty = upload(other.id, "p", "1", "e", b"");
    empty.limits = zero;
    db.add_file(&empty).unwrap();
    let mut one_byte = upload(other.id, "p", "1", "f", b"x");
    one_byte.limits = zero;
    assert!(matches!(db.add_file(&one_byte), Err(DbError::SizeLimit)));
}

fn find_file_and_count_downloads(db: &Database) {
    let u = user(db, "finder");
    let other = user(db, "other");
    let added = db
        .add_file(&upload(u.id, "Pkg", "V1", "Data.Bin", b"data"))
        .unwrap();
    let FileLookup::Found {
        version,
        file,
        blob,
    } = db
        .find_file(u.id, GENERIC, "pkg", "v1", "data.bin")
        .unwrap()
    else {
        panic!("file not found");
    };
    assert_eq!(version.id, added.version_id);
    assert_eq!(file.id, added.file_id);
    assert_eq!(file.name, "Data.Bin");
    assert_eq!(blob.id, added.blob_id);
    assert_eq!(version.download_count, 0);
    // Versions and file names in any casing; the name in the format's look-up form.
    assert!(matches!(
        db.find_file(u.id, GENERIC, "pkg", "V1", "DATA.BIN")
            .unwrap(),
        FileLookup::Found { .. }
    ));
    assert_eq!(
        db.find_file(u.id, GENERIC, "pkg", "v1", "missing").unwrap(),
        FileLookup::NoFile {
            version_id: added.version_id
        }
    );
    assert_eq!(
        db.find_file(u.id, GENERIC, "pkg", "v2", "data.bin")
            .unwrap(),
        FileLookup::NoVersion
    );
    assert_eq!(
        db.find_file(other.id, GENERIC, "pkg", "v1", "data.bin")
            .unwrap(),
        FileLookup::NoVersion
    );
    assert!(db
        .file_exists(u.id, GENERIC, "pkg", "v1", "data.bin")
        .unwrap());
    assert!(!db.file_exists(u.id, GENERIC, "pkg", "v1", "nope").unwrap());
    assert!(!db
        .file_exists(other.id, GENERIC, "pkg", "v1", "data.bin")
        .unwrap());

    for _ in 0..3 {
        db.count_download(added.version_id).unwrap();
    }
    let listing = db
        .version_detail(u.id, GENERIC, "pkg", "v1")
        .unwrap()
        .unwrap();
    assert_eq!(listing.version.download_count, 3);

    // Batched counts add up; a version deleted meanwhile is skipped without error.
    db.count_downloads(&[(added.version_id, 5), (i64::MAX, 2)])
        .unwrap();
    db.count_downloads(&[]).unwrap();
    let listing = db
        .version_detail(u.id, GENERIC, "pkg", "v1")
        .unwrap()
        .unwrap();
    assert_eq!(listing.version.download_count, 8);
}

fn delete_file_removes_the_last_version(db: &Database) {
    let u = user(db, "deleter");
    db.add_file(&upload(u.id, "p", "1", "a", b"a")).unwrap();
    db.add_file(&upload(u.id, "p", "1", "b", b"b")).unwrap();
    assert_eq!(
        db.delete_file(u.id, GENERIC, "p", "2", "a").unwrap(),
        DeleteFileOutcome::NoVersion
    );
    assert_eq!(
        db.delete_file(u.id, GENERIC, "p", "1", "c").unwrap(),
        DeleteFileOutcome::NoFile
    );
    assert_eq!(
        db.delete_file(u.id, GENERIC, "p", "1", "A").unwrap(),
        DeleteFileOutcome::Deleted {
            version_removed: false
        }
    );
    assert!(db
        .version_detail(u.id, GENERIC, "p", "1")
        .unwrap()
        .is_some());
    assert_eq!(
        db.delete_file(u.id, GENERIC, "p", "1", "b").unwrap(),
        DeleteFileOutcome::Deleted {
            version_removed: true
        }
    );
    assert!(db
        .version_detail(u.id, GENERIC, "p", "1")
        .unwrap()
        .is_none());
    assert_eq!(db.owner_usage(u.id).unwrap(), (0, 0));
}

fn delete_version_and_sweep_packages(db: &Database) {
    let u = user(db, "versions");
    let first = db.add_file(&upload(u.id, "Keep", "1", "a", b"a")).unwrap();
    db.add_file(&upload(u.id, "keep", "1", "b", b"b")).unwrap();
    db.add_file(&upload(u.id, "other", "1", "a", b"a")).unwrap();
    assert!(!db.delete_version(u.id, GENERIC, "keep", "2").unwrap());
    assert!(db.delete_version(u.id, GENERIC, "keep", "1").unwrap());
    assert!(!db.delete_version(u.id, GENERIC, "keep", "1").unwrap());
    assert!(db.version_files(first.version_id).unwrap().is_empty());

    // The package row stays until the sweep; an upload meanwhile reuses it and its casing.
    let again = db.add_file(&upload(u.id, "KEEP", "2", "a", b"a")).unwrap();
    assert_eq!(again.package_id, first.package_id);
    let detail = db
        .version_detail(u.id, GENERIC, "keep", "2")
        .unwrap()
        .unwrap();
    assert_eq!(detail.package.name, "Keep");
    assert!(db.delete_version(u.id, GENERIC, "keep", "2").unwrap());

    assert_eq!(db.delete_packages_without_versions().unwrap(), 1);
    assert_eq!(db.delete_packages_without_versions().unwrap(), 0);
    let fresh = db.add_file(&upload(u.id, "KEEP", "3", "a", b"a")).unwrap();
    assert_ne!(fresh.package_id, first.package_id);
    assert!(db.latest_version(u.id, GENERIC, "other").unwrap().is_some());
}

fn delete_package_removes_everything(db: &Database) {
    let u = user(db, "packager");
    db.add_file(&upload(u.id, "gone", "1", "a", b"a")).unwrap();
    db.add_file(&upload(u.id, "gone", "2", "a", b"a")).unwrap();
    db.add_file(&upload(u.id, "stays", "1", "a", b"a")).unwrap();
    // Names are passed in the format's look-up form (generic: lowercase).
    assert!(db.delete_package(u.id, GENERIC, "gone").unwrap());
    assert!(!db.delete_package(u.id, GENERIC, "gone").unwrap());
    assert!(db.latest_version(u.id, GENERIC, "gone").unwrap().is_none());
    assert_eq!(db.owner_usage(u.id).unwrap(), (1, 1));
    assert_eq!(db.delete_packages_without_versions().unwrap(), 0);
}

fn blob_sweep(db: &Database) {
    let u = user(db, "sweeper");
    let kept = db.add_file(&upload(u.id, "p", "1", "a", b"kept")).unwrap();
    let dropped = db
        .add_file(&upload(u.id, "p", "1", "b", b"dropped"))
        .unwrap();
    assert!(db.unreferenced_blobs(i64::MAX, 10).unwrap().is_empty());
    db.delete_file(u.id, GENERIC, "p", "1", "b").unwrap();

    // Young blobs are not offered.
    let now = crate::pool::now_unix();
    assert!(db.unreferenced_blobs(now - 3600, 10).unwrap().is_empty());
    let old = db.unreferenced_blobs(now + 1, 10).unwrap();
    assert_eq!(old.len(), 1);
    assert_eq!(old[0].id, dropped.blob_id);
    assert!(db.unreferenced_blobs(now + 1, 0).unwrap().is_empty());

    // A referenced blob is never deleted.
    assert!(!db.delete_blob_if_unreferenced(kept.blob_id).unwrap());
    assert!(db.delete_blob_if_unreferenced(dropped.blob_id).unwrap());
    assert!(!db.delete_blob_if_unreferenced(dropped.blob_id).unwrap());
    assert!(db
        .blob_by_sha256(&digests(b"dropped").sha256)
        .unwrap()
        .is_none());
    let blob = db
        .blob_by_sha256(&digests(b"kept").sha256)
        .unwrap()
        .unwrap();
    assert_eq!(blob.id, kept.blob_id);

    // Uploading the swept content again creates a new blob.
    let back = db
        .add_file(&upload(u.id, "p", "1", "b", b"dropped"))
        .unwrap();
    assert!(back.blob_created);
    assert_ne!(back.blob_id, dropped.blob_id);
}

fn list_versions_order_filters_and_paging(db: &Database) {
    let u = user(db, "lister");
    let creator = user(db, "creator");
    let mut ids = Vec::new();
    for (name, version) in [
        ("alpha", "1"),
        ("beta", "1"),
        ("alpha", "2"),
        ("gamma_x", "1"),
        ("alpha", "3"),
    ] {
        let mut up = upload(u.id, name, version, "f", version.as_bytes());
        up.creator_id = creator.id;
        ids.push(db.add_file(&up).unwrap().version_id);
    }
    // Versions created within the same second are ordered by id, newest first.
    let all = |filter: &VersionFilter, page: u64, limit: u64| {
        let (rows, total) = db
            .list_versions(u.id, filter, Page { page, limit })
            .unwrap();
        (rows.iter().map(|r| r.version.id).collect::<Vec<_>>(), total)
    };
    let everything = VersionFilter::default();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(all(&everything, 1, 50), (newest_first.clone(), 5));
    assert_eq!(all(&everything, 0, 2), (newest_first[..2].to_vec(), 5));
    assert_eq!(all(&everything, 2, 2), (newest_first[2..4].to_vec(), 5));
    assert_eq!(all(&everything, 3, 2), (newest_first[4..].to_vec(), 5));
    assert_eq!(all(&everything, 4, 2), (vec![], 5));

    let (rows, _) = db
        .list_versions(u.id, &everything, Page { page: 1, limit: 1 })
        .unwrap();
    assert_eq!(rows[0].package.name, "alpha");
    assert_eq!(rows[0].version.version, "3");
    assert_eq!(
        rows[0].creator.as_ref().map(|c| c.name.as_str()),
        Some("creator")
    );

    let by_query = VersionFilter {
        query: Some("ALP".into()),
        ..VersionFilter::default()
    };
    assert_eq!(all(&by_query, 1, 50), (vec![ids[4], ids[2], ids[0]], 3));
    // `_` is a LIKE wildcard, as in the reference registry.
    let wildcard = VersionFilter {
        query: Some("a_x".into()),
        ..VersionFilter::default()
    };
    assert_eq!(all(&wildcard, 1, 50).1, 1);
    let by_name = VersionFilter {
        name: Some("beta".into()),
        ..VersionFilter::default()
    };
    assert_eq!(all(&by_name, 1, 50), (vec![ids[1]], 1));
    let by_type = VersionFilter {
        package_type: Some("generic".into()),
        ..VersionFilter::default()
    };
    assert_eq!(all(&by_type, 1, 50).1, 5);
    let unknown_type = VersionFilter {
        package_type: Some("npm".into()),
        ..VersionFilter::default()
    };
    assert_eq!(all(&unknown_type, 1, 50), (vec![], 0));
    // Another owner sees nothing of these.
    assert_eq!(
        db.list_versions(creator.id, &everything, Page { page: 1, limit: 50 })
            .unwrap()
            .1,
        0
    );

    let latest = db.latest_version(u.id, GENERIC, "alpha").unwrap().unwrap();
    assert_eq!(latest.version.id, ids[4]);
    assert!(db.latest_version(u.id, GENERIC, "delta").unwrap().is_none());

    // A deleted creator leaves the version without one.
    assert!(db.delete_user(creator.id).unwrap());
    let detail = db
        .version_detail(u.id, GENERIC, "beta", "1")
        .unwrap()
        .unwrap();
    assert_eq!(detail.creator, None);
}

fn seed_versions_in_bulk(db: &Database) {
    let u = user(db, "seeded");
    assert_eq!(
        db.seed_versions(u.id, GENERIC, "bench-", 2500).unwrap(),
        2500
    );
    // Each file has content of its own, so each its own blob.
    let size: u64 = (0..2500)
        .map(|i| {
            seed_content(&format!("bench-{}", i / 1000), &format!("1.0.{}", i % 1000)).len() as u64
        })
        .sum();
    assert_eq!(db.owner_usage(u.id).unwrap(), (2500, size));
    // Blob sizes summed: one blob shared by all would count its size once.
    assert_eq!(db.stored_totals().unwrap().stored_bytes, size as i64);
    let FileLookup::Found { blob, .. } = db
        .find_file(
            u.id,
            GENERIC,
            "bench-2",
            "1.0.499",
            crate::testing::SEED_FILE_NAME,
        )
        .unwrap()
    else {
        panic!("seeded file not found");
    };
    assert_eq!(
        blob.hash_sha256,
        digests(&seed_content("bench-2", "1.0.499")).sha256
    );
    assert!(db
        .version_detail(u.id, GENERIC, "bench-2", "1.0.500")
        .unwrap()
        .is_none());
    let (rows, total) = db
        .list_versions(u.id, &VersionFilter::default(), Page { page: 1, limit: 30 })
        .unwrap();
    assert_eq!((rows.len(), total), (30, 2500));
    // The ordinary upload path works on top of seeded data.
    db.add_file(&upload(u.id, "bench-0", "1.0.0", "second.bin", b"more"))
        .unwrap();
}

fn properties_are_set_replaced_and_removed(db: &Database) {
    let u = user(db, "props");
    let added = db.add_file(&upload(u.id, "p", "1", "a", b"a")).unwrap();
    let version = added.version_id;
    let props = |of| db.properties(of, &[version]).unwrap();
    db.set_property(PropertyOf::Version, version, "tag.latest", "1")
        .unwrap();
    db.set_property(PropertyOf::Version, version, "other", "x")
        .unwrap();
    // A second value of the same name replaces the first.
    db.set_property(PropertyOf::Version, version, "tag.latest", "2")
        .unwrap();
    assert_eq!(
        props(PropertyOf::Version),
        vec![
            (version, "other".to_owned(), "x".to_owned()),
            (version, "tag.latest".to_owned(), "2".to_owned()),
        ]
    );
    // Scopes are apart: the same id as a package has none.
    assert!(props(PropertyOf::Package).is_empty());
    assert!(db
        .remove_property(PropertyOf::Version, version, "tag.latest")
        .unwrap());
    assert!(!db
        .remove_property(PropertyOf::Version, version, "tag.latest")
        .unwrap());
    assert_eq!(
        props(PropertyOf::Version),
        vec![(version, "other".to_owned(), "x".to_owned())]
    );
}

/// The database compares the look-up form it is given and lowercases only versions and
/// file names: a format whose names are case-sensitive keeps them apart.
fn names_compare_in_the_form_the_format_gives(db: &Database) {
    let u = user(db, "cased");
    for name in ["MyCrate", "mycrate"] {
        let details = FileDetails {
            lower_name: name.to_owned(),
            ..FileDetails::plain(name)
        };
        db.add_file_with(
            &upload(u.id, name, "1.0.0", "f.crate", name.as_bytes()),
            &details,
        )
        .unwrap();
    }
    let found = |name: &str| match db
        .find_file(u.id, GENERIC, name, "1.0.0", "F.CRATE")
        .unwrap()
    {
        FileLookup::Found { blob, .. } => blob.hash_sha256,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(found("MyCrate"), digests(b"MyCrate").sha256);
    assert_eq!(found("mycrate"), digests(b"mycrate").sha256);
    assert!(matches!(
        db.find_file(u.id, GENERIC, "MYCRATE", "1.0.0", "f.crate")
            .unwrap(),
        FileLookup::NoVersion
    ));
    assert!(db
        .delete_version(u.id, GENERIC, "MyCrate", "1.0.0")
        .unwrap());
    assert_eq!(found("mycrate"), digests(b"mycrate").sha256);
}

/// On PostgreSQL these uploads go through the one-statement path (or are declined by it and
/// redone by the transaction); both backends must give the same outcomes and rows.
fn uploads_into_existing_packages_keep_every_outcome(db: &Database) {
    let u = user(db, "owner");
    let first = db
        .add_file(&upload(u.id, "Pkg", "1.0", "a.bin", b"a"))
        .unwrap();

    // A new version with new content, its blob under a storage key of its own.
    let mut new_version = upload(u.id, "pkg", "2.0-RC", "B.bin", b"b");
    new_version.storage_key = Some("key-b".into());
    let b = db.add_file(&new_version).unwrap();
    assert_eq!(b.package_id, first.package_id);
    assert_ne!(b.version_id, first.version_id);
    assert!(b.version_created && b.blob_created);
    let stored = db.blob_by_sha256(&digests(b"b").sha256).unwrap().unwrap();
    assert_eq!((stored.id, stored.size), (b.blob_id, 1));
    assert_eq!(stored.storage_key.as_deref(), Some("key-b"));

    // Another file of that version with known content: nothing new but the file, and the
    // blob keeps its key.
    let mut known = upload(u.id, "PKG", "2.0-rc", "c.bin", b"b");
    known.storage_key = Some("key-other".into());
    let c = db.add_file(&known).unwrap();
    assert_eq!((c.version_id, c.blob_id), (b.version_id, b.blob_id));
    assert!(!c.version_created && !c.blob_created);
    let stored = db.blob_by_sha256(&digests(b"b").sha256).unwrap().unwrap();
    assert_eq!(stored.storage_key.as_deref(), Some("key-b"));
    let files = db.version_files(b.version_id).unwrap();
    let names: Vec<&str> = files.iter().map(|(f, _)| f.name.as_str()).collect();
    assert_eq!(names, ["B.bin", "c.bin"]);

    // A file that exists (in another casing) with new content: refused, and the new
    // content's blob row is not left behind.
    assert!(matches!(
        db.add_file(&upload(u.id, "pkg", "2.0-rc", "b.BIN", b"new")),
        Err(DbError::FileExists)
    ));
    assert!(db
        .blob_by_sha256(&digests(b"new").sha256)
        .unwrap()
        .is_none());

    // Content whose SHA-256 matches a stored blob but whose other digests differ is an
    // error, and the version it would have created does not exist.
    let mut forged = upload(u.id, "pkg", "3.0", "d.bin", b"x");
    forged.digests = digests(b"b");
    forged.digests.md5 = digests(b"x").md5;
    assert!(db.add_file(&forged).is_err());
    assert!(db
        .version_detail(u.id, GENERIC, "pkg", "3.0")
        .unwrap()
        .is_none());

    // What a format stores of its own reaches the rows: an internal version's metadata,
    // the composite key and the lead flag.
    let details = FileDetails {
        lower_name: "pkg".into(),
        version_metadata: Some("{\"k\":1}".into()),
        composite_key: "arch=x".into(),
        is_lead: false,
        internal_version: true,
        properties: Vec::new(),
    };
    let e = db
        .add_file_with(&upload(u.id, "pkg", "4.0", "e.bin", b"e"), &details)
        .unwrap();
    assert!(e.version_created && e.blob_created);
    let files = db.version_files(e.version_id).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0.composite_key, "arch=x");
    assert!(!files[0].0.is_lead);
    // Internal versions are not found by the shared look-ups.
    assert!(db
        .version_detail(u.id, GENERIC, "pkg", "4.0")
        .unwrap()
        .is_none());
    // Another file with the same name but another composite key is a separate file.
    let details_y = FileDetails {
        composite_key: "arch=y".into(),
        ..details
    };
    let f = db
        .add_file_with(&upload(u.id, "pkg", "4.0", "e.bin", b"f"), &details_y)
        .unwrap();
    assert_eq!(f.version_id, e.version_id);
    assert!(!f.version_created && f.blob_created);
}
