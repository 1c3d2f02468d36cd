//! The headers of a download that follow from the stored file alone ([`FileHeaders`]: entity
//! tag, date, digests, file name), built once for each look-up the read cache holds rather
//! than on every request. Small downloads are the registry's most frequent request, and building
//! these values (hex decoding, base64, date formatting, escaping the name, checking each
//! value) was the largest part of answering one that the server's own code did.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Weak};

use packages_db::FileLookup;

use crate::error::ApiResult;
use crate::serve::{Content, FileHeaders};

/// How many look-ups each worker thread keeps headers for. Entries whose look-up the read
/// cache has let go are dropped first when it is full.
const PER_THREAD: usize = 4096;

/// A look-up the read cache shares, and its headers. The weak reference keeps the look-up's
/// allocation (not its contents) alive, so its address cannot be reused for another look-up
/// while the entry exists: the address identifies it exactly.
struct Entry {
    lookup: Weak<FileLookup>,
    headers: Rc<FileHeaders>,
}

thread_local! {
    static PREPARED: RefCell<HashMap<usize, Entry>> = RefCell::new(HashMap::new());
}

/// The headers for `content`, the file of `lookup`: from this thread's memory when the same
/// look-up was answered before, otherwise built (and kept while the look-up is cached).
pub fn for_lookup(lookup: &Arc<FileLookup>, content: &Content<'_>) -> ApiResult<Rc<FileHeaders>> {
    let key = Arc::as_ptr(lookup) as usize;
    // The caller's look-up is alive at this address, so an entry under it is its own.
    let found = PREPARED.with_borrow(|prepared| prepared.get(&key).map(|e| e.headers.clone()));
    if let Some(headers) = found {
        return Ok(headers);
    }
    let headers = Rc::new(FileHeaders::build(content)?);
    PREPARED.with_borrow_mut(|prepared| {
        if prepared.len() >= PER_THREAD {
            prepared.retain(|_, entry| entry.lookup.strong_count() > 0);
            if prepared.len() >= PER_THREAD {
                prepared.clear();
            }
        }
        prepared.insert(
            key,
            Entry {
                lookup: Arc::downgrade(lookup),
                headers: headers.clone(),
            },
        );
    });
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use packages_db::{PackageBlob, PackageFile, PackageVersion};

    fn lookup(name: &str, sha256: &str) -> Arc<FileLookup> {
        Arc::new(FileLookup::Found {
            version: PackageVersion {
                id: 1,
                package_id: 1,
                creator_id: 0,
                version: "1.0".into(),
                lower_version: "1.0".into(),
                created_unix: 1_700_000_000,
                is_internal: false,
                metadata_json: None,
                download_count: 0,
            },
            file: PackageFile {
                id: 1,
                version_id: 1,
                blob_id: 1,
                name: name.into(),
                lower_name: name.to_lowercase(),
                composite_key: String::new(),
                is_lead: false,
                created_unix: 1_700_000_000,
            },
            blob: PackageBlob {
                id: 1,
                size: 3,
                hash_md5: String::new(),
                hash_sha1: String::new(),
                hash_sha256: sha256.into(),
                hash_sha512: "ab".repeat(64),
                created_unix: 1_700_000_000,
                storage_key: None,
            },
        })
    }

    fn content_of(lookup: &FileLookup) -> Content<'_> {
        let FileLookup::Found { file, blob, .. } = lookup else {
            panic!("a found file")
        };
        Content {
            file_name: &file.name,
            size: blob.size as u64,
            sha256: &blob.hash_sha256,
            sha512: &blob.hash_sha512,
            modified_unix: file.created_unix,
        }
    }

    #[test]
    fn values_are_those_of_the_file() {
        let l = lookup("a b.bin", &"12".repeat(32));
        let h = for_lookup(&l, &content_of(&l)).expect("headers");
        assert_eq!(h.etag, format!("\"{}\"", "12".repeat(32)).as_str());
        assert_eq!(h.checksum, "12".repeat(32).as_str());
        assert_eq!(h.last_modified, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(
            h.disposition,
            "attachment; filename=\"a b.bin\"; filename*=UTF-8''a%20b.bin"
        );
        let repr = h.repr_digest.to_str().expect("ascii");
        assert!(repr.starts_with("sha-256=:EhISEhIS"), "{repr}");
        assert!(repr.contains(", sha-512=:q6ur"), "{repr}");
    }

    #[test]
    fn the_same_lookup_is_built_once_and_another_gets_its_own() {
        let first = lookup("one.bin", &"12".repeat(32));
        let a = for_lookup(&first, &content_of(&first)).expect("headers");
        let b = for_lookup(&first, &content_of(&first)).expect("headers");
        assert!(
            Rc::ptr_eq(&a, &b),
            "the second answer reuses the first's values"
        );

        // A different look-up of another file never gets the first one's values, even
        // after the first is gone from the read cache.
        drop(first);
        let second = lookup("two.bin", &"34".repeat(32));
        let c = for_lookup(&second, &content_of(&second)).expect("headers");
        assert_eq!(c.checksum, "34".repeat(32).as_str());
        assert!(c.disposition.to_str().expect("ascii").contains("two.bin"));
    }

    #[test]
    fn entries_of_released_lookups_make_room() {
        for i in 0..PER_THREAD + 10 {
            let l = lookup(&format!("f{i}.bin"), &"56".repeat(32));
            for_lookup(&l, &content_of(&l)).expect("headers");
        }
        let kept = PREPARED.with_borrow(|p| p.len());
        assert!(kept <= PER_THREAD, "{kept} entries kept");
    }
}
