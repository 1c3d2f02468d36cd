//! The container image registry (OCI Distribution 1.1) over the wire, black-box: the token
//! login and its challenge, blob uploads in every shape (monolithic, streamed, chunked,
//! resumed on other instances), mounts, blobs, manifests (OCI, Docker schema 2, lists and
//! indexes with attestations), tags and the catalogue, OCI 1.1 referrers, the package model
//! behind it (`/api/v1/packages`, teams, limits).

use forge_e2e::cluster::{Cluster, Instance};
use forge_e2e::{
    run_scenario, sha256_hex, AccessMode, Auth, Backend, Resp, TestServer, Visibility, ANON,
    PASSWORD,
};
use packages_core::{Limit, PackageType};
use serde_json::{json, Value};

use crate::common::{status, user2, with_user2, OWNER};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
const EMPTY_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

const IMAGE: &str = "user2/app";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

fn start(backend: Backend) -> TestServer {
    let s = TestServer::start(backend);
    with_user2(&s);
    s
}

/// `sha256:<hex>` of `bytes`.
fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// The part of an absolute `Location` after the server's base, asserting it is on this server.
#[track_caller]
fn local_path(s: &TestServer, location: &str) -> String {
    location
        .strip_prefix(&s.base)
        .unwrap_or_else(|| panic!("Location {location:?} is not below {}", s.base))
        .to_owned()
}

/// A header that must be present.
#[track_caller]
fn header<'a>(r: &'a Resp, name: &str) -> &'a str {
    r.header(name)
        .unwrap_or_else(|| panic!("no {name} header: {}", r.describe()))
}

/// Asserts the distribution spec's error envelope with one error of `code`.
#[track_caller]
fn oci_error(r: &Resp, expected: u16, code: &str) {
    status(r, expected);
    let body = r.json();
    let errors = body["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array: {}", r.describe()));
    assert_eq!(errors.len(), 1, "{}", r.describe());
    assert_eq!(errors[0]["code"], code, "{}", r.describe());
    assert!(errors[0]["message"].is_string(), "{}", r.describe());
    assert!(errors[0].get("detail").is_some(), "{}", r.describe());
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0"),
        "{}",
        r.describe()
    );
}

/// The challenge a 401 carries.
#[track_caller]
fn challenged(s: &TestServer, r: &Resp) {
    status(r, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            format!(
                "Bearer realm=\"{}/v2/token\",service=\"container_registry\",scope=\"*\"",
                s.base
            )
            .as_str()
        ),
        "{}",
        r.describe()
    );
    assert_eq!(
        r.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
}

/// A bearer token from the token endpoint for `auth` (anonymous when `ANON`).
#[track_caller]
fn login(s: &TestServer, auth: &Auth) -> Auth {
    let r = s.get("/v2/token", auth);
    status(&r, 200);
    let token = r.json()["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {}", r.describe()))
        .to_owned();
    Auth::bearer(&token)
}

fn req(
    s: &TestServer,
    method: &str,
    path: &str,
    auth: &Auth,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    s.request(method, path, auth, headers, body)
}

/// Monolithic push: `POST /v2/{repo}/blobs/uploads/?digest=` with the whole blob.
fn post_blob(s: &TestServer, repo: &str, bytes: &[u8], auth: &Auth) -> Resp {
    req(
        s,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={}", digest(bytes)),
        auth,
        &[("Content-Type", "application/octet-stream")],
        Some(bytes),
    )
}

/// Pushes a blob monolithically and checks the 201; answers its digest.
#[track_caller]
fn push_blob(s: &TestServer, repo: &str, bytes: &[u8]) -> String {
    let r = post_blob(s, repo, bytes, &user2());
    status(&r, 201);
    digest(bytes)
}

/// Starts an upload session; answers the session's path (from `Location`).
#[track_caller]
fn open_session(s: &TestServer, repo: &str, auth: &Auth) -> String {
    let r = req(
        s,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        auth,
        &[],
        Some(b""),
    );
    status(&r, 202);
    assert_eq!(r.header("range"), Some("0-0"), "{}", r.describe());
    let uuid = header(&r, "docker-upload-uuid").to_owned();
    let path = local_path(s, header(&r, "location"));
    assert_eq!(path, format!("/v2/{repo}/blobs/uploads/{uuid}"));
    path
}

/// `path` with `key=value` appended to its query.
fn with_query(path: &str, key: &str, value: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}{key}={value}")
}

fn put_manifest(
    s: &TestServer,
    repo: &str,
    reference: &str,
    media: &str,
    bytes: &[u8],
    auth: &Auth,
) -> Resp {
    req(
        s,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        auth,
        &[("Content-Type", media)],
        Some(bytes),
    )
}

fn descriptor(media: &str, bytes: &[u8]) -> Value {
    json!({"mediaType": media, "digest": digest(bytes), "size": bytes.len()})
}

/// An image: its config, one layer, and the OCI manifest over them (with odd whitespace, so
/// that a server re-serialising it would change its digest).
struct Image {
    config: Vec<u8>,
    layer: Vec<u8>,
    manifest: Vec<u8>,
}

impl Image {
    fn new(seed: &str) -> Image {
        Image::with_types(seed, OCI_MANIFEST, OCI_CONFIG, OCI_LAYER)
    }

    fn docker(seed: &str) -> Image {
        Image::with_types(seed, DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER)
    }

    fn with_types(seed: &str, media: &str, config_type: &str, layer_type: &str) -> Image {
        let config = format!(
            "{{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{{\"Labels\":{{\"seed\":\"{seed}\"}}}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[]}}}}"
        )
        .into_bytes();
        let layer = format!("layer of {seed} \u{0}\u{1}\u{2}").into_bytes();
        let value = json!({
            "schemaVersion": 2,
            "mediaType": media,
            "config": descriptor(config_type, &config),
            "layers": [descriptor(layer_type, &layer)],
        });
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        // Tabs, a trailing newline and a space before a colon: valid JSON no serialiser writes.
        let manifest = format!(
            "{}\n",
            pretty
                .replace("  ", "\t")
                .replacen("\"schemaVersion\":", "\"schemaVersion\" :", 1)
        )
        .into_bytes();
        Image {
            config,
            layer,
            manifest,
        }
    }

    fn digest(&self) -> String {
        digest(&self.manifest)
    }

    /// Pushes the blobs and then the manifest under `reference`; answers the manifest's PUT.
    #[track_caller]
    fn push(&self, s: &TestServer, repo: &str, reference: &str) -> Resp {
        self.push_as(s, repo, reference, &user2())
    }

    /// [`Image::push`] with other credentials.
    #[track_caller]
    fn push_as(&self, s: &TestServer, repo: &str, reference: &str, auth: &Auth) -> Resp {
        status(&post_blob(s, repo, &self.config, auth), 201);
        status(&post_blob(s, repo, &self.layer, auth), 201);
        let media = serde_json::from_slice::<Value>(&self.manifest).unwrap()["mediaType"]
            .as_str()
            .unwrap()
            .to_owned();
        put_manifest(s, repo, reference, &media, &self.manifest, auth)
    }
}

// ---------------------------------------------------------------------------------------
// Auth
// ---------------------------------------------------------------------------------------

/// `GET /v2/` without credentials is the challenge; with them, `{}`.
fn base_challenges_without_credentials(backend: Backend) {
    let s = start(backend);
    let r = s.get("/v2/", &ANON);
    challenged(&s, &r);
    oci_error(&r, 401, "UNAUTHORIZED");

    let r = s.get("/v2/", &user2());
    status(&r, 200);
    assert_eq!(r.json(), json!({}));
    assert_eq!(
        header(&r, "docker-distribution-api-version"),
        "registry/2.0"
    );

    let bearer = login(&s, &user2());
    let r = s.get("/v2/", &bearer);
    status(&r, 200);
    assert_eq!(r.json(), json!({}));
}

// ---------------------------------------------------------------------------------------
// Blobs
// ---------------------------------------------------------------------------------------

/// `POST ?digest=` with the whole blob, then HEAD and GET it.
fn monolithic_blob_push_and_pull(backend: Backend) {
    let s = start(backend);
    let blob = b"hello, registry\n".to_vec();
    let d = digest(&blob);
    let r = post_blob(&s, IMAGE, &blob, &user2());
    status(&r, 201);
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert_eq!(
        header(&r, "location"),
        format!("{}/v2/{IMAGE}/blobs/{d}", s.base)
    );

    let r = s.head(&format!("/v2/{IMAGE}/blobs/{d}"), &user2());
    status(&r, 200);
    assert_eq!(header(&r, "content-length"), blob.len().to_string());
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert_eq!(header(&r, "etag"), format!("\"{d}\""));
    assert!(r.body.is_empty());

    let r = s.get(&format!("/v2/{IMAGE}/blobs/{d}"), &user2());
    status(&r, 200);
    assert_eq!(r.body, blob);
    assert_eq!(header(&r, "content-length"), blob.len().to_string());
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert_eq!(header(&r, "etag"), format!("\"{d}\""));
}

// ---------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------

/// An OCI image manifest by tag: 201 with the digest of the exact bytes; GET by tag and by
/// digest gives those bytes back with the media type.
fn oci_manifest_push_and_pull(backend: Backend) {
    let s = start(backend);
    let image = Image::new("one");
    let d = image.digest();
    let r = image.push(&s, IMAGE, "v1");
    status(&r, 201);
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert_eq!(
        header(&r, "location"),
        format!("{}/v2/{IMAGE}/manifests/{d}", s.base)
    );
    assert!(r.header("oci-subject").is_none(), "{}", r.describe());

    for reference in ["v1", d.as_str()] {
        let r = s.get_with(
            &format!("/v2/{IMAGE}/manifests/{reference}"),
            &user2(),
            &[("Accept", OCI_MANIFEST)],
        );
        status(&r, 200);
        assert_eq!(r.body, image.manifest, "GET by {reference}");
        assert_eq!(header(&r, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&r, "docker-content-digest"), d);

        let r = s.head(&format!("/v2/{IMAGE}/manifests/{reference}"), &user2());
        status(&r, 200);
        assert_eq!(header(&r, "content-type"), OCI_MANIFEST);
        assert_eq!(header(&r, "docker-content-digest"), d);
        assert!(r.body.is_empty());
    }
    // The blobs are there too.
    for blob in [&image.config, &image.layer] {
        let r = s.get(&format!("/v2/{IMAGE}/blobs/{}", digest(blob)), &user2());
        status(&r, 200);
        assert_eq!(&r.body, blob);
    }
}

/// HEAD of a manifest announces its size (clients compare it with the descriptor), on the
/// wire, not only as a header the framework may rewrite.
fn manifest_head_has_content_length(backend: Backend) {
    let s = start(backend);
    let image = Image::new("head");
    status(&image.push(&s, IMAGE, "v1"), 201);
    let auth = format!("Authorization: {}", user2().header_value().unwrap());
    for reference in ["v1".to_owned(), image.digest()] {
        let r = s.raw_simple(
            "HEAD",
            &format!("/v2/{IMAGE}/manifests/{reference}"),
            &[&auth],
        );
        assert_eq!(r.status, 200, "{:?}", r.headers);
        assert_eq!(
            r.header("content-length"),
            Some(image.manifest.len().to_string().as_str()),
            "HEAD /v2/{IMAGE}/manifests/{reference}: {:?}",
            r.headers
        );
        assert_eq!(
            r.header("docker-content-digest"),
            Some(image.digest().as_str())
        );
    }
}

// ---------------------------------------------------------------------------------------
// The token login
// ---------------------------------------------------------------------------------------

/// The token endpoint exchanges a password or an access token with a package scope for a
/// bearer token; wrong or scope-less credentials are 401; a forged token is refused.
fn token_endpoint_exchanges_credentials(backend: Backend) {
    let s = start(backend);
    let r = s.get(
        "/v2/token?service=container_registry&scope=repository:user2/app:pull,push",
        &user2(),
    );
    status(&r, 200);
    let body = r.json();
    let token = body["token"].as_str().expect("token").to_owned();
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    assert_eq!(body["access_token"], body["token"], "{body}");
    assert_eq!(body["expires_in"], 3600, "{body}");
    assert!(
        body["issued_at"].as_str().is_some_and(|t| t.contains('T')),
        "{body}"
    );
    assert_eq!(header(&r, "cache-control"), "no-store");

    // The bearer token opens /v2/ and pushes.
    let bearer = Auth::bearer(&token);
    status(&s.get("/v2/", &bearer), 200);
    status(&post_blob(&s, IMAGE, b"with a bearer", &bearer), 201);

    // An access token with a package scope as the Basic password.
    let write = s.token(OWNER, "ci", "write:package");
    let via_token = login(&s, &Auth::basic(OWNER, &write));
    status(&s.get("/v2/", &via_token), 200);
    status(
        &post_blob(&s, IMAGE, b"with an exchanged access token", &via_token),
        201,
    );
    // And directly, as Basic on the routes.
    status(
        &post_blob(
            &s,
            IMAGE,
            b"with a Basic access token",
            &Auth::basic(OWNER, &write),
        ),
        201,
    );

    // A read-only token pulls but does not push.
    let read = s.token(OWNER, "ro", "read:package");
    let read_bearer = login(&s, &Auth::basic(OWNER, &read));
    status(
        &s.head(
            &format!("/v2/{IMAGE}/blobs/{}", digest(b"with a bearer")),
            &read_bearer,
        ),
        200,
    );
    oci_error(
        &post_blob(&s, IMAGE, b"read only", &read_bearer),
        403,
        "DENIED",
    );

    // A token without any package scope gets no registry token.
    let other = s.token(OWNER, "user", "read:user");
    let r = s.get("/v2/token", &Auth::basic(OWNER, &other));
    oci_error(&r, 401, "UNAUTHORIZED");
    challenged(&s, &r);

    // A wrong password, an unknown user.
    let r = s.get("/v2/token", &Auth::basic(OWNER, "wrong"));
    oci_error(&r, 401, "UNAUTHORIZED");
    challenged(&s, &r);
    oci_error(
        &s.get("/v2/token", &Auth::basic("nobody", PASSWORD)),
        401,
        "UNAUTHORIZED",
    );
    oci_error(
        &s.get("/v2/", &Auth::basic(OWNER, "wrong")),
        401,
        "UNAUTHORIZED",
    );

    // Forged tokens: garbage in three parts, a real one with another signature, one cut short.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let forged_signature = {
        let sig = parts[2].clone();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        parts[2] = format!("{flipped}{}", &sig[1..]);
        parts.join(".")
    };
    for forged in [
        "aaaa.bbbb.cccc".to_owned(),
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl".to_owned(),
        forged_signature,
        token[..token.len() - 4].to_owned(),
    ] {
        let r = s.get("/v2/", &Auth::bearer(&forged));
        oci_error(&r, 401, "UNAUTHORIZED");
        challenged(&s, &r);
        oci_error(
            &post_blob(&s, IMAGE, b"forged", &Auth::bearer(&forged)),
            401,
            "UNAUTHORIZED",
        );
    }
    // The token of another server is no token here.
    let other_server = start(backend);
    let foreign = login(&other_server, &user2());
    oci_error(&s.get("/v2/", &foreign), 401, "UNAUTHORIZED");
}

