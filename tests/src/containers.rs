//! The container (OCI) clients the end-to-end suite drives: skopeo (a Debian package) and the
//! scripts under `tests/python/` run by the test environment's Python (`oras` comes from
//! `tests/python/requirements.txt`): `oci_layout.py` writes images, `oras_flow.py` drives
//! oras-py, `container_diff.py` compares our registry with `docker-registry`.
//!
//! Every client runs with a scratch `HOME`, so no credentials, registries.conf or auth.json
//! of the machine's reach it, and under a time limit, so a hung client fails its test.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::Digest as _;

/// How long one client command may run before its test fails.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(180);

/// Whether `FORGE_TEST_REQUIRE_CONTAINER_CLIENTS=1`: then a missing client fails the test
/// instead of skipping it.
pub fn require_clients() -> bool {
    std::env::var("FORGE_TEST_REQUIRE_CONTAINER_CLIENTS").is_ok_and(|v| v.trim() == "1")
}

/// An executable named `name` on `PATH`.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// skopeo: `FORGE_TEST_SKOPEO` when set, else the one on `PATH`.
pub fn skopeo() -> Option<PathBuf> {
    match std::env::var_os("FORGE_TEST_SKOPEO").filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)).filter(|p| is_executable(p)),
        None => find_on_path("skopeo"),
    }
}

/// The reference registry (`docker-registry`, Distribution 2.8) for the differential check.
pub fn docker_registry() -> Option<PathBuf> {
    find_on_path("docker-registry")
}

