//! The Cargo registry with the toolchain's own `cargo`, unmodified: verified and unverified
//! publishes (a build script with `links`, `rust-version`, features; a normal, a renamed, an
//! optional `dep:`, a build, a dev and a target-specific dependency on registry crates; names
//! of one to four and more characters, one in mixed case), a binary that builds and runs
//! against them, every index line checked against the `Cargo.toml` its crate was made from,
//! `cargo search`, `cargo owner --list`, a second publish of a version refused, `cargo yank`
//! and `--undo` against new and existing lockfiles, `rust-version` steering the resolver, a
//! private owner with and without its token (raw and `Bearer`), and on PostgreSQL a publish
//! through one instance seen by a build through another.
//!
//! cargo only ever sees the registry `forge` (`tests/src/cargo_clients.rs` checks that it
//! never goes to crates.io). Every scenario skips itself (printing why) without cargo unless
//! `FORGE_TEST_REQUIRE_CARGO_CLIENTS=1`, and records itself in `FORGE_TEST_CARGO_MARKER` once
//! it passed, so CI can tell that they ran.

use std::path::Path;

use forge_e2e::cargo_clients::{
    check_index_file, index_url, record_cargo_client_run, toolchain, Client, CrateSpec, Dep, Kind,
    REGISTRY,
};
use forge_e2e::cluster::Cluster;
use forge_e2e::containers::text;
use forge_e2e::{Auth, Backend, TestServer, ANON, PASSWORD};
use packages_core::Visibility;

const OWNER: &str = "crateowner";

const BASE_BUILD_RS: &str = r#"fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=FORGE_BASE_BUILT=built by build.rs");
    // With `links`, the dependents' build scripts read this as DEP_FORGEBASE_GREETING.
    println!("cargo:greeting=hello from forge-base");
}
"#;

const BASE_LIB: &str = r#"//! The base crate: its build script ran, and `extra` says how it was built.
pub fn describe() -> String {
    format!("forge-base {} ({})", env!("CARGO_PKG_VERSION"), env!("FORGE_BASE_BUILT"))
}

#[cfg(feature = "extra")]
pub fn extra() -> &'static str {
    "extra on"
}

#[cfg(not(feature = "extra"))]
pub fn extra() -> &'static str {
    "extra off"
}
"#;

/// `forge-base`: a build script with `links`, `rust-version`, default and other features.
fn base(version: &str) -> CrateSpec {
    CrateSpec::lib("forge-base", version, BASE_LIB)
        .rust_version("1.60")
        .links("forgebase")
        .build_rs(BASE_BUILD_RS)
        .feature("default", &["std"])
        .feature("std", &[])
        .feature("extra", &[])
}

/// Crates with names of one, two and three characters (index paths `1/`, `2/`, `3/c/`).
fn q() -> CrateSpec {
    CrateSpec::lib("q", "0.1.0", "pub fn value() -> u32 {\n    7\n}\n")
}

fn xy() -> CrateSpec {
    CrateSpec::lib(
        "xy",
        "0.2.0",
        "pub fn tag() -> &'static str {\n    \"xy\"\n}\n",
    )
}

fn abc() -> CrateSpec {
    CrateSpec::lib(
        "abc",
        "0.3.0",
        "pub fn real() -> &'static str {\n    \"abc real\"\n}\n",
    )
}

const MID_BUILD_RS: &str = r#"fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let greeting = std::env::var("DEP_FORGEBASE_GREETING").expect("forge-base's links metadata");
    println!("cargo:rustc-env=MID_GREETING={greeting}, q {}", q::value());
}
"#;

const MID_LIB: &str = r#"//! Uses a normal, a renamed, an optional, a build and a target-specific dependency.
pub fn describe() -> String {
    let mut s = format!(
        "Forge-Mid {} [{}] {} {} q {}",
        env!("CARGO_PKG_VERSION"),
        env!("MID_GREETING"),
        forge_base::extra(),
        real_alias::real(),
        unix_q()
    );
    if let Some(tag) = fancy() {
        s.push_str(" fancy ");
        s.push_str(tag);
    }
    s
}

#[cfg(unix)]
fn unix_q() -> u32 {
    q::value()
}

#[cfg(not(unix))]
fn unix_q() -> u32 {
    0
}

