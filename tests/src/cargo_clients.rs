//! The real `cargo` of the toolchain that runs the suite, unmodified, against the Cargo
//! registry's sparse index.
//!
//! Every cargo command runs with a `CARGO_HOME` of its scenario's own (a `config.toml` naming
//! the registry `forge` and only the `cargo:token` credential provider), the scenario's one
//! target directory, none of the `CARGO*`/`RUSTC*`/`RUSTFLAGS` variables of the `cargo test`
//! that runs the suite, and a time limit. The crates the scenarios publish and build depend on
//! registry crates only, so cargo never asks crates.io for anything; every run checks that it
//! did not.
//!
//! Crates are written from a [`CrateSpec`], and [`check_index_line`] compares an index line
//! with the spec its crate was written from: the index is judged against what the author
//! wrote, not against what the server stored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{json, Value};

use crate::containers::{find_on_path, run_with_timeout, text};

/// How long one cargo command may run before its test fails (a verified publish compiles).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(300);

/// The name the registry has in cargo's configuration (`--registry forge`).
pub const REGISTRY: &str = "forge";

/// Whether `FORGE_TEST_REQUIRE_CARGO_CLIENTS=1`: then a missing cargo fails the test instead
/// of skipping it.
pub fn require_clients() -> bool {
    std::env::var("FORGE_TEST_REQUIRE_CARGO_CLIENTS").is_ok_and(|v| v.trim() == "1")
}

/// Appends the scenario's name to `FORGE_TEST_CARGO_MARKER`, so CI can prove that the
/// real-cargo tests ran rather than being skipped.
pub fn record_cargo_client_run(name: &str) {
    crate::append_marker("FORGE_TEST_CARGO_MARKER", name);
}

/// The toolchain's own cargo, and its rustc when it lies beside it.
#[derive(Debug, Clone)]
pub struct Toolchain {
    pub cargo: PathBuf,
    pub rustc: Option<PathBuf>,
}

/// The cargo that runs this suite (`cargo test` says which in `CARGO`), else the one on
/// `PATH`; `None` after printing why the scenario is skipped, and a failure instead with
/// `FORGE_TEST_REQUIRE_CARGO_CLIENTS=1`.
pub fn toolchain() -> Option<Toolchain> {
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .filter(|p| p.is_file())
        .or_else(|| find_on_path("cargo"));
    let Some(cargo) = cargo else {
        if require_clients() {
            panic!("FORGE_TEST_REQUIRE_CARGO_CLIENTS=1 but no cargo was found (CARGO, PATH)");
        }
        println!("skipped: no cargo (CARGO or PATH)");
        return None;
    };
    let rustc = cargo.with_file_name(format!("rustc{}", std::env::consts::EXE_SUFFIX));
    Some(Toolchain {
        rustc: rustc.is_file().then_some(rustc),
        cargo,
    })
}

/// `sparse+{base}/api/packages/{owner}/cargo/`.
pub fn index_url(base: &str, owner: &str) -> String {
    format!("sparse+{base}/api/packages/{owner}/cargo/")
}

/// The path of a crate's index file below the index URL: `1/{n}`, `2/{n}`, `3/{c}/{n}` or
/// `{ab}/{cd}/{n}`, lowercase.
pub fn index_file(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    match n.len() {
        1 => format!("1/{n}"),
        2 => format!("2/{n}"),
        3 => format!("3/{}/{n}", &n[..1]),
        _ => format!("{}/{}/{n}", &n[..2], &n[2..4]),
    }
}

/// What cargo prints when it goes to crates.io: none of it may appear.
const CRATES_IO: &[&str] = &["crates.io index", "index.crates.io", "static.crates.io"];

/// One scenario's cargo: a scratch directory holding its `CARGO_HOME`s, its projects and the
/// target directory all its builds share.
pub struct Client {
    pub toolchain: Toolchain,
    dir: tempfile::TempDir,
}

