//! npm packages with the real clients, unmodified, at `{root}/api/packages/{owner}/npm/`:
//! npm publishes (unscoped, scoped, `--tag beta`), refuses a second publish of a version,
//! edits dist-tags, installs into fresh projects (a dependency from the same registry too),
//! reinstalls with `npm ci` from the lockfile (also with the older tarball URLs of
//! `{id}/-/{file}`), deprecates and undeprecates, unpublishes a version and a whole package,
//! and searches; pnpm, yarn 1 and yarn 4 install what npm published; a private owner's
//! packages install only with the token. Every install is checked by `require()`-ing the
//! modules in node.
//!
//! Every client run has a fresh HOME (its `.npmrc`) and a fresh cache; see
//! `forge_e2e::npm_clients`. Every scenario skips itself (printing why) without the clients,
//! unless `FORGE_TEST_REQUIRE_NPM_CLIENTS=1`, and records itself in `FORGE_TEST_NPM_MARKER`
//! once it passed, so CI can tell that they ran.

use std::path::Path;

use forge_e2e::containers::text;
use forge_e2e::npm_clients::{
    ok, record_npm_client_run, stdout, tools, value_of, write_package, write_project, Clients,
    Registry,
};
use forge_e2e::{Backend, TestServer, ANON, PASSWORD};
use packages_core::Visibility;

const OWNER: &str = "npmowner";
/// The scope of the scoped packages.
const SCOPE: &str = "forge";

/// What a scenario works with: the clients and their scratch folder, the server with the
/// owner, the owner's write token and registry.
struct Setup {
    c: Clients,
    s: TestServer,
    token: String,
    reg: Registry,
}

fn setup(backend: Backend, visibility: Visibility) -> Option<Setup> {
    let tools = tools()?;
    let s = TestServer::start(backend);
    s.create_user_with_visibility(OWNER, PASSWORD, visibility);
    let token = s.token(OWNER, "npm", "write:package");
    let reg = Registry::new(&s, OWNER);
    Some(Setup {
        c: Clients::new(tools),
        s,
        token,
        reg,
    })
}

impl Setup {
    /// `.npmrc` with the registry as default and for the scope, and the token.
    fn npmrc(&self) -> String {
        self.reg.npmrc(Some(&self.token), &[SCOPE])
    }

    /// `npm ARGS` with [`Setup::npmrc`], in the scratch folder.
    fn npm(&self, args: &[&str]) -> std::process::Output {
        self.c.npm(&self.npmrc(), self.c.path(), args)
    }

    /// Writes a package and publishes it with npm (`extra`: e.g. `--tag beta`); answers its
    /// folder.
    #[track_caller]
    fn publish(
        &self,
        name: &str,
        version: &str,
        dependencies: &[(&str, &str)],
        extra: &[&str],
    ) -> std::path::PathBuf {
        let dir = write_package(self.c.path(), name, version, dependencies);
        // A scoped package goes through the `@scope:registry=` line alone.
        let npmrc = if name.starts_with('@') {
            self.reg.npmrc_scoped_only(Some(&self.token), &[SCOPE])
        } else {
            self.npmrc()
        };
        let mut args = vec!["publish"];
        args.extend(extra);
        ok(
            self.c.npm(&npmrc, &dir, &args),
            &format!("npm publish {name}@{version} {extra:?}"),
        );
        dir
    }

    /// The packument as the server answers it to anyone (the owner is public).
    fn packument(&self, id: &str) -> serde_json::Value {
        let r = self.s.get(&format!("{}{id}", self.reg.path), &ANON);
        assert_eq!(r.status, 200, "GET packument {id}: {}", r.describe());
        r.json()
    }
}

/// Publishes what the install scenarios install: `forge-demo` 1.0.0 (and 1.1.0-beta.1
/// under the tag `beta` when `beta`), `@forge/scoped` 1.0.0, and `forge-app-dep` 1.0.0,
/// which depends on `forge-demo@^1.0.0`. Answers the folder of forge-demo 1.0.0.
fn publish_fixtures(setup: &Setup, beta: bool) -> std::path::PathBuf {
    let demo = setup.publish("forge-demo", "1.0.0", &[], &[]);
    if beta {
        setup.publish("forge-demo", "1.1.0-beta.1", &[], &["--tag", "beta"]);
    }
    setup.publish("@forge/scoped", "1.0.0", &[], &[]);
    setup.publish("forge-app-dep", "1.0.0", &[("forge-demo", "^1.0.0")], &[]);
    demo
}