#[cfg(feature = "fancy")]
fn fancy() -> Option<&'static str> {
    Some(xy::tag())
}

#[cfg(not(feature = "fancy"))]
fn fancy() -> Option<&'static str> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn dev_dependency() {
        assert_eq!(xy::tag(), "xy");
    }
}
"#;

/// `Forge-Mid` (mixed case, library `forge_mid`) as published under `name`: every kind of
/// dependency on the crates above.
fn mid(name: &str) -> CrateSpec {
    CrateSpec::lib(name, "0.5.0", MID_LIB)
        .lib_name("forge_mid")
        .rust_version("1.70")
        .build_rs(MID_BUILD_RS)
        .feature("default", &[])
        .feature("fancy", &["dep:xy"])
        .feature("base-std", &["forge-base/std"])
        .dep(
            Dep::new("forge-base", "1.0")
                .no_default_features()
                .features(&["extra"]),
        )
        .dep(Dep::new("real_alias", "0.3").package("abc"))
        .dep(Dep::new("xy", "0.2").optional())
        .dep(Dep::new("q", "0.1").kind(Kind::Build))
        .dep(Dep::new("q", "=0.1.0").target("cfg(unix)"))
        .dep(Dep::new("xy", "0.2.0").kind(Kind::Dev))
}

const APP_MAIN: &str = r#"fn main() {
    println!("{}", forge_base::describe());
    println!("{}", forge_mid::describe());
}
"#;

/// The consumer binary: `Forge-Mid` with `fancy`, and `forge-base` itself.
fn app() -> CrateSpec {
    CrateSpec::bin("forge-app", APP_MAIN)
        .dep(Dep::new("Forge-Mid", "0.5").features(&["fancy"]))
        .dep(Dep::new("forge-base", "1"))
}

/// What the consumer prints: both crates built with their build scripts, `links` metadata
/// passed on, the features unified (`extra` from `Forge-Mid`, `fancy` from the app).
const APP_OUTPUT: &str = "forge-base 1.0.0 (built by build.rs)\n\
    Forge-Mid 0.5.0 [hello from forge-base, q 7] extra on abc real q 7 fancy xy\n";

const BASE_MAIN: &str = r#"fn main() {
    println!("{}", forge_base::describe());
}
"#;

/// A binary that depends on `forge-base = "1"` only.
fn base_app() -> CrateSpec {
    CrateSpec::bin("base-app", BASE_MAIN).dep(Dep::new("forge-base", "1"))
}

/// What [`base_app`] prints when it resolved `forge-base` `version`.
fn base_output(version: &str) -> String {
    format!("forge-base {version} (built by build.rs)\n")
}

/// `cargo publish --registry forge` (plus `extra`) of the project in `dir`.
fn publish(
    client: &Client,
    home: &Path,
    dir: &Path,
    token: &str,
    extra: &[&str],
) -> std::process::Output {
    let mut args = vec!["publish", "--registry", REGISTRY, "--allow-dirty"];
    args.extend_from_slice(extra);
    client.cargo(home, dir, Some(token), &args)
}

/// Writes `spec` into a fresh project and publishes it; fails the test unless cargo says it
/// was published.
#[track_caller]
fn publish_ok(client: &Client, home: &Path, token: &str, spec: &CrateSpec, verify: bool) {
    let dir = client.write(&format!("{}-{}", spec.name, spec.version), spec);
    let extra: &[&str] = if verify { &[] } else { &["--no-verify"] };
    let out = publish(client, home, &dir, token, extra);
    assert!(
        out.status.success(),
        "cargo publish {} {}: {}",
        spec.name,
        spec.version,
        text(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("Published {} v{}", spec.name, spec.version)),
        "cargo publish should wait until the index lists the version: {}",
        text(&out)
    );
    if verify {
        assert!(
            stderr.contains(&format!("Verifying {} v{}", spec.name, spec.version)),
            "cargo publish should have verified the crate: {}",
            text(&out)
        );
    }
    client.keep_package(home, &dir, Some(token), &spec.name, &spec.version);
}

/// `cargo run` in `dir`; fails unless it succeeds; answers what the program printed.
#[track_caller]
fn run(client: &Client, home: &Path, dir: &Path, token: Option<&str>, extra: &[&str]) -> String {
    let mut args = vec!["run"];
    args.extend_from_slice(extra);
    client.cargo_ok(home, dir, token, &args)
}

