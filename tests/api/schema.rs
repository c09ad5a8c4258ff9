//! The OpenAPI document at `/api/schema/` and the page at `/api/docs/`: every public route is
//! documented with exactly the methods it answers, nothing else is, and every `$ref`
//! resolves. (CI also fuzzes the running server from this document: `.ci/run`.)

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::spawn_app;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "$ref" {
                    out.push(x.as_str().unwrap().to_string());
                } else {
                    refs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_schema_documents_every_route_and_method_and_nothing_else() {
    let app = spawn_app().await;
    let res = app
        .client
        .get(app.url("/api/schema/"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], app.address.as_str());

    // Paths: exactly those the server registered with `api::resource`.
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let registered: BTreeSet<String> = convene::api::registered_paths().into_iter().collect();
    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty(),
        "routes missing from the schema: {missing:?}"
    );
    assert!(extra.is_empty(), "schema paths no route serves: {extra:?}");

    // Methods: a documented one is answered (whatever the status), any other is 405.
    let ops: BTreeSet<(String, String)> = convene::api::schema::documented_operations()
        .into_iter()
        .collect();
    for path in &documented {
        let concrete = path
            .replace("{meeting_id}", "123")
            .replace("{id}", &uuid::Uuid::new_v4().to_string());
        for method in METHODS {
            let res = app
                .client
                .request(method.parse().unwrap(), app.url(&concrete))
                .header("Authorization", app.auth())
                .header("content-type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let documented = ops.contains(&(path.clone(), method.to_string()));
            assert_eq!(
                res.status() == 405,
                !documented,
                "{method} {path}: answered {}, documented: {documented}",
                res.status()
            );
            assert!(res.status().as_u16() < 500, "{method} {path}");
            if documented {
                let spec = &doc["paths"][path.as_str()][method.to_lowercase()];
                assert!(
                    spec["responses"]
                        .get(res.status().as_u16().to_string())
                        .is_some(),
                    "{method} {path}: {} is not a documented answer",
                    res.status()
                );
            }
        }
    }

    // Every reference resolves; every operation has a summary and responses.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").expect(&r);
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling {r}"
        );
    }
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert!(op["summary"].is_string(), "{method} {path}");
            assert!(!op["responses"].as_object().unwrap().is_empty());
        }
    }
    // The Convene extensions say so.
    assert_eq!(
        doc["paths"]["/api/v2/zoom-meetings/{meeting_id}/tokens/"]["get"]["x-convene-extension"],
        true
    );
}

#[tokio::test]
async fn the_docs_page_is_self_contained() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = res.text().await.unwrap();
    assert!(html.contains("/api/schema/"));
    assert!(!html.contains("<script src"), "no external script");
    assert!(!html.contains("https://"), "no CDN or other host");
    let res = app.client.post(app.url("/api/docs/")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    let res = app.client.get(app.url("/api/schema")).send().await.unwrap();
    assert_eq!(res.status(), 200, "without the slash too");
}