/// What the three fixture modules export once installed.
fn fixture_values() -> Vec<(&'static str, String)> {
    vec![
        ("forge-demo", value_of("forge-demo", "1.0.0")),
        ("@forge/scoped", value_of("@forge/scoped", "1.0.0")),
        (
            "forge-app-dep",
            format!(
                "{} uses {}",
                value_of("forge-app-dep", "1.0.0"),
                value_of("forge-demo", "1.0.0")
            ),
        ),
    ]
}

#[track_caller]
fn assert_fixtures_installed(c: &Clients, project: &Path) {
    let values = fixture_values();
    let expected: Vec<(&str, &str)> = values.iter().map(|(m, v)| (*m, v.as_str())).collect();
    c.assert_requires(project, &expected);
}

/// `npm dist-tag ls ID` as sorted `tag: version` lines.
#[track_caller]
fn dist_tags(setup: &Setup, id: &str) -> Vec<String> {
    let out = ok(
        setup.npm(&["dist-tag", "ls", id]),
        &format!("npm dist-tag ls {id}"),
    );
    let mut tags: Vec<String> = stdout(&out).lines().map(|l| l.trim().to_owned()).collect();
    tags.sort();
    tags
}

/// Rewrites every `resolved` URL of a package-lock.json from `{id}/-/{version}/{file}` to the
/// older `{id}/-/{file}`; answers how many changed.
fn to_old_tarball_urls(lock_path: &Path) -> usize {
    let mut lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lock_path).expect("read lockfile"))
            .expect("lockfile is JSON");
    let mut changed = 0;
    for (_, entry) in lock["packages"]
        .as_object_mut()
        .expect("lockfile packages")
        .iter_mut()
    {
        let Some(url) = entry.get("resolved").and_then(|r| r.as_str()) else {
            continue;
        };
        let Some((id_part, rest)) = url.rsplit_once("/-/") else {
            continue;
        };
        if let Some((_version, file)) = rest.split_once('/') {
            let old = format!("{id_part}/-/{file}");
            entry["resolved"] = serde_json::Value::from(old);
            changed += 1;
        }
    }
    std::fs::write(
        lock_path,
        serde_json::to_string_pretty(&lock).expect("lockfile"),
    )
    .expect("write lockfile");
    changed
}

fn npm_publish_tags_install_and_ci(backend: Backend) {
    let Some(setup) = setup(backend, Visibility::Public) else {
        return;
    };
    let demo = publish_fixtures(&setup, true);

    // The same version again fails: npm 11 sees the version in the packument and refuses
    // before sending anything (older clients get the registry's 409)...
    let out = setup.c.npm(&setup.npmrc(), &demo, &["publish"]);
    assert!(
        !out.status.success()
            && (text(&out).contains("cannot publish over the previously published version")
                || text(&out).contains("409")),
        "a second publish of forge-demo 1.0.0 should be refused: {}",
        text(&out)
    );
    // ... and with --force, which skips that check, the registry answers 409 and keeps the
    // first tarball (the installs below still get the first index.js).
    std::fs::write(
        demo.join("index.js"),
        "module.exports = \"forge-demo 1.0.0, published twice\";\n",
    )
    .expect("change index.js");
    let out = setup.c.npm(&setup.npmrc(), &demo, &["publish", "--force"]);
    assert!(
        !out.status.success() && text(&out).contains("409"),
        "npm publish --force of forge-demo 1.0.0 again should get the registry's 409: {}",
        text(&out)
    );

    // dist-tags: what publish set, then one added and removed again.
    assert_eq!(
        dist_tags(&setup, "forge-demo"),
        ["beta: 1.1.0-beta.1", "latest: 1.0.0"]
    );
    ok(
        setup.npm(&["dist-tag", "add", "forge-demo@1.0.0", "stable"]),
        "npm dist-tag add forge-demo@1.0.0 stable",
    );
    assert_eq!(
        dist_tags(&setup, "forge-demo"),
        ["beta: 1.1.0-beta.1", "latest: 1.0.0", "stable: 1.0.0"]
    );
    ok(
        setup.npm(&["dist-tag", "rm", "forge-demo", "stable"]),
        "npm dist-tag rm forge-demo stable",
    );
    assert_eq!(
        dist_tags(&setup, "forge-demo"),
        ["beta: 1.1.0-beta.1", "latest: 1.0.0"]
    );
    ok(
        setup.npm(&["dist-tag", "add", "@forge/scoped@1.0.0", "stable"]),
        "npm dist-tag add @forge/scoped@1.0.0 stable",
    );
    assert_eq!(
        dist_tags(&setup, "@forge/scoped"),
        ["latest: 1.0.0", "stable: 1.0.0"]
    );
    let out = ok(
        setup.npm(&["view", "forge-demo@beta", "version"]),
        "npm view forge-demo@beta version",
    );
    assert_eq!(stdout(&out), "1.1.0-beta.1", "{}", text(&out));

    // A fresh project installs the three (forge-app-dep brings forge-demo along).
    let project = write_project(setup.c.path(), "npm-app");
    ok(
        setup.c.npm(
            &setup.npmrc(),
            &project,
            &["install", "forge-demo", "@forge/scoped", "forge-app-dep"],
        ),
        "npm install",
    );
    assert_fixtures_installed(&setup.c, &project);
    let lock_path = project.join("package-lock.json");
    let lock: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&lock_path).expect("package-lock.json"))
            .expect("package-lock.json is JSON");
    for module in ["forge-demo", "@forge/scoped", "forge-app-dep"] {
        let entry = &lock["packages"][format!("node_modules/{module}")];
        let resolved = entry["resolved"].as_str().unwrap_or_default();
        assert!(
            resolved.starts_with(&setup.reg.base),
            "{module} should resolve under {}: {entry}",
            setup.reg.base
        );
        assert!(
            entry["integrity"]
                .as_str()
                .is_some_and(|i| i.starts_with("sha512-")),
            "{module} should have a sha512 integrity: {entry}"
        );
    }

    // npm ci from the lockfile, with a fresh cache and without node_modules.
    std::fs::remove_dir_all(project.join("node_modules")).expect("remove node_modules");
    ok(
        setup.c.npm(&setup.npmrc(), &project, &["ci"]),
        "npm ci from the lockfile",
    );
    assert_fixtures_installed(&setup.c, &project);

    // Lockfiles written against older registries hold `{id}/-/{file}` tarball URLs.
    assert_eq!(
        to_old_tarball_urls(&lock_path),
        3,
        "lockfile URLs rewritten"
    );
    std::fs::remove_dir_all(project.join("node_modules")).expect("remove node_modules");
    ok(
        setup.c.npm(&setup.npmrc(), &project, &["ci"]),
        "npm ci from a lockfile with {id}/-/{file} tarball URLs",
    );
    assert_fixtures_installed(&setup.c, &project);

    record_npm_client_run(&format!("npm_publish_tags_install_and_ci {backend:?}"));
}

