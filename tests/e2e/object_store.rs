//! Content in an S3 bucket (SeaweedFS, which checks signatures): downloads served straight
//! from the bucket through presigned URLs, start-up errors that name the setting, an outage
//! answered with 503 and recovered from without a restart, and the sweep of the bucket.

use std::time::Duration;

use forge_e2e::s3::{use_s3, Seaweed};
use forge_e2e::{Backend, TestEnv, TestServer, ANON};

use crate::common::*;

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .redirects(0)
        .build()
}

/// GET of a presigned URL: status, Content-Disposition, Content-Type and body.
fn fetch(url: &str) -> (u16, Option<String>, Option<String>, Vec<u8>) {
    let response = match agent().get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = response.status();
    let disposition = response.header("content-disposition").map(str::to_owned);
    let content_type = response.header("content-type").map(str::to_owned);
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).expect("read body");
    (status, disposition, content_type, body)
}

fn serve_direct_redirects_to_a_signed_url(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.storage.serve_direct = true;
        c.storage.serve_direct_ttl = Duration::from_secs(2);
    });
    with_user2(&s);
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let file = "my file (1).bin";
    status(&s.put(&uf(file), &content, &user2()), 201);

    let r = s.get(&uf(file), &ANON);
    status(&r, 307);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let url = r.header("location").expect("Location").to_owned();
    assert!(url.starts_with(&s.config().storage.s3.endpoint), "{url}");

    let (code, disposition, content_type, body) = fetch(&url);
    assert_eq!(code, 200);
    assert_eq!(
        disposition.as_deref(),
        Some("attachment; filename=\"my file (1).bin\"; filename*=UTF-8''my%20file%20%281%29.bin")
    );
    assert_eq!(content_type.as_deref(), Some("application/octet-stream"));
    assert!(body == content, "the bucket sent other bytes");

    // The redirect counts as a download; HEAD neither redirects nor counts.
    let head = s.head(&uf(file), &ANON);
    status(&head, 200);
    assert_eq!(head.header("location"), None);
    assert_eq!(s.stored_versions(OWNER)[0].download_count, 1);

    // A changed signature or a changed file name is refused by the bucket.
    let tampered = url.replacen("X-Amz-Signature=", "X-Amz-Signature=0", 1);
    assert_eq!(fetch(&tampered).0, 403);
    let renamed = url.replacen("my%20file", "other", 1);
    assert_ne!(renamed, url);
    assert_eq!(fetch(&renamed).0, 403);

    // Past its time-to-live the URL is refused too.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(fetch(&url).0, 403);
}

#[track_caller]
fn start_error(configure: impl FnOnce(&mut forge_server::Config)) -> String {
    let mut env = TestEnv::new(Backend::S3);
    configure(&mut env.config);
    match forge_server::start(env.config.clone()) {
        Ok(_) => panic!("the server started with bad storage settings"),
        Err(e) => e.to_string(),
    }
}

fn bad_settings_stop_start_up_naming_the_setting(_backend: Backend) {
    let unreachable = start_error(|c| {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        c.storage.s3.endpoint = format!("http://127.0.0.1:{port}");
    });
    assert!(
        unreachable.starts_with("storage.s3.endpoint (FORGE_STORAGE_S3_ENDPOINT): cannot reach"),
        "{unreachable}"
    );

    let wrong_secret = start_error(|c| c.storage.s3.secret_access_key = "wrong".into());
    assert!(
        wrong_secret.contains("FORGE_STORAGE_S3_SECRET_ACCESS_KEY")
            && wrong_secret.contains("refuses the credentials"),
        "{wrong_secret}"
    );
    assert!(
        !wrong_secret.contains("wrong"),
        "the secret leaked: {wrong_secret}"
    );

    let no_bucket = start_error(|c| c.storage.s3.bucket = "no-such-bucket".into());
    assert!(
        no_bucket.starts_with(
            "storage.s3.bucket (FORGE_STORAGE_S3_BUCKET): bucket \"no-such-bucket\" does not exist"
        ),
        "{no_bucket}"
    );

    let not_a_url = start_error(|c| c.storage.s3.endpoint = "127.0.0.1:9".into());
    assert!(
        not_a_url.starts_with("storage.s3.endpoint (FORGE_STORAGE_S3_ENDPOINT):"),
        "{not_a_url}"
    );
}

fn outage_answers_503_and_recovers(_backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let weed = Seaweed::start(&dir.path().join("weed")).expect("start SeaweedFS");
    let mut env = TestEnv::new(Backend::Sqlite);
    use_s3(&mut env.config, &weed.endpoint);
    let s = env.start();
    with_user2(&s);
    let content = vec![5u8; 100_000];
    status(&s.put(&uf("a.bin"), &content, &user2()), 201);

    weed.stop();
    let r = s.get(&uf("a.bin"), &ANON);
    status(&r, 503);
    assert_eq!(
        r.text().trim(),
        "package storage temporarily unavailable, try again later"
    );
    assert!(r.header("retry-after").is_some());
    let r = s.put(&uf("b.bin"), &content, &user2());
    status(&r, 503);
    assert_eq!(s.stored_package_files(OWNER, NAME, VERSION).len(), 1);

    let weed = Seaweed::start_on(&weed.dir, Some(weed.s3_port())).expect("restart SeaweedFS");
    let back = forge_e2e::wait_until(Duration::from_secs(30), || {
        s.get(&uf("a.bin"), &ANON).status == 200
    });
    assert!(back, "downloads did not come back");
    assert_eq!(s.get(&uf("a.bin"), &ANON).body, content);
    status(&s.put(&uf("b.bin"), &content, &user2()), 201);
    assert_eq!(s.pending_uploads(), 0);
    weed.stop();
}

fn sweep_removes_unreferenced_objects(backend: Backend) {
    let s = TestServer::start(backend);
    with_user2(&s);
    status(&s.put(&uf("a.bin"), b"kept", &user2()), 201);
    status(&s.put(&uf("b.bin"), b"dropped", &user2()), 201);
    status(&s.delete(&uf("b.bin"), &user2()), 204);
    // An object no row names, as a failed commit leaves.
    let store = s.s3_store();
    store
        .put_by_digest(&forge_e2e::sha256_hex(b"orphan"), b"orphan")
        .expect("put an orphan");
    assert_eq!(s.stored_items().len(), 3, "{:?}", s.stored_items());

    let store: std::sync::Arc<dyn packages_core::BlobStore> = std::sync::Arc::new(store);
    let young =
        forge_server::sweep::run_once(s.db(), &*store, Duration::from_secs(3600)).expect("sweep");
    assert_eq!(young.blobs_removed + young.orphan_files_removed, 0);
    // Object stores keep whole-second times: let the objects age past a zero grace period.
    std::thread::sleep(Duration::from_millis(1100));
    let report = forge_server::sweep::run_once(s.db(), &*store, Duration::ZERO).expect("sweep");
    assert_eq!(report.blobs_removed, 1, "{report:?}");
    assert_eq!(report.orphan_files_removed, 1, "{report:?}");
    assert_eq!(s.stored_items().len(), 1, "{:?}", s.stored_items());
    assert_eq!(s.get(&uf("a.bin"), &ANON).body, b"kept");
}

forge_e2e::s3_backend!(
    serve_direct_redirects_to_a_signed_url,
    bad_settings_stop_start_up_naming_the_setting,
    outage_answers_503_and_recovers,
    sweep_removes_unreferenced_objects,
);
