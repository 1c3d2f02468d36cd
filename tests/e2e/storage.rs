//! What reaches the disk: aborted uploads leave nothing, identical content is stored once.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use forge_e2e::{file_path, files_under, sha256_hex, Auth, Backend, TestServer, ANON, PASSWORD};

use crate::common::*;

fn aborted_upload_leaves_nothing(backend: Backend) {
    let mut s = TestServer::start(backend);
    with_user2(&s);

    let mut stream = s.connect();
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 1000000\r\n\r\n",
        uf(FILE),
        s.addr,
        user2().header_value().unwrap_or_default()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(&[7u8; 10]).expect("send 10 bytes");
    stream.flush().expect("flush");
    // Let the server start receiving (the store streams uploads into its tmp dir) so the
    // disconnect hits an upload in progress rather than a connection not yet read.
    let receiving = forge_e2e::wait_until(Duration::from_secs(5), || s.pending_uploads() > 0);
    if !receiving {
        println!("note: no partial upload appeared");
    }
    drop(stream);

    // The server notices the closed connection on its own schedule; wait for it to clean up.
    let clean = forge_e2e::wait_until(Duration::from_secs(10), || s.stored_items().is_empty());
    assert!(
        clean,
        "left in the store after an aborted upload: {:?}",
        s.stored_items()
    );
    // A graceful stop waits for every request in flight, so whatever the aborted upload was
    // going to leave behind is there now.
    s.restart();
    assert!(s.stored_items().is_empty(), "{:?}", s.stored_items());
    assert!(
        s.stored_versions(OWNER).is_empty(),
        "a version row was left"
    );
    assert!(s.stored_package_files(OWNER, NAME, VERSION).is_empty());
    assert_eq!(s.blob_count(), 0);

    // The aborted attempt does not block the real upload.
    status(&s.put(&uf(FILE), CONTENT, &user2()), 201);
    assert_eq!(s.get(&uf(FILE), &ANON).body, CONTENT);
}

/// A body shorter than its Content-Length followed by a half-close is also not stored.
fn short_body_is_not_stored(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    let mut stream = s.connect();
    let head = format!(
        "PUT {} HTTP/1.1\r\nHost: {}\r\nAuthorization: {}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n",
        uf(FILE),
        s.addr,
        user2().header_value().unwrap_or_default()
    );
    stream.write_all(head.as_bytes()).expect("send head");
    stream.write_all(b"only-part").expect("send part");
    stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    // Whatever the server answers, it must not be a success.
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.starts_with("HTTP/1.1 201") && !text.starts_with("HTTP/1.0 201"),
        "a short body was accepted: {text:?}"
    );
    let clean = forge_e2e::wait_until(Duration::from_secs(10), || s.stored_items().is_empty());
    assert!(clean, "{:?}", s.stored_items());
    assert!(s.stored_versions(OWNER).is_empty());
    status(&s.put(&uf(FILE), CONTENT, &user2()), 201);
}

fn identical_content_is_stored_once(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    s.create_user("user3", PASSWORD, false);
    let content = b"the same bytes for everyone";
    let sha = sha256_hex(content);

    status(&s.put(&uf("a.bin"), content, &user2()), 201);
    status(
        &s.put(
            &file_path("user3", "elsewhere", "9", "b.bin"),
            content,
            &Auth::basic("user3", PASSWORD),
        ),
        201,
    );
    assert_eq!(s.blob_count(), 1);
    if backend == Backend::S3 {
        // Each upload writes an object of its own; the duplicate goes after the commit.
        assert_eq!(s.stored_items().len(), 1, "{:?}", s.stored_items());
        status(&s.put(&uf("c.bin"), content, &user2()), 201);
        assert_eq!(s.blob_count(), 1);
        assert_eq!(s.stored_items().len(), 1, "{:?}", s.stored_items());
        assert_eq!(s.get(&uf("c.bin"), &ANON).body, content);
        status(&s.put(&uf("d.bin"), b"other", &user2()), 201);
        assert_eq!(s.blob_count(), 2);
        assert_eq!(s.stored_items().len(), 2);
        return;
    }
    let expected = s
        .packages_dir()
        .join(&sha[0..2])
        .join(&sha[2..4])
        .join(&sha);
    assert_eq!(
        files_under(&s.packages_dir()),
        std::slice::from_ref(&expected)
    );
    assert_eq!(std::fs::read(&expected).expect("read blob"), content);
    let user2_file = &s.stored_package_files(OWNER, NAME, VERSION)[0];
    let user3_file = &s.stored_package_files("user3", "elsewhere", "9")[0];
    assert_eq!(user2_file.blob_id, user3_file.blob_id);

    // Identical bytes again: nothing new on disk or in the blob table.
    // The store may refresh the blob's mtime (it ages blobs for the sweep), but it must not
    // replace the file.
    let inode = || std::fs::metadata(&expected).expect("stat blob").ino();
    let before = inode();
    status(&s.put(&uf("c.bin"), content, &user2()), 201);
    assert_eq!(s.blob_count(), 1);
    assert_eq!(
        files_under(&s.packages_dir()),
        std::slice::from_ref(&expected)
    );
    assert_eq!(inode(), before, "the stored blob was replaced");
    assert_eq!(std::fs::read(&expected).expect("read blob"), content);

    // Different bytes make a second blob.
    status(&s.put(&uf("d.bin"), b"other", &user2()), 201);
    assert_eq!(s.blob_count(), 2);
    assert_eq!(files_under(&s.packages_dir()).len(), 2);
}

forge_e2e::backends!(
    aborted_upload_leaves_nothing,
    short_body_is_not_stored,
    identical_content_is_stored_once,
);
forge_e2e::s3_backend!(
    aborted_upload_leaves_nothing,
    short_body_is_not_stored,
    identical_content_is_stored_once,
);