fn npm_deprecate_unpublish_and_search(backend: Backend) {
    let Some(setup) = setup(backend, Visibility::Public) else {
        return;
    };
    for version in ["1.0.0", "1.0.1", "2.0.0"] {
        setup.publish("forge-old", version, &[], &[]);
    }
    setup.publish("forge-gone", "1.0.0", &[], &[]);
    setup.publish("@forge/found", "1.0.0", &[], &[]);

    // Deprecate one version: npm view and the packument show the message.
    let message = "forge-old 1.0.0 is old, use 1.0.1";
    ok(
        setup.npm(&["deprecate", "forge-old@1.0.0", message]),
        "npm deprecate",
    );
    let out = ok(
        setup.npm(&["view", "forge-old@1.0.0", "deprecated"]),
        "npm view deprecated",
    );
    assert_eq!(stdout(&out), message, "{}", text(&out));
    let packument = setup.packument("forge-old");
    assert_eq!(
        packument["versions"]["1.0.0"]["deprecated"], message,
        "{packument}"
    );
    assert!(
        packument["versions"]["1.0.1"].get("deprecated").is_none(),
        "only 1.0.0 is deprecated: {packument}"
    );

    // An empty message undeprecates.
    ok(
        setup.npm(&["deprecate", "forge-old@1.0.0", ""]),
        "npm deprecate with an empty message",
    );
    let out = ok(
        setup.npm(&["view", "forge-old@1.0.0", "deprecated"]),
        "npm view deprecated after undeprecating",
    );
    assert_eq!(stdout(&out), "", "{}", text(&out));
    let packument = setup.packument("forge-old");
    assert!(
        packument["versions"]["1.0.0"].get("deprecated").is_none(),
        "undeprecated, so without `deprecated`: {packument}"
    );

    // Unpublish the version holding `latest`: it falls back to 1.0.1.
    ok(
        setup.npm(&["unpublish", "forge-old@2.0.0"]),
        "npm unpublish forge-old@2.0.0",
    );
    let out = ok(
        setup.npm(&["view", "forge-old", "--json"]),
        "npm view forge-old",
    );
    let view: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("npm view --json is not JSON ({e}): {}", text(&out)));
    assert_eq!(
        view["versions"],
        serde_json::json!(["1.0.0", "1.0.1"]),
        "{view}"
    );
    assert_eq!(view["dist-tags"]["latest"], "1.0.1", "{view}");
    assert_eq!(view["version"], "1.0.1", "{view}");

    // Unpublish a whole package: npm view finds nothing afterwards.
    ok(
        setup.npm(&["unpublish", "forge-gone", "--force"]),
        "npm unpublish forge-gone --force",
    );
    let out = setup.npm(&["view", "forge-gone"]);
    assert!(
        !out.status.success() && text(&out).contains("E404"),
        "npm view of an unpublished package should fail with E404: {}",
        text(&out)
    );

    // Search finds what is left.
    let out = ok(setup.npm(&["search", "forge", "--json"]), "npm search");
    let hits: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("npm search --json is not JSON ({e}): {}", text(&out)));
    let mut found: Vec<(String, String)> = hits
        .as_array()
        .unwrap_or_else(|| panic!("npm search --json is no array: {hits}"))
        .iter()
        .map(|h| {
            (
                h["name"].as_str().unwrap_or_default().to_owned(),
                h["version"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            ("@forge/found".to_owned(), "1.0.0".to_owned()),
            ("forge-old".to_owned(), "1.0.1".to_owned()),
        ],
        "npm search forge: {hits}"
    );

    record_npm_client_run(&format!("npm_deprecate_unpublish_and_search {backend:?}"));
}

fn pnpm_and_yarn_add(backend: Backend) {
    let Some(setup) = setup(backend, Visibility::Public) else {
        return;
    };
    publish_fixtures(&setup, false);
    let packages = ["forge-app-dep", "@forge/scoped"];

    // pnpm with the scope on its own `.npmrc` line.
    let project = write_project(setup.c.path(), "pnpm-app");
    let mut args = vec!["add"];
    args.extend(packages);
    ok(
        setup
            .c
            .pnpm(&setup.reg.npmrc(None, &[SCOPE]), &project, &args),
        "pnpm add",
    );
    assert_fixtures_installed_via_app(&setup.c, &project);

    // yarn 1 reads the same `.npmrc`.
    let project = write_project(setup.c.path(), "yarn1-app");
    ok(
        setup
            .c
            .yarn1(&setup.reg.npmrc(None, &[SCOPE]), &project, &args),
        "yarn add (yarn 1)",
    );
    assert_fixtures_installed_via_app(&setup.c, &project);

    // yarn 4 reads `.yarnrc.yml`.
    let project = write_project(setup.c.path(), "yarn4-app");
    ok(
        setup.c.yarn4(&setup.reg.yarnrc(None), &project, &args),
        "yarn add (yarn 4)",
    );
    assert_fixtures_installed_via_app(&setup.c, &project);

    record_npm_client_run(&format!("pnpm_and_yarn_add {backend:?}"));
}

/// forge-app-dep (and through it forge-demo) and @forge/scoped work in `project`.
#[track_caller]
fn assert_fixtures_installed_via_app(c: &Clients, project: &Path) {
    let values = fixture_values();
    let expected: Vec<(&str, &str)> = values
        .iter()
        .filter(|(m, _)| *m != "forge-demo")
        .map(|(m, v)| (*m, v.as_str()))
        .collect();
    c.assert_requires(project, &expected);
}

fn private_owner_needs_the_token(backend: Backend) {
    let Some(setup) = setup(backend, Visibility::Private) else {
        return;
    };
    setup.publish("forge-demo", "1.0.0", &[], &[]);
    let expected = [("forge-demo", value_of("forge-demo", "1.0.0"))];
    let expected: Vec<(&str, &str)> = expected.iter().map(|(m, v)| (*m, v.as_str())).collect();

    // Without the token npm is refused.
    let project = write_project(setup.c.path(), "anonymous-app");
    let out = setup.c.npm(
        &setup.reg.npmrc(None, &[]),
        &project,
        &["install", "forge-demo"],
    );
    assert!(
        !out.status.success(),
        "npm install from a private owner without a token should fail: {}",
        text(&out)
    );
    assert!(
        text(&out).contains("E401"),
        "npm should report E401: {}",
        text(&out)
    );
    assert!(
        !project.join("node_modules/forge-demo").exists(),
        "nothing installed without the token"
    );

    // With it npm and pnpm install (the token goes along to the tarball URL as well).
    let project = write_project(setup.c.path(), "npm-app");
    ok(
        setup
            .c
            .npm(&setup.npmrc(), &project, &["install", "forge-demo"]),
        "npm install with the token",
    );
    setup.c.assert_requires(&project, &expected);
    let project = write_project(setup.c.path(), "pnpm-app");
    ok(
        setup
            .c
            .pnpm(&setup.npmrc(), &project, &["add", "forge-demo"]),
        "pnpm add with the token",
    );
    setup.c.assert_requires(&project, &expected);

    record_npm_client_run(&format!("private_owner_needs_the_token {backend:?}"));
}

forge_e2e::backends!(
    npm_publish_tags_install_and_ci,
    npm_deprecate_unpublish_and_search,
    pnpm_and_yarn_add,
    private_owner_needs_the_token,
);
