//! The lender directory (`/lenders/directory`, `/lenders/{org_id}`, `/lenders/{org_id}/programs`)
//! and market data (`/market/base-rates`, `/market/asset-types`) over HTTP, and the
//! `levd admin directory` commands run as a separate process against a running server's
//! database. Each test starts from a fresh database without demo data: the built-in reference
//! data must be there anyway.
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use levd::demo::lenders::builtin_lenders;
use levd_domain::directory::{
    LENDER_LIST_FIELDS, NewLender, builtin_asset_types, builtin_base_rates, name_search_text,
};
use levd_domain::scope::{AccountScope, CredentialKind, KeyPermission, Role, ScopeSet, Tier};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error, fail, ids, jwt_for, ok, parts, setup};

/// Members of a list item, in the order they are written (the names `fields=` accepts).
const LIST_FIELDS: &[&str] = LENDER_LIST_FIELDS;
/// Members only `GET /lenders/{org_id}` carries.
const DETAIL_ONLY_FIELDS: &[&str] = &["linkedin_url", "aliases", "domains", "square_logo_url", "programs"];
/// Members of a program, in order.
const PROGRAM_FIELDS: &str = "id title loan_types recourse_types min_loan_amount max_loan_amount capital_source_type positions sponsor_states status";
const BUILTIN_COUNT: i64 = 300;
const CURSOR_SORT_MSG: &str = "cursor and sort cannot be combined; use offset pagination when sorting";
const SCOPE_MSG: &str = "Missing required scope: lenders:read";

// ---------------------------------------------------------------------------------------------
// helpers

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn builtin(id: i64) -> NewLender {
    builtin_lenders().into_iter().find(|l| l.id == id).unwrap()
}

/// Every lender of a directory query, following `next_cursor`.
async fn all_pages(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let sep = if query.is_empty() { "" } else { "&" };
        let path = match &cursor {
            Some(c) => format!("/lenders/directory?limit=200{sep}{query}&cursor={c}"),
            None => format!("/lenders/directory?limit=200{sep}{query}"),
        };
        let b = ok(app.get(&path, key)).await;
        out.extend(b["data"].as_array().unwrap().iter().cloned());
        if !b["pagination"]["has_more"].as_bool().unwrap() {
            assert!(b["pagination"]["next_cursor"].is_null(), "{}", b["pagination"]);
            assert_eq!(b["pagination"]["total"].as_u64().unwrap() as usize, out.len());
            return out;
        }
        cursor = Some(b["pagination"]["next_cursor"].as_str().unwrap().to_string());
    }
}

async fn total(app: &TestApp, key: &str, query: &str) -> i64 {
    ok(app.get(&format!("/lenders/directory?limit=1&{query}"), key)).await["pagination"]["total"].as_i64().unwrap()
}

fn levd(db_url: &str, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_levd"))
        .args(["admin", "directory"])
        .args(args)
        .args(["--database-url", db_url])
        .env_remove("LEV_DATABASE_URL")
        .output()
        .unwrap()
}

fn admin_ok(app: &TestApp, args: &[&str]) -> Value {
    let out = levd(&app.db_url, args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.trim().lines().count(), 1, "one JSON object expected: {text}");
    serde_json::from_str(text.trim()).unwrap()
}

