//! `GET /api/openapi.json`: a valid OpenAPI 3.1 document (checked by openapi-spec-validator
//! against the official schema it ships with) that documents every route the server
//! registers, and only those, with the registry's statuses, headers and error bodies.

use std::collections::BTreeSet;
use std::process::Command;

use forge_e2e::{Backend, TestServer, ANON};
use serde_json::Value;

use crate::common::status;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The (method, path) pairs the document describes, methods upper case.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().expect("path item");
            METHODS
                .iter()
                .filter(|m| item.contains_key(**m))
                .map(|m| (m.to_uppercase(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The operation's response of this status.
#[track_caller]
fn response<'a>(doc: &'a Value, path: &str, method: &str, status: &str) -> &'a Value {
    let r = &doc["paths"][path][method]["responses"][status];
    assert!(r.is_object(), "{method} {path} documents no {status}");
    r
}

fn the_document_is_valid_and_covers_every_route(backend: Backend) {
    let s = TestServer::start(backend);
    let r = s.get("/api/openapi.json", &ANON);
    status(&r, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json();
    let served = r.body.clone();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    // Every route the server registers is documented, and the document invents none.
    let registered: BTreeSet<(String, String)> =
        packages_api::routes::registered(&forge_e2e::formats())
            .into_iter()
            .collect();
    let documented = documented(&doc);
    let missing: Vec<_> = registered.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "registered but not documented: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(extra.is_empty(), "documented but not registered: {extra:?}");
    for route in [
        (
            "PUT",
            "/api/packages/{owner}/generic/{name}/{version}/{file}",
        ),
        ("PATCH", "/api/v1/teams/{id}"),
        ("GET", "/api/openapi.json"),
    ] {
        assert!(
            registered.contains(&(route.0.to_owned(), route.1.to_owned())),
            "{route:?}"
        );
    }

    // The registry's own answers: statuses, headers and bodies.
    let file = "/api/packages/{owner}/generic/{name}/{version}/{file}";
    for code in ["201", "400", "401", "403", "404", "409", "412", "413"] {
        response(&doc, file, "put", code);
    }
    let put = &doc["paths"][file]["put"];
    let params: Vec<&str> = put["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in [
        "owner",
        "name",
        "version",
        "file",
        "If-Match",
        "X-Checksum-Sha256",
    ] {
        assert!(params.contains(&name), "PUT lacks {name}: {params:?}");
    }
    assert!(response(&doc, file, "put", "201")["headers"]["Location"].is_object());
    for code in ["200", "206", "304", "412", "416", "404"] {
        response(&doc, file, "get", code);
    }
    let ok = &response(&doc, file, "get", "200")["headers"];
    for header in [
        "ETag",
        "Content-Disposition",
        "Repr-Digest",
        "X-Checksum-Sha256",
    ] {
        assert!(ok[header].is_object(), "download 200 lacks {header}: {ok}");
    }
    response(&doc, file, "delete", "204");
    response(&doc, file, "head", "200");

    // The documented `/api/v1` error body is the one the server sends.
    let error_ref = &response(&doc, "/api/v1/teams/{id}", "patch", "404")["content"]
        ["application/json"]["schema"]["$ref"];
    assert_eq!(error_ref, "#/components/schemas/ErrorBody");
    let schema: BTreeSet<&str> = doc["components"]["schemas"]["ErrorBody"]["properties"]
        .as_object()
        .expect("ErrorBody properties")
        .keys()
        .map(String::as_str)
        .collect();
    let r = s.get("/api/v1/orgs/nobody", &ANON);
    status(&r, 404);
    let body = r.json();
    let sent: BTreeSet<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(schema, sent, "{body}");

    // Valid against the OpenAPI 3.1 schema.
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, &served).expect("write the document");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/validate_openapi.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 (scripts/test.sh puts the test environment on PATH)");
    assert!(
        out.status.success(),
        "the document is not valid OpenAPI 3.1:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

forge_e2e::backends!(the_document_is_valid_and_covers_every_route);