impl Client {
    pub fn new(toolchain: Toolchain) -> Client {
        Client {
            toolchain,
            dir: tempfile::Builder::new()
                .prefix("forge-cargo-")
                .tempdir()
                .expect("scratch directory"),
        }
    }

    /// The target directory every build of the scenario shares.
    pub fn target(&self) -> PathBuf {
        self.dir.path().join("target")
    }

    /// A fresh, empty `CARGO_HOME` whose `config.toml` names `index` as the registry `forge`
    /// and lets only `cargo:token` provide credentials.
    pub fn home(&self, name: &str, index: &str) -> PathBuf {
        let home = self.dir.path().join("homes").join(name);
        assert!(!home.exists(), "CARGO_HOME {name} made twice");
        std::fs::create_dir_all(&home).expect("create CARGO_HOME");
        let config = format!(
            "[registries.{REGISTRY}]\nindex = {}\n\n\
             [registry]\nglobal-credential-providers = [\"cargo:token\"]\n\n\
             [net]\nretry = 0\n",
            quote(index)
        );
        std::fs::write(home.join("config.toml"), config).expect("write config.toml");
        home
    }

    /// Writes a project for `spec` into a fresh directory `dir` (below the scratch
    /// directory) and answers its path.
    pub fn write(&self, dir: &str, spec: &CrateSpec) -> PathBuf {
        let path = self.dir.path().join("projects").join(dir);
        assert!(!path.exists(), "project {dir} written twice");
        spec.write(&path);
        path
    }

    /// Where [`Client::keep_package`] keeps the `.crate` of `name` `version`.
    pub fn packaged(&self, name: &str, version: &str) -> PathBuf {
        self.dir
            .path()
            .join("crates")
            .join(format!("{name}-{version}.crate"))
    }

    /// Packages the project in `dir` again (`cargo package`, which writes the same bytes as
    /// long as no file changed: `cargo publish` keeps no `.crate`) and keeps the `.crate`
    /// under [`Client::packaged`].
    pub fn keep_package(
        &self,
        home: &Path,
        dir: &Path,
        token: Option<&str>,
        name: &str,
        version: &str,
    ) {
        self.cargo_ok(
            home,
            dir,
            token,
            &[
                "package",
                "--registry",
                REGISTRY,
                "--allow-dirty",
                "--no-verify",
            ],
        );
        let made = self
            .target()
            .join("package")
            .join(format!("{name}-{version}.crate"));
        let kept = self.packaged(name, version);
        std::fs::create_dir_all(kept.parent().expect("a folder")).expect("create crates folder");
        std::fs::copy(&made, &kept).unwrap_or_else(|e| panic!("keep {}: {e}", made.display()));
    }

    /// Runs `cargo args…` in `cwd` with `home` as `CARGO_HOME` and `token` (as given) in
    /// `CARGO_REGISTRIES_FORGE_TOKEN`; fails the test if cargo went to crates.io.
    pub fn cargo(&self, home: &Path, cwd: &Path, token: Option<&str>, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.toolchain.cargo);
        for (key, _) in std::env::vars_os() {
            let Some(key) = key.to_str() else { continue };
            let scrubbed = key.starts_with("CARGO")
                || key.starts_with("__CARGO")
                || key.starts_with("RUSTC")
                || key.to_ascii_lowercase().ends_with("_proxy")
                || matches!(
                    key,
                    "RUSTFLAGS" | "RUSTDOCFLAGS" | "RUSTDOC" | "MAKEFLAGS" | "MFLAGS"
                );
            if scrubbed {
                cmd.env_remove(key);
            }
        }
        if let Some(rustc) = &self.toolchain.rustc {
            cmd.env("RUSTC", rustc);
        }
        cmd.env("CARGO_HOME", home)
            .env("CARGO_TARGET_DIR", self.target())
            .env("CARGO_NET_OFFLINE", "false")
            .env("CARGO_TERM_COLOR", "never")
            .env("CARGO_TERM_PROGRESS_WHEN", "never")
            .env("CARGO_INCREMENTAL", "0")
            .current_dir(cwd)
            .args(args);
        if let Some(token) = token {
            cmd.env("CARGO_REGISTRIES_FORGE_TOKEN", token);
        }
        let out = run_with_timeout(&mut cmd, CLIENT_TIMEOUT);
        let all = text(&out);
        for mark in CRATES_IO {
            assert!(
                !all.contains(mark),
                "cargo {args:?} went to crates.io ({mark}):\n{all}"
            );
        }
        out
    }

    /// Runs cargo and fails the test unless it succeeded; answers its standard output.
    #[track_caller]
    pub fn cargo_ok(&self, home: &Path, cwd: &Path, token: Option<&str>, args: &[&str]) -> String {
        let out = self.cargo(home, cwd, token, args);
        assert!(out.status.success(), "cargo {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// A TOML (and JSON) basic string.
fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

fn quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quote(i)).collect();
    format!("[{}]", quoted.join(", "))
}