/// The test environment's Python when the suite runs under `make test` (which sets
/// `FORGE_TEST_VENV`, see `scripts/test-env.sh`) and it has oras-py; `None` otherwise.
pub fn venv_python() -> Option<PathBuf> {
    let venv = std::env::var("FORGE_TEST_VENV")
        .ok()
        .filter(|v| !v.is_empty())?;
    let python = Path::new(&venv).join("bin/python");
    if !python.exists() {
        return None;
    }
    static HAS_ORAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let has_oras = *HAS_ORAS.get_or_init(|| {
        Command::new(&python)
            .args(["-c", "import oras.provider"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    has_oras.then_some(python)
}

/// The clients a container scenario needs.
#[derive(Debug, Clone)]
pub struct Clients {
    pub skopeo: PathBuf,
    pub python: PathBuf,
}

/// skopeo and the environment's Python, or `None` after printing why the scenario is
/// skipped; with `FORGE_TEST_REQUIRE_CONTAINER_CLIENTS=1` a missing one fails instead.
pub fn clients() -> Option<Clients> {
    let skopeo = skopeo();
    let python = venv_python();
    match (skopeo, python) {
        (Some(skopeo), Some(python)) => Some(Clients { skopeo, python }),
        (skopeo, python) => {
            let mut missing = Vec::new();
            if skopeo.is_none() {
                missing.push("skopeo (apt-get install skopeo)");
            }
            if python.is_none() {
                missing.push("the test environment with oras (run through make test)");
            }
            let why = missing.join(" and ");
            if require_clients() {
                panic!("FORGE_TEST_REQUIRE_CONTAINER_CLIENTS=1 but {why} is missing");
            }
            println!("skipped: container clients missing: {why}");
            None
        }
    }
}

/// A script of `tests/python/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name)
}

/// Runs a command to its end or until `timeout`, when it is killed and the test fails with
/// what it had printed. Standard input is closed, so no client waits for a password.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let described = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {described}: {e}"));
    // Read both pipes while waiting, so a chatty client never blocks on a full pipe.
    let mut out_pipe = child.stdout.take().expect("stdout pipe");
    let mut err_pipe = child.stderr.take().expect("stderr pipe");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out_pipe.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err_pipe.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                let stdout = out_reader.join().unwrap_or_default();
                let stderr = err_reader.join().unwrap_or_default();
                panic!(
                    "{described} did not finish within {timeout:?}\n--- stdout\n{}\n--- stderr\n{}",
                    String::from_utf8_lossy(&stdout),
                    String::from_utf8_lossy(&stderr)
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("waiting for {described}: {e}"),
        }
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Standard output and error of a finished command, for assertions and failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A scratch home for one scenario's clients; removed on drop.
pub struct ClientHome {
    pub dir: tempfile::TempDir,
}

impl ClientHome {
    pub fn new() -> ClientHome {
        ClientHome {
            dir: tempfile::Builder::new()
                .prefix("forge-container-")
                .tempdir()
                .expect("client home"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A command whose environment holds nothing of the machine's registry settings.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.env("HOME", self.path())
            .env("XDG_RUNTIME_DIR", self.path())
            .env("XDG_CONFIG_HOME", self.path().join(".config"))
            .env("DOCKER_CONFIG", self.path().join(".docker"))
            .env_remove("REGISTRY_AUTH_FILE")
            .env_remove("CONTAINERS_REGISTRIES_CONF")
            .env_remove("CONTAINERS_CONF");
        cmd
    }

    /// `skopeo --insecure-policy --command-timeout … <args>`: no signature policy file needed.
    pub fn skopeo(&self, clients: &Clients, args: &[&str]) -> Output {
        let mut cmd = self.command(&clients.skopeo);
        cmd.args(["--insecure-policy", "--command-timeout", "170s"])
            .args(args);
        run_with_timeout(&mut cmd, CLIENT_TIMEOUT)
    }

    /// Runs a script of `tests/python/` with the environment's Python.
    pub fn python(&self, clients: &Clients, script_name: &str, args: &[&str]) -> Output {
        let mut cmd = self.command(&clients.python);
        cmd.arg(script(script_name)).args(args);
        run_with_timeout(&mut cmd, CLIENT_TIMEOUT)
    }
}

impl Default for ClientHome {
    fn default() -> Self {
        ClientHome::new()
    }
}

/// What `oci_layout.py` wrote.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
    pub tag: String,
    /// `oci:DIR:TAG`, the skopeo source.
    pub reference: String,
    /// The top manifest (the image manifest, or the index) and its media type.
    pub digest: String,
    pub media_type: String,
    /// Every platform's manifest digest.
    pub manifests: Vec<String>,
    pub layers: Vec<String>,
    /// Every blob written (layers, configs, manifests, index).
    pub blobs: Vec<String>,
}

/// Options of `oci_layout.py`.
#[derive(Debug, Clone, Default)]
pub struct LayoutOptions {
    pub layers: Option<u32>,
    pub layer_size: Option<u64>,
    /// Two platforms behind an image index.
    pub index: bool,
    /// Distinguishes images built with the same options.
    pub label: Option<String>,
}

/// Writes an OCI layout under `dir` with `oci_layout.py`.
pub fn build_layout(
    home: &ClientHome,
    clients: &Clients,
    dir: &Path,
    tag: &str,
    options: &LayoutOptions,
) -> Layout {
    let dir_arg = dir.to_str().expect("UTF-8 path");
    let mut args = vec![dir_arg.to_owned(), "--tag".to_owned(), tag.to_owned()];
    if let Some(layers) = options.layers {
        args.extend(["--layers".to_owned(), layers.to_string()]);
    }
    if let Some(size) = options.layer_size {
        args.extend(["--layer-size".to_owned(), size.to_string()]);
    }
    if options.index {
        args.push("--index".to_owned());
    }
    if let Some(label) = &options.label {
        args.extend(["--label".to_owned(), label.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = home.python(clients, "oci_layout.py", &args);
    assert!(out.status.success(), "oci_layout.py: {}", text(&out));
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("oci_layout.py JSON: {e}"));
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|d| d.as_str().expect("string").to_owned())
            .collect()
    };
    Layout {
        dir: dir.to_owned(),
        tag: tag.to_owned(),
        reference: summary["ref"].as_str().expect("ref").to_owned(),
        digest: summary["digest"].as_str().expect("digest").to_owned(),
        media_type: summary["media_type"]
            .as_str()
            .expect("media_type")
            .to_owned(),
        manifests: summary["manifests"]
            .as_array()
            .expect("manifests")
            .iter()
            .map(|m| m["digest"].as_str().expect("digest").to_owned())
            .collect(),
        layers: strings(&summary["layer_digests"]),
        blobs: strings(&summary["blobs"]),
    }
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Every blob of an OCI layout directory, digest to size, after checking that each file
/// hashes to its name.
pub fn layout_blobs(dir: &Path) -> BTreeMap<String, u64> {
    let blob_dir = dir.join("blobs/sha256");
    let mut blobs = BTreeMap::new();
    for entry in
        std::fs::read_dir(&blob_dir).unwrap_or_else(|e| panic!("read {}: {e}", blob_dir.display()))
    {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("blob name")
            .to_owned();
        let mut file = std::fs::File::open(&path).expect("open blob");
        let mut hasher = sha2::Sha256::new();
        std::io::copy(&mut file, &mut hasher).expect("hash blob");
        assert_eq!(
            hex::encode(hasher.finalize()),
            name,
            "{} does not hash to its name",
            path.display()
        );
        let size = path.metadata().expect("blob metadata").len();
        blobs.insert(format!("sha256:{name}"), size);
    }
    blobs
}

/// The manifests the layout's `index.json` names (for a copy out of a registry: the image
/// skopeo wrote).
pub fn layout_index_digests(dir: &Path) -> Vec<String> {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).expect("read index.json"))
            .expect("index.json is JSON");
    index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| m["digest"].as_str().expect("digest").to_owned())
        .collect()
}

/// Appends the scenario's name to `FORGE_TEST_CONTAINER_MARKER`, so CI can prove the
/// real-client container tests ran rather than being skipped.
pub fn record_container_client_run(name: &str) {
    crate::append_marker("FORGE_TEST_CONTAINER_MARKER", name);
}
