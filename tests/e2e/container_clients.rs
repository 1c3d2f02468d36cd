//! Container images with the real clients, unmodified: skopeo pushes OCI layouts written by
//! `tests/python/oci_layout.py` (as OCI, converted to Docker schema 2, and a two-platform
//! index), inspects and lists them, copies between images of the registry (blob mounts) and
//! back out to `oci:` directories, and deletes; a private owner's images need credentials;
//! oras-py pushes in chunks and reads the referrers API (`tests/python/oras_flow.py`); and
//! `tests/python/container_diff.py` compares the whole skopeo sequence with Distribution's
//! reference server (`docker-registry`).
//!
//! Every scenario skips itself (printing why) without skopeo or the test environment's oras,
//! unless `FORGE_TEST_REQUIRE_CONTAINER_CLIENTS=1`, and records itself in
//! `FORGE_TEST_CONTAINER_MARKER` once it passed, so CI can tell that they ran.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use forge_e2e::containers::{
    build_layout, clients, docker_registry, layout_blobs, layout_index_digests,
    record_container_client_run, require_clients, sha256_digest, text, ClientHome, Clients, Layout,
    LayoutOptions,
};
use forge_e2e::{Backend, TestServer, PASSWORD};
use packages_core::Visibility;

use crate::common::{with_user2, OWNER};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// user2's credentials as skopeo takes them.
fn creds() -> String {
    format!("{OWNER}:{PASSWORD}")
}

/// What a scenario works with: the clients, their scratch home and the server, where user2
/// exists. `None` when the clients are missing (the scenario is skipped).
struct Setup {
    clients: Clients,
    home: ClientHome,
    s: TestServer,
}

fn setup(backend: Backend) -> Option<Setup> {
    let clients = clients()?;
    let s = TestServer::start(backend);
    with_user2(&s);
    Some(Setup {
        clients,
        home: ClientHome::new(),
        s,
    })
}

/// How a client command authenticates.
#[derive(Clone, Copy)]
enum Creds<'a> {
    /// `USER:PASSWORD`.
    User(&'a str),
    /// Explicitly anonymous (`--no-creds`).
    Anonymous,
}

impl Creds<'_> {
    /// The skopeo options: `user_flag USER:PASSWORD`, or `anonymous_flag`.
    fn args(self, user_flag: &str, anonymous_flag: &str) -> Vec<String> {
        match self {
            Creds::User(c) => vec![user_flag.to_owned(), c.to_owned()],
            Creds::Anonymous => vec![anonymous_flag.to_owned()],
        }
    }
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

impl Setup {
    /// `docker://127.0.0.1:PORT/{name}`.
    fn docker(&self, name: &str) -> String {
        format!("docker://{}/{name}", self.s.addr)
    }

    fn skopeo(&self, args: &[&str]) -> Output {
        self.home.skopeo(&self.clients, args)
    }

    /// A fresh directory in the scratch home.
    fn dir(&self, name: &str) -> std::path::PathBuf {
        self.home.path().join(name)
    }

    fn layout(&self, name: &str, options: &LayoutOptions) -> Layout {
        build_layout(&self.home, &self.clients, &self.dir(name), name, options)
    }

    /// `skopeo copy SRC docker://…/DEST` (plus `extra`); answers the output and, when it
    /// succeeded, the digest skopeo reports for the pushed manifest.
    fn push(&self, src: &str, dest: &str, creds: Creds, extra: &[&str]) -> (Output, String) {
        let digestfile = self.dir(&format!("digest-{}", dest.replace(['/', ':', '@'], "_")));
        let mut args: Vec<String> = ["copy", "--dest-tls-verify=false", "--digestfile"]
            .map(String::from)
            .into();
        args.push(digestfile.to_str().expect("UTF-8 path").to_owned());
        args.extend(creds.args("--dest-creds", "--dest-no-creds"));
        args.extend(extra.iter().map(|a| a.to_string()));
        args.extend([src.to_owned(), self.docker(dest)]);
        let out = self.skopeo(&strs(&args));
        let digest = std::fs::read_to_string(&digestfile)
            .map(|d| d.trim().to_owned())
            .unwrap_or_default();
        (out, digest)
    }