/// The table a dependency is listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Normal,
    Build,
    Dev,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Kind::Normal => "dependencies",
            Kind::Build => "build-dependencies",
            Kind::Dev => "dev-dependencies",
        }
    }

    /// The `kind` of an index line's dependency.
    fn index(self) -> &'static str {
        match self {
            Kind::Normal => "normal",
            Kind::Build => "build",
            Kind::Dev => "dev",
        }
    }
}

/// A dependency on a crate of the registry `forge`, as written in `Cargo.toml`.
#[derive(Debug, Clone)]
pub struct Dep {
    /// The key in `Cargo.toml`: the alias when `package` is set.
    pub key: String,
    /// The crate's real name when the dependency is renamed.
    pub package: Option<String>,
    pub req: String,
    pub features: Vec<String>,
    pub optional: bool,
    pub default_features: bool,
    pub kind: Kind,
    /// `[target.'{target}'.…]`.
    pub target: Option<String>,
}

impl Dep {
    /// A normal dependency `key = { version = req, registry = "forge" }`.
    pub fn new(key: &str, req: &str) -> Dep {
        Dep {
            key: key.to_owned(),
            package: None,
            req: req.to_owned(),
            features: Vec::new(),
            optional: false,
            default_features: true,
            kind: Kind::Normal,
            target: None,
        }
    }

    /// Renamed: `key` is an alias of `package`.
    pub fn package(mut self, package: &str) -> Dep {
        self.package = Some(package.to_owned());
        self
    }

