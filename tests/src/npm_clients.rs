//! The npm clients the end-to-end suite drives, unmodified: the system's `npm` (with its
//! `node`) and the package managers `scripts/test-env.sh` installs into `FORGE_TEST_NPM_TOOLS`
//! (pnpm, yarn 1, and yarn 4 from `@yarnpkg/cli-dist`), each run as `node <its script>`.
//!
//! Every client run gets a fresh `HOME` holding the `.npmrc` it is given, a fresh cache (npm
//! otherwise answers an install from what it cached at publish and never fetches the
//! tarball), no `npm_config_*`, `YARN_*` or `PNPM_*` variable of the machine, and a time
//! limit, so a hung client fails its test instead of the suite.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::containers::{find_on_path, run_with_timeout, text};
use crate::TestServer;

/// How long one client command may run before its test fails.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// A registry URL on a closed loopback port: configured as the default registry where only
/// a scope should reach ours, so anything asked elsewhere fails at once instead of leaving
/// the machine.
pub const NOWHERE: &str = "http://127.0.0.1:9/";

/// Whether `FORGE_TEST_REQUIRE_NPM_CLIENTS=1`: then a missing client fails the test instead
/// of skipping it.
pub fn require_clients() -> bool {
    std::env::var("FORGE_TEST_REQUIRE_NPM_CLIENTS").is_ok_and(|v| v.trim() == "1")
}

/// Appends the scenario's name to `FORGE_TEST_NPM_MARKER`, so CI can prove the real-client
/// npm tests ran rather than being skipped.
pub fn record_npm_client_run(name: &str) {
    crate::append_marker("FORGE_TEST_NPM_MARKER", name);
}

/// Where the clients are.
#[derive(Debug, Clone)]
pub struct Tools {
    pub node: PathBuf,
    pub npm: PathBuf,
    /// The scripts node runs: `pnpm/bin/pnpm.cjs`, `yarn/bin/yarn.js` (1.x) and
    /// `@yarnpkg/cli-dist/bin/yarn.js` (4.x).
    pub pnpm: PathBuf,
    pub yarn1: PathBuf,
    pub yarn4: PathBuf,
}

/// The clients, or `None` after printing why the scenario is skipped; with
/// `FORGE_TEST_REQUIRE_NPM_CLIENTS=1` a missing one fails instead.
pub fn tools() -> Option<Tools> {
    let node = find_on_path("node");
    let npm = find_on_path("npm");
    let dir = std::env::var("FORGE_TEST_NPM_TOOLS")
        .ok()
        .filter(|d| !d.trim().is_empty())
        .map(PathBuf::from);
    let scripts = dir.as_ref().map(|dir| {
        let modules = dir.join("node_modules");
        let scripts = [
            modules.join("pnpm/bin/pnpm.cjs"),
            modules.join("yarn/bin/yarn.js"),
            modules.join("@yarnpkg/cli-dist/bin/yarn.js"),
        ];
        for script in &scripts {
            assert!(
                script.is_file(),
                "FORGE_TEST_NPM_TOOLS is set but has no {}: run scripts/test-env.sh",
                script.display()
            );
        }
        scripts
    });
    match (node, npm, scripts) {
        (Some(node), Some(npm), Some([pnpm, yarn1, yarn4])) => Some(Tools {
            node,
            npm,
            pnpm,
            yarn1,
            yarn4,
        }),
        (node, npm, scripts) => {
            let mut missing = Vec::new();
            if node.is_none() || npm.is_none() {
                missing.push("node and npm on PATH");
            }
            if scripts.is_none() {
                missing.push("pnpm and yarn (FORGE_TEST_NPM_TOOLS; run through make test)");
            }
            let why = missing.join(" and ");
            if require_clients() {
                panic!("FORGE_TEST_REQUIRE_NPM_CLIENTS=1 but missing: {why}");
            }
            println!("skipped: npm clients missing: {why}");
            None
        }
    }
}

/// An owner's npm registry on the server under test.
#[derive(Debug, Clone)]
pub struct Registry {
    /// `{root}/api/packages/{owner}/npm/`, what `.npmrc` names as `registry=`.
    pub base: String,
    /// The same without the scheme, `//127.0.0.1:PORT/api/packages/{owner}/npm/`: the key
    /// of the `.npmrc` settings for it, such as `:_authToken`.
    pub key: String,
    /// The path of `base`, for requests of the test itself.
    pub path: String,
}

impl Registry {
    pub fn new(s: &TestServer, owner: &str) -> Registry {
        let path = format!("/api/packages/{owner}/npm/");
        Registry {
            base: s.url(&path),
            key: format!("//{}{path}", s.addr),
            path,
        }
    }

    /// `.npmrc` lines: the default registry (and `scopes` mapped to it too), with the token.
    pub fn npmrc(&self, token: Option<&str>, scopes: &[&str]) -> String {
        self.npmrc_with_default(&self.base, token, scopes)
    }

    /// `.npmrc` lines where only `scopes` reach this registry and the default registry is
    /// [`NOWHERE`].
    pub fn npmrc_scoped_only(&self, token: Option<&str>, scopes: &[&str]) -> String {
        self.npmrc_with_default(NOWHERE, token, scopes)
    }