/// The version of `name` that `dir`'s `Cargo.lock` holds.
fn locked_version(dir: &Path, name: &str) -> String {
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).expect("read Cargo.lock");
    let marker = format!("name = \"{name}\"\nversion = \"");
    let start = lock
        .find(&marker)
        .unwrap_or_else(|| panic!("{name} is not in Cargo.lock:\n{lock}"))
        + marker.len();
    lock[start..]
        .split('"')
        .next()
        .expect("a version")
        .to_owned()
}

/// A server with the owner of the given visibility, its write token, and a scratch cargo.
fn setup(backend: Backend, visibility: Visibility) -> Option<(TestServer, String, Client)> {
    let toolchain = toolchain()?;
    let s = TestServer::start(backend);
    s.create_user_with_visibility(OWNER, PASSWORD, visibility);
    let token = s.token(OWNER, "cargo", "write:package");
    Some((s, token, Client::new(toolchain)))
}

/// Publishes every crate (two with verification), builds and runs a binary against two of
/// them, checks every index line against its `Cargo.toml`, searches, lists the owners, and
/// has a second publish of an existing version refused (also under another case).
fn publish_build_and_run(backend: Backend) {
    let Some((s, token, client)) = setup(backend, Visibility::Public) else {
        return;
    };
    let index = index_url(&s.base, OWNER);
    let publisher = client.home("publisher", &index);

    publish_ok(&client, &publisher, &token, &base("1.0.0"), true);
    for spec in [q(), xy(), abc()] {
        publish_ok(&client, &publisher, &token, &spec, false);
    }
    publish_ok(&client, &publisher, &token, &mid("Forge-Mid"), true);

    // A consumer that has never seen the registry, without a token (the owner is public).
    let consumer = client.home("consumer", &index);
    let dir = client.write("app", &app());
    let printed = run(&client, &consumer, &dir, None, &[]);
    assert_eq!(printed, APP_OUTPUT);
    assert_eq!(locked_version(&dir, "Forge-Mid"), "0.5.0");
    assert_eq!(locked_version(&dir, "abc"), "0.3.0");

    // Every index line against the Cargo.toml its crate was written from.
    for spec in [base("1.0.0"), q(), xy(), abc(), mid("Forge-Mid")] {
        check_index_file(&client, &s.base, OWNER, &[&spec], &[], &ANON);
    }

    // The same version again: cargo reports that it exists.
    let again = client.write("forge-base-again", &base("1.0.0"));
    let out = publish(&client, &publisher, &again, &token, &["--no-verify"]);
    assert!(!out.status.success(), "second publish: {}", text(&out));
    assert!(
        text(&out).contains("already exists"),
        "cargo should say the version already exists: {}",
        text(&out)
    );
    // And under another case of the name.
    let lower = client.write("forge-mid-lower", &mid("forge-mid"));
    let out = publish(&client, &publisher, &lower, &token, &["--no-verify"]);
    assert!(
        !out.status.success(),
        "publish of forge-mid 0.5.0 beside Forge-Mid 0.5.0: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("already exists"),
        "cargo should say the version already exists: {}",
        text(&out)
    );
    check_index_file(&client, &s.base, OWNER, &[&mid("Forge-Mid")], &[], &ANON);

    let found = client.cargo_ok(
        &consumer,
        &dir,
        None,
        &["search", "forge", "--registry", REGISTRY],
    );
    for (name, version) in [("forge-base", "1.0.0"), ("Forge-Mid", "0.5.0")] {
        let line = found
            .lines()
            .find(|l| l.starts_with(&format!("{name} = ")))
            .unwrap_or_else(|| panic!("cargo search forge lists no {name}:\n{found}"));
        assert!(
            line.contains(&format!("\"{version}\""))
                && line.contains(&format!("# {name}, a crate of the cargo client tests")),
            "cargo search line of {name}: {line}"
        );
    }
    assert!(
        !found.lines().any(|l| l.starts_with("xy = ")),
        "cargo search forge lists xy:\n{found}"
    );
    // One per page: cargo says how many more the registry has.
    let out = client.cargo(
        &consumer,
        &dir,
        None,
        &["search", "forge", "--limit", "1", "--registry", REGISTRY],
    );
    assert!(
        out.status.success(),
        "cargo search --limit 1: {}",
        text(&out)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains(" = \""))
            .count(),
        1,
        "cargo search --limit 1: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("and 1 crates more"),
        "cargo search --limit 1 should say that one more matched: {}",
        text(&out)
    );

    let owners = client.cargo_ok(
        &publisher,
        &dir,
        Some(&token),
        &["owner", "--list", "forge-base", "--registry", REGISTRY],
    );
    assert!(
        owners
            .lines()
            .any(|l| l.split_whitespace().next() == Some(OWNER)),
        "cargo owner --list should name {OWNER}:\n{owners}"
    );
    record_cargo_client_run(&format!("publish_build_and_run {backend:?}"));
}