/// Runs a command that must fail; returns its stderr.
fn admin_err(app: &TestApp, args: &[&str]) -> String {
    let out = levd(&app.db_url, args);
    assert!(!out.status.success(), "{args:?} should fail: {}", String::from_utf8_lossy(&out.stdout));
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// GET /lenders/directory

#[tokio::test]
async fn directory_lists_the_builtin_lenders_with_every_member() {
    let (app, t) = setup().await;
    let b = ok(app.get("/lenders/directory", &t.key)).await;
    let data = b["data"].as_array().unwrap();
    assert_eq!(data.len(), 50);
    for l in data {
        assert_eq!(keys(l), LIST_FIELDS, "{l}");
        assert!(l["name"].as_str().is_some_and(|n| !n.is_empty()));
        assert!(l["lender_type"].as_array().unwrap().iter().all(Value::is_string));
        assert!(l["created_at"].as_str().unwrap().ends_with('Z'));
        for f in DETAIL_ONLY_FIELDS {
            assert!(l.get(*f).is_none(), "{f} in a list item: {l}");
        }
    }
    let got = ids(&b);
    assert!(got.windows(2).all(|w| w[0] < w[1]), "id order: {got:?}");
    let p = &b["pagination"];
    assert_eq!(p["total"], BUILTIN_COUNT);
    assert_eq!(p["limit"], 50);
    assert!(p["cursor"].is_null());
    assert_eq!(p["has_more"], true);
    assert!(p["next_cursor"].is_string());
    assert!(p.get("offset").is_none());

    // The item is the built-in record, list members only.
    let first = &data[0];
    let expected = serde_json::to_value(builtin(first["id"].as_i64().unwrap())).unwrap();
    for f in LIST_FIELDS {
        assert_eq!(first[*f], expected[*f], "{f}");
    }
    // A variety of lender kinds.
    let all = all_pages(&app, &t.key, "").await;
    let kinds: HashSet<&str> =
        all.iter().flat_map(|l| l["lender_type"].as_array().unwrap()).map(|k| k.as_str().unwrap()).collect();
    for k in ["bank", "credit_union", "debt_fund", "life_company", "cmbs", "agency", "mortgage_reit", "private_lender"]
    {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
}

#[tokio::test]
async fn cursor_pages_walk_the_whole_directory_once() {
    let (app, t) = setup().await;
    let all = all_pages(&app, &t.key, "").await;
    assert_eq!(all.len() as i64, BUILTIN_COUNT);
    let got: Vec<i64> = all.iter().map(|l| l["id"].as_i64().unwrap()).collect();
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    let expected: Vec<i64> = builtin_lenders().iter().map(|l| l.id).collect();
    assert_eq!(got, expected);

    // Small pages: the cursor is echoed and the pages join up.
    let p1 = ok(app.get("/lenders/directory?limit=7", &t.key)).await;
    let c = p1["pagination"]["next_cursor"].as_str().unwrap().to_string();
    let p2 = ok(app.get(&format!("/lenders/directory?limit=7&cursor={c}"), &t.key)).await;
    assert_eq!(p2["pagination"]["cursor"], c.as_str());
    let joined: Vec<i64> = ids(&p1).into_iter().chain(ids(&p2)).collect();
    assert_eq!(joined, expected[..14]);
}

#[tokio::test]
async fn name_search_is_a_case_insensitive_substring_of_name_or_alias() {
    let (app, t) = setup().await;
    let lenders = builtin_lenders();
    let expect = |term: &str| -> Vec<i64> {
        let term = term.to_lowercase();
        lenders
            .iter()
            .filter(|l| name_search_text(&l.name, l.aliases.as_deref()).contains(&term))
            .map(|l| l.id)
            .collect()
    };
    for term in ["bank", "BANK", "Credit Union", "trust", "ridge"] {
        let got: Vec<i64> = all_pages(&app, &t.key, &format!("name={}", term.replace(' ', "%20")))
            .await
            .iter()
            .map(|l| l["id"].as_i64().unwrap())
            .collect();
        let want = expect(term);
        assert!(!want.is_empty(), "{term}");
        assert_eq!(got, want, "{term}");
    }
    // A lender found by one of its aliases (not part of its name).
    let aliased = lenders
        .iter()
        .find(|l| l.aliases.as_ref().unwrap().iter().any(|a| a.len() >= 3 && !l.name.contains(a.as_str())))
        .unwrap();
    let alias = aliased.aliases.as_ref().unwrap().iter().find(|a| !aliased.name.contains(a.as_str())).unwrap();
    let got = all_pages(&app, &t.key, &format!("name={}", alias.to_lowercase())).await;
    assert!(got.iter().any(|l| l["id"] == aliased.id), "alias {alias} of {}", aliased.name);

    // LIKE wildcards are matched literally; blank means no search.
    assert_eq!(total(&app, &t.key, "name=%25").await, 0);
    assert_eq!(total(&app, &t.key, "name=_").await, 0);
    assert_eq!(total(&app, &t.key, "name=%20%20").await, BUILTIN_COUNT);
    assert_eq!(total(&app, &t.key, "name=zzzz-no-such-lender").await, 0);
}

#[tokio::test]
async fn state_filter_takes_codes_or_names() {
    let (app, t) = setup().await;
    let lenders = builtin_lenders();
    let want: Vec<i64> = lenders.iter().filter(|l| l.state.as_deref() == Some("NY")).map(|l| l.id).collect();
    assert!(want.len() > 3);
    for q in ["filter[state]=NY", "filter[state]=ny", "filter[state]=New%20York", "filter%5Bstate%5D=%20NY%20"] {
        let got = all_pages(&app, &t.key, q).await;
        assert!(got.iter().all(|l| l["state"] == "NY"), "{q}");
        assert_eq!(got.iter().map(|l| l["id"].as_i64().unwrap()).collect::<Vec<_>>(), want, "{q}");
    }
    // Combined with name (AND).
    let both: Vec<i64> = lenders
        .iter()
        .filter(|l| l.state.as_deref() == Some("NY") && l.name.to_lowercase().contains("capital"))
        .map(|l| l.id)
        .collect();
    let got = all_pages(&app, &t.key, "filter[state]=NY&name=capital").await;
    assert_eq!(got.iter().map(|l| l["id"].as_i64().unwrap()).collect::<Vec<_>>(), both);

    let e = fail(app.get("/lenders/directory?filter[state]=Atlantis", &t.key), 422, "validation_error").await;
    assert!(e["details"]["fields"]["filter[state]"].is_string(), "{e}");
    let e = fail(app.get("/lenders/directory?filter[state][gte]=NY", &t.key), 422, "validation_error").await;
    assert!(e["details"]["fields"]["filter[state][gte]"].is_string(), "{e}");
    let e = fail(app.get("/lenders/directory?filter[city]=Boston", &t.key), 422, "validation_error").await;
    assert_eq!(e["details"]["allowed"], json!(["state"]));
    fail(app.get("/lenders/directory?filter[state]=NY&filter[state]=MA", &t.key), 400, "bad_request").await;
    fail(app.get("/lenders/directory?filter[state=NY", &t.key), 400, "bad_request").await;
}

#[tokio::test]
async fn sort_by_name_pages_by_offset() {
    let (app, t) = setup().await;
    let mut names = Vec::new();
    let mut offset = 0;
    loop {
        let b = ok(app.get(&format!("/lenders/directory?sort=name&limit=120&offset={offset}"), &t.key)).await;
        let p = &b["pagination"];
        assert_eq!(p["offset"], offset);
        assert_eq!(p["total"], BUILTIN_COUNT);
        assert!(p.get("next_cursor").is_none(), "{p}");
        names.extend(b["data"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap().to_lowercase()));
        if !p["has_more"].as_bool().unwrap() {
            break;
        }
        offset += 120;
    }
    assert_eq!(names.len() as i64, BUILTIN_COUNT);
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);

    let desc = ok(app.get("/lenders/directory?sort=-name&limit=5", &t.key)).await;
    let first: Vec<String> =
        desc["data"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap().to_lowercase()).collect();
    let mut last5: Vec<String> = sorted[sorted.len() - 5..].to_vec();
    last5.reverse();
    assert_eq!(first, last5);

    // Sorted within a state filter and a search.
    let ny = ok(app.get("/lenders/directory?sort=name&filter[state]=NY&limit=200", &t.key)).await;
    let ny_names: Vec<String> =
        ny["data"].as_array().unwrap().iter().map(|l| l["name"].as_str().unwrap().to_lowercase()).collect();
    assert!(ny_names.windows(2).all(|w| w[0] <= w[1]), "{ny_names:?}");

    let b = ok(app.get("/lenders/directory?limit=1", &t.key)).await;
    let c = b["pagination"]["next_cursor"].as_str().unwrap();
    let e = fail(app.get(&format!("/lenders/directory?sort=name&cursor={c}"), &t.key), 400, "bad_request").await;
    assert_eq!(e["message"], CURSOR_SORT_MSG);
    let e = fail(app.get("/lenders/directory?sort=city", &t.key), 422, "validation_error").await;
    assert_eq!(e["details"]["allowed"], json!(["name"]));
    let e = fail(app.get("/lenders/directory?sort=name&offset=-1", &t.key), 422, "validation_error").await;
    assert!(e["details"]["fields"]["offset"].is_string());
}

#[tokio::test]
async fn fields_select_list_members() {
    let (app, t) = setup().await;
    let b = ok(app.get("/lenders/directory?fields=name,state&limit=3", &t.key)).await;
    for l in b["data"].as_array().unwrap() {
        assert_eq!(keys(l), ["id", "name", "state"]);
    }
    let b = ok(app.get("/lenders/directory?fields=id&limit=3", &t.key)).await;
    assert_eq!(keys(&b["data"][0]), ["id"]);
    let b = ok(app.get("/lenders/directory?fields=name,about&limit=2", &t.key)).await;
    assert_eq!(keys(&b["data"][0]), ["id", "name", "about"]);
    // Detail-only members are not list members, so `fields` cannot ask for them either.
    for bad in ["website_url", "program", "name,nope", "name,,state", "programs", "name,aliases"] {
        let e = fail(app.get(&format!("/lenders/directory?fields={bad}"), &t.key), 422, "validation_error").await;
        assert!(e["details"]["fields"]["fields"].is_string(), "{bad}: {e}");
    }
    let e = fail(app.get("/lenders/directory?fields=alias", &t.key), 422, "validation_error").await;
    assert_eq!(e["details"]["allowed"], json!(LIST_FIELDS));
    let e = fail(app.get("/lenders/directory?include=programs", &t.key), 422, "validation_error").await;
    assert!(e["details"]["fields"]["include"].is_string());
}

#[tokio::test]
async fn list_parameters_are_validated() {
    let (app, t) = setup().await;
    assert_eq!(ok(app.get("/lenders/directory?limit=200", &t.key)).await["data"].as_array().unwrap().len(), 200);
    assert_eq!(ok(app.get("/lenders/directory?limit=1", &t.key)).await["data"].as_array().unwrap().len(), 1);
    for bad in ["0", "201", "abc", "-1", "1.5", ""] {
        let e = fail(app.get(&format!("/lenders/directory?limit={bad}"), &t.key), 422, "validation_error").await;
        assert!(e["details"]["fields"]["limit"].is_string(), "{bad}");
    }
    fail(app.get("/lenders/directory?cursor=not-a-cursor", &t.key), 400, "bad_request").await;
    fail(app.get("/lenders/directory?name=a&name=b", &t.key), 400, "bad_request").await;
    fail(app.get("/lenders/directory?name=%ZZ", &t.key), 400, "bad_request").await;
    let e =
        fail(app.get(&format!("/lenders/directory?name={}", "b".repeat(201)), &t.key), 422, "validation_error").await;
    assert!(e["details"]["fields"]["name"].is_string());
    // Unknown parameters are ignored, as on every list.
    assert_eq!(total(&app, &t.key, "colour=blue").await, BUILTIN_COUNT);
}

// ---------------------------------------------------------------------------------------------
// GET /lenders/{org_id} and /programs

#[tokio::test]
async fn lender_detail_has_every_member_and_its_programs() {
    let (app, t) = setup().await;
    let lenders = builtin_lenders();
    // One with several programs, so the array is interesting.
    let l = lenders.iter().find(|l| l.programs.as_ref().unwrap().len() >= 3).unwrap();
    let b = ok(app.get(&format!("/lenders/{}", l.id), &t.key)).await;
    let d = &b["data"];
    // The detail carries the members of a list item and the detail-only ones.
    let mut expected_keys: Vec<&str> = LIST_FIELDS.iter().chain(DETAIL_ONLY_FIELDS).copied().collect();
    let mut got_keys = keys(d);
    got_keys.sort();
    expected_keys.sort();
    assert_eq!(got_keys, expected_keys);
    assert!(b.get("pagination").is_none());
    let want = serde_json::to_value(l).unwrap();
    for f in LIST_FIELDS.iter().chain(DETAIL_ONLY_FIELDS).filter(|f| **f != "programs") {
        assert_eq!(d[*f], want[*f], "{f}");
    }
    let programs = d["programs"].as_array().unwrap();
    assert_eq!(programs.len(), l.programs.as_ref().unwrap().len());
    for (p, w) in programs.iter().zip(want["programs"].as_array().unwrap()) {
        assert_eq!(keys(p), PROGRAM_FIELDS.split(' ').collect::<Vec<_>>());
        assert_eq!(p, w);
        assert!(p["min_loan_amount"].as_f64().unwrap() <= p["max_loan_amount"].as_f64().unwrap());
    }
    // The list shows the same lender with list members only.
    let list =
        ok(app.get(&format!("/lenders/directory?name={}", l.name.replace(' ', "%20").replace('&', "%26")), &t.key))
            .await;
    let item = list["data"].as_array().unwrap().iter().find(|i| i["id"] == l.id).unwrap().clone();
    for f in LIST_FIELDS {
        assert_eq!(item[*f], d[*f], "{f}");
    }
    // The /build alias answers identically.
    let again = ok(app.get(&format!("/build/lenders/{}", l.id), &t.key)).await;
    assert_eq!(again["data"], b["data"]);
}

#[tokio::test]
async fn unknown_or_malformed_lender_ids_are_404() {
    let (app, t) = setup().await;
    for id in ["999999", "0", "-5", "abc", "7001x", "99999999999999999999", "7001.0", "%20"] {
        for suffix in ["", "/programs"] {
            let e = fail(app.get(&format!("/lenders/{id}{suffix}"), &t.key), 404, "not_found").await;
            assert_eq!(e["message"], "Lender not found", "{id}{suffix}");
        }
    }
    // Ids of other kinds of records are not lenders.
    let deal = app.create_deal(&t.key, json!({"title": "Not a lender"})).await;
    fail(app.get(&format!("/lenders/{}", deal["id"]), &t.key), 404, "not_found").await;
}

#[tokio::test]
async fn programs_of_a_lender_are_listed_and_paged() {
    let (app, t) = setup().await;
    let l = builtin_lenders().into_iter().find(|l| l.programs.as_ref().unwrap().len() >= 3).unwrap();
    let detail = ok(app.get(&format!("/lenders/{}", l.id), &t.key)).await;
    let b = ok(app.get(&format!("/lenders/{}/programs", l.id), &t.key)).await;
    assert_eq!(b["data"], detail["data"]["programs"]);
    let n = l.programs.as_ref().unwrap().len();
    let p = &b["pagination"];
    assert_eq!(p["total"], n);
    assert_eq!(p["limit"], 50);
    assert_eq!(p["has_more"], false);
    assert!(p["next_cursor"].is_null());

    // Page by one.
    let mut seen = Vec::new();
    let mut path = format!("/lenders/{}/programs?limit=1", l.id);
    loop {
        let b = ok(app.get(&path, &t.key)).await;
        assert_eq!(b["data"].as_array().unwrap().len(), 1);
        seen.push(b["data"][0].clone());
        if !b["pagination"]["has_more"].as_bool().unwrap() {
            break;
        }
        path =
            format!("/lenders/{}/programs?limit=1&cursor={}", l.id, b["pagination"]["next_cursor"].as_str().unwrap());
    }
    assert_eq!(Value::Array(seen), detail["data"]["programs"]);

    for (q, status) in
        [("limit=0", 422), ("limit=500", 422), ("sort=title", 422), ("fields=title", 422), ("cursor=%%%", 400)]
    {
        let (s, body) = parts(app.get(&format!("/lenders/{}/programs?{q}", l.id), &t.key).send().await.unwrap()).await;
        assert_eq!(s, status, "{q}: {body}");
    }
}

// ---------------------------------------------------------------------------------------------
// Market data

#[tokio::test]
async fn base_rates_carry_code_name_rate_and_as_of() {
    let (app, t) = setup().await;
    let b = ok(app.get("/market/base-rates", &t.key)).await;
    assert!(b.get("pagination").is_none());
    let data = b["data"].as_array().unwrap();
    assert_eq!(data.len(), builtin_base_rates().len());
    for r in data {
        assert_eq!(keys(r), ["code", "name", "rate", "as_of", "key"]);
        let rate = r["rate"].as_f64().unwrap();
        assert!((0.0..20.0).contains(&rate), "{r}");
        let as_of = r["as_of"].as_str().unwrap();
        assert!(levd_domain::time_fmt::parse_date(as_of).as_deref() == Some(as_of), "{as_of}");
    }
    let codes: Vec<&str> = data.iter().map(|r| r["code"].as_str().unwrap()).collect();
    for c in ["SOFR 30-Day Avg", "Treasury 5-Yr", "Treasury 10-Yr", "Prime Rate"] {
        assert!(codes.contains(&c), "{c} in {codes:?}");
    }
    let sofr = data.iter().find(|r| r["key"] == "sofr_m1").unwrap();
    assert_eq!(sofr["code"], "SOFR 30-Day Avg");
    assert_eq!(ok(app.get("/build/market/base-rates", &t.key)).await["data"], b["data"]);
    // No parameters: any given are ignored.
    assert_eq!(ok(app.get("/market/base-rates?limit=1", &t.key)).await["data"], b["data"]);
}

#[tokio::test]
async fn asset_types_are_the_catalogue() {
    let (app, t) = setup().await;
    let b = ok(app.get("/market/asset-types", &t.key)).await;
    let data = b["data"].as_array().unwrap();
    assert_eq!(data.len(), builtin_asset_types().len());
    let got: Vec<i64> = data.iter().map(|a| a["id"].as_i64().unwrap()).collect();
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    for a in data {
        assert_eq!(keys(a), ["id", "description", "property_sub_types"]);
        assert!(a["description"].as_str().is_some_and(|d| !d.is_empty()));
        assert!(a["property_sub_types"].is_string());
    }
    assert_eq!(data[0]["description"], "Multifamily");
    assert!(data.iter().any(|a| a["description"] == "Self Storage"));
}

// ---------------------------------------------------------------------------------------------
// Who may read

#[tokio::test]
async fn reference_data_is_global_and_readable_with_any_read_grant() {
    let (app, t) = setup().await;
    let other = app.tenant_with("other", Tier::Free, Role::Admin).await;
    let ro = app.key(t.user_id, &t.account, KeyPermission::ReadOnly).await;
    let viewer = app.tenant_with("viewco", Tier::Standard, Role::Viewer).await;
    let jwt = jwt_for(&viewer.subject);
    let paths = [
        "/lenders/directory?limit=5&filter[state]=CA",
        "/lenders/7001",
        "/lenders/7002/programs",
        "/market/base-rates",
        "/market/asset-types",
    ];
    for path in paths {
        let reference = ok(app.get(path, &t.key)).await;
        for token in [&other.key, &ro, &viewer.key, &jwt] {
            let b = ok(app.get(path, token)).await;
            assert_eq!(b["data"], reference["data"], "{path}");
            assert_eq!(b.get("pagination"), reference.get("pagination"), "{path}");
        }
    }
}

#[tokio::test]
async fn a_caller_without_lenders_read_is_refused_before_any_lookup() {
    let (app, t) = setup().await;
    let svc = levd_service::Service::new(
        app.store.clone(),
        std::sync::Arc::new(levd_domain::limits::RateLimitConfig::default()),
        std::sync::Arc::new(|| {}),
    );
    let no_scopes = AccountScope {
        account_id: t.account.id,
        account_slug: t.account.slug.clone(),
        tier: Tier::Enterprise,
        user_id: t.user_id,
        role: Role::Viewer,
        scopes: ScopeSet::default(),
        credential: CredentialKind::Jwt,
    };
    let s = &no_scopes;
    let errors = [
        svc.list_lender_directory(s, Some("limit=0&filter[nope]=1")).await.unwrap_err(),
        svc.list_lender_directory(s, None).await.unwrap_err(),
        svc.get_lender(s, 7001).await.unwrap_err(),
        svc.get_lender(s, 0).await.unwrap_err(),
        svc.list_lender_programs(s, 424242, Some("limit=0")).await.unwrap_err(),
        svc.list_base_rates(s).await.unwrap_err(),
        svc.list_asset_types(s).await.unwrap_err(),
    ];
    for e in errors {
        assert_eq!(e.status(), 403, "{e}");
        assert_eq!(e.message, SCOPE_MSG);
    }
    // The same caller with the read scopes gets through.
    let reader = AccountScope { scopes: ScopeSet::read_only(), ..no_scopes.clone() };
    assert!(svc.get_lender(&reader, 7001).await.is_ok());
}

#[tokio::test]
async fn writes_are_not_routes_and_change_nothing() {
    let (app, t) = setup().await;
    let before = ok(app.get("/lenders/7001", &t.key)).await;
    let cases = [
        (Method::POST, "/lenders/directory"),
        (Method::DELETE, "/lenders/directory"),
        (Method::PATCH, "/lenders/7001"),
        (Method::DELETE, "/lenders/7001"),
        (Method::PUT, "/lenders/7001"),
        (Method::POST, "/lenders/7001/programs"),
        (Method::POST, "/market/base-rates"),
        (Method::PUT, "/market/asset-types"),
    ];
    for (m, path) in cases {
        let r = app.req(m.clone(), path, &t.key).json(&json!({"name": "Hijacked"})).send().await.unwrap();
        let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_uppercase()).unwrap_or_default();
        let (s, b) = parts(r).await;
        assert_eq!(s, 405, "{m} {path}: {b}");
        assert_error(&b, 405, "method_not_allowed");
        assert!(allow.contains("GET"), "{m} {path}: Allow {allow:?}");
    }
    assert_eq!(ok(app.get("/lenders/7001", &t.key)).await["data"], before["data"]);
    assert_eq!(total(&app, &t.key, "").await, BUILTIN_COUNT);
}