    fn npmrc_with_default(&self, default: &str, token: Option<&str>, scopes: &[&str]) -> String {
        let mut rc = format!("registry={default}\n");
        for scope in scopes {
            rc.push_str(&format!("@{scope}:registry={}\n", self.base));
        }
        if let Some(token) = token {
            rc.push_str(&format!("{}:_authToken={token}\n", self.key));
        }
        rc
    }

    /// `.yarnrc.yml` for yarn 4: this registry over plain http, packages however young,
    /// a `node_modules` folder, no global cache, and the token when given.
    pub fn yarnrc(&self, token: Option<&str>) -> String {
        let mut rc = String::new();
        rc.push_str(&format!("npmRegistryServer: {}\n", json(&self.base)));
        rc.push_str("unsafeHttpWhitelist:\n  - \"127.0.0.1\"\n");
        rc.push_str("npmMinimalAgeGate: 0\n");
        rc.push_str("nodeLinker: node-modules\n");
        rc.push_str("enableGlobalCache: false\n");
        // CI=true would otherwise forbid writing the lockfile.
        rc.push_str("enableImmutableInstalls: false\n");
        rc.push_str("enableTelemetry: false\n");
        rc.push_str("enableProgressBars: false\n");
        if let Some(token) = token {
            rc.push_str(&format!("npmAuthToken: {}\n", json(token)));
            rc.push_str("npmAlwaysAuth: true\n");
        }
        rc
    }
}