    pub fn features(mut self, features: &[&str]) -> Dep {
        self.features = features.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    pub fn optional(mut self) -> Dep {
        self.optional = true;
        self
    }

    pub fn no_default_features(mut self) -> Dep {
        self.default_features = false;
        self
    }

    pub fn kind(mut self, kind: Kind) -> Dep {
        self.kind = kind;
        self
    }

    pub fn target(mut self, target: &str) -> Dep {
        self.target = Some(target.to_owned());
        self
    }

    /// The inline table of its `Cargo.toml` line.
    fn toml(&self) -> String {
        let mut fields = vec![
            format!("version = {}", quote(&self.req)),
            format!("registry = {}", quote(REGISTRY)),
        ];
        if let Some(package) = &self.package {
            fields.push(format!("package = {}", quote(package)));
        }
        if !self.features.is_empty() {
            fields.push(format!("features = {}", quote_list(&self.features)));
        }
        if self.optional {
            fields.push("optional = true".to_owned());
        }
        if !self.default_features {
            fields.push("default-features = false".to_owned());
        }
        format!("{} = {{ {} }}", quote(&self.key), fields.join(", "))
    }

    /// The index's dependency object for it, from what was written: `req` as cargo
    /// canonicalises a bare version (`1.0` means `^1.0`), the alias in `name` and the crate in
    /// `package`, `registry` null (the dependency is on the same registry).
    fn expected(&self) -> Value {
        let req = if self.req.starts_with(|c: char| c.is_ascii_digit()) {
            format!("^{}", self.req)
        } else {
            self.req.clone()
        };
        let mut features = self.features.clone();
        features.sort();
        json!({
            "name": self.key,
            "req": req,
            "features": features,
            "optional": self.optional,
            "default_features": self.default_features,
            "target": self.target,
            "kind": self.kind.index(),
            "registry": null,
            "package": self.package,
        })
    }
}

/// A crate as its author writes it: the manifest's fields and the sources.
#[derive(Debug, Clone)]
pub struct CrateSpec {
    pub name: String,
    pub version: String,
    pub edition: String,
    pub description: String,
    pub rust_version: Option<String>,
    pub links: Option<String>,
    /// `[lib] name`, when the library's name is not the package's.
    pub lib_name: Option<String>,
    pub features: BTreeMap<String, Vec<String>>,
    pub deps: Vec<Dep>,
    pub build_rs: Option<String>,
    pub lib_rs: Option<String>,
    pub main_rs: Option<String>,
    /// `publish = ["forge"]`; `false` otherwise.
    pub publish: bool,
}

impl CrateSpec {
    /// A publishable library crate (edition 2021) with `lib_rs` as its `src/lib.rs`.
    pub fn lib(name: &str, version: &str, lib_rs: &str) -> CrateSpec {
        CrateSpec {
            name: name.to_owned(),
            version: version.to_owned(),
            edition: "2021".to_owned(),
            description: format!("{name}, a crate of the cargo client tests"),
            rust_version: None,
            links: None,
            lib_name: None,
            features: BTreeMap::new(),
            deps: Vec::new(),
            build_rs: None,
            lib_rs: Some(lib_rs.to_owned()),
            main_rs: None,
            publish: true,
        }
    }

    /// An unpublished binary crate (edition 2024, so resolver 3 picks versions by
    /// `rust-version`) with `main_rs` as its `src/main.rs`.
    pub fn bin(name: &str, main_rs: &str) -> CrateSpec {
        CrateSpec {
            edition: "2024".to_owned(),
            lib_rs: None,
            main_rs: Some(main_rs.to_owned()),
            publish: false,
            ..CrateSpec::lib(name, "0.1.0", "")
        }
    }

    pub fn version(mut self, version: &str) -> CrateSpec {
        self.version = version.to_owned();
        self
    }

    pub fn rust_version(mut self, rust_version: &str) -> CrateSpec {
        self.rust_version = Some(rust_version.to_owned());
        self
    }

    pub fn links(mut self, links: &str) -> CrateSpec {
        self.links = Some(links.to_owned());
        self
    }

    pub fn lib_name(mut self, lib_name: &str) -> CrateSpec {
        self.lib_name = Some(lib_name.to_owned());
        self
    }

    pub fn feature(mut self, name: &str, enables: &[&str]) -> CrateSpec {
        self.features.insert(
            name.to_owned(),
            enables.iter().map(|f| (*f).to_owned()).collect(),
        );
        self
    }

    pub fn dep(mut self, dep: Dep) -> CrateSpec {
        self.deps.push(dep);
        self
    }

    pub fn build_rs(mut self, build_rs: &str) -> CrateSpec {
        self.build_rs = Some(build_rs.to_owned());
        self
    }