/// An anonymous token pulls a public image but pushes nothing; without any Authorization
/// even a public pull is challenged.
fn anonymous_token_pulls_but_does_not_push(backend: Backend) {
    let s = start(backend);
    let image = Image::new("anon");
    status(&image.push(&s, IMAGE, "v1"), 201);

    // Nothing at all: the challenge, even for a public image.
    for path in [
        format!("/v2/{IMAGE}/manifests/v1"),
        format!("/v2/{IMAGE}/blobs/{}", digest(&image.layer)),
        format!("/v2/{IMAGE}/tags/list"),
        "/v2/_catalog".to_owned(),
    ] {
        let r = s.get(&path, &ANON);
        challenged(&s, &r);
        oci_error(&r, 401, "UNAUTHORIZED");
    }

    let r = s.get(
        "/v2/token?service=container_registry&scope=repository:user2/app:pull",
        &ANON,
    );
    status(&r, 200);
    assert!(
        r.json()["expires_in"].as_u64().is_some(),
        "{}",
        r.describe()
    );
    let anon = login(&s, &ANON);
    status(&s.get("/v2/", &anon), 200);
    let r = s.get_with(
        &format!("/v2/{IMAGE}/manifests/v1"),
        &anon,
        &[("Accept", OCI_MANIFEST)],
    );
    status(&r, 200);
    assert_eq!(r.body, image.manifest);
    let r = s.get(
        &format!("/v2/{IMAGE}/blobs/{}", digest(&image.layer)),
        &anon,
    );
    status(&r, 200);
    assert_eq!(r.body, image.layer);
    let r = s.get(&format!("/v2/{IMAGE}/tags/list"), &anon);
    status(&r, 200);
    assert_eq!(r.json(), json!({"name": IMAGE, "tags": ["v1"]}));

    // Pushing anonymously asks for credentials.
    let r = post_blob(&s, IMAGE, b"anonymous", &anon);
    oci_error(&r, 401, "UNAUTHORIZED");
    challenged(&s, &r);
    let r = req(
        &s,
        "POST",
        &format!("/v2/{IMAGE}/blobs/uploads/"),
        &anon,
        &[],
        Some(b""),
    );
    oci_error(&r, 401, "UNAUTHORIZED");
    let r = put_manifest(&s, IMAGE, "v2", OCI_MANIFEST, &image.manifest, &anon);
    oci_error(&r, 401, "UNAUTHORIZED");
    challenged(&s, &r);
    oci_error(
        &s.delete(&format!("/v2/{IMAGE}/manifests/v1"), &anon),
        401,
        "UNAUTHORIZED",
    );
    oci_error(
        &s.delete(
            &format!("/v2/{IMAGE}/blobs/{}", digest(&image.layer)),
            &anon,
        ),
        401,
        "UNAUTHORIZED",
    );
    // Nothing changed.
    status(
        &s.head(
            &format!("/v2/{IMAGE}/blobs/{}", digest(b"anonymous")),
            &user2(),
        ),
        404,
    );
    status(&s.head(&format!("/v2/{IMAGE}/manifests/v2"), &user2()), 404);
    status(&s.head(&format!("/v2/{IMAGE}/manifests/v1"), &user2()), 200);
}

/// Basic credentials (password or access token) work on every route, as do bearer tokens.
fn basic_is_accepted_on_every_route(backend: Backend) {
    let s = start(backend);
    let token = s.token(OWNER, "all", "write:package");
    let bearer = login(&s, &user2());
    for (round, auth) in [user2(), Auth::basic(OWNER, &token), bearer]
        .into_iter()
        .enumerate()
    {
        let image = Image::new(&format!("round {round}"));
        let tag = format!("t{round}");
        status(&s.get("/v2/", &auth), 200);
        // Uploads: session, status, chunk, finish.
        let r = req(
            &s,
            "POST",
            &format!("/v2/{IMAGE}/blobs/uploads/"),
            &auth,
            &[],
            Some(b""),
        );
        status(&r, 202);
        let session = local_path(&s, header(&r, "location"));
        status(&s.get(&session, &auth), 204);
        status(
            &req(&s, "PATCH", &session, &auth, &[], Some(&image.config)),
            202,
        );
        status(
            &req(
                &s,
                "PUT",
                &with_query(&session, "digest", &digest(&image.config)),
                &auth,
                &[],
                Some(b""),
            ),
            201,
        );
        status(&post_blob(&s, IMAGE, &image.layer, &auth), 201);
        // Abandoned session.
        let r = req(
            &s,
            "POST",
            &format!("/v2/{IMAGE}/blobs/uploads/"),
            &auth,
            &[],
            Some(b""),
        );
        status(&r, 202);
        status(
            &s.delete(&local_path(&s, header(&r, "location")), &auth),
            204,
        );
        // Manifests and blobs.
        status(
            &put_manifest(&s, IMAGE, &tag, OCI_MANIFEST, &image.manifest, &auth),
            201,
        );
        status(&s.get(&format!("/v2/{IMAGE}/manifests/{tag}"), &auth), 200);
        status(
            &s.head(&format!("/v2/{IMAGE}/manifests/{}", image.digest()), &auth),
            200,
        );
        status(
            &s.get(
                &format!("/v2/{IMAGE}/blobs/{}", digest(&image.layer)),
                &auth,
            ),
            200,
        );
        status(
            &s.head(
                &format!("/v2/{IMAGE}/blobs/{}", digest(&image.config)),
                &auth,
            ),
            200,
        );
        // Listings.
        status(&s.get(&format!("/v2/{IMAGE}/tags/list"), &auth), 200);
        status(&s.get("/v2/_catalog", &auth), 200);
        status(
            &s.get(&format!("/v2/{IMAGE}/referrers/{}", image.digest()), &auth),
            200,
        );
        // Deletes.
        status(
            &s.delete(&format!("/v2/{IMAGE}/manifests/{tag}"), &auth),
            202,
        );
        let extra = format!("extra {round}");
        status(&post_blob(&s, IMAGE, extra.as_bytes(), &auth), 201);
        status(
            &s.delete(
                &format!("/v2/{IMAGE}/blobs/{}", digest(extra.as_bytes())),
                &auth,
            ),
            202,
        );
        // The token endpoint itself takes Basic credentials.
        if !matches!(auth, Auth::Bearer(_)) {
            status(&s.get("/v2/token", &auth), 200);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Blob uploads
// ---------------------------------------------------------------------------------------

/// `POST` opens a session; `PUT ?digest=` with the whole blob as its body completes it.
fn post_then_put_with_body(backend: Backend) {
    let s = start(backend);
    let blob = b"put in one go".to_vec();
    let d = digest(&blob);
    let session = open_session(&s, IMAGE, &user2());
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &d),
        &user2(),
        &[("Content-Type", "application/octet-stream")],
        Some(&blob),
    );
    status(&r, 201);
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert_eq!(
        header(&r, "location"),
        format!("{}/v2/{IMAGE}/blobs/{d}", s.base)
    );
    let r = s.get(&format!("/v2/{IMAGE}/blobs/{d}"), &user2());
    status(&r, 200);
    assert_eq!(r.body, blob);
    // The session is over.
    oci_error(&s.get(&session, &user2()), 404, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(s.pending_uploads(), 0, "{:?}", s.stored_items());
}

/// `POST`, one streamed `PATCH` without `Content-Range`, then `PUT ?digest=` without a body.
fn streamed_patch_then_put(backend: Backend) {
    let s = start(backend);
    let blob: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let d = digest(&blob);
    let session = open_session(&s, IMAGE, &user2());
    let r = req(
        &s,
        "PATCH",
        &session,
        &user2(),
        &[("Content-Type", "application/octet-stream")],
        Some(&blob),
    );
    status(&r, 202);
    assert_eq!(header(&r, "range"), format!("0-{}", blob.len() - 1));
    assert_eq!(local_path(&s, header(&r, "location")), session);
    assert!(session.ends_with(header(&r, "docker-upload-uuid")));
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &d),
        &user2(),
        &[],
        Some(b""),
    );
    status(&r, 201);
    assert_eq!(header(&r, "docker-content-digest"), d);
    let r = s.get(&format!("/v2/{IMAGE}/blobs/{d}"), &user2());
    status(&r, 200);
    assert_eq!(r.body, blob);
    assert_eq!(s.pending_uploads(), 0);
}

fn patch(s: &TestServer, session: &str, chunk: &[u8], start: usize, auth: &Auth) -> Resp {
    let range = format!("{}-{}", start, start + chunk.len() - 1);
    req(
        s,
        "PATCH",
        session,
        auth,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &range),
        ],
        Some(chunk),
    )
}

/// Chunks with `Content-Range`: each 202 says how far the upload stands.
fn chunked_patches_with_content_range(backend: Backend) {
    let s = start(backend);
    let blob: Vec<u8> = (0..3000u32).map(|i| (i % 256) as u8).collect();
    let d = digest(&blob);
    let session = open_session(&s, IMAGE, &user2());
    let uuid = session.rsplit('/').next().unwrap().to_owned();
    let mut offset = 0;
    for chunk in [&blob[..1000], &blob[1000..1001], &blob[1001..]] {
        let r = patch(&s, &session, chunk, offset, &user2());
        offset += chunk.len();
        status(&r, 202);
        assert_eq!(header(&r, "range"), format!("0-{}", offset - 1));
        assert_eq!(header(&r, "docker-upload-uuid"), uuid);
        assert_eq!(header(&r, "location"), format!("{}{session}", s.base));
        assert!(r.body.is_empty(), "{}", r.describe());
        // The status query agrees.
        let r = s.get(&session, &user2());
        status(&r, 204);
        assert_eq!(header(&r, "range"), format!("0-{}", offset - 1));
        assert_eq!(header(&r, "docker-upload-uuid"), uuid);
        assert_eq!(header(&r, "location"), format!("{}{session}", s.base));
    }
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &d),
        &user2(),
        &[],
        Some(b""),
    );
    status(&r, 201);
    assert_eq!(header(&r, "docker-content-digest"), d);
    let r = s.get(&format!("/v2/{IMAGE}/blobs/{d}"), &user2());
    status(&r, 200);
    assert_eq!(r.body, blob);
    assert_eq!(s.pending_uploads(), 0);
}

/// A chunk that does not start where the upload stands is 416 and changes nothing; the
/// right chunk then continues the upload.
fn out_of_order_chunk_is_refused(backend: Backend) {
    let s = start(backend);
    let blob = b"0123456789abcdefghij".to_vec();
    let session = open_session(&s, IMAGE, &user2());
    status(&patch(&s, &session, &blob[..10], 0, &user2()), 202);
    // A gap, an overlap, a repeat.
    for start in [15usize, 5, 0] {
        let r = patch(&s, &session, &blob[10..15], start, &user2());
        oci_error(&r, 416, "BLOB_UPLOAD_INVALID");
        assert_eq!(header(&r, "range"), "0-9", "{}", r.describe());
        let r = s.get(&session, &user2());
        status(&r, 204);
        assert_eq!(header(&r, "range"), "0-9");
    }
    // Content-Range and the body disagree in length.
    let r = req(
        &s,
        "PATCH",
        &session,
        &user2(),
        &[("Content-Range", "10-19")],
        Some(&blob[10..12]),
    );
    oci_error(&r, 416, "BLOB_UPLOAD_INVALID");
    assert_eq!(header(&s.get(&session, &user2()), "range"), "0-9");
    // The right chunk.
    let r = patch(&s, &session, &blob[10..], 10, &user2());
    status(&r, 202);
    assert_eq!(header(&r, "range"), "0-19");
    status(
        &req(
            &s,
            "PUT",
            &with_query(&session, "digest", &digest(&blob)),
            &user2(),
            &[],
            Some(b""),
        ),
        201,
    );
    let r = s.get(&format!("/v2/{IMAGE}/blobs/{}", digest(&blob)), &user2());
    status(&r, 200);
    assert_eq!(r.body, blob);
}