#[tokio::test]
async fn reference_routes_require_a_credential() {
    let (app, _t) = setup().await;
    for p in
        ["/lenders/directory", "/lenders/7001", "/lenders/7001/programs", "/market/base-rates", "/market/asset-types"]
    {
        let r = app.client.get(app.url(p)).header("X-Origin-App", "t");
        let e = fail(r, 401, "unauthorized").await;
        assert_eq!(e["message"], "Authentication required", "{p}");
        let r = app.client.get(app.url(p)).header("X-Origin-App", "t").bearer_auth("lev_sk_nope");
        fail(r, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn first_requests_racing_load_the_builtin_data_once() {
    let (app, t) = setup().await;
    let paths = ["/lenders/directory?limit=1", "/market/base-rates", "/market/asset-types", "/lenders/7003"];
    let reqs = (0..12).map(|i| app.get(paths[i % paths.len()], &t.key).send());
    let responses = futures::future::join_all(reqs).await;
    for r in responses {
        let (s, b) = parts(r.unwrap()).await;
        assert_eq!(s, 200, "{b}");
    }
    assert_eq!(total(&app, &t.key, "").await, BUILTIN_COUNT);
    let status = admin_ok(&app, &["status"]);
    let datasets = status["datasets"].as_array().unwrap();
    assert_eq!(datasets.len(), 3, "{status}");
    assert!(datasets.iter().all(|d| d["source"] == "builtin"), "{status}");
    let programs: usize = builtin_lenders().iter().map(|l| l.programs.as_ref().unwrap().len()).sum();
    let exported = admin_ok(&app, &["export"]);
    let n: usize =
        exported["lenders"].as_array().unwrap().iter().map(|l| l["programs"].as_array().unwrap().len()).sum();
    assert_eq!(n, programs, "programs loaded exactly once");
}

// ---------------------------------------------------------------------------------------------
// levd admin directory

#[tokio::test]
async fn admin_load_json_merges_into_the_directory() {
    let (app, t) = setup().await;
    let before = ok(app.get("/lenders/7001", &t.key)).await["data"].clone();
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "lenders.json",
        &json!({"lenders": [
            {"id": 9001, "name": "Quayside Test Capital", "state": "massachusetts", "city": "Boston",
             "lender_type": ["debt_fund"], "aliases": ["QTC"], "domains": ["quayside.example"],
             "website": "https://quayside.example", "about": "Made up for a test.",
             "programs": [
                {"title": "Bridge", "loan_types": ["light_bridge", "heavy_bridge"], "recourse_types": ["non_recourse"],
                 "min_loan_amount": 5000000, "max_loan_amount": 50000000, "positions": ["senior"],
                 "sponsor_states": ["MA", "nh"], "status": "active", "capital_source_type": "private_fund"},
                {"title": "Mezz", "loan_types": ["permanent"], "status": "inactive"}
             ]},
            {"id": 7001, "name": "Renamed Lender"}
        ]})
        .to_string(),
    );
    let r = admin_ok(&app, &["load", "--file", path_str(&file)]);
    assert_eq!(r["dataset"], "lenders");
    assert_eq!(r["mode"], "merge");
    assert_eq!(r["loaded"], 2);
    assert_eq!(r["inserted"], 1);
    assert_eq!(r["updated"], 1);
    assert_eq!(r["removed"], 0);
    assert_eq!(r["total"], BUILTIN_COUNT + 1);
    assert_eq!(r["programs_loaded"], 2);

    let d = ok(app.get("/lenders/9001", &t.key)).await["data"].clone();
    assert_eq!(d["name"], "Quayside Test Capital");
    assert_eq!(d["state"], "MA");
    assert_eq!(d["aliases"], json!(["QTC"]));
    let programs = d["programs"].as_array().unwrap();
    assert_eq!(programs.len(), 2);
    assert_eq!(programs[0]["sponsor_states"], json!(["MA", "NH"]));
    assert_eq!(programs[0]["max_loan_amount"].as_f64(), Some(5e7));
    assert_eq!(programs[1]["status"], "inactive");
    assert!(programs[0]["id"].as_i64().unwrap() > 0 && programs[0]["id"] != programs[1]["id"]);
    assert_eq!(ok(app.get("/lenders/9001/programs", &t.key)).await["data"], d["programs"]);
    // Found by alias and by state.
    let found = ok(app.get("/lenders/directory?name=qtc&filter[state]=MA", &t.key)).await;
    assert_eq!(ids(&found), [9001]);

    // The merged lender: new name, other members cleared as the file says, programs and
    // creation time kept (the file gave neither).
    let merged = ok(app.get("/lenders/7001", &t.key)).await["data"].clone();
    assert_eq!(merged["name"], "Renamed Lender");
    assert!(merged["website"].is_null());
    assert_eq!(merged["programs"], before["programs"]);
    assert_eq!(merged["created_at"], before["created_at"]);
    assert_eq!(total(&app, &t.key, "name=renamed").await, 1);
}

#[tokio::test]
async fn admin_load_csv_with_programs_replaces_the_directory() {
    let (app, t) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let lenders = write(
        dir.path(),
        "lenders.csv",
        "id,name,city,state,zip,lender_type,aliases,about\n\
         501,\"Harbor, Main & Co Bank\",Portland,ME,04101,bank|agency,HMC,\"Line one\nline two\"\n\
         502,Desert Sky Credit Union,Phoenix,Arizona,85004,credit_union,,\n",
    );
    let programs = write(
        dir.path(),
        "programs.csv",
        "org_id,id,title,loan_types,recourse_types,min_loan_amount,max_loan_amount,sponsor_states,status\n\
         501,8001,Term,permanent,full_recourse,250000,10000000,ME|NH|VT,active\n\
         501,8002,Construction,construction|land,full_recourse,500000,5000000,ME,inactive\n\
         502,8003,Member CRE,permanent,,100000,3000000,AZ,active\n",
    );
    let r = admin_ok(&app, &["load", "--file", path_str(&lenders), "--programs", path_str(&programs), "--replace"]);
    assert_eq!(r["mode"], "replace");
    assert_eq!(r["loaded"], 2);
    assert_eq!(r["inserted"], 2);
    assert_eq!(r["removed"], BUILTIN_COUNT);
    assert_eq!(r["total"], 2);
    assert_eq!(r["total_programs"], 3);

    let all = all_pages(&app, &t.key, "").await;
    assert_eq!(all.iter().map(|l| l["id"].as_i64().unwrap()).collect::<Vec<_>>(), [501, 502]);
    assert_eq!(all[0]["name"], "Harbor, Main & Co Bank");
    assert_eq!(all[0]["about"], "Line one\nline two");
    assert_eq!(all[0]["lender_type"], json!(["bank", "agency"]));
    assert_eq!(all[1]["state"], "AZ");
    let p = ok(app.get("/lenders/501/programs", &t.key)).await;
    assert_eq!(
        p["data"].as_array().unwrap().iter().map(|p| p["id"].as_i64().unwrap()).collect::<Vec<_>>(),
        [8001, 8002]
    );
    assert_eq!(p["data"][1]["loan_types"], json!(["construction", "land"]));
    assert_eq!(p["data"][0]["sponsor_states"], json!(["ME", "NH", "VT"]));
    fail(app.get("/lenders/7001", &t.key), 404, "not_found").await;
    assert_eq!(ids(&ok(app.get("/lenders/directory?filter[state]=ME", &t.key)).await), [501]);
}

#[tokio::test]
async fn admin_refuses_invalid_files_and_changes_nothing() {
    let (app, t) = setup().await;
    let before = ok(app.get("/lenders/7001", &t.key)).await["data"].clone();
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.json",
        r#"[{"id": 7001, "name": "Should not land"}, {"id": 9002, "name": "X", "state": "Narnia",
            "programs": [{"loan_types": ["bridge"], "min_loan_amount": 9, "max_loan_amount": 1}]}, {"name": "no id"}]"#,
    );
    let err = admin_err(&app, &["load", "--file", path_str(&bad), "--replace"]);
    for needle in ["lenders[1].state", "lenders[1].programs[0].loan_types", "min_loan_amount", "lenders[2].id"] {
        assert!(err.contains(needle), "{needle} in {err}");
    }
    let not_json = write(dir.path(), "broken.json", "{\"lenders\": [");
    assert!(admin_err(&app, &["load", "--file", path_str(&not_json)]).contains("not valid JSON"));
    let bad_csv = write(dir.path(), "bad.csv", "id,name,colour\n1,A,red\n");
    assert!(admin_err(&app, &["load", "--file", path_str(&bad_csv)]).contains("unknown column 'colour'"));
    let ok_csv = write(dir.path(), "ok.csv", "id,name\n1,A\n");
    let orphan = write(dir.path(), "programs.csv", "org_id,title\n2,Orphan\n");
    assert!(
        admin_err(&app, &["load", "--file", path_str(&ok_csv), "--programs", path_str(&orphan)])
            .contains("no lender 2")
    );
    let json_file = write(dir.path(), "l.json", "[]");
    assert!(
        admin_err(&app, &["load", "--file", path_str(&json_file), "--programs", path_str(&orphan)])
            .contains("--programs")
    );
    assert!(admin_err(&app, &["load", "--file", "/nonexistent/lenders.json"]).contains("cannot read"));
    let rates = write(dir.path(), "rates.json", r#"[{"code": "SOFR", "rate": 3.1}]"#);
    assert!(admin_err(&app, &["load-base-rates", "--file", path_str(&rates)]).contains("as_of"));
    let types = write(dir.path(), "types.csv", "id,description\nx,Office\n");
    assert!(admin_err(&app, &["load-asset-types", "--file", path_str(&types)]).contains("positive integer"));

    // A dry run validates and counts but writes nothing.
    let good = write(dir.path(), "good.json", r#"[{"id": 9100, "name": "Dry Run Bank"}]"#);
    let r = admin_ok(&app, &["load", "--file", path_str(&good), "--replace", "--dry-run"]);
    assert_eq!(r["valid"], true);
    assert_eq!(r["loaded"], 1);

    assert_eq!(ok(app.get("/lenders/7001", &t.key)).await["data"], before);
    assert_eq!(total(&app, &t.key, "").await, BUILTIN_COUNT);
    fail(app.get("/lenders/9100", &t.key), 404, "not_found").await;
    assert_eq!(
        ok(app.get("/market/base-rates", &t.key)).await["data"].as_array().unwrap().len(),
        builtin_base_rates().len()
    );
}

/// A quote opened and never closed would take every row after it into one cell; the file is
/// refused with the line the quote opens on, and so are stray quotes, and nothing changes.
#[tokio::test]
async fn admin_refuses_csv_with_broken_quotes_naming_the_line() {
    let (app, t) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let unclosed = write(
        dir.path(),
        "unclosed.csv",
        "id,name,about\r\n9201,First Bank,Plain\r\n\r\n9202,Second Bank,\"Opens here\r\n9203,Third Bank,x\r\n",
    );
    let err = admin_err(&app, &["load", "--file", path_str(&unclosed), "--replace"]);
    assert!(err.contains("lenders file: line 4: quoted field is not closed"), "{err}");
    let stray = write(dir.path(), "stray.csv", "id,name\n9201,Stray \"Quote\" Bank\n");
    let err = admin_err(&app, &["load", "--file", path_str(&stray)]);
    assert!(err.contains("line 2: unexpected quote inside an unquoted field"), "{err}");
    let trailing = write(dir.path(), "trailing.csv", "id,name\n9201,\"Closed\" then text\n");
    let err = admin_err(&app, &["load", "--file", path_str(&trailing)]);
    assert!(err.contains("line 2: text after a closing quote"), "{err}");
    assert_eq!(total(&app, &t.key, "").await, BUILTIN_COUNT);
    fail(app.get("/lenders/9201", &t.key), 404, "not_found").await;
}

#[tokio::test]
async fn admin_loads_base_rates_and_asset_types() {
    let (app, t) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    // Merge from CSV: one rate updated (keeps its place), one added at the end.
    let csv = write(
        dir.path(),
        "rates.csv",
        "key,code,name,rate,as_of\nsofr_m1,SOFR 30-Day Avg,30-Day Average SOFR,3.51,2026-04-02\n\
         bsby_m1,BSBY 1-Mo,Made-up one-month index,3.80,2026-04-02\n",
    );
    let r = admin_ok(&app, &["load-base-rates", "--file", path_str(&csv)]);
    assert_eq!((r["inserted"].as_i64(), r["updated"].as_i64(), r["removed"].as_i64()), (Some(1), Some(1), Some(0)));
    let rates = ok(app.get("/market/base-rates", &t.key)).await["data"].as_array().unwrap().clone();
    assert_eq!(rates.len(), builtin_base_rates().len() + 1);
    let pos = |k: &str| rates.iter().position(|r| r["key"] == k).unwrap();
    assert_eq!(pos("sofr_m1"), builtin_base_rates().iter().position(|r| r.key == "sofr_m1").unwrap());
    assert_eq!(pos("bsby_m1"), rates.len() - 1);
    assert_eq!(rates[pos("sofr_m1")]["rate"].as_f64(), Some(3.51));
    assert_eq!(rates[pos("sofr_m1")]["as_of"], "2026-04-02");
    assert_eq!(rates[pos("treasury_y5")]["as_of"], "2026-03-13");

    // Replace from JSON with a shared as_of.
    let json_file = write(
        dir.path(),
        "rates.json",
        r#"{"as_of": "2026-05-01", "rates": [{"key": "prime_rate", "code": "Prime Rate", "name": "U.S. Prime Rate", "rate": 6.5},
            {"code": "Treasury 10-Yr", "rate": null, "as_of": "2026-04-30"}]}"#,
    );
    let r = admin_ok(&app, &["load-base-rates", "--file", path_str(&json_file), "--replace"]);
    assert_eq!(r["total"], 2);
    let rates = ok(app.get("/market/base-rates", &t.key)).await["data"].clone();
    assert_eq!(
        rates,
        json!([
            {"code": "Prime Rate", "name": "U.S. Prime Rate", "rate": 6.5, "as_of": "2026-05-01", "key": "prime_rate"},
            {"code": "Treasury 10-Yr", "name": "Treasury 10-Yr", "rate": null, "as_of": "2026-04-30", "key": "treasury_10_yr"}
        ])
    );

    // Asset types: replace, then merge from CSV.
    let types = write(
        dir.path(),
        "types.json",
        r#"[{"id": 1, "description": "Apartments", "property_sub_types": ["Garden", "High-Rise"]}, {"id": 40, "description": "Farmland"}]"#,
    );
    let r = admin_ok(&app, &["load-asset-types", "--file", path_str(&types), "--replace"]);
    assert_eq!(r["total"], 2);
    let csv = write(dir.path(), "types.csv", "id,description,property_sub_types\n41,Billboards,\"Static, Digital\"\n");
    admin_ok(&app, &["load-asset-types", "--file", path_str(&csv)]);
    let got = ok(app.get("/market/asset-types", &t.key)).await["data"].clone();
    assert_eq!(
        got,
        json!([
            {"id": 1, "description": "Apartments", "property_sub_types": "Garden, High-Rise"},
            {"id": 40, "description": "Farmland", "property_sub_types": null},
            {"id": 41, "description": "Billboards", "property_sub_types": "Static, Digital"}
        ])
    );

    let status = admin_ok(&app, &["status"]);
    assert_eq!(status["base_rates_as_of"], json!(["2026-04-30", "2026-05-01"]));
    let sources: Vec<&str> =
        status["datasets"].as_array().unwrap().iter().map(|d| d["source"].as_str().unwrap()).collect();
    assert!(sources.iter().any(|s| s.ends_with("types.csv")), "{status}");
}