/// A string as a JSON (and so YAML) literal.
fn json(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// What node prints for a package made by [`write_package`]: `"{name} {version}"`, and for
/// one with dependencies `"{name} {version} uses {dependency's value}"`.
pub fn value_of(name: &str, version: &str) -> String {
    format!("{name} {version}")
}

/// Writes the folder of a package as `npm init` would leave it, plus an `index.js` exporting
/// [`value_of`] (with what each dependency exports appended) and a README; answers the
/// folder.
pub fn write_package(
    root: &Path,
    name: &str,
    version: &str,
    dependencies: &[(&str, &str)],
) -> PathBuf {
    let dir = root.join(format!(
        "pkg-{}-{version}",
        name.replace(['@', '/'], "_").trim_start_matches('_')
    ));
    std::fs::create_dir_all(&dir).expect("create package folder");
    let deps: serde_json::Map<String, serde_json::Value> = dependencies
        .iter()
        .map(|(n, range)| ((*n).to_owned(), serde_json::Value::from(*range)))
        .collect();
    let manifest = serde_json::json!({
        "name": name,
        "version": version,
        "description": format!("{name}, a package of the forge npm client tests"),
        "main": "index.js",
        "scripts": { "test": "echo \"Error: no test specified\" && exit 1" },
        "keywords": ["forge", "test"],
        "author": "",
        "license": "ISC",
        "dependencies": deps,
    });
    std::fs::write(
        dir.join("package.json"),
        serde_json::to_string_pretty(&manifest).expect("package.json") + "\n",
    )
    .expect("write package.json");
    let mut js = format!("module.exports = {}", json(&value_of(name, version)));
    for (dep, _) in dependencies {
        js.push_str(&format!(" + \" uses \" + require({})", json(dep)));
    }
    js.push_str(";\n");
    std::fs::write(dir.join("index.js"), js).expect("write index.js");
    std::fs::write(
        dir.join("README.md"),
        format!("# {name}\n\nA package of the forge npm client tests.\n"),
    )
    .expect("write README.md");
    dir
}

/// Writes an empty project (`package.json` only) to install into; answers its folder.
pub fn write_project(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("create project folder");
    let manifest = serde_json::json!({
        "name": name,
        "version": "1.0.0",
        "private": true,
        "license": "ISC",
    });
    std::fs::write(
        dir.join("package.json"),
        serde_json::to_string_pretty(&manifest).expect("package.json") + "\n",
    )
    .expect("write package.json");
    dir
}

/// Asserts that the command succeeded and answers its output.
#[track_caller]
pub fn ok(out: Output, what: &str) -> Output {
    assert!(out.status.success(), "{what}: {}", text(&out));
    out
}

/// Standard output, trimmed.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The clients of one scenario and a scratch folder for their homes, caches, packages and
/// projects; removed on drop.
pub struct Clients {
    pub tools: Tools,
    dir: tempfile::TempDir,
    runs: AtomicU32,
}

impl Clients {
    pub fn new(tools: Tools) -> Clients {
        Clients {
            tools,
            dir: tempfile::Builder::new()
                .prefix("forge-npm-")
                .tempdir()
                .expect("scratch folder"),
            runs: AtomicU32::new(0),
        }
    }

    /// The scratch folder (packages and projects go here).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A fresh folder `run-N` for one client run: its HOME, with `npmrc` as `.npmrc`, and
    /// an empty `cache` folder inside.
    fn fresh_home(&self, npmrc: &str) -> PathBuf {
        let n = self.runs.fetch_add(1, Ordering::SeqCst);
        let home = self.path().join(format!("run-{n}"));
        std::fs::create_dir_all(home.join("cache")).expect("create client home");
        std::fs::write(home.join(".npmrc"), npmrc).expect("write .npmrc");
        home
    }

    /// `node SCRIPT` (or any program) in `cwd` with `home` as HOME and nothing of the
    /// machine's npm, pnpm or yarn settings.
    fn command(&self, program: &Path, home: &Path, cwd: &Path) -> Command {
        let mut cmd = Command::new(program);
        for (name, _) in std::env::vars_os() {
            let lower = name.to_string_lossy().to_ascii_lowercase();
            if ["npm_", "yarn_", "pnpm_", "corepack_"]
                .iter()
                .any(|p| lower.starts_with(p))
            {
                cmd.env_remove(&name);
            }
        }
        cmd.current_dir(cwd)
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("npm_config_userconfig", home.join(".npmrc"))
            .env("npm_config_globalconfig", home.join("global-npmrc"))
            .env("npm_config_update_notifier", "false")
            .env("YARN_ENABLE_TELEMETRY", "0")
            // As on CI: no progress bars, no prompts; the same on every machine.
            .env("CI", "true")
            .env_remove("NODE_OPTIONS")
            .env_remove("NODE_PATH")
            .env_remove("NODE_AUTH_TOKEN");
        cmd
    }

    /// `npm ARGS --cache <fresh> --no-audit --no-fund --loglevel=http` in `cwd` (the HTTP
    /// log names every request npm made, for failure messages).
    pub fn npm(&self, npmrc: &str, cwd: &Path, args: &[&str]) -> Output {
        let home = self.fresh_home(npmrc);
        let mut cmd = self.command(&self.tools.npm, &home, cwd);
        cmd.args(args).arg("--cache").arg(home.join("cache")).args([
            "--no-audit",
            "--no-fund",
            "--loglevel=http",
        ]);
        run_with_timeout(&mut cmd, CLIENT_TIMEOUT)
    }

    /// `pnpm ARGS` in `cwd` with a fresh store and cache.
    pub fn pnpm(&self, npmrc: &str, cwd: &Path, args: &[&str]) -> Output {
        let home = self.fresh_home("");
        let npmrc = format!(
            "{npmrc}store-dir={}\ncache-dir={}\n",
            home.join("cache/store").display(),
            home.join("cache/metadata").display()
        );
        std::fs::write(home.join(".npmrc"), npmrc).expect("write .npmrc");
        let mut cmd = self.command(&self.tools.node, &home, cwd);
        cmd.arg(&self.tools.pnpm)
            .args(args)
            .args(["--reporter=append-only"]);
        run_with_timeout(&mut cmd, CLIENT_TIMEOUT)
    }

    /// `yarn ARGS` of yarn 1 in `cwd` with a fresh cache folder.
    pub fn yarn1(&self, npmrc: &str, cwd: &Path, args: &[&str]) -> Output {
        let home = self.fresh_home(npmrc);
        let mut cmd = self.command(&self.tools.node, &home, cwd);
        cmd.arg(&self.tools.yarn1)
            .args(args)
            .args(["--non-interactive", "--no-progress", "--cache-folder"])
            .arg(home.join("cache"));
        run_with_timeout(&mut cmd, CLIENT_TIMEOUT)
    }

    /// `yarn ARGS` of yarn 4 in `cwd`, after writing `yarnrc` (see [`Registry::yarnrc`])
    /// with a fresh cache folder as `cwd/.yarnrc.yml`.
    pub fn yarn4(&self, yarnrc: &str, cwd: &Path, args: &[&str]) -> Output {
        let home = self.fresh_home("");
        let yarnrc = format!(
            "{yarnrc}cacheFolder: {}\nglobalFolder: {}\n",
            json(&home.join("cache").display().to_string()),
            json(&home.join("yarn-global").display().to_string())
        );
        std::fs::write(cwd.join(".yarnrc.yml"), yarnrc).expect("write .yarnrc.yml");
        let mut cmd = self.command(&self.tools.node, &home, cwd);
        cmd.arg(&self.tools.yarn4).args(args);
        run_with_timeout(&mut cmd, CLIENT_TIMEOUT)
    }

    /// Requires each module in node from `project` and asserts what it exports.
    #[track_caller]
    pub fn assert_requires(&self, project: &Path, expected: &[(&str, &str)]) {
        let home = self.fresh_home("");
        let mut cmd = self.command(&self.tools.node, &home, project);
        cmd.arg("-e")
            .arg("for (const m of process.argv.slice(1)) console.log(m + '=' + require(m));")
            .args(expected.iter().map(|(module, _)| *module));
        let out = ok(
            run_with_timeout(&mut cmd, CLIENT_TIMEOUT),
            &format!("node requiring the modules in {}", project.display()),
        );
        let got: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
        let want: Vec<String> = expected.iter().map(|(m, v)| format!("{m}={v}")).collect();
        assert_eq!(
            got,
            want,
            "what the modules export in {}",
            project.display()
        );
    }
}