/// `GET` of a session is its status; `DELETE` abandons it, after which it is unknown.
fn upload_status_and_cancel(backend: Backend) {
    let s = start(backend);
    let session = open_session(&s, IMAGE, &user2());
    let uuid = session.rsplit('/').next().unwrap().to_owned();
    let r = s.get(&session, &user2());
    status(&r, 204);
    assert_eq!(header(&r, "range"), "0-0");
    assert_eq!(header(&r, "location"), format!("{}{session}", s.base));
    assert_eq!(header(&r, "docker-upload-uuid"), uuid);
    assert!(r.body.is_empty());
    status(&patch(&s, &session, b"abandoned", 0, &user2()), 202);
    let r = s.delete(&session, &user2());
    status(&r, 204);
    assert!(r.body.is_empty());
    oci_error(&s.get(&session, &user2()), 404, "BLOB_UPLOAD_UNKNOWN");
    oci_error(
        &patch(&s, &session, b"more", 9, &user2()),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    oci_error(
        &req(
            &s,
            "PUT",
            &with_query(&session, "digest", &digest(b"abandoned")),
            &user2(),
            &[],
            Some(b""),
        ),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    oci_error(&s.delete(&session, &user2()), 404, "BLOB_UPLOAD_UNKNOWN");
    status(
        &s.head(
            &format!("/v2/{IMAGE}/blobs/{}", digest(b"abandoned")),
            &user2(),
        ),
        404,
    );
    // A session of another repository is not one of this.
    let other = open_session(&s, "user2/other", &user2());
    let id = other.rsplit('/').next().unwrap();
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/blobs/uploads/{id}"), &user2()),
        404,
        "BLOB_UPLOAD_UNKNOWN",
    );
    // Made-up sessions.
    for id in [
        "nope",
        "00000000-0000-0000-0000-000000000000",
        "..%2F..%2Fetc",
    ] {
        oci_error(
            &s.get(&format!("/v2/{IMAGE}/blobs/uploads/{id}"), &user2()),
            404,
            "BLOB_UPLOAD_UNKNOWN",
        );
    }
    assert!(
        !s.stored_items().iter().any(|i| i.contains(&uuid)),
        "the abandoned session's content is gone: {:?}",
        s.stored_items()
    );
    assert!(!store_holds(&s, b"abandoned"), "{:?}", s.stored_items());
}

/// Whether the blob store holds `bytes` under any key (local: any file under the store's
/// directory, pending areas included; S3: any object of the test's prefix).
fn store_holds(s: &TestServer, bytes: &[u8]) -> bool {
    use std::io::Read as _;
    if s.env.backend != Backend::S3 {
        return s
            .stored_items()
            .iter()
            .any(|path| std::fs::read(path).is_ok_and(|content| content == bytes));
    }
    let store = s.s3_store();
    s.stored_items()
        .iter()
        .filter(|key| !key.starts_with("unfinished multipart upload"))
        .any(|key| {
            let Ok(reader) = packages_core::BlobStore::open(&store, key, None) else {
                return false;
            };
            let mut content = Vec::new();
            let read = match reader {
                packages_core::BlobReader::File(mut f, _) => f.read_to_end(&mut content),
                packages_core::BlobReader::Stream(mut r, _) => r.read_to_end(&mut content),
            };
            read.is_ok() && content == bytes
        })
}

/// A blob whose content does not have the digest named is 400 DIGEST_INVALID and leaves
/// nothing behind, in every shape of upload.
fn wrong_digest_keeps_nothing(backend: Backend) {
    let s = start(backend);
    let content = b"the real content".to_vec();
    let claimed = digest(b"something else");
    let actual_hex = sha256_hex(&content);
    let before = s.stored_items();

    // Monolithic.
    let r = req(
        &s,
        "POST",
        &format!("/v2/{IMAGE}/blobs/uploads/?digest={claimed}"),
        &user2(),
        &[],
        Some(&content),
    );
    oci_error(&r, 400, "DIGEST_INVALID");
    assert_eq!(
        r.json()["errors"][0]["detail"]["actual"],
        format!("sha256:{actual_hex}")
    );
    // Streamed, then PUT with the wrong digest.
    let session = open_session(&s, IMAGE, &user2());
    status(
        &req(&s, "PATCH", &session, &user2(), &[], Some(&content)),
        202,
    );
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &claimed),
        &user2(),
        &[],
        Some(b""),
    );
    oci_error(&r, 400, "DIGEST_INVALID");
    // The session is gone with its content.
    oci_error(&s.get(&session, &user2()), 404, "BLOB_UPLOAD_UNKNOWN");
    // PUT with the last chunk as body.
    let session = open_session(&s, IMAGE, &user2());
    status(&patch(&s, &session, &content[..4], 0, &user2()), 202);
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &claimed),
        &user2(),
        &[],
        Some(&content[4..]),
    );
    oci_error(&r, 400, "DIGEST_INVALID");
    // A malformed digest.
    let session = open_session(&s, IMAGE, &user2());
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", "sha256:xyz"),
        &user2(),
        &[],
        Some(&content),
    );
    oci_error(&r, 400, "DIGEST_INVALID");
    let r = req(&s, "PUT", &session, &user2(), &[], Some(&content));
    oci_error(&r, 400, "DIGEST_INVALID");
    status(&s.delete(&session, &user2()), 204);

    for d in [claimed.clone(), format!("sha256:{actual_hex}")] {
        status(&s.head(&format!("/v2/{IMAGE}/blobs/{d}"), &user2()), 404);
        oci_error(
            &s.get(&format!("/v2/{IMAGE}/blobs/{d}"), &user2()),
            404,
            "BLOB_UNKNOWN",
        );
    }
    assert_eq!(s.pending_uploads(), 0, "{:?}", s.stored_items());
    let items = s.stored_items();
    assert!(
        !store_holds(&s, &content),
        "content of a refused blob kept: {items:?}"
    );
    assert_eq!(
        items, before,
        "the refused uploads left something in the store"
    );
    // The same content with its right digest is then fine.
    push_blob(&s, IMAGE, &content);
    assert!(store_holds(&s, &content), "{:?}", s.stored_items());
}

// ---------------------------------------------------------------------------------------
// Mounts
// ---------------------------------------------------------------------------------------

/// A mount from a repository the caller may read links the blob (201); from one it may not,
/// or that lacks the blob, it opens an upload session instead (202).
fn mount_from_another_repository(backend: Backend) {
    let s = start(backend);
    s.create_user("user3", PASSWORD, false);
    s.create_user_with_visibility("hidden", PASSWORD, Visibility::Private);
    let user3 = Auth::basic("user3", PASSWORD);
    let hidden = Auth::basic("hidden", PASSWORD);

    let blob = b"a shared layer".to_vec();
    let d = push_blob(&s, "user2/source", &blob);
    let r = req(
        &s,
        "POST",
        &format!("/v2/{IMAGE}/blobs/uploads/?mount={d}&from=user2/source"),
        &user2(),
        &[],
        Some(b""),
    );
    status(&r, 201);
    assert_eq!(
        header(&r, "location"),
        format!("{}/v2/{IMAGE}/blobs/{d}", s.base)
    );
    assert_eq!(header(&r, "docker-content-digest"), d);
    let r = s.head(&format!("/v2/{IMAGE}/blobs/{d}"), &user2());
    status(&r, 200);
    assert_eq!(header(&r, "content-length"), blob.len().to_string());
    assert_eq!(
        s.get(&format!("/v2/{IMAGE}/blobs/{d}"), &user2()).body,
        blob
    );

    // From another user's public repository.
    let theirs = b"user3's layer".to_vec();
    let r = post_blob(&s, "user3/base", &theirs, &user3);
    status(&r, 201);
    let d3 = digest(&theirs);
    let r = req(
        &s,
        "POST",
        &format!("/v2/{IMAGE}/blobs/uploads/?mount={d3}&from=user3/base"),
        &user2(),
        &[],
        Some(b""),
    );
    status(&r, 201);
    status(&s.head(&format!("/v2/{IMAGE}/blobs/{d3}"), &user2()), 200);

    // From a private user's repository: a session, and no blob.
    let secret = b"hidden layer".to_vec();
    status(&post_blob(&s, "hidden/base", &secret, &hidden), 201);
    let ds = digest(&secret);
    let r = req(
        &s,
        "POST",
        &format!("/v2/{IMAGE}/blobs/uploads/?mount={ds}&from=hidden/base"),
        &user2(),
        &[],
        Some(b""),
    );
    status(&r, 202);
    assert_eq!(header(&r, "range"), "0-0");
    let session = local_path(&s, header(&r, "location"));
    assert!(
        session.starts_with(&format!("/v2/{IMAGE}/blobs/uploads/")),
        "{session}"
    );
    status(&s.get(&session, &user2()), 204);
    status(&s.head(&format!("/v2/{IMAGE}/blobs/{ds}"), &user2()), 404);
    // The session works as any other: upload the content under the digest.
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &ds),
        &user2(),
        &[],
        Some(&secret),
    );
    status(&r, 201);
    status(&s.head(&format!("/v2/{IMAGE}/blobs/{ds}"), &user2()), 200);

    // A source that does not have the blob, or does not exist: a session.
    for from in ["user2/empty", "user2/source", "nobody/repo", "Bad/Name"] {
        let unknown = digest(format!("not in {from}").as_bytes());
        let r = req(
            &s,
            "POST",
            &format!("/v2/{IMAGE}/blobs/uploads/?mount={unknown}&from={from}"),
            &user2(),
            &[],
            Some(b""),
        );
        status(&r, 202);
        status(
            &s.head(&format!("/v2/{IMAGE}/blobs/{unknown}"), &user2()),
            404,
        );
    }
    // A mount into someone else's repository is a push there: refused.
    let r = req(
        &s,
        "POST",
        &format!("/v2/user3/base/blobs/uploads/?mount={d}&from=user2/source"),
        &user2(),
        &[],
        Some(b""),
    );
    oci_error(&r, 403, "DENIED");
    status(&s.head(&format!("/v2/user3/base/blobs/{d}"), &user3), 404);
}

// ---------------------------------------------------------------------------------------
// Blobs
// ---------------------------------------------------------------------------------------

/// Ranges, unknown blobs, malformed digests and deletes.
fn blob_ranges_unknown_and_delete(backend: Backend) {
    let s = start(backend);
    let blob = b"0123456789".to_vec();
    let d = push_blob(&s, IMAGE, &blob);
    let path = format!("/v2/{IMAGE}/blobs/{d}");
    let r = s.get_with(&path, &user2(), &[("Range", "bytes=0-1")]);
    status(&r, 206);
    assert_eq!(r.body, b"01");
    assert_eq!(header(&r, "content-range"), "bytes 0-1/10");
    assert_eq!(header(&r, "content-length"), "2");
    assert_eq!(header(&r, "docker-content-digest"), d);
    let r = s.get_with(&path, &user2(), &[("Range", "bytes=7-")]);
    status(&r, 206);
    assert_eq!(r.body, b"789");
    assert_eq!(header(&r, "content-range"), "bytes 7-9/10");

    // Unknown: the error envelope naming the digest.
    let unknown = digest(b"never pushed");
    let r = s.get(&format!("/v2/{IMAGE}/blobs/{unknown}"), &user2());
    oci_error(&r, 404, "BLOB_UNKNOWN");
    assert_eq!(r.json()["errors"][0]["detail"]["digest"], unknown);
    assert_eq!(header(&r, "content-type"), "application/json");
    let r = s.head(&format!("/v2/{IMAGE}/blobs/{unknown}"), &user2());
    status(&r, 404);
    assert!(r.body.is_empty());
    // A blob of another repository is not in this one.
    oci_error(
        &s.get(&format!("/v2/user2/other/blobs/{d}"), &user2()),
        404,
        "BLOB_UNKNOWN",
    );
    // Malformed digests.
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/blobs/sha256:abc"), &user2()),
        400,
        "DIGEST_INVALID",
    );
    oci_error(
        &s.get(
            &format!("/v2/{IMAGE}/blobs/sha256:{}", "A".repeat(64)),
            &user2(),
        ),
        400,
        "DIGEST_INVALID",
    );
    oci_error(
        &s.get(
            &format!("/v2/{IMAGE}/blobs/sha512:{}", "a".repeat(128)),
            &user2(),
        ),
        400,
        "UNSUPPORTED",
    );

    // Delete.
    let r = s.delete(&path, &user2());
    status(&r, 202);
    status(&s.head(&path, &user2()), 404);
    oci_error(&s.get(&path, &user2()), 404, "BLOB_UNKNOWN");
    oci_error(&s.delete(&path, &user2()), 404, "BLOB_UNKNOWN");
    // Pushed again, it is back.
    push_blob(&s, IMAGE, &blob);
    status(&s.head(&path, &user2()), 200);
}

// ---------------------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------------------

