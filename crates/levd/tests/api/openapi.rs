//! levd's own OpenAPI document and the `/docs` page.
use crate::common::*;

#[tokio::test]
async fn openapi_document_describes_every_operation() {
    let app = spawn().await;
    let r = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    let ops: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(ops, levd_http::openapi::operation_count());
    assert!(ops >= 82, "{ops}");
    assert!(paths.keys().all(|p| p.starts_with("/api/external/v2/")));
    let list = &paths["/api/external/v2/deals"]["get"];
    let names: Vec<&str> = list["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    for n in [
        "cursor",
        "fields",
        "filter[created_at][lte]",
        "filter[loan_amount][gte]",
        "filter[loan_type]",
        "include",
        "limit",
        "offset",
        "sort",
        "X-Origin-App",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    assert!(doc["components"]["schemas"]["Deal"]["properties"]["loan_amount"].is_object());
    // The placement says what its contact match did; directory list items carry list members
    // only, the detail every member.
    let schemas = &doc["components"]["schemas"];
    let placement = &schemas["Placement"]["properties"];
    assert!(placement["contact_match_status"].is_object(), "{placement}");
    let summary = &schemas["LenderSummary"]["properties"];
    let detail = &schemas["LenderDetail"]["properties"];
    for f in ["linkedin_url", "aliases", "domains", "square_logo_url", "programs"] {
        assert!(summary.get(f).is_none(), "{f} in the list item schema");
        assert!(detail[f].is_object(), "{f} missing from the detail schema");
    }
    // Every operation that is described is also routed: nothing answers "Route not found".
    let t = app.tenant("acme").await;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("/api/external/v2", "")
                .replace("{memo_uuid}", "00000000-0000-0000-0000-000000000000")
                // Keep the caller's own key (id 1) alive for the rest of the walk.
                .replace("{key_id}", "999999");
            let concrete =
                concrete.split('/').map(|s| if s.starts_with('{') { "1" } else { s }).collect::<Vec<_>>().join("/");
            let (s, b) = parts(
                app.req(method.to_uppercase().parse().unwrap(), &concrete, &t.key)
                    .json(&serde_json::json!({}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert!(s < 500, "{method} {concrete}: {s}");
            assert_ne!(b["error"]["message"], "Route not found", "{method} {concrete}");
            assert_ne!(s, 405, "{method} {concrete}");
            assert_ne!(s, 401, "{method} {concrete}");
        }
    }
}

#[tokio::test]
async fn docs_page_is_self_contained_html() {
    let app = spawn().await;
    let r = app.client.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(html.contains("/api/external/v2/openapi.json"));
    assert!(!html.contains("https://"), "the page must not load outside assets");
}