    /// Its `Cargo.toml`.
    pub fn manifest(&self) -> String {
        let mut m = String::from("[package]\n");
        m += &format!("name = {}\n", quote(&self.name));
        m += &format!("version = {}\n", quote(&self.version));
        m += &format!("edition = {}\n", quote(&self.edition));
        m += &format!("description = {}\n", quote(&self.description));
        m += "license = \"MIT\"\n";
        if self.publish {
            m += &format!("publish = [{}]\n", quote(REGISTRY));
        } else {
            m += "publish = false\n";
        }
        if let Some(v) = &self.rust_version {
            m += &format!("rust-version = {}\n", quote(v));
        }
        if let Some(links) = &self.links {
            m += &format!("links = {}\n", quote(links));
        }
        if self.build_rs.is_some() {
            m += "build = \"build.rs\"\n";
        }
        if let Some(lib) = &self.lib_name {
            m += &format!("\n[lib]\nname = {}\n", quote(lib));
        }
        if !self.features.is_empty() {
            m += "\n[features]\n";
            for (name, enables) in &self.features {
                m += &format!("{} = {}\n", quote(name), quote_list(enables));
            }
        }
        // One table per (target, kind), in a stable order.
        let mut tables: BTreeMap<(Option<&str>, Kind), Vec<String>> = BTreeMap::new();
        for dep in &self.deps {
            tables
                .entry((dep.target.as_deref(), dep.kind))
                .or_default()
                .push(dep.toml());
        }
        for ((target, kind), lines) in tables {
            match target {
                Some(t) => m += &format!("\n[target.{}.{}]\n", quote(t), kind.table()),
                None => m += &format!("\n[{}]\n", kind.table()),
            }
            for line in lines {
                m += &line;
                m.push('\n');
            }
        }
        m
    }

    /// Writes the project (manifest and sources) into `dir`.
    pub fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir.join("src")).expect("create project");
        std::fs::write(dir.join("Cargo.toml"), self.manifest()).expect("write Cargo.toml");
        if let Some(build) = &self.build_rs {
            std::fs::write(dir.join("build.rs"), build).expect("write build.rs");
        }
        if let Some(lib) = &self.lib_rs {
            std::fs::write(dir.join("src/lib.rs"), lib).expect("write lib.rs");
        }
        if let Some(main) = &self.main_rs {
            std::fs::write(dir.join("src/main.rs"), main).expect("write main.rs");
        }
    }
}