/// A Docker image manifest (schema 2) is served with its own media type.
fn docker_schema2_manifest(backend: Backend) {
    let s = start(backend);
    let image = Image::docker("docker");
    let r = image.push(&s, "user2/docker/app", "latest");
    status(&r, 201);
    assert_eq!(header(&r, "docker-content-digest"), image.digest());
    for reference in ["latest".to_owned(), image.digest()] {
        let r = s.get_with(
            &format!("/v2/user2/docker/app/manifests/{reference}"),
            &user2(),
            &[("Accept", DOCKER_MANIFEST)],
        );
        status(&r, 200);
        assert_eq!(r.body, image.manifest);
        assert_eq!(header(&r, "content-type"), DOCKER_MANIFEST);
        assert_eq!(header(&r, "docker-content-digest"), image.digest());
    }
    // A client that sends no Accept gets it too.
    let r = s.get("/v2/user2/docker/app/manifests/latest", &user2());
    status(&r, 200);
    assert_eq!(header(&r, "content-type"), DOCKER_MANIFEST);
    let r = s.get("/v2/user2/docker/app/tags/list", &user2());
    status(&r, 200);
    assert_eq!(
        r.json(),
        json!({"name": "user2/docker/app", "tags": ["latest"]})
    );
}

/// A BuildKit attestation manifest for `subject_digest`: an OCI manifest with an in-toto layer.
fn attestation(s: &TestServer, repo: &str, seed: &str) -> (Vec<u8>, String) {
    let statement =
        format!("{{\"_type\":\"https://in-toto.io/Statement/v0.1\",\"seed\":\"{seed}\"}}")
            .into_bytes();
    let config = format!("{{\"architecture\":\"unknown\",\"os\":\"unknown\",\"config\":{{}},\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{}\"]}}}}", digest(&statement)).into_bytes();
    push_blob(s, repo, &statement);
    push_blob(s, repo, &config);
    let mut layer = descriptor("application/vnd.in-toto+json", &statement);
    layer["annotations"] = json!({"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"});
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config),
        "layers": [layer],
    }))
    .unwrap();
    let d = digest(&manifest);
    let r = put_manifest(s, repo, &d, OCI_MANIFEST, &manifest, &user2());
    status(&r, 201);
    (manifest, d)
}

/// An OCI index of two platforms and an attestation, and a Docker manifest list, the
/// children pushed by digest first; children are not tags.
fn index_and_manifest_list(backend: Backend) {
    let s = start(backend);
    let repo = "user2/multi";
    let amd = Image::new("amd64");
    let arm = Image::new("arm64");
    for child in [&amd, &arm] {
        let r = child.push(&s, repo, &child.digest());
        status(&r, 201);
        assert_eq!(header(&r, "docker-content-digest"), child.digest());
    }
    let (att, att_digest) = attestation(&s, repo, "amd64");
    let mut att_entry = descriptor(OCI_MANIFEST, &att);
    att_entry["platform"] = json!({"architecture": "unknown", "os": "unknown"});
    att_entry["annotations"] = json!({
        "vnd.docker.reference.digest": amd.digest(),
        "vnd.docker.reference.type": "attestation-manifest",
    });
    let mut amd_entry = descriptor(OCI_MANIFEST, &amd.manifest);
    amd_entry["platform"] = json!({"architecture": "amd64", "os": "linux"});
    let mut arm_entry = descriptor(OCI_MANIFEST, &arm.manifest);
    arm_entry["platform"] = json!({"architecture": "arm64", "os": "linux", "variant": "v8"});
    let index = format!(
        "{}\r\n",
        serde_json::to_string_pretty(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [amd_entry, arm_entry, att_entry],
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
        }))
        .unwrap()
    )
    .into_bytes();
    let r = put_manifest(&s, repo, "1.0", OCI_INDEX, &index, &user2());
    status(&r, 201);
    assert_eq!(header(&r, "docker-content-digest"), digest(&index));
    for reference in ["1.0".to_owned(), digest(&index)] {
        let r = s.get_with(
            &format!("/v2/{repo}/manifests/{reference}"),
            &user2(),
            &[("Accept", &format!("{OCI_MANIFEST}, {OCI_INDEX}"))],
        );
        status(&r, 200);
        assert_eq!(r.body, index);
        assert_eq!(header(&r, "content-type"), OCI_INDEX);
        assert_eq!(header(&r, "docker-content-digest"), digest(&index));
    }
    // Each child by digest.
    for (bytes, d) in [
        (&amd.manifest, amd.digest()),
        (&arm.manifest, arm.digest()),
        (&att, att_digest.clone()),
    ] {
        let r = s.get_with(
            &format!("/v2/{repo}/manifests/{d}"),
            &user2(),
            &[("Accept", OCI_MANIFEST)],
        );
        status(&r, 200);
        assert_eq!(&r.body, bytes);
        assert_eq!(header(&r, "content-type"), OCI_MANIFEST);
    }

    // A Docker manifest list of Docker images.
    let d1 = Image::docker("list amd64");
    let d2 = Image::docker("list arm");
    for child in [&d1, &d2] {
        status(&child.push(&s, repo, &child.digest()), 201);
    }
    let mut e1 = descriptor(DOCKER_MANIFEST, &d1.manifest);
    e1["platform"] = json!({"architecture": "amd64", "os": "linux"});
    let mut e2 = descriptor(DOCKER_MANIFEST, &d2.manifest);
    e2["platform"] = json!({"architecture": "arm", "os": "linux", "variant": "v7"});
    let list = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_LIST,
        "manifests": [e1, e2],
    }))
    .unwrap();
    let r = put_manifest(&s, repo, "docker", DOCKER_LIST, &list, &user2());
    status(&r, 201);
    let r = s.get_with(
        &format!("/v2/{repo}/manifests/docker"),
        &user2(),
        &[("Accept", DOCKER_LIST)],
    );
    status(&r, 200);
    assert_eq!(r.body, list);
    assert_eq!(header(&r, "content-type"), DOCKER_LIST);

    // Only the tags are tags.
    let r = s.get(&format!("/v2/{repo}/tags/list"), &user2());
    status(&r, 200);
    assert_eq!(r.json(), json!({"name": repo, "tags": ["1.0", "docker"]}));

    // An index whose child is missing.
    let mut missing = descriptor(OCI_MANIFEST, b"{\"not\":\"pushed\"}");
    missing["platform"] = json!({"architecture": "s390x", "os": "linux"});
    let bad = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &amd.manifest), missing],
    }))
    .unwrap();
    let r = put_manifest(&s, repo, "broken", OCI_INDEX, &bad, &user2());
    oci_error(&r, 400, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        r.json()["errors"][0]["detail"]["digest"],
        digest(b"{\"not\":\"pushed\"}")
    );
    oci_error(
        &s.get(&format!("/v2/{repo}/manifests/broken"), &user2()),
        404,
        "MANIFEST_UNKNOWN",
    );
}

/// The refusals of a manifest PUT and GET.
fn manifest_errors(backend: Backend) {
    let s = start(backend);
    let image = Image::new("errors");
    // The blobs are not there yet.
    let r = put_manifest(&s, IMAGE, "v1", OCI_MANIFEST, &image.manifest, &user2());
    oci_error(&r, 400, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        r.json()["errors"][0]["detail"]["digest"],
        digest(&image.config)
    );
    push_blob(&s, IMAGE, &image.config);
    let r = put_manifest(&s, IMAGE, "v1", OCI_MANIFEST, &image.manifest, &user2());
    oci_error(&r, 400, "MANIFEST_BLOB_UNKNOWN");
    assert_eq!(
        r.json()["errors"][0]["detail"]["digest"],
        digest(&image.layer)
    );
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/manifests/v1"), &user2()),
        404,
        "MANIFEST_UNKNOWN",
    );
    push_blob(&s, IMAGE, &image.layer);

    // Not JSON, not an object, no schemaVersion 2, no config, media types disagreeing.
    for (body, content_type) in [
        (&b"not json at all"[..], OCI_MANIFEST),
        (b"[]", OCI_MANIFEST),
        (b"{\"schemaVersion\":1}", OCI_MANIFEST),
        (b"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"layers\":[]}", OCI_MANIFEST),
        (&image.manifest, DOCKER_MANIFEST),
        (b"{\"schemaVersion\":2,\"mediaType\":\"text/plain\"}", "text/plain"),
    ] {
        let r = put_manifest(&s, IMAGE, "v1", content_type, body, &user2());
        oci_error(&r, 400, "MANIFEST_INVALID");
    }
    // By digest, with other bytes.
    let other = digest(b"other bytes");
    let r = put_manifest(&s, IMAGE, &other, OCI_MANIFEST, &image.manifest, &user2());
    oci_error(&r, 400, "DIGEST_INVALID");
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/manifests/{other}"), &user2()),
        404,
        "MANIFEST_UNKNOWN",
    );
    oci_error(
        &s.get(
            &format!("/v2/{IMAGE}/manifests/{}", image.digest()),
            &user2(),
        ),
        404,
        "MANIFEST_UNKNOWN",
    );
    // By its own digest: fine.
    status(
        &put_manifest(
            &s,
            IMAGE,
            &image.digest(),
            OCI_MANIFEST,
            &image.manifest,
            &user2(),
        ),
        201,
    );

    // Names and tags.
    for name in ["User2/app", "user2/App", "user2/a..b", "user2/-a"] {
        let r = put_manifest(&s, name, "v1", OCI_MANIFEST, &image.manifest, &user2());
        oci_error(&r, 400, "NAME_INVALID");
        oci_error(
            &s.get(&format!("/v2/{name}/manifests/v1"), &user2()),
            400,
            "NAME_INVALID",
        );
        oci_error(
            &s.get(&format!("/v2/{name}/tags/list"), &user2()),
            400,
            "NAME_INVALID",
        );
    }
    for tag in ["-bad", ".bad", &"t".repeat(129)] {
        let r = put_manifest(&s, IMAGE, tag, OCI_MANIFEST, &image.manifest, &user2());
        oci_error(&r, 400, "TAG_INVALID");
        oci_error(
            &s.get(&format!("/v2/{IMAGE}/manifests/{tag}"), &user2()),
            400,
            "TAG_INVALID",
        );
    }
    status(
        &put_manifest(
            &s,
            IMAGE,
            &"t".repeat(128),
            OCI_MANIFEST,
            &image.manifest,
            &user2(),
        ),
        201,
    );

    // Unknown ones.
    let r = s.get(&format!("/v2/{IMAGE}/manifests/nope"), &user2());
    oci_error(&r, 404, "MANIFEST_UNKNOWN");
    status(
        &s.head(&format!("/v2/{IMAGE}/manifests/nope"), &user2()),
        404,
    );
    oci_error(
        &s.get(
            &format!("/v2/{IMAGE}/manifests/{}", digest(b"nope")),
            &user2(),
        ),
        404,
        "MANIFEST_UNKNOWN",
    );
    oci_error(
        &s.get("/v2/user2/nothing/manifests/latest", &user2()),
        404,
        "MANIFEST_UNKNOWN",
    );
    oci_error(
        &s.delete(&format!("/v2/{IMAGE}/manifests/nope"), &user2()),
        404,
        "MANIFEST_UNKNOWN",
    );
}

/// Deleting by tag removes that tag only; by digest, the manifest under every tag.
fn manifest_delete_by_tag_and_by_digest(backend: Backend) {
    let s = start(backend);
    let image = Image::new("delete");
    status(&image.push(&s, IMAGE, "one"), 201);
    status(
        &put_manifest(&s, IMAGE, "two", OCI_MANIFEST, &image.manifest, &user2()),
        201,
    );
    status(
        &put_manifest(&s, IMAGE, "three", OCI_MANIFEST, &image.manifest, &user2()),
        201,
    );
    let r = s.get(&format!("/v2/{IMAGE}/tags/list"), &user2());
    assert_eq!(r.json()["tags"], json!(["one", "three", "two"]));

    let r = s.delete(&format!("/v2/{IMAGE}/manifests/one"), &user2());
    status(&r, 202);
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/manifests/one"), &user2()),
        404,
        "MANIFEST_UNKNOWN",
    );
    for reference in ["two".to_owned(), "three".to_owned(), image.digest()] {
        let r = s.get_with(
            &format!("/v2/{IMAGE}/manifests/{reference}"),
            &user2(),
            &[("Accept", OCI_MANIFEST)],
        );
        status(&r, 200);
        assert_eq!(r.body, image.manifest);
    }
    assert_eq!(
        s.get(&format!("/v2/{IMAGE}/tags/list"), &user2()).json()["tags"],
        json!(["three", "two"])
    );

    let r = s.delete(
        &format!("/v2/{IMAGE}/manifests/{}", image.digest()),
        &user2(),
    );
    status(&r, 202);
    for reference in [
        "one".to_owned(),
        "two".to_owned(),
        "three".to_owned(),
        image.digest(),
    ] {
        oci_error(
            &s.get(&format!("/v2/{IMAGE}/manifests/{reference}"), &user2()),
            404,
            "MANIFEST_UNKNOWN",
        );
    }
    oci_error(
        &s.delete(
            &format!("/v2/{IMAGE}/manifests/{}", image.digest()),
            &user2(),
        ),
        404,
        "MANIFEST_UNKNOWN",
    );
    // Pushed again under a tag, it is back.
    status(
        &put_manifest(&s, IMAGE, "again", OCI_MANIFEST, &image.manifest, &user2()),
        201,
    );
    status(
        &s.get(
            &format!("/v2/{IMAGE}/manifests/{}", image.digest()),
            &user2(),
        ),
        200,
    );
}

