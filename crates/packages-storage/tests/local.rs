use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, SystemTime};

mod common;

use packages_core::{BlobReader, BlobStore, MultiHasher, StorageError};
use packages_storage::LocalBlobStore;

fn sha256_of(data: &[u8]) -> String {
    let mut h = MultiHasher::new();
    h.update(data);
    h.finalize().sha256
}

fn store() -> (tempfile::TempDir, LocalBlobStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path().join("blobs")).unwrap();
    (dir, store)
}

fn put(store: &LocalBlobStore, data: &[u8]) -> Box<dyn packages_core::StoredBlob> {
    let mut pending = store.begin().unwrap();
    pending.write_all(data).unwrap();
    assert_eq!(pending.len(), data.len() as u64);
    store.persist(pending, &sha256_of(data)).unwrap()
}

fn read_all(store: &LocalBlobStore, key: &str) -> Vec<u8> {
    let BlobReader::File(mut file, len) = store.open(key, None).unwrap() else {
        panic!("a local store opens files");
    };
    let mut out = Vec::new();
    file.read_to_end(&mut out).unwrap();
    assert_eq!(len, out.len() as u64);
    out
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// Uploads in progress in `dir`: named temporary files, and unnamed ones this process holds
/// open.
fn uploads_in(dir: &Path) -> usize {
    entries(dir).len() + common::unnamed_files_in(dir)
}

fn set_mtime(path: &Path, mtime: SystemTime) {
    File::open(path).unwrap().set_modified(mtime).unwrap();
}

fn hours_ago(h: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(h * 3600)
}

#[test]
fn open_creates_layout() {
    let (dir, store) = store();
    assert_eq!(
        entries(&dir.path().join("blobs")),
        ["resumable", "tmp", "trash"]
    );
    assert_eq!(store.tmp_dir(), dir.path().join("blobs").join("tmp"));
}

#[test]
fn persist_then_open_round_trips() {
    let (_dir, store) = store();
    let data = b"hello, packages";
    let key = sha256_of(data);
    assert!(!store.contains(&key).unwrap());
    let stored = put(&store, data);
    assert!(!stored.was_present());
    // Readable before the commit confirms it.
    assert_eq!(read_all(&store, &key), data);
    stored.confirm(true).unwrap();
    assert!(store.contains(&key).unwrap());
    assert_eq!(read_all(&store, &key), data);
    let path = store.path_of(&key).unwrap();
    assert!(path.ends_with(format!("{}/{}/{}", &key[0..2], &key[2..4], key)));
    assert!(path.is_file());
    assert_eq!(uploads_in(&store.tmp_dir()), 0);
}

#[test]
fn empty_blob_round_trips() {
    let (_dir, store) = store();
    put(&store, b"").confirm(true).unwrap();
    assert_eq!(read_all(&store, &sha256_of(b"")), b"");
}

#[test]
fn identical_content_is_stored_once() {
    let (_dir, store) = store();
    let data = b"same bytes";
    let key = sha256_of(data);
    let first = put(&store, data);
    let second = put(&store, data);
    assert!(!first.was_present());
    assert!(second.was_present());
    second.confirm(true).unwrap();
    first.confirm(true).unwrap();
    let level2 = store.path_of(&key).unwrap().parent().unwrap().to_owned();
    assert_eq!(entries(&level2), std::slice::from_ref(&key));
    let root = store.root();
    let levels: Vec<_> = entries(root)
        .into_iter()
        .filter(|n| !matches!(n.as_str(), "tmp" | "trash" | "resumable"))
        .collect();
    assert_eq!(levels, [key[0..2].to_owned()]);
    assert_eq!(read_all(&store, &key), data);
    assert_eq!(uploads_in(&store.tmp_dir()), 0);
}

#[test]
fn dropped_pending_leaves_no_temp_file() {
    let (_dir, store) = store();
    let mut pending = store.begin().unwrap();
    pending.write_all(b"partial").unwrap();
    assert_eq!(uploads_in(&store.tmp_dir()), 1);
    // On Linux the upload has no name at all until it is linked under its key.
    #[cfg(target_os = "linux")]
    assert!(entries(&store.tmp_dir()).is_empty());
    drop(pending);
    assert_eq!(uploads_in(&store.tmp_dir()), 0);
}

#[test]
fn dropped_stored_leaves_content_but_no_temp_file() {
    let (_dir, store) = store();
    let stored = put(&store, b"unconfirmed");
    assert_eq!(uploads_in(&store.tmp_dir()), 1);
    drop(stored);
    assert_eq!(uploads_in(&store.tmp_dir()), 0);
    assert!(store.contains(&sha256_of(b"unconfirmed")).unwrap());
}

#[test]
fn invalid_keys_are_refused() {
    let (_dir, store) = store();
    let upper = "A".repeat(64);
    let long = "a".repeat(65);
    let traversal = format!("../{}", "a".repeat(61));
    for key in [
        "../x",
        "",
        "abc",
        upper.as_str(),
        long.as_str(),
        traversal.as_str(),
    ] {
        assert!(store.path_of(key).is_none(), "{key}");
        assert!(matches!(
            store.open(key, None),
            Err(StorageError::InvalidKey)
        ));
        assert!(matches!(store.contains(key), Err(StorageError::InvalidKey)));
        let mut never = || -> Result<bool, StorageError> { panic!("must not be asked") };
        assert!(matches!(
            store.remove(key, &mut never),
            Err(StorageError::InvalidKey)
        ));
        let mut pending = store.begin().unwrap();
        pending.write_all(b"x").unwrap();
        assert!(matches!(
            store.persist(pending, key),
            Err(StorageError::InvalidKey)
        ));
        assert_eq!(uploads_in(&store.tmp_dir()), 0);
    }
}

#[test]
fn missing_key_is_not_found() {
    let (_dir, store) = store();
    let key = sha256_of(b"never stored");
    assert!(matches!(store.open(&key, None), Err(StorageError::NotFound(k)) if k == key));
    assert!(!store.contains(&key).unwrap());
}

/// A pending blob that no local store began.
struct ForeignPending;

impl packages_core::PendingBlob for ForeignPending {
    fn write_all(&mut self, _data: &[u8]) -> Result<(), StorageError> {
        Ok(())
    }

    fn len(&self) -> u64 {
        0
    }

    fn into_any(self: Box<Self>) -> Box<dyn std::any::Any + Send> {
        self
    }
}

#[test]
fn pending_of_another_kind_of_store_is_refused() {
    let (_dir, store) = store();
    assert!(matches!(
        store.persist(Box::new(ForeignPending), &sha256_of(b"")),
        Err(StorageError::Io(_))
    ));
    assert!(store.path_of(&sha256_of(b"")).is_some_and(|p| !p.exists()));
}

#[test]
fn remove_honours_still_referenced() {
    let (_dir, store) = store();
    let trash = store.root().join("trash");

    let gone = sha256_of(b"unreferenced");
    put(&store, b"unreferenced").confirm(true).unwrap();
    let mut asked = 0;
    let removed = store
        .remove(&gone, &mut || {
            asked += 1;
            // Asked once the content is out of reach of readers.
            assert!(!store.contains(&gone).unwrap());
            Ok(false)
        })
        .unwrap();
    assert!(removed);
    assert_eq!(asked, 1);
    assert!(!store.contains(&gone).unwrap());

    let kept = sha256_of(b"referenced again");
    put(&store, b"referenced again").confirm(true).unwrap();
    assert!(!store.remove(&kept, &mut || Ok(true)).unwrap());
    assert_eq!(read_all(&store, &kept), b"referenced again");

    let failing = store.remove(&kept, &mut || {
        Err(StorageError::Io(io::Error::other("database down")))
    });
    assert!(matches!(failing, Err(StorageError::Io(_))));
    assert_eq!(read_all(&store, &kept), b"referenced again");

    let mut never = || -> Result<bool, StorageError> { panic!("must not be asked") };
    assert!(!store.remove(&gone, &mut never).unwrap());
    assert!(entries(&trash).is_empty());
}

#[test]
fn confirm_restores_content_swept_before_the_commit() {
    let (_dir, store) = store();
    let data = b"raced with the sweep";
    let key = sha256_of(data);
    let stored = put(&store, data);
    assert!(store.remove(&key, &mut || Ok(false)).unwrap());
    assert!(!store.contains(&key).unwrap());
    stored.confirm(true).unwrap();
    assert_eq!(read_all(&store, &key), data);
    assert_eq!(uploads_in(&store.tmp_dir()), 0);
}

#[test]
fn list_gives_keys_with_their_age_and_skips_other_files() {
    let (_dir, store) = store();
    let old = sha256_of(b"old");
    let new = sha256_of(b"new");
    put(&store, b"old").confirm(true).unwrap();
    put(&store, b"new").confirm(true).unwrap();
    set_mtime(&store.path_of(&old).unwrap(), hours_ago(48));
    // Neither upload leftovers nor stray files are keys.
    let stray = store.tmp_dir().join("a".repeat(64));
    fs::write(&stray, b"stray").unwrap();
    let old_level2 = store.path_of(&old).unwrap().parent().unwrap().to_owned();
    fs::write(old_level2.join("not-a-key"), b"junk").unwrap();

    let page = store.list(None, 10).unwrap();
    assert_eq!(page.next, None);
    let mut expected = vec![old.clone(), new];
    expected.sort();
    let keys: Vec<&str> = page.keys.iter().map(|k| k.key.as_str()).collect();
    assert_eq!(keys, expected);
    let old_listed = page.keys.iter().find(|k| k.key == old).unwrap();
    assert!(old_listed.modified < hours_ago(24));
}

#[test]
fn list_pages_through_every_key_in_order() {
    let (_dir, store) = store();
    let mut expected: Vec<String> = (0..57u32)
        .map(|i| {
            let data = i.to_le_bytes();
            put(&store, &data).confirm(true).unwrap();
            sha256_of(&data)
        })
        .collect();
    expected.sort();
    for size in [1, 5, 56, 57, 100] {
        let mut seen = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = store.list(after.as_deref(), size).unwrap();
            assert!(page.keys.len() <= size);
            seen.extend(page.keys.into_iter().map(|k| k.key));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected, "page size {size}");
    }
}