#[tokio::test]
async fn admin_reset_export_and_an_empty_replace_that_stays_empty() {
    let (app, t) = setup().await;
    let dir = tempfile::tempdir().unwrap();
    // Export, then load the export back: every lender updated, nothing else changes.
    let exported = admin_ok(&app, &["export"]);
    let file = write(dir.path(), "export.json", &exported.to_string());
    let r = admin_ok(&app, &["load", "--file", path_str(&file), "--replace"]);
    assert_eq!(
        (r["updated"].as_i64(), r["inserted"].as_i64(), r["removed"].as_i64()),
        (Some(BUILTIN_COUNT), Some(0), Some(0))
    );
    assert_eq!(admin_ok(&app, &["export"]), exported);
    let rates = admin_ok(&app, &["export", "--dataset", "base-rates"]);
    assert_eq!(rates["base_rates"].as_array().unwrap().len(), builtin_base_rates().len());

    // An operator may empty the directory on purpose; levd does not refill it.
    let empty = write(dir.path(), "empty.json", "[]");
    let r = admin_ok(&app, &["load", "--file", path_str(&empty), "--replace"]);
    assert_eq!(r["total"], 0);
    let b = ok(app.get("/lenders/directory", &t.key)).await;
    assert_eq!(b["data"], json!([]));
    assert_eq!(b["pagination"]["total"], 0);
    assert_eq!(b["pagination"]["has_more"], false);
    fail(app.get("/lenders/7001/programs", &t.key), 404, "not_found").await;

    // Reset brings the built-in data set back.
    let r = admin_ok(&app, &["reset", "--dataset", "lenders"]);
    assert_eq!(r["reset"][0]["total"], BUILTIN_COUNT);
    assert_eq!(total(&app, &t.key, "").await, BUILTIN_COUNT);
    let r = admin_ok(&app, &["reset"]);
    assert_eq!(r["reset"].as_array().unwrap().len(), 3);
    assert_eq!(admin_ok(&app, &["export"]), exported);
}