/// Moving a tag to another manifest: the tag answers the new one, the old one stays by digest
/// when another tag holds it.
fn tag_moves_to_a_new_manifest(backend: Backend) {
    let s = start(backend);
    let old = Image::new("old");
    let new = Image::new("new");
    status(&old.push(&s, IMAGE, "latest"), 201);
    status(
        &put_manifest(&s, IMAGE, "1.0", OCI_MANIFEST, &old.manifest, &user2()),
        201,
    );
    status(&new.push(&s, IMAGE, "latest"), 201);
    let r = s.get_with(
        &format!("/v2/{IMAGE}/manifests/latest"),
        &user2(),
        &[("Accept", OCI_MANIFEST)],
    );
    status(&r, 200);
    assert_eq!(r.body, new.manifest);
    assert_eq!(header(&r, "docker-content-digest"), new.digest());
    let r = s.get_with(
        &format!("/v2/{IMAGE}/manifests/{}", old.digest()),
        &user2(),
        &[("Accept", OCI_MANIFEST)],
    );
    status(&r, 200);
    assert_eq!(r.body, old.manifest);
    assert_eq!(
        s.get(&format!("/v2/{IMAGE}/tags/list"), &user2()).json()["tags"],
        json!(["1.0", "latest"])
    );
}

// ---------------------------------------------------------------------------------------
// Listings
// ---------------------------------------------------------------------------------------

/// Tags in byte order, paginated with `n` and `last`, the next page in `Link`.
fn tags_list_paginates(backend: Backend) {
    let s = start(backend);
    let image = Image::new("tags");
    status(&image.push(&s, IMAGE, "v2"), 201);
    for tag in ["v10", "latest", "1.0", "a_b", "Z9"] {
        status(
            &put_manifest(&s, IMAGE, tag, OCI_MANIFEST, &image.manifest, &user2()),
            201,
        );
    }
    let all = ["1.0", "Z9", "a_b", "latest", "v10", "v2"];
    let r = s.get(&format!("/v2/{IMAGE}/tags/list"), &user2());
    status(&r, 200);
    assert_eq!(r.json(), json!({"name": IMAGE, "tags": all}));
    assert!(r.header("link").is_none(), "{}", r.describe());
    assert!(header(&r, "content-type").starts_with("application/json"));

    // Follow the Link header page by page.
    let mut path = format!("/v2/{IMAGE}/tags/list?n=2");
    let mut seen = Vec::new();
    let mut links = Vec::new();
    loop {
        let r = s.get(&path, &user2());
        status(&r, 200);
        let tags: Vec<String> = serde_json::from_value(r.json()["tags"].clone()).unwrap();
        assert!(tags.len() <= 2);
        seen.extend(tags);
        match r.header("link") {
            Some(link) => {
                links.push(link.to_owned());
                let target = link
                    .strip_prefix('<')
                    .and_then(|l| l.strip_suffix(">; rel=\"next\""))
                    .unwrap_or_else(|| panic!("Link {link:?}"));
                path = target.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(seen, all);
    assert_eq!(
        links,
        [
            format!("</v2/{IMAGE}/tags/list?n=2&last=Z9>; rel=\"next\""),
            format!("</v2/{IMAGE}/tags/list?n=2&last=latest>; rel=\"next\""),
        ]
    );
    // `last` alone, and a `last` between tags.
    let r = s.get(&format!("/v2/{IMAGE}/tags/list?last=latest"), &user2());
    assert_eq!(r.json()["tags"], json!(["v10", "v2"]));
    let r = s.get(&format!("/v2/{IMAGE}/tags/list?n=1&last=b"), &user2());
    assert_eq!(r.json()["tags"], json!(["latest"]));
    assert_eq!(
        header(&r, "link"),
        format!("</v2/{IMAGE}/tags/list?n=1&last=latest>; rel=\"next\"")
    );
    let r = s.get(&format!("/v2/{IMAGE}/tags/list?last=v2"), &user2());
    assert_eq!(r.json()["tags"], json!([]));
    // n=0 is an empty page.
    let r = s.get(&format!("/v2/{IMAGE}/tags/list?n=0"), &user2());
    status(&r, 200);
    assert_eq!(r.json()["tags"], json!([]));
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/tags/list?n=x"), &user2()),
        400,
        "PAGINATION_NUMBER_INVALID",
    );
    // An unknown repository.
    oci_error(
        &s.get("/v2/user2/unknown/tags/list", &user2()),
        404,
        "NAME_UNKNOWN",
    );
}

/// `_catalog` lists the repositories of every owner the caller may read, and no others.
fn catalog_shows_only_what_the_caller_may_see(backend: Backend) {
    let s = start(backend);
    s.create_user("user3", PASSWORD, false);
    s.create_user_with_visibility("hidden", PASSWORD, Visibility::Private);
    let hidden = Auth::basic("hidden", PASSWORD);
    let user3 = Auth::basic("user3", PASSWORD);
    let image = Image::new("catalog");
    status(&image.push(&s, "user2/app", "v1"), 201);
    status(&image.push(&s, "user2/a/b", "v1"), 201);
    status(&image.push_as(&s, "user3/zz", "v1", &user3), 201);
    status(&image.push_as(&s, "hidden/secret", "v1", &hidden), 201);

    let catalog = |auth: &Auth| -> Value {
        let r = s.get("/v2/_catalog", auth);
        status(&r, 200);
        r.json()["repositories"].clone()
    };
    let public = json!(["user2/a/b", "user2/app", "user3/zz"]);
    assert_eq!(catalog(&user3), public);
    assert_eq!(catalog(&user2()), public);
    assert_eq!(catalog(&login(&s, &ANON)), public);
    assert_eq!(
        catalog(&hidden),
        json!(["hidden/secret", "user2/a/b", "user2/app", "user3/zz"])
    );

    // The private image itself is hidden from the others.
    let r = s.get("/v2/hidden/secret/manifests/v1", &user3);
    assert!(matches!(r.status, 403 | 404), "{}", r.describe());
    let r = s.get("/v2/hidden/secret/tags/list", &user3);
    assert!(matches!(r.status, 403 | 404), "{}", r.describe());
    let r = s.get(
        &format!("/v2/hidden/secret/blobs/{}", digest(&image.layer)),
        &user3,
    );
    assert!(matches!(r.status, 403 | 404), "{}", r.describe());
    let r = s.get("/v2/hidden/secret/manifests/v1", &login(&s, &ANON));
    assert!(matches!(r.status, 401 | 404), "{}", r.describe());
    status(&s.get("/v2/hidden/secret/manifests/v1", &hidden), 200);

    // Pages.
    let r = s.get("/v2/_catalog?n=2", &hidden);
    status(&r, 200);
    assert_eq!(
        r.json(),
        json!({"repositories": ["hidden/secret", "user2/a/b"]})
    );
    assert_eq!(
        header(&r, "link"),
        "</v2/_catalog?n=2&last=user2%2Fa%2Fb>; rel=\"next\""
    );
    let r = s.get("/v2/_catalog?n=2&last=user2/a/b", &hidden);
    assert_eq!(r.json(), json!({"repositories": ["user2/app", "user3/zz"]}));
    assert!(r.header("link").is_none(), "{}", r.describe());
}

#[track_caller]
fn push_blob_as(s: &TestServer, repo: &str, bytes: &[u8], auth: &Auth) {
    status(&post_blob(s, repo, bytes, auth), 201);
}

// ---------------------------------------------------------------------------------------
// OCI 1.1: artifacts and referrers
// ---------------------------------------------------------------------------------------

/// An artifact manifest for `subject`: the empty config, one layer, an artifactType.
fn artifact(
    s: &TestServer,
    repo: &str,
    subject: &Image,
    artifact_type: &str,
    payload: &[u8],
    note: &str,
) -> (Vec<u8>, Resp) {
    push_blob(s, repo, b"{}");
    push_blob(s, repo, payload);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": OCI_EMPTY, "digest": EMPTY_DIGEST, "size": 2},
        "layers": [descriptor("application/octet-stream", payload)],
        "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest(), "size": subject.manifest.len()},
        "annotations": {"org.example.note": note},
    }))
    .unwrap();
    let r = put_manifest(
        s,
        repo,
        &digest(&manifest),
        OCI_MANIFEST,
        &manifest,
        &user2(),
    );
    (manifest, r)
}

/// Artifacts with a subject answer `OCI-Subject`, and the referrers API lists them, with a
/// filter by artifact type.
fn referrers_list_artifacts(backend: Backend) {
    let s = start(backend);
    assert_eq!(digest(b"{}"), EMPTY_DIGEST);
    let image = Image::new("subject");
    status(&image.push(&s, IMAGE, "v1"), 201);

    let (sbom, r) = artifact(
        &s,
        IMAGE,
        &image,
        "application/vnd.example.sbom+json",
        b"{\"sbom\":1}",
        "the sbom",
    );
    status(&r, 201);
    assert_eq!(header(&r, "oci-subject"), image.digest());
    assert_eq!(header(&r, "docker-content-digest"), digest(&sbom));
    let (sig, r) = artifact(
        &s,
        IMAGE,
        &image,
        "application/vnd.example.signature",
        b"signed",
        "the signature",
    );
    status(&r, 201);
    assert_eq!(header(&r, "oci-subject"), image.digest());
    // Artifacts are manifests too.
    let r = s.get_with(
        &format!("/v2/{IMAGE}/manifests/{}", digest(&sbom)),
        &user2(),
        &[("Accept", OCI_MANIFEST)],
    );
    status(&r, 200);
    assert_eq!(r.body, sbom);

    let r = s.get(
        &format!("/v2/{IMAGE}/referrers/{}", image.digest()),
        &user2(),
    );
    status(&r, 200);
    assert_eq!(header(&r, "content-type"), OCI_INDEX);
    assert!(
        r.header("oci-filters-applied").is_none(),
        "{}",
        r.describe()
    );
    let body = r.json();
    assert_eq!(body["schemaVersion"], 2);
    assert_eq!(body["mediaType"], OCI_INDEX);
    let mut manifests = body["manifests"].as_array().cloned().unwrap_or_default();
    manifests.sort_by_key(|m| m["artifactType"].as_str().unwrap_or("").to_owned());
    assert_eq!(
        manifests,
        vec![
            json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest(&sbom),
                "size": sbom.len(),
                "artifactType": "application/vnd.example.sbom+json",
                "annotations": {"org.example.note": "the sbom"},
            }),
            json!({
                "mediaType": OCI_MANIFEST,
                "digest": digest(&sig),
                "size": sig.len(),
                "artifactType": "application/vnd.example.signature",
                "annotations": {"org.example.note": "the signature"},
            }),
        ]
    );

    // Filtered.
    let r = s.get(
        &format!(
            "/v2/{IMAGE}/referrers/{}?artifactType=application/vnd.example.signature",
            image.digest()
        ),
        &user2(),
    );
    status(&r, 200);
    assert_eq!(header(&r, "oci-filters-applied"), "artifactType");
    let manifests = r.json()["manifests"].clone();
    assert_eq!(manifests.as_array().map(Vec::len), Some(1), "{manifests}");
    assert_eq!(manifests[0]["digest"], digest(&sig));
    let r = s.get(
        &format!(
            "/v2/{IMAGE}/referrers/{}?artifactType=application%2Fvnd.example.sbom%2Bjson",
            image.digest()
        ),
        &user2(),
    );
    status(&r, 200);
    assert_eq!(
        r.json()["manifests"][0]["digest"],
        digest(&sbom),
        "{}",
        r.describe()
    );
    let r = s.get(
        &format!(
            "/v2/{IMAGE}/referrers/{}?artifactType=application/none",
            image.digest()
        ),
        &user2(),
    );
    status(&r, 200);
    assert_eq!(r.json()["manifests"], json!([]));

    // Nothing refers to these: an empty list, not an error (even for an unknown digest).
    for d in [digest(&sbom), digest(b"unknown")] {
        let r = s.get(&format!("/v2/{IMAGE}/referrers/{d}"), &user2());
        status(&r, 200);
        assert_eq!(header(&r, "content-type"), OCI_INDEX);
        assert_eq!(
            r.json(),
            json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        );
    }
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/referrers/latest"), &user2()),
        400,
        "DIGEST_INVALID",
    );

    // An artifact without artifactType is typed by its config.
    push_blob(&s, IMAGE, b"custom config");
    let typed_by_config = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor("application/vnd.example.config", b"custom config"),
        "layers": [],
        "subject": {"mediaType": OCI_MANIFEST, "digest": image.digest(), "size": image.manifest.len()},
    }))
    .unwrap();
    let r = put_manifest(
        &s,
        IMAGE,
        &digest(&typed_by_config),
        OCI_MANIFEST,
        &typed_by_config,
        &user2(),
    );
    status(&r, 201);
    assert_eq!(header(&r, "oci-subject"), image.digest());
    let r = s.get(
        &format!(
            "/v2/{IMAGE}/referrers/{}?artifactType=application/vnd.example.config",
            image.digest()
        ),
        &user2(),
    );
    assert_eq!(
        r.json()["manifests"][0]["digest"],
        digest(&typed_by_config),
        "{}",
        r.describe()
    );
    assert!(r.json()["manifests"][0].get("annotations").is_none());

    // Deleting the artifact removes it from the list.
    status(
        &s.delete(&format!("/v2/{IMAGE}/manifests/{}", digest(&sig)), &user2()),
        202,
    );
    let r = s.get(
        &format!("/v2/{IMAGE}/referrers/{}", image.digest()),
        &user2(),
    );
    let digests: Vec<String> = r.json()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap().to_owned())
        .collect();
    assert!(!digests.contains(&digest(&sig)), "{digests:?}");
    assert_eq!(digests.len(), 2, "{digests:?}");
}