/// `rust-version` in the index steers a new lockfile away from a version for a newer Rust;
/// `cargo yank` makes new lockfiles avoid the version while an existing `Cargo.lock` still
/// builds from an empty `CARGO_HOME`; `--undo` brings it back.
fn yank_and_lockfiles(backend: Backend) {
    let Some((s, token, client)) = setup(backend, Visibility::Public) else {
        return;
    };
    let index = index_url(&s.base, OWNER);
    let publisher = client.home("publisher", &index);
    let specs = [
        base("1.0.0"),
        base("1.1.0"),
        base("1.2.0").rust_version("1.999"),
    ];
    for spec in &specs {
        publish_ok(&client, &publisher, &token, spec, false);
    }
    let all: Vec<&CrateSpec> = specs.iter().collect();
    check_index_file(&client, &s.base, OWNER, &all, &[], &ANON);

    // One CARGO_HOME for the new lockfiles: after a change cargo revalidates its cached index
    // file, so the ETag must have changed.
    let warm = client.home("warm", &index);
    let old = client.write("old", &base_app());
    assert_eq!(
        run(&client, &warm, &old, None, &[]),
        base_output("1.1.0"),
        "1.2.0 wants Rust 1.999: the resolver should pick 1.1.0"
    );
    assert_eq!(locked_version(&old, "forge-base"), "1.1.0");

    let yank = ["yank", "forge-base", "--version", "1.1.0"];
    client.cargo_ok(
        &publisher,
        &old,
        Some(&token),
        &[&yank[..], &["--registry", REGISTRY]].concat(),
    );
    check_index_file(&client, &s.base, OWNER, &all, &["1.1.0"], &ANON);

    let new = client.write("new", &base_app());
    assert_eq!(run(&client, &warm, &new, None, &[]), base_output("1.0.0"));
    assert_eq!(locked_version(&new, "forge-base"), "1.0.0");

    // The existing lockfile, from nothing: the yanked version is still downloaded.
    let empty = client.home("empty", &index);
    let out = client.cargo(&empty, &old, None, &["run", "--locked"]);
    assert!(out.status.success(), "cargo run --locked: {}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), base_output("1.1.0"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Downloaded forge-base v1.1.0"),
        "the yanked crate should have been downloaded: {}",
        text(&out)
    );

    client.cargo_ok(
        &publisher,
        &old,
        Some(&token),
        &[&yank[..], &["--undo", "--registry", REGISTRY]].concat(),
    );
    check_index_file(&client, &s.base, OWNER, &all, &[], &ANON);
    let after = client.write("after-undo", &base_app());
    assert_eq!(run(&client, &warm, &after, None, &[]), base_output("1.1.0"));
    record_cargo_client_run(&format!("yank_and_lockfiles {backend:?}"));
}

