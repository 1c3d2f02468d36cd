//! The PyPI format over HTTP with hand-made requests: what twine's upload form may carry and
//! how every malformed upload is refused (400 naming the problem, nothing stored), the simple
//! index in both representations with its escaping and core metadata, downloads and deletes.

use forge_e2e::{files_under, Auth, Backend, Resp, TestServer, ANON, PASSWORD};
use md5::Digest as _;
use packages_core::{Limit, PackageType};
use sha2::{Digest, Sha256};

use crate::common::*;

const PYPI: PackageType = PackageType::new("pypi");
const URL: &str = "/api/packages/user2/pypi";
const BOUNDARY: &str = "forge-test-boundary";

/// A wheel of `name` `version` as a zip with stored (uncompressed) entries and core metadata.
fn wheel(name: &str, version: &str) -> Vec<u8> {
    let dist = name.replace(['-', '.'], "_").to_lowercase();
    let metadata = format!(
        "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nRequires-Python: >=3.8\n\nText\n"
    );
    let entries = [
        (format!("{dist}/__init__.py"), "VALUE = 1\n".to_owned()),
        (format!("{dist}-{version}.dist-info/METADATA"), metadata),
    ];
    let mut zip = Vec::new();
    for (path, data) in &entries {
        zip.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        zip.extend_from_slice(&[20, 0, 0, 0, 0, 0]); // version, flags, method (stored)
        zip.extend_from_slice(&[0; 8]); // time, date, crc (not checked here)
        zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
        zip.extend_from_slice(&(data.len() as u32).to_le_bytes());
        zip.extend_from_slice(&(path.len() as u16).to_le_bytes());
        zip.extend_from_slice(&0u16.to_le_bytes());
        zip.extend_from_slice(path.as_bytes());
        zip.extend_from_slice(data.as_bytes());
    }
    zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    zip.extend_from_slice(&[0; 18]);
    zip
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Form fields, in order.
type Fields = Vec<(String, String)>;

/// `fields` without `name`.
fn without(fields: &Fields, name: &str) -> Fields {
    fields.iter().filter(|(k, _)| k != name).cloned().collect()
}

/// `fields` with `name` set to `value` (replacing it when present).
fn with(fields: &Fields, name: &str, value: &str) -> Fields {
    let mut f = without(fields, name);
    f.push((name.to_owned(), value.to_owned()));
    f
}

/// A multipart form: text fields, then the file as `content` (when given).
fn form(fields: &Fields, file: Option<(&str, &[u8])>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    if let Some((file_name, data)) = file {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"content\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn post(s: &TestServer, body: &[u8], auth: &Auth) -> Resp {
    let content_type = format!("multipart/form-data; boundary={BOUNDARY}");
    s.request(
        "POST",
        URL,
        auth,
        &[("Content-Type", &content_type)],
        Some(body),
    )
}

/// The fields twine sends for a file, with its SHA-256.
fn fields_for(name: &str, version: &str, sha256: &str) -> Fields {
    [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("metadata_version", "2.1"),
        ("name", name),
        ("version", version),
        ("filetype", "bdist_wheel"),
        ("pyversion", "py3"),
        ("summary", "A <test> package"),
        ("requires_python", ">=3.8,<4"),
        ("author", "Alice"),
        ("home_page", "https://example.com/home"),
        ("sha256_digest", sha256),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn start(backend: Backend) -> TestServer {
    let s = TestServer::start(backend);
    with_user2(&s);
    s
}

/// Uploads a wheel of `name` `version` and returns its bytes.
fn upload_wheel(s: &TestServer, name: &str, version: &str) -> Vec<u8> {
    let whl = wheel(name, version);
    let sha = sha256_hex(&whl);
    let file = format!(
        "{}-{version}-py3-none-any.whl",
        name.replace(['-', '.'], "_").to_lowercase()
    );
    status(
        &post(
            s,
            &form(&fields_for(name, version, &sha), Some((&file, &whl))),
            &user2(),
        ),
        201,
    );
    whl
}

/// Nothing of a PyPI package is stored: no version and no content.
#[track_caller]
fn nothing_stored(s: &TestServer) {
    let owner = s.owner_id(OWNER).expect("owner");
    let (rows, _) = s
        .db()
        .list_versions(
            owner,
            &packages_db::VersionFilter {
                package_type: Some("pypi".into()),
                ..Default::default()
            },
            packages_db::Page { page: 1, limit: 10 },
        )
        .expect("list");
    assert!(rows.is_empty(), "versions stored: {rows:?}");
    let stray: Vec<_> = files_under(&s.packages_dir());
    assert!(stray.is_empty(), "content left behind: {stray:?}");
}

fn upload_index_download(backend: Backend) {
    let s = start(backend);
    let whl = upload_wheel(&s, "My.Pkg", "1.0");
    let sha = sha256_hex(&whl);
    // The same file again.
    let file = "my_pkg-1.0-py3-none-any.whl";
    status_text(
        &post(
            &s,
            &form(&fields_for("My.Pkg", "1.0", &sha), Some((file, &whl))),
            &user2(),
        ),
        409,
        "package file already exists",
    );
    // An sdist of the same version.
    let sdist = b"not really a tarball".to_vec();
    let sdist_sha = sha256_hex(&sdist);
    let fields = fields_for("my-pkg", "1.0", &sdist_sha);
    status(
        &post(
            &s,
            &form(&fields, Some(("my_pkg-1.0.tar.gz", &sdist))),
            &user2(),
        ),
        201,
    );

    // The index under any spelling of the name, PEP 503 HTML by default.
    for name in ["my-pkg", "My.Pkg", "MY__pkg"] {
        let r = s.get(&format!("{URL}/simple/{name}"), &ANON);
        status(&r, 200);
        assert_eq!(r.header("content-type"), Some("text/html"));
        let html = r.text();
        assert!(html.contains("<title>Links for My.Pkg</title>"), "{html}");
        assert!(
            html.contains(&format!(
                "<a href=\"/api/packages/user2/pypi/files/my-pkg/1.0/{file}#sha256={sha}\" data-requires-python=\"&gt;=3.8,&lt;4\""
            )),
            "{html}"
        );
        assert!(
            html.contains(&format!("#sha256={sdist_sha}\" data-requires-python")),
            "{html}"
        );
    }
    // Core metadata for the wheel (PEP 658/714), none for the sdist.
    let html = s.get(&format!("{URL}/simple/my-pkg/"), &ANON).text();
    let meta = s.get(&format!("{URL}/files/my-pkg/1.0/{file}.metadata"), &ANON);
    status(&meta, 200);
    assert!(
        meta.text()
            .starts_with("Metadata-Version: 2.1\nName: My.Pkg\n"),
        "{}",
        meta.text()
    );
    let meta_sha = sha256_hex(&meta.body);
    assert!(
        html.contains(&format!("data-core-metadata=\"sha256={meta_sha}\"")),
        "{html}"
    );
    assert!(
        html.contains(&format!("data-dist-info-metadata=\"sha256={meta_sha}\"")),
        "{html}"
    );
    assert_eq!(html.matches("data-core-metadata").count(), 1, "{html}");
    status(
        &s.get(
            &format!("{URL}/files/my-pkg/1.0/my_pkg-1.0.tar.gz.metadata"),
            &ANON,
        ),
        404,
    );

    // PEP 691 JSON on request.
    let r = s.get_with(
        &format!("{URL}/simple/my-pkg/"),
        &ANON,
        &[(
            "Accept",
            "application/vnd.pypi.simple.v1+json, text/html;q=0.01",
        )],
    );
    status(&r, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.pypi.simple.v1+json")
    );
    let json = r.json();
    assert_eq!(json["meta"]["api-version"], "1.1");
    assert_eq!(json["name"], "my-pkg");
    assert_eq!(json["versions"], serde_json::json!(["1.0"]));
    assert_eq!(json["files"][0]["filename"], file);
    assert_eq!(json["files"][0]["hashes"]["sha256"], sha);
    assert_eq!(json["files"][0]["requires-python"], ">=3.8,<4");
    assert_eq!(json["files"][0]["core-metadata"]["sha256"], meta_sha);
    assert_eq!(json["files"][1]["core-metadata"], false);
    assert_eq!(json["files"][0]["size"], whl.len());
    status_text(
        &s.get_with(
            &format!("{URL}/simple/my-pkg/"),
            &ANON,
            &[("Accept", "application/json")],
        ),
        406,
        "no supported content type in Accept header",
    );
    // The project list.
    let html = s.get(&format!("{URL}/simple/"), &ANON).text();
    assert!(
        html.contains("<a href=\"/api/packages/user2/pypi/simple/my-pkg/\">My.Pkg</a>"),
        "{html}"
    );
    let r = s.get_with(
        &format!("{URL}/simple/"),
        &ANON,
        &[("Accept", "application/vnd.pypi.simple.v1+json")],
    );
    assert_eq!(
        r.json()["projects"],
        serde_json::json!([{ "name": "My.Pkg" }])
    );
    status_text(
        &s.get(&format!("{URL}/simple/other"), &ANON),
        404,
        "package does not exist",
    );

    // Downloads have the generic headers and are counted.
    let url = format!("{URL}/files/my-pkg/1.0/{file}");
    let r = s.get(&url, &ANON);
    status(&r, 200);
    assert_eq!(r.body, whl);
    assert_eq!(r.header("x-checksum-sha256"), Some(sha.as_str()));
    assert_eq!(r.header("etag"), Some(format!("\"{sha}\"").as_str()));
    let r = s.get_with(&url, &ANON, &[("Range", "bytes=0-3")]);
    status(&r, 206);
    assert_eq!(r.body, &whl[..4]);
    let owner = s.owner_id(OWNER).unwrap();
    assert!(forge_e2e::wait_until(
        std::time::Duration::from_secs(5),
        || {
            s.db()
                .version_detail(owner, PYPI, "my-pkg", "1.0")
                .unwrap()
                .unwrap()
                .version
                .download_count
                == 2
        }
    ));
    status(
        &s.get(&format!("{URL}/files/My.Pkg/1.0/{file}"), &ANON),
        200,
    );

    // Listing and deletion through /api/v1, as for every format.
    let r = s.get("/api/v1/packages/user2?type=pypi", &user2());
    assert_eq!(r.json()[0]["name"], "My.Pkg");
    status(
        &s.get("/api/v1/packages/user2/pypi/my.pkg/1.0/files", &user2()),
        200,
    );
    status(
        &s.delete("/api/v1/packages/user2/pypi/MY_PKG/1.0", &ANON),
        401,
    );
    status(
        &s.delete("/api/v1/packages/user2/pypi/MY_PKG/1.0", &user2()),
        204,
    );
    status(&s.get(&format!("{URL}/simple/my-pkg"), &ANON), 404);
    status(&s.get(&url, &ANON), 404);
}

fn malformed_uploads_store_nothing(backend: Backend) {
    let s = start(backend);
    let whl = wheel("pkg", "1.0");
    let sha = sha256_hex(&whl);
    let file = "pkg-1.0-py3-none-any.whl";
    let good = fields_for("pkg", "1.0", &sha);
    let big = "x".repeat(1 << 21);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            form(&without(&good, "name"), Some((file, &whl))),
            "missing form field name",
        ),
        (
            form(&without(&good, "version"), Some((file, &whl))),
            "missing form field version",
        ),
        (
            form(&without(&good, "sha256_digest"), Some((file, &whl))),
            "missing form field sha256_digest",
        ),
        (form(&good, None), "missing form field content"),
        (
            form(&with(&good, "version", "one.two"), Some((file, &whl))),
            "invalid name or version",
        ),
        (
            form(&with(&good, "name", "-pkg"), Some((file, &whl))),
            "invalid name or version",
        ),
        (
            form(&good, Some(("other-1.0-py3-none-any.whl", &whl))),
            "filename does not match the package name",
        ),
        (
            form(&good, Some(("pkg-2.0.tar.gz", &whl))),
            "filename does not match the package version",
        ),
        (
            form(&good, Some(("pkg-1.0.exe", &whl))),
            "unsupported distribution file type, expected .whl, .tar.gz or .zip",
        ),
        (
            form(&with(&good, "sha256_digest", "00"), Some((file, &whl))),
            "hash mismatch: sha256_digest does not match the uploaded file",
        ),
        (
            form(&with(&good, "md5_digest", "00"), Some((file, &whl))),
            "hash mismatch: md5_digest does not match the uploaded file",
        ),
        (
            form(&with(&good, "blake2_256_digest", "00"), Some((file, &whl))),
            "hash mismatch: blake2_256_digest does not match the uploaded file",
        ),
        (
            form(&with(&good, ":action", "submit"), Some((file, &whl))),
            "unsupported action submit",
        ),
        (
            form(&with(&good, "description", &big), Some((file, &whl))),
            "form field description is too large",
        ),
    ];
    for (body, message) in cases {
        status_text(&post(&s, &body, &user2()), 400, message);
        nothing_stored(&s);
    }
    // A form cut off before its closing boundary.
    let body = form(&good, Some((file, &whl)));
    let cut = &body[..body.len() - BOUNDARY.len() - 30];
    let r = post(&s, cut, &user2());
    status(&r, 400);
    assert!(r.text().contains("incomplete"), "{}", r.describe());
    nothing_stored(&s);
    // Not a form at all.
    status_text(
        &s.request(
            "POST",
            URL,
            &user2(),
            &[("Content-Type", "application/octet-stream")],
            Some(&whl),
        ),
        400,
        "expected a multipart/form-data body",
    );
    status_text(
        &s.request("POST", URL, &user2(), &[], Some(b"name=pkg")),
        400,
        "expected a multipart/form-data body",
    );
    nothing_stored(&s);
    // The correct form goes through, and the MD5 and BLAKE2b digests twine sends are checked.
    let md5 = hex::encode(md5::Md5::digest(&whl));
    let blake2 = hex::encode(blake2::Blake2b::<blake2::digest::consts::U32>::digest(&whl));
    let fields = with(
        &with(&good, "md5_digest", &md5),
        "blake2_256_digest",
        &blake2,
    );
    status(&post(&s, &form(&fields, Some((file, &whl))), &user2()), 201);
}

fn access_and_limits(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.limits.set_size(PYPI, Limit::AtMost(100)));
    with_user2(&s);
    s.create_user("reader", PASSWORD, false);
    let whl = wheel("pkg", "1.0");
    let sha = sha256_hex(&whl);
    let body = form(
        &fields_for("pkg", "1.0", &sha),
        Some(("pkg-1.0-py3-none-any.whl", &whl)),
    );
    unauthorized(&post(&s, &body, &ANON));
    // Another user is refused as on every format.
    unauthorized(&post(&s, &body, &Auth::basic("reader", PASSWORD)));
    // The wheel is over the PyPI size limit; the generic limit is another setting.
    assert!(whl.len() > 100);
    status_text(
        &post(&s, &body, &user2()),
        403,
        "maximum allowed package type size exceeded",
    );
    nothing_stored(&s);
    status(&s.put(&uf(FILE), &whl, &user2()), 201);
    let small = b"tiny".to_vec();
    let body = form(
        &fields_for("pkg", "1.0", &sha256_hex(&small)),
        Some(("pkg-1.0.tar.gz", &small)),
    );
    status(&post(&s, &body, &user2()), 201);
    // A token scoped to reading cannot upload.
    let token = s.token(OWNER, "read", "read:package");
    let r = post(&s, &body, &Auth::token(&token));
    unauthorized(&r);
    assert_eq!(
        r.text(),
        "the token does not have the package scope this needs"
    );
}

/// The web interface's version page links PyPI files and offers the pip command.
fn version_page_offers_pip(backend: Backend) {
    let s = start(backend);
    let whl = upload_wheel(&s, "My.Pkg", "1.0");
    let page = s.get(&format!("/{OWNER}/-/packages/pypi/My.Pkg/1.0"), &ANON);
    status(&page, 200);
    let html = page.text();
    let base = format!("http://{}", s.addr);
    let file = format!("/api/packages/{OWNER}/pypi/files/My.Pkg/1.0/my_pkg-1.0-py3-none-any.whl");
    for expected in [
        format!("pip install --index-url {base}/api/packages/{OWNER}/pypi/simple/ 'My.Pkg==1.0'"),
        format!("href=\"{file}\""),
        format!("curl -fL -o 'my_pkg-1.0-py3-none-any.whl' '{base}{file}'"),
        sha256_hex(&whl),
    ] {
        assert!(html.contains(&expected), "missing {expected:?} in {html}");
    }
    // The linked file is the uploaded wheel.
    let download = s.get(&file, &ANON);
    status(&download, 200);
    assert_eq!(download.body, whl);
}

forge_e2e::backends!(
    upload_index_download,
    version_page_offers_pip,
    malformed_uploads_store_nothing,
    access_and_limits
);