/// A subject need not be in the registry yet (OCI 1.1 allows pushing referrers first).
fn referrer_before_its_subject(backend: Backend) {
    let s = start(backend);
    let image = Image::new("later");
    let (art, r) = artifact(
        &s,
        IMAGE,
        &image,
        "application/vnd.example.early",
        b"early",
        "early",
    );
    status(&r, 201);
    assert_eq!(header(&r, "oci-subject"), image.digest());
    let r = s.get(
        &format!("/v2/{IMAGE}/referrers/{}", image.digest()),
        &user2(),
    );
    status(&r, 200);
    assert_eq!(r.json()["manifests"][0]["digest"], digest(&art));
    status(&image.push(&s, IMAGE, "v1"), 201);
    let r = s.get(
        &format!("/v2/{IMAGE}/referrers/{}", image.digest()),
        &user2(),
    );
    assert_eq!(r.json()["manifests"].as_array().map(Vec::len), Some(1));
}

// ---------------------------------------------------------------------------------------
// The package model
// ---------------------------------------------------------------------------------------

/// Images are packages of type `container`: `/api/v1/packages` lists each tag as a version
/// (not the blobs' or the children's internal versions), and deleting a version there
/// removes the tag.
fn package_api_lists_and_deletes_tags(backend: Backend) {
    let s = start(backend);
    let image = Image::new("api");
    status(&image.push(&s, IMAGE, "v1"), 201);
    status(
        &put_manifest(&s, IMAGE, "v2", OCI_MANIFEST, &image.manifest, &user2()),
        201,
    );
    let child = Image::new("child");
    status(&child.push(&s, IMAGE, &child.digest()), 201);
    push_blob(&s, IMAGE, b"a loose blob");

    let r = s.get("/api/v1/packages/user2?type=container", &user2());
    status(&r, 200);
    let list = r.json();
    let mut versions: Vec<(String, String, String)> = list
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|p| {
            (
                p["type"].as_str().unwrap_or_default().to_owned(),
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["version"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    versions.sort();
    assert_eq!(
        versions,
        [
            ("container".to_owned(), "app".to_owned(), "v1".to_owned()),
            ("container".to_owned(), "app".to_owned(), "v2".to_owned()),
        ],
        "{list}"
    );
    status(
        &s.get("/api/v1/packages/user2/container/app/v1", &user2()),
        200,
    );

    let r = s.delete("/api/v1/packages/user2/container/app/v1", &user2());
    status(&r, 204);
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/manifests/v1"), &user2()),
        404,
        "MANIFEST_UNKNOWN",
    );
    let r = s.get_with(
        &format!("/v2/{IMAGE}/manifests/v2"),
        &user2(),
        &[("Accept", OCI_MANIFEST)],
    );
    status(&r, 200);
    assert_eq!(r.body, image.manifest);
    assert_eq!(
        s.get(&format!("/v2/{IMAGE}/tags/list"), &user2()).json()["tags"],
        json!(["v2"])
    );
    status(
        &s.get("/api/v1/packages/user2/container/app/v1", &user2()),
        404,
    );
    // The blobs and the child pushed by digest are still there.
    status(
        &s.head(
            &format!("/v2/{IMAGE}/blobs/{}", digest(b"a loose blob")),
            &user2(),
        ),
        200,
    );
    status(
        &s.head(
            &format!("/v2/{IMAGE}/manifests/{}", child.digest()),
            &user2(),
        ),
        200,
    );
    // Names with a slash.
    status(&image.push(&s, "user2/a/b", "x"), 201);
    let r = s.get("/api/v1/packages/user2?type=container", &user2());
    assert!(
        r.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "a/b" && p["version"] == "x"),
        "{}",
        r.describe()
    );
}

/// In an organisation, a team with package write access pushes, a team with read access
/// pulls only (403 DENIED on a push), and an anonymous token is asked to sign in (401).
fn organisation_team_permissions(backend: Backend) {
    let s = start(backend);
    for user in ["writer", "reader", "outsider"] {
        s.create_user(user, PASSWORD, false);
    }
    s.create_org("org1", Visibility::Public, OWNER);
    s.create_team(
        "org1",
        "writers",
        AccessMode::Write,
        AccessMode::Write,
        &["writer"],
    );
    s.create_team(
        "org1",
        "readers",
        AccessMode::Read,
        AccessMode::Read,
        &["reader"],
    );
    let writer = Auth::basic("writer", PASSWORD);
    let reader = Auth::basic("reader", PASSWORD);
    let outsider = Auth::basic("outsider", PASSWORD);
    let repo = "org1/service";
    let image = Image::new("org");

    // The writer pushes, with a bearer token as a client would.
    let writer_bearer = login(&s, &writer);
    push_blob_as(&s, repo, &image.config, &writer_bearer);
    let session = open_session(&s, repo, &writer_bearer);
    status(
        &req(
            &s,
            "PUT",
            &with_query(&session, "digest", &digest(&image.layer)),
            &writer_bearer,
            &[],
            Some(&image.layer),
        ),
        201,
    );
    status(
        &put_manifest(
            &s,
            repo,
            "1.0",
            OCI_MANIFEST,
            &image.manifest,
            &writer_bearer,
        ),
        201,
    );

    // Readers and outsiders pull the public organisation's image but push nothing.
    for auth in [reader.clone(), login(&s, &reader), outsider.clone()] {
        let r = s.get_with(
            &format!("/v2/{repo}/manifests/1.0"),
            &auth,
            &[("Accept", OCI_MANIFEST)],
        );
        status(&r, 200);
        assert_eq!(r.body, image.manifest);
        oci_error(&post_blob(&s, repo, b"reader's blob", &auth), 403, "DENIED");
        oci_error(
            &req(
                &s,
                "POST",
                &format!("/v2/{repo}/blobs/uploads/"),
                &auth,
                &[],
                Some(b""),
            ),
            403,
            "DENIED",
        );
        oci_error(
            &put_manifest(&s, repo, "evil", OCI_MANIFEST, &image.manifest, &auth),
            403,
            "DENIED",
        );
        oci_error(
            &s.delete(&format!("/v2/{repo}/manifests/1.0"), &auth),
            403,
            "DENIED",
        );
        oci_error(
            &s.delete(&format!("/v2/{repo}/blobs/{}", digest(&image.layer)), &auth),
            403,
            "DENIED",
        );
        // The writer's session is not theirs to continue.
        let r = s.get(&open_session_path_of(&s, repo, &writer), &auth);
        oci_error(&r, 403, "DENIED");
    }
    // Anonymous.
    let anon = login(&s, &ANON);
    status(&s.get(&format!("/v2/{repo}/manifests/1.0"), &anon), 200);
    let r = post_blob(&s, repo, b"anon", &anon);
    oci_error(&r, 401, "UNAUTHORIZED");
    challenged(&s, &r);
    oci_error(
        &put_manifest(&s, repo, "evil", OCI_MANIFEST, &image.manifest, &anon),
        401,
        "UNAUTHORIZED",
    );

    status(&s.head(&format!("/v2/{repo}/manifests/evil"), &writer), 404);
    status(
        &s.head(
            &format!("/v2/{repo}/blobs/{}", digest(b"reader's blob")),
            &writer,
        ),
        404,
    );
    // The org's owner (user2) may push too; the writer may delete.
    status(
        &put_manifest(&s, repo, "2.0", OCI_MANIFEST, &image.manifest, &user2()),
        201,
    );
    status(
        &s.delete(&format!("/v2/{repo}/manifests/2.0"), &writer),
        202,
    );
    assert_eq!(
        s.get(&format!("/v2/{repo}/tags/list"), &reader).json()["tags"],
        json!(["1.0"])
    );
}

/// A fresh session of `auth` in `repo`; its path.
fn open_session_path_of(s: &TestServer, repo: &str, auth: &Auth) -> String {
    open_session(s, repo, auth)
}

// ---------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------

const CONTAINER: PackageType = PackageType::new("container");

/// The container size limit refuses a larger blob, monolithic or chunked, with 413
/// SIZE_INVALID, and keeps nothing of it.
fn size_limit_refuses_large_blobs(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.limits.set_size(CONTAINER, Limit::AtMost(100))
    });
    with_user2(&s);
    let exact = vec![7u8; 100];
    push_blob(&s, IMAGE, &exact);
    let before = s.stored_items();

    let large: Vec<u8> = (0..101u8).collect();
    let r = post_blob(&s, IMAGE, &large, &user2());
    oci_error(&r, 413, "SIZE_INVALID");

    // Streamed in one PATCH.
    let session = open_session(&s, IMAGE, &user2());
    let r = req(&s, "PATCH", &session, &user2(), &[], Some(&large));
    oci_error(&r, 413, "SIZE_INVALID");
    let r = s.delete(&session, &user2());
    assert!(matches!(r.status, 204 | 404), "{}", r.describe());

    // Chunks that each fit but together do not.
    let session = open_session(&s, IMAGE, &user2());
    status(&patch(&s, &session, &large[..60], 0, &user2()), 202);
    let r = patch(&s, &session, &large[60..], 60, &user2());
    oci_error(&r, 413, "SIZE_INVALID");
    // The refused chunk was not appended: the session still stands at 60 bytes.
    let r = s.get(&session, &user2());
    status(&r, 204);
    assert_eq!(header(&r, "range"), "0-59");
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &digest(&large)),
        &user2(),
        &[],
        Some(b""),
    );
    oci_error(&r, 400, "DIGEST_INVALID");

    // The last chunk at the PUT.
    let session = open_session(&s, IMAGE, &user2());
    status(&patch(&s, &session, &large[..60], 0, &user2()), 202);
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &digest(&large)),
        &user2(),
        &[],
        Some(&large[60..]),
    );
    oci_error(&r, 413, "SIZE_INVALID");
    // Whatever became of the session, it holds nothing any more once cancelled.
    let r = s.delete(&session, &user2());
    assert!(matches!(r.status, 204 | 404), "{}", r.describe());

    status(
        &s.head(&format!("/v2/{IMAGE}/blobs/{}", digest(&large)), &user2()),
        404,
    );
    assert_eq!(s.pending_uploads(), 0, "{:?}", s.stored_items());
    let items = s.stored_items();
    assert!(!store_holds(&s, &large), "{items:?}");
    assert!(!store_holds(&s, &large[..60]), "{items:?}");
    assert_eq!(
        items, before,
        "the refused uploads left something in the store"
    );
    assert!(store_holds(&s, &exact), "{items:?}");

    // An admin is exempt.
    s.create_user("root", PASSWORD, true);
    status(
        &post_blob(&s, "root/big", &large, &Auth::basic("root", PASSWORD)),
        201,
    );
}

// ---------------------------------------------------------------------------------------
// Edges
// ---------------------------------------------------------------------------------------

/// The empty blob (the digest of no bytes), monolithic and through a session.
fn empty_blob(backend: Backend) {
    let s = start(backend);
    let d = digest(b"");
    assert_eq!(
        d,
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let r = post_blob(&s, IMAGE, b"", &user2());
    status(&r, 201);
    assert_eq!(header(&r, "docker-content-digest"), d);
    let r = s.head(&format!("/v2/{IMAGE}/blobs/{d}"), &user2());
    status(&r, 200);
    assert_eq!(header(&r, "content-length"), "0");
    let r = s.get(&format!("/v2/{IMAGE}/blobs/{d}"), &user2());
    status(&r, 200);
    assert!(r.body.is_empty());
    let session = open_session(&s, "user2/other", &user2());
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &d),
        &user2(),
        &[],
        Some(b""),
    );
    status(&r, 201);
    status(
        &s.head(&format!("/v2/user2/other/blobs/{d}"), &user2()),
        200,
    );
}

/// A registry token dies with its user's right to sign in.
fn disabled_user_bearer_tokens_are_refused(backend: Backend) {
    let s = start(backend);
    s.create_user("user9", PASSWORD, false);
    let tokens = [
        login(&s, &user2()),
        login(&s, &Auth::basic("user9", PASSWORD)),
    ];
    for t in &tokens {
        status(&s.get("/v2/", t), 200);
    }
    disable(&s);
    for t in &tokens {
        let r = s.get("/v2/", t);
        oci_error(&r, 401, "UNAUTHORIZED");
        challenged(&s, &r);
        oci_error(&post_blob(&s, IMAGE, b"x", t), 401, "UNAUTHORIZED");
    }
}

/// user2 may no longer sign in; user9 is inactive.
fn disable(s: &TestServer) {
    s.update_user(
        OWNER,
        &forge_e2e::UserChanges {
            prohibit_login: Some(true),
            ..Default::default()
        },
    );
    s.update_user(
        "user9",
        &forge_e2e::UserChanges {
            is_active: Some(false),
            ..Default::default()
        },
    );
}

/// A user who may not sign in (prohibited or inactive) gets no registry token and is not
/// signed in by Basic credentials either, as on every other route of the registry (401).
fn disabled_user_cannot_log_in(backend: Backend) {
    let s = start(backend);
    s.create_user("user9", PASSWORD, false);
    disable(&s);
    for user in [OWNER, "user9"] {
        let basic = Auth::basic(user, PASSWORD);
        let r = s.get("/v2/token", &basic);
        oci_error(&r, 401, "UNAUTHORIZED");
        let r = s.get("/v2/", &basic);
        oci_error(&r, 401, "UNAUTHORIZED");
        oci_error(
            &post_blob(&s, &format!("{user}/app"), b"x", &basic),
            401,
            "UNAUTHORIZED",
        );
    }
}

