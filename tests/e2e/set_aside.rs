//! A download that arrives while the sweep has the content set aside (taken out of reach
//! for its last check of the database) waits for it to come back instead of failing.

use std::io::Read;
use std::time::Duration;

use forge_e2e::{file_path, sha256_hex, Auth, Backend, TestServer};
use packages_core::BlobStore;
use packages_storage::LocalBlobStore;

fn download_while_content_is_set_aside(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user("alice", "password", false);
    let auth = Auth::basic("alice", "password");
    // Larger than the in-memory cache of small files, so the download opens the content.
    let body: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    let path = file_path("alice", "app", "1.0", "f.bin");
    assert_eq!(s.put(&path, &body, &auth).status, 201);

    let store = LocalBlobStore::open(s.packages_dir()).expect("open the store");
    let url = s.url(&path);
    let mut download = None;
    let removed = store
        .remove(&sha256_hex(&body), &mut || {
            let url = url.clone();
            download = Some(std::thread::spawn(move || {
                let r = ureq::get(&url).call().map_err(|e| e.to_string())?;
                let mut bytes = Vec::new();
                r.into_reader()
                    .read_to_end(&mut bytes)
                    .map_err(|e| e.to_string())?;
                Ok::<_, String>(bytes)
            }));
            // The download arrives while the content is out of reach.
            std::thread::sleep(Duration::from_millis(300));
            Ok(true)
        })
        .expect("set the content aside and back");
    assert!(!removed, "referenced content must be put back");
    let got = download
        .expect("download started")
        .join()
        .expect("download thread")
        .expect("download answered 200");
    assert!(got == body, "downloaded bytes differ");
}

forge_e2e::backends!(download_while_content_is_set_aside);