    /// Pushes and asserts success; answers the pushed manifest's digest.
    #[track_caller]
    fn push_ok(&self, src: &str, dest: &str, extra: &[&str]) -> String {
        let (out, digest) = self.push(src, dest, Creds::User(&creds()), extra);
        assert!(
            out.status.success(),
            "skopeo copy {src} to {dest}: {}",
            text(&out)
        );
        assert!(
            digest.starts_with("sha256:"),
            "no digest for {dest}: {}",
            text(&out)
        );
        digest
    }

    /// `skopeo inspect --raw docker://…/REFERENCE`.
    fn inspect_raw(&self, reference: &str, creds: Creds) -> Output {
        let mut args: Vec<String> = ["inspect", "--raw", "--tls-verify=false"]
            .map(String::from)
            .into();
        args.extend(creds.args("--creds", "--no-creds"));
        args.push(self.docker(reference));
        self.skopeo(&strs(&args))
    }

    /// The digest of the raw manifest `skopeo inspect --raw` printed, and its media type.
    #[track_caller]
    fn inspect_digest(&self, reference: &str, creds: Creds) -> (String, String) {
        let out = self.inspect_raw(reference, creds);
        assert!(
            out.status.success(),
            "skopeo inspect --raw {reference}: {}",
            text(&out)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("manifest of {reference} is not JSON ({e}): {}", text(&out))
        });
        (
            sha256_digest(&out.stdout),
            doc["mediaType"].as_str().unwrap_or_default().to_owned(),
        )
    }

    /// `skopeo list-tags` of an image.
    #[track_caller]
    fn list_tags(&self, name: &str, creds: Creds) -> Vec<String> {
        let out = self.list_tags_output(name, creds);
        assert!(
            out.status.success(),
            "skopeo list-tags {name}: {}",
            text(&out)
        );
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("list-tags prints JSON");
        doc["Tags"]
            .as_array()
            .map(|tags| {
                tags.iter()
                    .map(|t| t.as_str().expect("tag").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn list_tags_output(&self, name: &str, creds: Creds) -> Output {
        let mut args: Vec<String> = ["list-tags", "--tls-verify=false"].map(String::from).into();
        args.extend(creds.args("--creds", "--no-creds"));
        args.push(self.docker(name));
        self.skopeo(&strs(&args))
    }

    /// `skopeo copy docker://…/REFERENCE oci:DIR:out` (plus `extra`), as user2.
    fn pull_to_oci(&self, reference: &str, dir: &Path, extra: &[&str]) -> Output {
        let src = self.docker(reference);
        let dest = format!("oci:{}:out", dir.display());
        let creds = creds();
        let mut args = vec!["copy", "--src-tls-verify=false", "--src-creds", &creds];
        args.extend(extra);
        args.extend([src.as_str(), dest.as_str()]);
        self.skopeo(&args)
    }

    /// Copies REFERENCE back out and checks that every blob arrived intact; answers the blob
    /// digests and the manifest the copy names.
    #[track_caller]
    fn pull_blobs(
        &self,
        reference: &str,
        dir_name: &str,
        extra: &[&str],
    ) -> (BTreeSet<String>, Vec<String>) {
        let dir = self.dir(dir_name);
        let out = self.pull_to_oci(reference, &dir, extra);
        assert!(
            out.status.success(),
            "skopeo copy {reference} to oci: {}",
            text(&out)
        );
        (
            layout_blobs(&dir).into_keys().collect(),
            layout_index_digests(&dir),
        )
    }
}

fn set(items: &[String]) -> BTreeSet<String> {
    items.iter().cloned().collect()
}

/// The bytes of a blob of a layout.
fn layout_blob(layout: &Layout, digest: &str) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
    std::fs::read(layout.dir.join("blobs/sha256").join(hex)).expect("read layout blob")
}

/// An OCI image pushed as it is and converted to Docker schema 2, inspected with and without
/// credentials, listed, and copied back out blob by blob.
fn skopeo_push_inspect_and_pull(backend: Backend) {
    let Some(t) = setup(backend) else { return };
    let layout = t.layout("single", &LayoutOptions::default());
    assert_eq!(layout.media_type, OCI_MANIFEST);
    let user = creds();

    // As it is: the registry keeps the exact bytes, so the digest is the layout's.
    let pushed = t.push_ok(&layout.reference, "user2/app:v1", &[]);
    assert_eq!(
        pushed, layout.digest,
        "skopeo pushed another manifest than the layout's"
    );
    let out = t.inspect_raw("user2/app:v1", Creds::User(&user));
    assert!(out.status.success(), "inspect: {}", text(&out));
    assert_eq!(
        out.stdout,
        layout_blob(&layout, &layout.digest),
        "GET manifest must answer the bytes pushed"
    );
    // A public owner's image: anonymous pulls go through the anonymous token.
    let (anonymous, media_type) = t.inspect_digest("user2/app:v1", Creds::Anonymous);
    assert_eq!(
        (anonymous.as_str(), media_type.as_str()),
        (layout.digest.as_str(), OCI_MANIFEST)
    );
    // By digest as well.
    let (by_digest, _) =
        t.inspect_digest(&format!("user2/app@{}", layout.digest), Creds::User(&user));
    assert_eq!(by_digest, layout.digest);

    // Converted by skopeo to Docker schema 2: another manifest over the same blobs.
    let v2s2 = t.push_ok(&layout.reference, "user2/app:v2s2", &["--format", "v2s2"]);
    assert_ne!(v2s2, layout.digest);
    let (digest, media_type) = t.inspect_digest("user2/app:v2s2", Creds::User(&user));
    assert_eq!(
        (digest.as_str(), media_type.as_str()),
        (v2s2.as_str(), DOCKER_MANIFEST)
    );

    assert_eq!(t.list_tags("user2/app", Creds::User(&user)), ["v1", "v2s2"]);

    // Back out: exactly the layout's blobs, and the same manifest.
    let (blobs, named) = t.pull_blobs("user2/app:v1", "out-v1", &[]);
    assert_eq!(blobs, set(&layout.blobs));
    assert_eq!(named, std::slice::from_ref(&layout.digest));
    // skopeo turns the schema 2 image into OCI again for an oci: directory: the layers are
    // the layout's; the config and the manifest are converted, so they are new.
    let (blobs, _) = t.pull_blobs("user2/app:v2s2", "out-v2s2", &[]);
    let expected = set(&layout.layers);
    assert!(
        expected.is_subset(&blobs),
        "the schema 2 copy lacks layers: {:?}",
        expected.difference(&blobs).collect::<Vec<_>>()
    );
    record_container_client_run(&format!("skopeo_push_inspect_and_pull {backend:?}"));
}

/// A two-platform image index pushed with `--multi-arch all`, each platform's manifest
/// reachable by digest, and the whole index copied back out.
fn skopeo_multi_arch_index(backend: Backend) {
    let Some(t) = setup(backend) else { return };
    let layout = t.layout(
        "index",
        &LayoutOptions {
            index: true,
            ..LayoutOptions::default()
        },
    );
    assert_eq!(layout.media_type, OCI_INDEX);
    assert_eq!(layout.manifests.len(), 2);
    let user = creds();

    let pushed = t.push_ok(
        &layout.reference,
        "user2/multi/arch:m",
        &["--multi-arch", "all"],
    );
    assert_eq!(pushed, layout.digest);
    let (digest, media_type) = t.inspect_digest("user2/multi/arch:m", Creds::User(&user));
    assert_eq!(
        (digest.as_str(), media_type.as_str()),
        (layout.digest.as_str(), OCI_INDEX)
    );
    for manifest in &layout.manifests {
        let (digest, media_type) =
            t.inspect_digest(&format!("user2/multi/arch@{manifest}"), Creds::User(&user));
        assert_eq!(
            (digest.as_str(), media_type.as_str()),
            (manifest.as_str(), OCI_MANIFEST)
        );
    }
    assert_eq!(t.list_tags("user2/multi/arch", Creds::User(&user)), ["m"]);

    let (blobs, named) = t.pull_blobs("user2/multi/arch:m", "out-index", &["--multi-arch", "all"]);
    assert_eq!(blobs, set(&layout.blobs));
    assert_eq!(named, std::slice::from_ref(&layout.digest));
    record_container_client_run(&format!("skopeo_multi_arch_index {backend:?}"));
}

/// Registry-to-registry copies into other images of the owner (skopeo mounts the blobs
/// instead of uploading them), then `skopeo delete` of one copy leaves the others whole.
fn skopeo_copy_between_images_and_delete(backend: Backend) {
    let Some(t) = setup(backend) else { return };
    let layout = t.layout("single", &LayoutOptions::default());
    let user = creds();
    t.push_ok(&layout.reference, "user2/app:v1", &[]);

    for dest in ["user2/other:copied", "user2/nested/deep/image:x"] {
        let out = t.skopeo(&[
            "copy",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
            "--src-creds",
            &user,
            "--dest-creds",
            &user,
            &t.docker("user2/app:v1"),
            &t.docker(dest),
        ]);
        assert!(
            out.status.success(),
            "skopeo copy to {dest}: {}",
            text(&out)
        );
        let (digest, _) = t.inspect_digest(dest, Creds::User(&user));
        assert_eq!(digest, layout.digest, "{dest}");
    }
    let (blobs, _) = t.pull_blobs("user2/other:copied", "out-copied", &[]);
    assert_eq!(blobs, set(&layout.blobs));

    let out = t.skopeo(&[
        "delete",
        "--tls-verify=false",
        "--creds",
        &user,
        &t.docker("user2/other:copied"),
    ]);
    assert!(out.status.success(), "skopeo delete: {}", text(&out));
    let out = t.inspect_raw("user2/other:copied", Creds::User(&user));
    assert!(
        !out.status.success(),
        "inspect after delete should fail: {}",
        text(&out)
    );

    // The source and the other copy still have their manifest and every blob.
    for (reference, dir) in [
        ("user2/app:v1", "out-after-1"),
        ("user2/nested/deep/image:x", "out-after-2"),
    ] {
        let (blobs, named) = t.pull_blobs(reference, dir, &[]);
        assert_eq!(blobs, set(&layout.blobs), "{reference}");
        assert_eq!(named, std::slice::from_ref(&layout.digest), "{reference}");
    }
    record_container_client_run(&format!(
        "skopeo_copy_between_images_and_delete {backend:?}"
    ));
}

/// A private owner's image: its owner pushes and reads it; anonymous callers, wrong
/// passwords and other users can neither read nor list it, and anonymous pushes fail.
fn private_owner_needs_credentials(backend: Backend) {
    let Some(t) = setup(backend) else { return };
    t.s.create_user_with_visibility("privowner", PASSWORD, Visibility::Private);
    let owner = format!("privowner:{PASSWORD}");
    let layout = t.layout("single", &LayoutOptions::default());

    let (out, _) = t.push(
        &layout.reference,
        "privowner/secret:v1",
        Creds::Anonymous,
        &[],
    );
    assert!(
        !out.status.success(),
        "anonymous push should fail: {}",
        text(&out)
    );

    let (out, pushed) = t.push(
        &layout.reference,
        "privowner/secret:v1",
        Creds::User(&owner),
        &[],
    );
    assert!(out.status.success(), "owner's push: {}", text(&out));
    assert_eq!(pushed, layout.digest);
    let (digest, _) = t.inspect_digest("privowner/secret:v1", Creds::User(&owner));
    assert_eq!(digest, layout.digest);
    assert_eq!(t.list_tags("privowner/secret", Creds::User(&owner)), ["v1"]);

    let wrong = "privowner:wrong-password".to_owned();
    let user2 = creds();
    for (who, creds) in [
        ("anonymous", Creds::Anonymous),
        ("a wrong password", Creds::User(&wrong)),
        ("another user", Creds::User(&user2)),
    ] {
        let out = t.inspect_raw("privowner/secret:v1", creds);
        assert!(
            !out.status.success(),
            "inspect as {who} should fail: {}",
            text(&out)
        );
        let out = t.list_tags_output("privowner/secret", creds);
        assert!(
            !out.status.success(),
            "list-tags as {who} should fail: {}",
            text(&out)
        );
    }
    let dir = t.dir("out-anonymous");
    let out = t.skopeo(&[
        "copy",
        "--src-tls-verify=false",
        "--src-no-creds",
        &t.docker("privowner/secret:v1"),
        &format!("oci:{}:out", dir.display()),
    ]);
    assert!(
        !out.status.success(),
        "anonymous copy out should fail: {}",
        text(&out)
    );
    record_container_client_run(&format!("private_owner_needs_credentials {backend:?}"));
}

/// oras-py: a blob pushed in several `PATCH` chunks and pulled back, then two artifacts that
/// refer to an image skopeo pushed, found through the referrers API (with and without an
/// artifact type filter). `oras_flow.py` checks every answer itself.
fn oras_chunked_push_and_referrers(backend: Backend) {
    let Some(t) = setup(backend) else { return };
    let layout = t.layout("single", &LayoutOptions::default());
    t.push_ok(&layout.reference, "user2/oras:image", &[]);

    let registry = t.s.addr.to_string();
    let out = t.home.python(
        &t.clients,
        "oras_flow.py",
        &[
            "--registry",
            &registry,
            "--repo",
            "user2/oras",
            "--user",
            OWNER,
            "--password",
            PASSWORD,
            "--subject",
            "image",
            "--chunk-size",
            "65536",
            "--size",
            "163840",
        ],
    );
    assert!(out.status.success(), "oras_flow.py: {}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("oras_flow JSON ({e}): {}", text(&out)));
    assert_eq!(report["chunked"]["patches"], 3, "{report}");
    assert_eq!(
        report["referrers"]["subject"]["digest"],
        layout.digest.as_str()
    );
    assert_eq!(
        report["referrers"]["referrers_supported"].as_bool(),
        Some(true),
        "{report}"
    );

    // The referrer pushed by digest has no tag; the others are listed.
    assert_eq!(
        t.list_tags("user2/oras", Creds::User(&creds())),
        ["chunked", "chunked-sig", "image"]
    );
    record_container_client_run(&format!("oras_chunked_push_and_referrers {backend:?}"));
}

/// The whole skopeo sequence against our server and Distribution's reference server side by
/// side (`container_diff.py`): same digests, tags, blobs and outcomes.
fn differential_against_docker_registry(backend: Backend) {
    let Some(t) = setup(backend) else { return };
    let Some(reference) = docker_registry() else {
        if require_clients() {
            panic!("FORGE_TEST_REQUIRE_CONTAINER_CLIENTS=1 but docker-registry is missing");
        }
        println!("skipped: docker-registry (the reference registry) is not installed");
        return;
    };
    let skopeo = t.clients.skopeo.to_str().expect("UTF-8 path").to_owned();
    let reference = reference.to_str().expect("UTF-8 path").to_owned();
    let out = t.home.python(
        &t.clients,
        "container_diff.py",
        &[
            "--ours",
            &t.s.base,
            "--creds",
            &creds(),
            "--skopeo",
            &skopeo,
            "--docker-registry",
            &reference,
        ],
    );
    assert!(out.status.success(), "container_diff.py: {}", text(&out));
    record_container_client_run(&format!("differential_against_docker_registry {backend:?}"));
}

forge_e2e::backends!(
    skopeo_push_inspect_and_pull,
    skopeo_multi_arch_index,
    skopeo_copy_between_images_and_delete,
    private_owner_needs_credentials,
    oras_chunked_push_and_referrers,
    differential_against_docker_registry,
);