/// Blobs belong to their repository: a manifest cannot reference another's, and a blob of
/// one is unknown in the other.
fn repositories_are_isolated(backend: Backend) {
    let s = start(backend);
    let image = Image::new("isolated");
    push_blob(&s, "user2/one", &image.config);
    push_blob(&s, "user2/one", &image.layer);
    let r = put_manifest(
        &s,
        "user2/two",
        "v1",
        OCI_MANIFEST,
        &image.manifest,
        &user2(),
    );
    oci_error(&r, 400, "MANIFEST_BLOB_UNKNOWN");
    oci_error(
        &s.get(
            &format!("/v2/user2/two/blobs/{}", digest(&image.layer)),
            &user2(),
        ),
        404,
        "BLOB_UNKNOWN",
    );
    status(
        &put_manifest(
            &s,
            "user2/one",
            "v1",
            OCI_MANIFEST,
            &image.manifest,
            &user2(),
        ),
        201,
    );
    oci_error(
        &s.get("/v2/user2/two/manifests/v1", &user2()),
        404,
        "MANIFEST_UNKNOWN",
    );
    oci_error(
        &s.get(
            &format!("/v2/user2/two/manifests/{}", image.digest()),
            &user2(),
        ),
        404,
        "MANIFEST_UNKNOWN",
    );
    // A nested name is a repository of its own.
    oci_error(
        &s.get("/v2/user2/one/sub/manifests/v1", &user2()),
        404,
        "MANIFEST_UNKNOWN",
    );
    status(&image.push(&s, "user2/one/sub", "v2"), 201);
    assert_eq!(
        s.get("/v2/user2/one/tags/list", &user2()).json()["tags"],
        json!(["v1"])
    );
    assert_eq!(
        s.get("/v2/user2/one/sub/tags/list", &user2()).json()["tags"],
        json!(["v2"])
    );
}

/// A blob deleted from a repository is gone from it even while a manifest references it.
fn deleted_blob_is_unknown(backend: Backend) {
    let s = start(backend);
    let image = Image::new("blobdel");
    status(&image.push(&s, IMAGE, "v1"), 201);
    let path = format!("/v2/{IMAGE}/blobs/{}", digest(&image.layer));
    status(&s.delete(&path, &user2()), 202);
    status(&s.head(&path, &user2()), 404);
    oci_error(&s.get(&path, &user2()), 404, "BLOB_UNKNOWN");
}

/// `_upload` is a valid tag (the spec's grammar allows a leading `_`). Pushing a manifest
/// under it must not disturb anything else of the repository: a blob uploaded before (and
/// not referenced by that manifest) is still there afterwards.
fn tag_named_upload_is_an_ordinary_tag(backend: Backend) {
    let s = start(backend);
    let staged = push_blob(&s, IMAGE, b"staged, no manifest yet");
    status(
        &s.head(&format!("/v2/{IMAGE}/blobs/{staged}"), &user2()),
        200,
    );
    let image = Image::new("underscore");
    let r = image.push(&s, IMAGE, "_upload");
    status(&r, 201);
    let r = s.get_with(
        &format!("/v2/{IMAGE}/manifests/_upload"),
        &user2(),
        &[("Accept", OCI_MANIFEST)],
    );
    status(&r, 200);
    assert_eq!(r.body, image.manifest);
    // The earlier upload is untouched.
    status(
        &s.head(&format!("/v2/{IMAGE}/blobs/{staged}"), &user2()),
        200,
    );
    // A blob uploaded afterwards is not filed under the tag either: the tag still answers
    // its manifest, and the blob is there.
    let later = push_blob(&s, IMAGE, b"uploaded after the tag");
    status(
        &s.head(&format!("/v2/{IMAGE}/blobs/{later}"), &user2()),
        200,
    );
    let r = s.head(&format!("/v2/{IMAGE}/manifests/_upload"), &user2());
    status(&r, 200);
    assert_eq!(header(&r, "docker-content-digest"), image.digest());
}

/// Tags compare case-insensitively, as the reference registry's versions do
/// (docs/COMPATIBILITY.md): pushing `latest` moves `Latest` (the tag takes the last push's
/// spelling), and any spelling finds it.
fn tags_compare_case_insensitively(backend: Backend) {
    let s = start(backend);
    let upper = Image::new("upper");
    let lower = Image::new("lower");
    status(&upper.push(&s, IMAGE, "Latest"), 201);
    status(&lower.push(&s, IMAGE, "latest"), 201);
    for spelling in ["Latest", "latest", "LATEST"] {
        let r = s.get_with(
            &format!("/v2/{IMAGE}/manifests/{spelling}"),
            &user2(),
            &[("Accept", OCI_MANIFEST)],
        );
        status(&r, 200);
        assert_eq!(
            header(&r, "docker-content-digest"),
            lower.digest(),
            "{spelling}"
        );
    }
    let r = s.get(&format!("/v2/{IMAGE}/tags/list"), &user2());
    assert_eq!(r.json()["tags"], json!(["latest"]));
}

/// Odd requests: unknown owners, mixed-case owners, Accept negotiation, a manifest over
/// 4 MiB, digests of other algorithms, a mount without a source, unknown routes and methods.
fn odd_requests(backend: Backend) {
    let s = start(backend);
    // An owner that does not exist.
    oci_error(
        &post_blob(&s, "nobody/app", b"x", &user2()),
        404,
        "NAME_UNKNOWN",
    );
    oci_error(
        &s.get("/v2/nobody/app/tags/list", &user2()),
        404,
        "NAME_UNKNOWN",
    );
    oci_error(
        &s.get("/v2/nobody/app/manifests/latest", &user2()),
        404,
        "NAME_UNKNOWN",
    );
    // A user whose name has capitals is named in lower case.
    s.create_user("MixedCase", PASSWORD, false);
    let mixed = Auth::basic("MixedCase", PASSWORD);
    let image = Image::new("mixed");
    status(&image.push_as(&s, "mixedcase/app", "v1", &mixed), 201);
    status(&s.get("/v2/mixedcase/app/manifests/v1", &user2()), 200);
    let r = s.get("/v2/_catalog", &user2());
    assert_eq!(r.json()["repositories"], json!(["mixedcase/app"]));
    oci_error(
        &s.get("/v2/MixedCase/app/manifests/v1", &user2()),
        400,
        "NAME_INVALID",
    );

    // Accept: an OCI manifest is not served to a client that names only Docker types.
    status(&image.push(&s, IMAGE, "v1"), 201);
    let path = format!("/v2/{IMAGE}/manifests/v1");
    let r = s.get_with(&path, &user2(), &[("Accept", DOCKER_MANIFEST)]);
    oci_error(&r, 404, "MANIFEST_UNKNOWN");
    for accept in [
        "*/*",
        OCI_MANIFEST,
        "application/vnd.oci.image.manifest.v1+json; q=0.9",
    ] {
        let r = s.get_with(&path, &user2(), &[("Accept", accept)]);
        status(&r, 200);
        assert_eq!(r.body, image.manifest, "Accept: {accept}");
    }
    let r = s.get_with(
        &path,
        &user2(),
        &[("Accept", DOCKER_MANIFEST), ("Accept", OCI_MANIFEST)],
    );
    status(&r, 200);

    // A manifest over 4 MiB.
    let big = vec![b' '; 4 * 1024 * 1024 + 1];
    oci_error(
        &put_manifest(&s, IMAGE, "big", OCI_MANIFEST, &big, &user2()),
        413,
        "SIZE_INVALID",
    );
    // Digests of other algorithms.
    let sha512 = format!("sha512:{}", "a".repeat(128));
    let r = req(
        &s,
        "POST",
        &format!("/v2/{IMAGE}/blobs/uploads/?digest={sha512}"),
        &user2(),
        &[],
        Some(b"x"),
    );
    oci_error(&r, 400, "UNSUPPORTED");
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/manifests/{sha512}"), &user2()),
        400,
        "UNSUPPORTED",
    );
    // A mount without a source is an ordinary session.
    let r = req(
        &s,
        "POST",
        &format!("/v2/{IMAGE}/blobs/uploads/?mount={}", digest(&image.layer)),
        &user2(),
        &[],
        Some(b""),
    );
    status(&r, 202);
    assert_eq!(header(&r, "range"), "0-0");
    // Unknown routes and methods.
    oci_error(
        &s.request("PUT", "/v2/", &user2(), &[], Some(b"")),
        405,
        "UNSUPPORTED",
    );
    oci_error(
        &s.request(
            "POST",
            &format!("/v2/{IMAGE}/tags/list"),
            &user2(),
            &[],
            Some(b""),
        ),
        405,
        "UNSUPPORTED",
    );
    oci_error(
        &s.request(
            "PATCH",
            &format!("/v2/{IMAGE}/manifests/v1"),
            &user2(),
            &[],
            Some(b""),
        ),
        405,
        "UNSUPPORTED",
    );
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/nothing"), &user2()),
        404,
        "NOT_FOUND",
    );
}

/// Deleting the whole package through `/api/v1` removes the repository: its tags, manifests
/// and blobs, and its catalogue entry.
fn package_delete_removes_the_repository(backend: Backend) {
    let s = start(backend);
    let image = Image::new("gone");
    status(&image.push(&s, IMAGE, "v1"), 201);
    let loose = push_blob(&s, IMAGE, b"loose");
    status(&image.push(&s, "user2/kept", "v1"), 201);
    status(
        &s.delete("/api/v1/packages/user2/container/app", &user2()),
        204,
    );
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/tags/list"), &user2()),
        404,
        "NAME_UNKNOWN",
    );
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/manifests/v1"), &user2()),
        404,
        "MANIFEST_UNKNOWN",
    );
    oci_error(
        &s.get(
            &format!("/v2/{IMAGE}/manifests/{}", image.digest()),
            &user2(),
        ),
        404,
        "MANIFEST_UNKNOWN",
    );
    for d in [loose, digest(&image.layer)] {
        oci_error(
            &s.get(&format!("/v2/{IMAGE}/blobs/{d}"), &user2()),
            404,
            "BLOB_UNKNOWN",
        );
    }
    assert_eq!(
        s.get("/v2/_catalog", &user2()).json()["repositories"],
        json!(["user2/kept"])
    );
    // The other image keeps the shared content.
    let r = s.get(
        &format!("/v2/user2/kept/blobs/{}", digest(&image.layer)),
        &user2(),
    );
    status(&r, 200);
    assert_eq!(r.body, image.layer);
}

/// An upload session lives in the database and the store: it continues after a restart.
fn upload_session_survives_a_restart(backend: Backend) {
    let mut s = start(backend);
    let blob: Vec<u8> = (0..5000u32).map(|i| (i % 199) as u8).collect();
    let session = open_session(&s, IMAGE, &user2());
    status(&patch(&s, &session, &blob[..2000], 0, &user2()), 202);
    s.restart();
    let r = s.get(&session, &user2());
    status(&r, 204);
    assert_eq!(header(&r, "range"), "0-1999");
    assert_eq!(header(&r, "location"), format!("{}{session}", s.base));
    status(&patch(&s, &session, &blob[2000..], 2000, &user2()), 202);
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &digest(&blob)),
        &user2(),
        &[],
        Some(b""),
    );
    status(&r, 201);
    let r = s.get(&format!("/v2/{IMAGE}/blobs/{}", digest(&blob)), &user2());
    status(&r, 200);
    assert_eq!(r.body, blob);
}

/// The owner's total size quota counts what tagged manifests hold (blobs waiting for a
/// manifest do not count, as in Forgejo); beyond it a blob is 413 SIZE_INVALID.
fn owner_quota_is_size_invalid(backend: Backend) {
    let s = TestServer::start_with(backend, |c| c.limits.total_owner_size = Limit::AtMost(1100));
    with_user2(&s);
    let layer = vec![1u8; 600];
    let config = b"{}".to_vec();
    push_blob(&s, IMAGE, &layer);
    push_blob(&s, IMAGE, &config);
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config),
        "layers": [descriptor(OCI_LAYER, &layer)],
    }))
    .unwrap();
    status(
        &put_manifest(&s, IMAGE, "v1", OCI_MANIFEST, &manifest, &user2()),
        201,
    );
    let r = post_blob(&s, IMAGE, &[2u8; 600], &user2());
    oci_error(&r, 413, "SIZE_INVALID");
    let session = open_session(&s, IMAGE, &user2());
    let r = req(
        &s,
        "PUT",
        &with_query(&session, "digest", &digest(&[3u8; 600])),
        &user2(),
        &[],
        Some(&[3u8; 600]),
    );
    oci_error(&r, 413, "SIZE_INVALID");
    for bytes in [[2u8; 600], [3u8; 600]] {
        status(
            &s.head(&format!("/v2/{IMAGE}/blobs/{}", digest(&bytes)), &user2()),
            404,
        );
        assert!(!store_holds(&s, &bytes));
    }
    // A blob that fits still goes in.
    push_blob(&s, IMAGE, &[4u8; 50]);
}

// ---------------------------------------------------------------------------------------
// Several instances
// ---------------------------------------------------------------------------------------