/// A private owner: cargo publishes with its token; a build without one fails (cargo says
/// it needs a token), one with a wrong token fails, and builds from empty `CARGO_HOME`s with
/// the token given raw and as `Bearer <token>` succeed.
fn private_owner_needs_token(backend: Backend) {
    let Some((s, token, client)) = setup(backend, Visibility::Private) else {
        return;
    };
    let index = index_url(&s.base, OWNER);
    let publisher = client.home("publisher", &index);
    let spec = base("1.0.0");
    publish_ok(&client, &publisher, &token, &spec, false);
    check_index_file(
        &client,
        &s.base,
        OWNER,
        &[&spec],
        &[],
        &Auth::Raw(token.clone()),
    );

    let anonymous = client.home("anonymous", &index);
    let dir = client.write("anonymous", &base_app());
    let out = client.cargo(&anonymous, &dir, None, &["build"]);
    assert!(
        !out.status.success(),
        "build without a token: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("CARGO_REGISTRIES_FORGE_TOKEN"),
        "cargo should ask for the registry's token: {}",
        text(&out)
    );

    // `cargo login` reads the login URL from the 401's `WWW-Authenticate: Cargo login_url=…`.
    let out = client.cargo(&anonymous, &dir, None, &["login", "--registry", REGISTRY]);
    let login_url = s.url("/user/settings/applications");
    assert!(
        text(&out).contains(&format!("please paste the token found on {login_url}")),
        "cargo login should show the login URL: {}",
        text(&out)
    );

    let wrong = client.home("wrong", &index);
    let out = client.cargo(&wrong, &dir, Some("not-a-token"), &["build"]);
    assert!(
        !out.status.success(),
        "build with a wrong token: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("401"),
        "cargo should report the 401: {}",
        text(&out)
    );

    let raw = client.home("raw", &index);
    let dir = client.write("raw", &base_app());
    assert_eq!(
        run(&client, &raw, &dir, Some(&token), &[]),
        base_output("1.0.0")
    );

    let found = client.cargo_ok(
        &raw,
        &dir,
        Some(&token),
        &["search", "forge", "--registry", REGISTRY],
    );
    assert!(
        found
            .lines()
            .any(|l| l.starts_with("forge-base = \"1.0.0\"")),
        "cargo search with the token: {found}"
    );

    let bearer = client.home("bearer", &index);
    let dir = client.write("bearer", &base_app());
    assert_eq!(
        run(
            &client,
            &bearer,
            &dir,
            Some(&format!("Bearer {token}")),
            &[]
        ),
        base_output("1.0.0")
    );
    record_cargo_client_run(&format!("private_owner_needs_token {backend:?}"));
}

forge_e2e::backends!(
    publish_build_and_run,
    yank_and_lockfiles,
    private_owner_needs_token
);

/// Two instances on one PostgreSQL database: versions published through the first are in
/// the second's index the moment cargo's publish returns, a yank through the second changes
/// what a new lockfile through the first resolves (its cached index file revalidated).
fn publish_on_one_instance_build_on_another(backend: Backend) {
    let Some(toolchain) = toolchain() else {
        return;
    };
    let c = Cluster::start(backend, 2, &[]);
    c.create_user(OWNER, PASSWORD, false);
    let token = c.token(OWNER, "cargo", "write:package");
    let client = Client::new(toolchain);
    let (first, second) = (c.at(0), c.at(1));
    let (index0, index1) = (
        index_url(&first.base, OWNER),
        index_url(&second.base, OWNER),
    );

    let publisher = client.home("publisher-first", &index0);
    let specs = [base("1.0.0"), base("1.1.0")];
    for spec in &specs {
        publish_ok(&client, &publisher, &token, spec, false);
    }
    let there = client.home("consumer-second", &index1);
    let dir = client.write("second", &base_app());
    assert_eq!(run(&client, &there, &dir, None, &[]), base_output("1.1.0"));

    let here = client.home("consumer-first", &index0);
    let dir = client.write("first", &base_app());
    assert_eq!(run(&client, &here, &dir, None, &[]), base_output("1.1.0"));

    let yanker = client.home("publisher-second", &index1);
    client.cargo_ok(
        &yanker,
        &dir,
        Some(&token),
        &[
            "yank",
            "forge-base",
            "--version",
            "1.1.0",
            "--registry",
            REGISTRY,
        ],
    );
    let all: Vec<&CrateSpec> = specs.iter().collect();
    for instance in [first, second] {
        check_index_file(&client, &instance.base, OWNER, &all, &["1.1.0"], &ANON);
    }
    let dir = client.write("first-after-yank", &base_app());
    assert_eq!(run(&client, &here, &dir, None, &[]), base_output("1.0.0"));
    record_cargo_client_run(&format!(
        "publish_on_one_instance_build_on_another {backend:?}"
    ));
}

/// Several instances need PostgreSQL (on SQLite a cluster has one instance).
mod postgres_cluster {
    #[test]
    fn publish_on_one_instance_build_on_another() {
        forge_e2e::run_scenario(
            forge_e2e::Backend::Postgres,
            "publish_on_one_instance_build_on_another",
            super::publish_on_one_instance_build_on_another,
        );
    }
}