#[test]
fn remove_stale_uploads_clears_old_leftovers() {
    let (_dir, store) = store();
    let tmp = store.tmp_dir();
    let trash = store.root().join("trash");

    let old_upload = tmp.join("upload-crashed");
    fs::write(&old_upload, b"partial").unwrap();
    set_mtime(&old_upload, hours_ago(48));
    let live = store.begin().unwrap();

    // A removal interrupted by a crash: the content goes back under its key, since the
    // reference check may have found it in use.
    let key = sha256_of(b"interrupted removal");
    let trashed = trash.join(format!("{key}-0123456789abcdef"));
    fs::write(&trashed, b"interrupted removal").unwrap();
    set_mtime(&trashed, hours_ago(48));
    let junk = trash.join("junk");
    fs::write(&junk, b"junk").unwrap();
    set_mtime(&junk, hours_ago(48));

    assert_eq!(store.remove_stale_uploads(hours_ago(24)).unwrap(), 3);
    assert_eq!(uploads_in(&tmp), 1, "the live upload stays");
    assert!(entries(&trash).is_empty());
    assert_eq!(read_all(&store, &key), b"interrupted removal");

    drop(live);
    assert_eq!(store.remove_stale_uploads(hours_ago(24)).unwrap(), 0);
    assert_eq!(uploads_in(&tmp), 0);
}