fn on(
    instance: &Instance,
    method: &str,
    path: &str,
    auth: &Auth,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Resp {
    instance.request(method, path, auth, headers, body)
}

/// The part of an absolute `Location` after `instance`'s base.
#[track_caller]
fn path_on(instance: &Instance, location: &str) -> String {
    location
        .strip_prefix(&instance.base)
        .unwrap_or_else(|| panic!("Location {location:?} is not below {}", instance.base))
        .to_owned()
}

/// One push spread over three instances on one database and store: the session opened on
/// A, chunks on B and C, the PUT on C, the pull on A; a token from A works on C.
fn push_over_three_instances(backend: Backend) {
    // With an object store each instance has its own data directory, so the key signing
    // registry tokens is configured alike everywhere (as OPERATIONS.md says to); on the
    // shared directory the generated one is shared.
    let keys: &[(&str, &str)] = if backend == Backend::S3 {
        &[(
            "FORGE_LINKS_KEYS",
            "k1:HS256:BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        )]
    } else {
        &[]
    };
    let c = Cluster::start(backend, 3, keys);
    c.create_user(OWNER, PASSWORD, false);
    let (a, b, cc) = (c.at(0), c.at(1), c.at(2));
    let basic = user2();
    let r = a.get("/v2/token", &basic);
    status(&r, 200);
    let token = Auth::bearer(r.json()["token"].as_str().unwrap());
    for i in 0..3 {
        status(&c.at(i).get("/v2/", &token), 200);
    }

    let blob: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let d = digest(&blob);
    let r = on(
        a,
        "POST",
        &format!("/v2/{IMAGE}/blobs/uploads/"),
        &token,
        &[],
        Some(b""),
    );
    status(&r, 202);
    let session = path_on(a, header(&r, "location"));
    let chunk = |inst: &Instance, from: usize, to: usize| {
        let range = format!("{from}-{}", to - 1);
        on(
            inst,
            "PATCH",
            &session,
            &token,
            &[
                ("Content-Type", "application/octet-stream"),
                ("Content-Range", &range),
            ],
            Some(&blob[from..to]),
        )
    };
    let r = chunk(b, 0, 70_000);
    status(&r, 202);
    assert_eq!(header(&r, "range"), "0-69999");
    assert_eq!(path_on(b, header(&r, "location")), session);
    let r = chunk(cc, 70_000, 150_000);
    status(&r, 202);
    assert_eq!(header(&r, "range"), "0-149999");
    // A stale chunk on A: refused, offset kept.
    let r = chunk(a, 0, 70_000);
    status(&r, 416);
    assert_eq!(header(&r, "range"), "0-149999");
    let r = on(a, "GET", &session, &token, &[], None);
    status(&r, 204);
    assert_eq!(header(&r, "range"), "0-149999");
    let r = on(
        cc,
        "PUT",
        &with_query(&session, "digest", &d),
        &token,
        &[],
        Some(&blob[150_000..]),
    );
    status(&r, 201);
    assert_eq!(header(&r, "docker-content-digest"), d);
    assert_eq!(
        header(&r, "location"),
        format!("{}/v2/{IMAGE}/blobs/{d}", cc.base)
    );

    for i in 0..3 {
        let r = c.at(i).get(&format!("/v2/{IMAGE}/blobs/{d}"), &basic);
        status(&r, 200);
        assert_eq!(r.body, blob, "blob on instance {i}");
        let r = on(c.at(i), "GET", &session, &basic, &[], None);
        oci_error(&r, 404, "BLOB_UPLOAD_UNKNOWN");
    }

    // The manifest on B, read on C and A.
    let image = Image::new("cluster");
    status(&post_on(a, &image.config, &token), 201);
    status(&post_on(cc, &image.layer, &token), 201);
    let r = on(
        b,
        "PUT",
        &format!("/v2/{IMAGE}/manifests/v1"),
        &token,
        &[("Content-Type", OCI_MANIFEST)],
        Some(&image.manifest),
    );
    status(&r, 201);
    for i in [2, 0] {
        let r = on(
            c.at(i),
            "GET",
            &format!("/v2/{IMAGE}/manifests/v1"),
            &token,
            &[("Accept", OCI_MANIFEST)],
            None,
        );
        status(&r, 200);
        assert_eq!(r.body, image.manifest, "manifest on instance {i}");
    }
    // A wrong digest on another instance keeps nothing.
    let r = on(
        a,
        "POST",
        &format!("/v2/{IMAGE}/blobs/uploads/"),
        &token,
        &[],
        Some(b""),
    );
    let session = path_on(a, header(&r, "location"));
    status(
        &on(
            b,
            "PATCH",
            &session,
            &token,
            &[],
            Some(b"not what is claimed"),
        ),
        202,
    );
    let r = on(
        cc,
        "PUT",
        &with_query(&session, "digest", &digest(b"claimed")),
        &token,
        &[],
        Some(b""),
    );
    oci_error(&r, 400, "DIGEST_INVALID");
    assert!(!c.holds(b"not what is claimed"), "refused content stored");
    assert_eq!(c.pending_uploads(), 0);
}

fn post_on(instance: &Instance, bytes: &[u8], auth: &Auth) -> Resp {
    on(
        instance,
        "POST",
        &format!("/v2/{IMAGE}/blobs/uploads/?digest={}", digest(bytes)),
        auth,
        &[],
        Some(bytes),
    )
}

#[test]
fn cluster_push_over_three_instances_postgres() {
    run_scenario(
        Backend::Postgres,
        "container_cluster",
        push_over_three_instances,
    );
}

#[test]
fn cluster_push_over_three_instances_postgres_s3() {
    run_scenario(Backend::Postgres, "container_cluster_s3", |_| {
        if forge_e2e::s3::seaweed_or_skip().is_some() {
            push_over_three_instances(Backend::S3);
            forge_e2e::append_marker("FORGE_TEST_S3_MARKER", "container_cluster");
        }
    });
}

/// The sweep: a blob no manifest references goes once the grace period has passed; blobs of
/// manifests stay, also when another image that shared them is deleted; an untagged child
/// manifest goes with its content once the index that listed it is deleted.
fn sweep_removes_what_no_manifest_references(backend: Backend) {
    use forge_server::sweep::run_once;
    use std::time::Duration;
    let s = start(backend);
    let store = packages_storage::LocalBlobStore::open(s.packages_dir()).expect("open the store");
    let staged_bytes = b"staged, never referenced".to_vec();
    let staged = push_blob(&s, IMAGE, &staged_bytes);
    let shared = Image::new("shared");
    status(&shared.push(&s, IMAGE, "v1"), 201);
    status(&shared.push(&s, "user2/other", "v1"), 201);
    let child = Image::new("child");
    status(&child.push(&s, IMAGE, &child.digest()), 201);
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [descriptor(OCI_MANIFEST, &child.manifest)],
    }))
    .unwrap();
    status(
        &put_manifest(&s, IMAGE, "multi", OCI_INDEX, &index, &user2()),
        201,
    );

    // Within the grace period nothing goes.
    let report = run_once(s.db(), &store, Duration::from_secs(3600)).expect("sweep");
    assert_eq!(report.staged_files_removed, 0, "{report:?}");
    assert_eq!(report.internal_versions_removed, 0, "{report:?}");
    status(
        &s.head(&format!("/v2/{IMAGE}/blobs/{staged}"), &user2()),
        200,
    );

    status(
        &s.delete(&format!("/v2/{IMAGE}/manifests/multi"), &user2()),
        202,
    );
    status(
        &s.delete("/api/v1/packages/user2/container/other", &user2()),
        204,
    );
    // Rows carry whole seconds: let the cutoff pass them.
    std::thread::sleep(Duration::from_millis(1100));
    let report = run_once(s.db(), &store, Duration::ZERO).expect("sweep");
    assert!(report.staged_files_removed >= 1, "{report:?}");
    assert_eq!(report.internal_versions_removed, 1, "{report:?}");

    // The blob only ever uploaded is gone, rows and content.
    oci_error(
        &s.get(&format!("/v2/{IMAGE}/blobs/{staged}"), &user2()),
        404,
        "BLOB_UNKNOWN",
    );
    assert!(!store_holds(&s, &staged_bytes));
    // The image that shared its blobs with the deleted one keeps them.
    for blob in [&shared.config, &shared.layer] {
        status(
            &s.get(&format!("/v2/{IMAGE}/blobs/{}", digest(blob)), &user2()),
            200,
        );
        assert!(store_holds(&s, blob));
    }
    status(&s.get(&format!("/v2/{IMAGE}/manifests/v1"), &user2()), 200);
    // The child no index lists any more is gone with its own layer.
    oci_error(
        &s.get(
            &format!("/v2/{IMAGE}/manifests/{}", child.digest()),
            &user2(),
        ),
        404,
        "MANIFEST_UNKNOWN",
    );
    assert!(!store_holds(&s, &child.layer));
}

/// An image's page: the platforms of an index with their digests, and the commands that
/// fetch it.
fn image_page_shows_platforms_and_commands(backend: Backend) {
    let s = start(backend);
    let child = Image::new("page-child");
    status(&child.push(&s, IMAGE, &child.digest()), 201);
    let mut entry = descriptor(OCI_MANIFEST, &child.manifest);
    entry["platform"] = json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
    let index = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [entry],
    }))
    .unwrap();
    status(
        &put_manifest(&s, IMAGE, "v2", OCI_INDEX, &index, &user2()),
        201,
    );
    let r = s.get(&format!("/{OWNER}/-/packages/container/app/v2"), &ANON);
    status(&r, 200);
    let page = r.text();
    let host = s.base.strip_prefix("http://").expect("http base");
    assert!(
        page.contains(&format!("podman pull {host}/user2/app:v2")),
        "{page}"
    );
    assert!(
        page.contains(&format!("skopeo copy docker://{host}/user2/app:v2")),
        "{page}"
    );
    assert!(page.contains("linux/arm64/v8"), "{page}");
    assert!(page.contains(&child.digest()), "{page}");
    assert!(page.contains(&digest(&index)), "{page}");
}

forge_e2e::backends!(
    sweep_removes_what_no_manifest_references,
    image_page_shows_platforms_and_commands,
    base_challenges_without_credentials,
    token_endpoint_exchanges_credentials,
    anonymous_token_pulls_but_does_not_push,
    basic_is_accepted_on_every_route,
    monolithic_blob_push_and_pull,
    post_then_put_with_body,
    streamed_patch_then_put,
    chunked_patches_with_content_range,
    out_of_order_chunk_is_refused,
    upload_status_and_cancel,
    wrong_digest_keeps_nothing,
    mount_from_another_repository,
    blob_ranges_unknown_and_delete,
    oci_manifest_push_and_pull,
    manifest_head_has_content_length,
    docker_schema2_manifest,
    index_and_manifest_list,
    manifest_errors,
    manifest_delete_by_tag_and_by_digest,
    tag_moves_to_a_new_manifest,
    tags_list_paginates,
    catalog_shows_only_what_the_caller_may_see,
    referrers_list_artifacts,
    referrer_before_its_subject,
    package_api_lists_and_deletes_tags,
    organisation_team_permissions,
    size_limit_refuses_large_blobs,
    empty_blob,
    disabled_user_bearer_tokens_are_refused,
    disabled_user_cannot_log_in,
    repositories_are_isolated,
    deleted_blob_is_unknown,
    tag_named_upload_is_an_ordinary_tag,
    tags_compare_case_insensitively,
    odd_requests,
    upload_session_survives_a_restart,
    owner_quota_is_size_invalid,
    package_delete_removes_the_repository,
);

/// With serve-direct on object storage, a blob `GET` is a redirect to a presigned URL of the
/// bucket, which serves the blob's bytes; `HEAD` answers itself.
fn blobs_redirect_to_the_bucket_when_serving_directly(backend: Backend) {
    let s = TestServer::start_with(backend, |c| {
        c.storage.serve_direct = true;
        c.storage.serve_direct_ttl = std::time::Duration::from_secs(60);
    });
    with_user2(&s);
    let blob: Vec<u8> = (0..150_000u32).map(|i| (i % 253) as u8).collect();
    let d = push_blob(&s, "user2/direct", &blob);
    let path = format!("/v2/user2/direct/blobs/{d}");
    let r = s.get(&path, &user2());
    status(&r, 307);
    let url = header(&r, "location").to_owned();
    assert!(url.starts_with(&s.config().storage.s3.endpoint), "{url}");
    let response = forge_e2e::agent()
        .get(&url)
        .call()
        .expect("fetch from the bucket");
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut response.into_reader(), &mut body).expect("read body");
    assert!(body == blob, "the bucket sent other bytes");
    let head = s.head(&path, &user2());
    status(&head, 200);
    assert_eq!(header(&head, "docker-content-digest"), d);
    assert_eq!(head.header("location"), None);
}

forge_e2e::s3_backend!(
    blobs_redirect_to_the_bucket_when_serving_directly,
    monolithic_blob_push_and_pull,
    post_then_put_with_body,
    streamed_patch_then_put,
    chunked_patches_with_content_range,
    out_of_order_chunk_is_refused,
    upload_status_and_cancel,
    wrong_digest_keeps_nothing,
    mount_from_another_repository,
    blob_ranges_unknown_and_delete,
    oci_manifest_push_and_pull,
    index_and_manifest_list,
    referrers_list_artifacts,
    size_limit_refuses_large_blobs,
    upload_session_survives_a_restart,
);