/// The dependencies of an index line in a comparable form: every field present (`package`,
/// `registry` and `target` null when absent), features sorted, the list sorted.
fn normalized_deps(deps: &Value) -> Vec<Value> {
    let Some(deps) = deps.as_array() else {
        panic!("deps is not an array: {deps}");
    };
    let mut out: Vec<Value> = deps
        .iter()
        .map(|d| {
            let mut features: Vec<String> = d["features"]
                .as_array()
                .unwrap_or_else(|| panic!("dependency without a features list: {d}"))
                .iter()
                .map(|f| f.as_str().expect("feature names are strings").to_owned())
                .collect();
            features.sort();
            json!({
                "name": d["name"],
                "req": d["req"],
                "features": features,
                "optional": d["optional"],
                "default_features": d["default_features"],
                "target": d.get("target").cloned().unwrap_or(Value::Null),
                "kind": d["kind"],
                "registry": d.get("registry").cloned().unwrap_or(Value::Null),
                "package": d.get("package").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    out.sort_by_key(|d| d.to_string());
    out
}

/// A features map with every list sorted.
fn sorted_features(map: &Value) -> BTreeMap<String, Vec<String>> {
    let Some(map) = map.as_object() else {
        panic!("features is not an object: {map}");
    };
    map.iter()
        .map(|(k, v)| {
            let mut values: Vec<String> = v
                .as_array()
                .unwrap_or_else(|| panic!("feature {k} is not a list: {v}"))
                .iter()
                .map(|f| f.as_str().expect("feature values are strings").to_owned())
                .collect();
            values.sort();
            (k.clone(), values)
        })
        .collect()
}

/// Checks one index line against the spec its crate was written from, the SHA-256 of the
/// `.crate` cargo packaged, and whether it should be yanked. Panics with every difference.
#[track_caller]
pub fn check_index_line(line: &Value, spec: &CrateSpec, cksum: &str, yanked: bool) {
    let mut wrong = Vec::new();
    let mut expect = |what: &str, got: &Value, want: Value| {
        if *got != want {
            wrong.push(format!("{what}: index has {got}, Cargo.toml says {want}"));
        }
    };
    expect("name", &line["name"], json!(spec.name));
    expect("vers", &line["vers"], json!(spec.version));
    expect("cksum", &line["cksum"], json!(cksum));
    expect("yanked", &line["yanked"], json!(yanked));
    expect(
        "links",
        line.get("links").unwrap_or(&Value::Null),
        json!(spec.links),
    );
    expect(
        "rust_version",
        line.get("rust_version").unwrap_or(&Value::Null),
        json!(spec.rust_version),
    );

    let mut want_deps: Vec<Value> = spec.deps.iter().map(Dep::expected).collect();
    want_deps.sort_by_key(|d| d.to_string());
    let got_deps = normalized_deps(&line["deps"]);
    if got_deps != want_deps {
        wrong.push(format!(
            "deps: index has\n  {}\nCargo.toml says\n  {}",
            serde_json::to_string(&got_deps).unwrap_or_default(),
            serde_json::to_string(&want_deps).unwrap_or_default()
        ));
    }

    // `features` and, for `dep:` and `?/` features, `features2` (with "v": 2) together are
    // the manifest's features.
    let mut features = sorted_features(&line["features"]);
    if let Some(features2) = line.get("features2").filter(|f| !f.is_null()) {
        if line.get("v") != Some(&json!(2)) {
            wrong.push(format!(
                "features2 without \"v\": 2 (v is {:?})",
                line.get("v")
            ));
        }
        for (k, v) in sorted_features(features2) {
            if features.insert(k.clone(), v).is_some() {
                wrong.push(format!("feature {k} is in both features and features2"));
            }
        }
    }
    let want_features: BTreeMap<String, Vec<String>> = spec
        .features
        .iter()
        .map(|(k, v)| {
            let mut v = v.clone();
            v.sort();
            (k.clone(), v)
        })
        .collect();
    if features != want_features {
        wrong.push(format!(
            "features: index has {features:?}, Cargo.toml says {want_features:?}"
        ));
    }
    assert!(
        wrong.is_empty(),
        "index line of {} {} differs from its Cargo.toml:\n{}\nline: {line}\nCargo.toml:\n{}",
        spec.name,
        spec.version,
        wrong.join("\n"),
        spec.manifest()
    );
}

/// The lines of a crate's index file, fetched over HTTP from the server at `base`; fails the
/// test unless it answers 200 with one JSON object per line.
pub fn index_lines(base: &str, owner: &str, name: &str, auth: &crate::Auth) -> Vec<Value> {
    let url = format!("{base}/api/packages/{owner}/cargo/{}", index_file(name));
    let resp = crate::send(&crate::agent(), "GET", &url, auth, &[], None);
    assert_eq!(resp.status, 200, "GET {url}: {}", resp.describe());
    resp.text()
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("index line of {name} ({e}): {l}"))
        })
        .collect()
}

/// Checks a crate's index file against the specs of every version published: one line per
/// spec, each as [`check_index_line`] wants it, `yanked` naming the yanked versions. The
/// checksum is that of the `.crate` [`Client::keep_package`] kept.
#[track_caller]
pub fn check_index_file(
    client: &Client,
    base: &str,
    owner: &str,
    specs: &[&CrateSpec],
    yanked: &[&str],
    auth: &crate::Auth,
) {
    let name = &specs[0].name;
    let lines = index_lines(base, owner, name, auth);
    let versions: Vec<&str> = lines.iter().filter_map(|l| l["vers"].as_str()).collect();
    let mut want: Vec<&str> = specs.iter().map(|s| s.version.as_str()).collect();
    let mut got = versions.clone();
    want.sort_unstable();
    got.sort_unstable();
    assert_eq!(got, want, "versions in the index file of {name}");
    for spec in specs {
        let line = lines
            .iter()
            .find(|l| l["vers"] == spec.version.as_str())
            .expect("checked above");
        let packaged = client.packaged(&spec.name, &spec.version);
        let bytes =
            std::fs::read(&packaged).unwrap_or_else(|e| panic!("read {}: {e}", packaged.display()));
        check_index_line(
            line,
            spec,
            &crate::sha256_hex(&bytes),
            yanked.contains(&spec.version.as_str()),
        );
    }
}