#[test]
fn resumable_upload_keeps_only_committed_bytes() {
    let (_dir, store) = store();
    let id = "0123456789abcdef0123456789abcdef";
    assert!(store.resumable_create("../escape").is_err());
    let state = store.resumable_create(id).expect("create");

    let mut append = store.resumable_append(id, &state, 0).expect("append");
    append.write_all(b"abc").expect("write");
    let (offset, state) = append.commit().expect("commit");
    assert_eq!(offset, 3);

    // An append dropped without commit (a discarded chunk) leaves bytes past the offset,
    // which the next append overwrites.
    let mut discarded = store.resumable_append(id, &state, 3).expect("append");
    discarded.write_all(b"WRONG").expect("write");
    drop(discarded);
    let mut append = store.resumable_append(id, &state, 3).expect("append");
    append.write_all(b"de").expect("write");
    let (offset, state) = append.commit().expect("commit");
    assert_eq!(offset, 5);

    let mut read = Vec::new();
    let stored = store
        .resumable_finish(id, &state, 5, &mut |r| {
            r.read_to_end(&mut read)?;
            Ok(sha256_of(&read))
        })
        .expect("finish");
    assert_eq!(read, b"abcde");
    assert_eq!(stored.key(), sha256_of(b"abcde"));
    stored.confirm(true).expect("confirm");
    assert_eq!(read_all(&store, &sha256_of(b"abcde")), b"abcde");
    assert!(
        entries(&store.resumable_dir()).is_empty(),
        "the pending file is gone"
    );

    // Abort removes what an unfinished upload holds.
    let other = "fedcba9876543210fedcba9876543210";
    let state = store.resumable_create(other).expect("create");
    let mut append = store.resumable_append(other, &state, 0).expect("append");
    append.write_all(b"xyz").expect("write");
    append.commit().expect("commit");
    store.resumable_abort(other, "").expect("abort");
    assert!(entries(&store.resumable_dir()).is_empty());
    assert!(store.resumable_append(other, "", 0).is_err());
}
