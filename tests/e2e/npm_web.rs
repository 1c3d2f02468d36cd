//! The web pages for npm packages: the search finds them, and a version's page offers the
//! `.npmrc` line and `npm install` command, and links the tarball at the registry's URL.

use forge_e2e::npm::{publish_doc, tarball};
use forge_e2e::{Auth, Backend, TestServer, PASSWORD};

const OWNER: &str = "webnpm";

fn publish(s: &TestServer, name: &str, version: &str, data: &[u8]) {
    let body = serde_json::to_vec(&publish_doc(name, version, data)).expect("json");
    let id = name.replacen('/', "%2f", 1);
    let r = s.put(
        &format!("/api/packages/{OWNER}/npm/{id}"),
        &body,
        &Auth::basic(OWNER, PASSWORD),
    );
    assert_eq!(r.status, 201, "publish {name}: {}", r.text());
}

fn pages_offer_npm_commands(backend: Backend) {
    let s = TestServer::start(backend);
    s.create_user(OWNER, PASSWORD, false);
    let scoped = tarball("scoped", 300);
    publish(&s, "@web/widget", "1.2.0", &scoped);
    publish(&s, "plain-widget", "0.1.0", &tarball("plain", 200));
    let base = format!("http://{}", s.addr);

    let page = s.get(
        &format!("/{OWNER}/-/packages/npm/@web%2fwidget/1.2.0"),
        &Auth::Anonymous,
    );
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    let file = format!("/api/packages/{OWNER}/npm/@web%2fwidget/-/1.2.0/widget-1.2.0.tgz");
    for expected in [
        format!("@web:registry={base}/api/packages/{OWNER}/npm/"),
        "npm install @web/widget@1.2.0".to_owned(),
        format!("href=\"{file}\""),
        // The manifest's fields are shown.
        "MIT".to_owned(),
    ] {
        assert!(html.contains(&expected), "missing {expected:?} in {html}");
    }
    let download = s.get(&file, &Auth::Anonymous);
    assert_eq!(download.status, 200);
    assert_eq!(download.body, scoped);

    let page = s.get(
        &format!("/{OWNER}/-/packages/npm/plain-widget/0.1.0"),
        &Auth::Anonymous,
    );
    assert_eq!(page.status, 200);
    let html = page.text();
    for expected in [
        format!("registry={base}/api/packages/{OWNER}/npm/"),
        "npm install plain-widget@0.1.0".to_owned(),
    ] {
        assert!(html.contains(&expected), "missing {expected:?} in {html}");
    }
    assert!(
        !html.contains(":registry="),
        "no scope line for an unscoped name"
    );

    // The search of the pages finds npm packages, alone or among every type.
    for query in [
        "/?q=widget&type=npm",
        "/?q=widget",
        &format!("/{OWNER}/-/packages?type=npm"),
    ] {
        let list = s.get(query, &Auth::Anonymous);
        assert_eq!(list.status, 200, "{query}");
        let html = list.text();
        for name in ["@web/widget", "plain-widget"] {
            assert!(html.contains(name), "{query} lacks {name}: {html}");
        }
    }
    let none = s.get("/?q=widget&type=pypi", &Auth::Anonymous);
    assert!(!none.text().contains("plain-widget"));
}

forge_e2e::backends!(pages_offer_npm_commands);
