//! Deals over HTTP: list, create, read, update, archive and financials, on the canonical routes
//! and under the `/build` alias (`docs/api.md#routes`). Each test runs its own server on a fresh database.
use std::collections::HashSet;
use std::time::Duration;

use levd_domain::scope::{KeyPermission, Role, Tier};
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error, fail, ids, keys, now, ok, parts, property_row, set, setup, spawn};

const WRITE_SCOPE_MSG: &str = "Missing required scope: deals:write";
const CURSOR_SORT_MSG: &str = "cursor and sort cannot be combined; use offset pagination when sorting";
const DEAL_FIELDS: &[&str] = &[
    "archived",
    "archived_at",
    "business_plan",
    "close_date",
    "created_at",
    "description",
    "estimated_close_date",
    "id",
    "loan_amount",
    "loan_type",
    "owner_account_id",
    "title",
    "transaction_type",
    "updated_at",
];
const INCLUDES: &[&str] = &["financials", "properties", "team", "pipelines"];
const SORT_KEYS: &[&str] = &["title", "loan_amount", "created_at", "updated_at"];
const OPERATORS: &[&str] = &["gte", "lte", "gt", "lt"];

// ---------------------------------------------------------------------------------------------
// helpers

async fn get_deal(app: &TestApp, key: &str, id: i64) -> Value {
    ok(app.get(&format!("/deals/{id}"), key)).await["data"].clone()
}

async fn list(app: &TestApp, key: &str, query: &str) -> Value {
    ok(app.get(&format!("/deals?{query}"), key)).await
}

fn id_of(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no integer id: {v}"))
}

fn titles(body: &Value) -> Vec<String> {
    body["data"].as_array().unwrap().iter().map(|d| d["title"].as_str().unwrap().to_string()).collect()
}

/// Number of deals the key's account has (archived included).
async fn count(app: &TestApp, key: &str) -> i64 {
    list(app, key, "limit=1").await["pagination"]["total"].as_i64().unwrap()
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn str_set(v: &Value) -> HashSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn field_errors(e: &Value) -> HashSet<String> {
    keys(&e["details"]["fields"])
}

/// `YYYY-MM-DDTHH:MM:SS[.fff]Z`.
fn is_utc(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return false;
    }
    let shape = b"dddd-dd-ddTdd:dd:dd";
    for (i, c) in shape.iter().enumerate() {
        let ok = if *c == b'd' { b[i].is_ascii_digit() } else { b[i] == *c };
        if !ok {
            return false;
        }
    }
    let rest = &b[19..b.len() - 1];
    rest.is_empty() || (rest[0] == b'.' && rest.len() > 1 && rest[1..].iter().all(u8::is_ascii_digit))
}

fn assert_utc(v: &Value) -> String {
    let s = v.as_str().unwrap_or_else(|| panic!("timestamp is not a string: {v}"));
    assert!(is_utc(s), "not a UTC RFC 3339 timestamp: {s}");
    s.to_string()
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Seconds since the epoch of a `...Z` timestamp.
fn unix_of(ts: &str) -> i64 {
    assert!(is_utc(ts), "{ts}");
    let n = |a: usize, b: usize| ts[a..b].parse::<i64>().unwrap();
    days_from_civil(n(0, 4), n(5, 7), n(8, 10)) * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
}

/// The same instant written with another UTC offset (percent-encoded for a query string).
fn with_offset(unix: i64, offset_minutes: i64) -> String {
    let local = unix + offset_minutes * 60;
    let (y, m, d) = civil_from_days(local.div_euclid(86_400));
    let s = local.rem_euclid(86_400);
    let sign = if offset_minutes >= 0 { "%2B" } else { "-" };
    let o = offset_minutes.abs();
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60, o / 60, o % 60)
}

async fn pause() {
    tokio::time::sleep(Duration::from_millis(1100)).await;
}

const T0: &str = "2026-01-01T00:00:00Z";

// ---------------------------------------------------------------------------------------------
// create

#[tokio::test]
async fn create_returns_201_with_every_deal_field() {
    let (app, t) = setup().await;
    let body = json!({
        "title": "Maple Court Acquisition", "loan_amount": 9200000, "loan_type": "light_bridge",
        "transaction_type": "acquisition", "business_plan": "value_add",
        "description": "Garden-style multifamily", "estimated_close_date": "2026-09-30"
    });
    let r = app.post_json("/deals", &t.key, &body).send().await.unwrap();
    let (s, b) = parts(r).await;
    assert_eq!(s, 201, "{b}");
    assert!(b["request_id"].is_string() && b["timestamp"].as_str().unwrap().ends_with('Z'), "{b}");
    let d = &b["data"];
    assert_eq!(keys(d), set(DEAL_FIELDS), "{d}");
    assert!(d["id"].as_i64().unwrap() > 0);
    assert_eq!(d["title"], "Maple Court Acquisition");
    assert_eq!(num(&d["loan_amount"]), 9_200_000.0);
    assert_eq!(d["loan_type"], "light_bridge");
    assert_eq!(d["transaction_type"], "acquisition");
    assert_eq!(d["business_plan"], "value_add");
    assert_eq!(d["description"], "Garden-style multifamily");
    assert_eq!(d["estimated_close_date"], "2026-09-30");
    assert!(d["close_date"].is_null());
    assert_eq!(d["owner_account_id"], t.account.id);
    let created = assert_utc(&d["created_at"]);
    let updated = assert_utc(&d["updated_at"]);
    assert!((unix_of(&created) - now()).abs() < 120, "created_at {created} is not now (UTC)");
    assert_eq!(created, updated);
    assert_eq!(d["archived"], false);
    assert!(d["archived_at"].is_null());
    // Not embedded unless asked for.
    for inc in INCLUDES {
        assert!(d.get(*inc).is_none_or(Value::is_null), "{inc} present without include: {d}");
    }
    // What was returned is what is stored.
    assert_eq!(get_deal(&app, &t.key, id_of(d)).await, *d);
}

#[tokio::test]
async fn create_with_title_only_leaves_optional_members_null() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "Bare"})).await;
    assert_eq!(keys(&d), set(DEAL_FIELDS));
    for f in ["loan_amount", "loan_type", "transaction_type", "business_plan", "description", "estimated_close_date"] {
        assert!(d[f].is_null(), "{f}: {d}");
    }
    // Explicit nulls are accepted for the optional members.
    let d = app
        .create_deal(
            &t.key,
            json!({"title": "Nulls", "loan_amount": null, "loan_type": null, "transaction_type": null,
                   "business_plan": null, "description": null, "estimated_close_date": null, "pipeline_ids": null}),
        )
        .await;
    assert_eq!(d["title"], "Nulls");
    assert!(d["loan_amount"].is_null() && d["loan_type"].is_null() && d["estimated_close_date"].is_null());
    assert_eq!(count(&app, &t.key).await, 2);
}

#[tokio::test]
async fn create_requires_a_non_blank_title() {
    let (app, t) = setup().await;
    let e = fail(app.post_json("/deals", &t.key, &json!({"loan_amount": 5})), 422, "validation_error").await;
    assert_eq!(e["code"], "VALIDATION_ERROR");
    assert_eq!(e["message"], "title is required");
    assert!(e["details"]["fields"]["title"].is_string(), "{e}");
    for bad in [json!(""), json!("   "), json!(null)] {
        let e = fail(app.post_json("/deals", &t.key, &json!({"title": bad})), 422, "validation_error").await;
        assert!(e["details"]["fields"]["title"].is_string(), "title {bad}: {e}");
        assert!(e["message"].as_str().unwrap().contains("title"), "{e}");
    }
    assert_eq!(count(&app, &t.key).await, 0);
}

#[tokio::test]
async fn create_title_is_at_most_255_characters() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "é".repeat(255)})).await;
    assert_eq!(d["title"].as_str().unwrap().chars().count(), 255);
    let e = fail(app.post_json("/deals", &t.key, &json!({"title": "x".repeat(256)})), 422, "validation_error").await;
    assert_eq!(field_errors(&e), set(&["title"]));
    assert_eq!(count(&app, &t.key).await, 1);
}

#[tokio::test]
async fn create_lists_every_invalid_field() {
    let (app, t) = setup().await;
    // Bad values.
    let body = json!({
        "title": "Bad values", "loan_amount": -5, "loan_type": "bridge", "transaction_type": "purchase",
        "business_plan": "flip", "estimated_close_date": "2026-02-30"
    });
    let e = fail(app.post_json("/deals", &t.key, &body), 422, "validation_error").await;
    assert_eq!(
        field_errors(&e),
        set(&["loan_amount", "loan_type", "transaction_type", "business_plan", "estimated_close_date"]),
        "{e}"
    );
    for f in field_errors(&e) {
        assert!(e["details"]["fields"][&f].as_str().is_some_and(|p| !p.is_empty()), "{e}");
    }
    // Wrong types.
    let body = json!({
        "title": 42, "loan_amount": "1000", "loan_type": 1, "transaction_type": true, "business_plan": ["value_add"],
        "description": 7, "estimated_close_date": 20260930, "pipeline_ids": "3"
    });
    let e = fail(app.post_json("/deals", &t.key, &body), 422, "validation_error").await;
    assert_eq!(
        field_errors(&e),
        set(&[
            "business_plan",
            "description",
            "estimated_close_date",
            "loan_amount",
            "loan_type",
            "pipeline_ids",
            "title",
            "transaction_type"
        ]),
        "{e}"
    );
    // One at a time, with an otherwise valid body.
    let singles = [
        ("loan_amount", json!(-0.01)),
        ("loan_type", json!("Permanent")),
        ("loan_type", json!("")),
        ("transaction_type", json!("REFINANCE")),
        ("business_plan", json!("value-add")),
        ("estimated_close_date", json!("09/30/2026")),
        ("estimated_close_date", json!("tomorrow")),
        ("estimated_close_date", json!("2026-13-01")),
        ("pipeline_ids", json!([0])),
        ("pipeline_ids", json!(["1"])),
        ("pipeline_ids", json!({"id": 1})),
    ];
    for (field, value) in singles {
        let mut body = json!({"title": "One bad field"});
        body[field] = value.clone();
        let e = fail(app.post_json("/deals", &t.key, &body), 422, "validation_error").await;
        assert_eq!(field_errors(&e), set(&[field]), "{field}={value}: {e}");
    }
    assert_eq!(count(&app, &t.key).await, 0);
}

#[tokio::test]
async fn create_ignores_unknown_and_read_only_members() {
    let (app, t) = setup().await;
    let other = app.tenant("other").await;
    let d = app
        .create_deal(
            &t.key,
            json!({
                "title": "Ignored extras", "id": 999_999, "close_date": "2026-01-01", "archived": true,
                "archived_at": "2026-01-01T00:00:00Z", "owner_account_id": other.account.id,
                "created_at": "2000-01-01T00:00:00Z", "updated_at": "2000-01-01T00:00:00Z",
                "sponsor_private_company_id": 5, "foo": {"bar": [1, 2]}
            }),
        )
        .await;
    assert_eq!(d["title"], "Ignored extras");
    assert_ne!(d["id"], 999_999);
    assert!(d["close_date"].is_null());
    assert_eq!(d["archived"], false);
    assert!(d["archived_at"].is_null());
    assert_eq!(d["owner_account_id"], t.account.id);
    assert!((unix_of(d["created_at"].as_str().unwrap()) - now()).abs() < 120, "{d}");
    assert!(d.get("foo").is_none());
    // The deal belongs to the caller, not to the account named in the body.
    assert_eq!(count(&app, &other.key).await, 0);
    assert_eq!(count(&app, &t.key).await, 1);
}

#[tokio::test]
async fn create_body_must_be_a_json_object() {
    let (app, t) = setup().await;
    for body in ["{\"title\": ", "not json", "[{\"title\": \"x\"}]", "[]", "null", "\"title\"", "42", "", "   "] {
        let e = fail(app.raw_json(Method::POST, "/deals", &t.key, body), 400, "bad_request").await;
        assert_eq!(e["code"], "BAD_REQUEST", "{body:?}");
    }
    // No body and no Content-Type at all.
    fail(app.req(Method::POST, "/deals", &t.key), 400, "bad_request").await;
    // A body that is not declared as JSON (`docs/api.md#bodies`).
    let r = app.req(Method::POST, "/deals", &t.key).header("content-type", "text/plain").body("{\"title\": \"x\"}");
    fail(r, 415, "unsupported_media_type").await;
    assert_eq!(count(&app, &t.key).await, 0);
}

#[tokio::test]
async fn create_with_financials_shows_them_in_financials_and_include() {
    let (app, t) = setup().await;
    let d = app
        .create_deal(
            &t.key,
            json!({"title": "Financed", "deal_financials": {"purchase_price": 11500000, "land_cost": 0, "total_cost": 123.45, "estimated_value": null}}),
        )
        .await;
    let id = id_of(&d);
    // The deal itself carries no financials member.
    assert!(d.get("financials").is_none_or(Value::is_null), "{d}");

    let f = ok(app.get(&format!("/deals/{id}/financials"), &t.key)).await["data"].clone();
    assert!(f.is_object(), "{f}");
    assert!(f["id"].as_i64().is_some(), "{f}");
    assert_eq!(f["deal_id"], id);
    assert_eq!(num(&f["purchase_price"]), 11_500_000.0);
    assert_eq!(num(&f["land_cost"]), 0.0);
    assert_eq!(num(&f["total_cost"]), 123.45);
    assert!(f["estimated_value"].is_null());
    assert!(f["total_cost_basis"].is_null());
    // The full record has every schema member.
    for m in [
        "asking_price",
        "in_place_noi",
        "stabilized_occupancy",
        "going_in_cap_rate",
        "going_in_cap_rate_as_of_date",
        "other_closing_costs",
        "debt_maturity_date",
        "cash_out",
        "borrower_counsel_engaged",
    ] {
        assert!(f.get(m).is_some_and(Value::is_null), "{m}: {f}");
    }
    assert_eq!(f.as_object().unwrap().len(), 42, "id, deal_id, 39 values and updated_at: {f}");
    assert_utc(&f["updated_at"]);

    // Embedded on the single read and on the list.
    let g = ok(app.get(&format!("/deals/{id}?include=financials"), &t.key)).await["data"].clone();
    assert_eq!(num(&g["financials"]["purchase_price"]), 11_500_000.0, "{g}");
    assert_eq!(num(&g["financials"]["land_cost"]), 0.0);
    assert_eq!(g["financials"]["id"], f["id"]);
    let l = list(&app, &t.key, "include=financials").await;
    assert_eq!(num(&l["data"][0]["financials"]["total_cost"]), 123.45, "{l}");
}

#[tokio::test]
async fn create_rejects_invalid_financials() {
    let (app, t) = setup().await;
    let cases = [
        json!({}),
        json!({"noi": 5}),
        json!({"purchase_price": 5, "asking_price": 1}),
        json!({"land_cost": -1}),
        json!({"purchase_price": "1000"}),
        json!({"total_cost": true}),
        json!([{"land_cost": 1}]),
        json!("land_cost"),
        json!(5),
    ];
    for bad in cases {
        let e = fail(
            app.post_json("/deals", &t.key, &json!({"title": "x", "deal_financials": bad})),
            422,
            "validation_error",
        )
        .await;
        let fields = field_errors(&e);
        assert!(!fields.is_empty() && fields.iter().all(|f| f.starts_with("deal_financials")), "{bad}: {e}");
    }
    // Each offending member is named.
    let e = fail(
        app.post_json(
            "/deals",
            &t.key,
            &json!({"title": "x", "deal_financials": {"land_cost": -1, "total_cost": "2", "purchase_price": 3}}),
        ),
        422,
        "validation_error",
    )
    .await;
    let fields = field_errors(&e);
    assert!(fields.iter().any(|f| f.contains("land_cost")), "{e}");
    assert!(fields.iter().any(|f| f.contains("total_cost")), "{e}");
    assert!(!fields.iter().any(|f| f.contains("purchase_price")), "{e}");
    assert_eq!(count(&app, &t.key).await, 0);
}

/// Every deal has its financials record from creation, all values null until set, so the
/// record always shows a real `id` and `updated_at`.
#[tokio::test]
async fn every_deal_has_a_financials_record_from_creation() {
    let (app, t) = setup().await;
    for body in [
        json!({"title": "No numbers", "deal_financials": {"land_cost": null, "purchase_price": null}}),
        json!({"title": "No financials at all"}),
    ] {
        let id = id_of(&app.create_deal(&t.key, body).await);
        let f = ok(app.get(&format!("/deals/{id}/financials"), &t.key)).await["data"].clone();
        assert!(f["id"].as_i64().is_some(), "{f}");
        assert_utc(&f["updated_at"]);
        assert_eq!(f["deal_id"], id);
        assert!(f["land_cost"].is_null() && f["purchase_price"].is_null(), "{f}");
        let g = ok(app.get(&format!("/deals/{id}?include=financials"), &t.key)).await["data"].clone();
        assert_eq!(g["financials"]["id"], f["id"], "{g}");
        // Reads do not add records: the same one comes back.
        let again = ok(app.get(&format!("/deals/{id}/financials"), &t.key)).await["data"].clone();
        assert_eq!(again["id"], f["id"]);
        // A value lands in that same record.
        ok(app.patch_json(&format!("/deals/{id}"), &t.key, &json!({"deal_financials": {"total_cost": 10}}))).await;
        let f2 = ok(app.get(&format!("/deals/{id}/financials"), &t.key)).await["data"].clone();
        assert_eq!(f2["id"], f["id"]);
        assert_eq!(num(&f2["total_cost"]), 10.0);
    }
}

/// A deal stored without a financials record (data from before every deal had one) gets
/// exactly one on first read, even under concurrent reads.
#[tokio::test]
async fn a_deal_without_a_financials_record_gets_one_on_read() {
    let (app, t) = setup().await;
    let id = id_of(&app.create_deal(&t.key, json!({"title": "Legacy"})).await);
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db_url).await.unwrap();
    sqlx::query("DELETE FROM deal_financials WHERE deal_id = $1").bind(id).execute(&pool).await.unwrap();
    pool.close().await;
    assert!(app.store.financials_of(&[id]).await.unwrap().is_empty());
    let path = format!("/deals/{id}/financials");
    let reads = (0..4).map(|_| async { ok(app.get(&path, &t.key)).await["data"]["id"].clone() });
    let ids = futures::future::join_all(reads).await;
    assert!(ids[0].as_i64().is_some(), "{ids:?}");
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    assert_eq!(app.store.financials_of(&[id]).await.unwrap().len(), 1);
}

#[tokio::test]
async fn create_with_unknown_or_foreign_pipeline_is_422_and_creates_nothing() {
    let (app, t) = setup().await;
    let other = app.tenant("other").await;
    let mine = app.store.insert_pipeline(t.account.id, "Financing", "financing", &[("new", "new")], T0).await.unwrap();
    let foreign =
        app.store.insert_pipeline(other.account.id, "Theirs", "financing", &[("new", "new")], T0).await.unwrap();
    app.create_deal(&t.key, json!({"title": "Existing"})).await;
    let before = count(&app, &t.key).await;
    for pids in [json!([999_999]), json!([foreign]), json!([mine, 999_999])] {
        let e = fail(
            app.post_json("/deals", &t.key, &json!({"title": "Doomed", "pipeline_ids": pids})),
            422,
            "validation_error",
        )
        .await;
        assert!(e["details"]["fields"]["pipeline_ids"].is_string(), "{pids}: {e}");
        assert_eq!(count(&app, &t.key).await, before, "a deal was created for pipeline_ids {pids}");
    }
    assert_eq!(count(&app, &other.key).await, 0);
    let l = list(&app, &t.key, "search=Doomed").await;
    assert!(ids(&l).is_empty(), "{l}");
    // The valid pipeline works.
    let d = app.create_deal(&t.key, json!({"title": "Placed", "pipeline_ids": [mine]})).await;
    let g = ok(app.get(&format!("/deals/{}?include=pipelines", id_of(&d)), &t.key)).await["data"].clone();
    assert_eq!(g["pipelines"].as_array().unwrap().len(), 1, "{g}");
    assert_eq!(g["pipelines"][0]["pipeline_id"], mine);
}

// ---------------------------------------------------------------------------------------------
// get

#[tokio::test]
async fn get_returns_the_deal() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "Harbor Point Refi", "loan_amount": 18500000})).await;
    let b = ok(app.get(&format!("/deals/{}", id_of(&d)), &t.key)).await;
    assert_eq!(b["data"], d);
    assert!(b.get("pagination").is_none(), "{b}");
    assert!(b["request_id"].is_string());
}

#[tokio::test]
async fn unknown_or_malformed_deal_ids_are_404() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "Only"})).await;
    let missing = id_of(&d) + 1000;
    for id in
        [missing.to_string(), "abc".into(), "0".into(), "-1".into(), "1.5".into(), "99999999999999999999999".into()]
    {
        for path in [format!("/deals/{id}"), format!("/deals/{id}/financials")] {
            let e = fail(app.get(&path, &t.key), 404, "not_found").await;
            assert_eq!(e["message"], "Deal not found", "{path}");
            assert_eq!(e["code"], "NOT_FOUND");
        }
        let e = fail(app.patch_json(&format!("/deals/{id}"), &t.key, &json!({"title": "x"})), 404, "not_found").await;
        assert_eq!(e["message"], "Deal not found");
        let e = fail(app.delete(&format!("/deals/{id}"), &t.key), 404, "not_found").await;
        assert_eq!(e["message"], "Deal not found");
    }
    // Nothing was touched.
    assert_eq!(get_deal(&app, &t.key, id_of(&d)).await, d);
}

#[tokio::test]
async fn get_fields_returns_only_the_named_members() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "Sparse", "loan_amount": 7, "loan_type": "land"})).await;
    let id = id_of(&d);
    let g = ok(app.get(&format!("/deals/{id}?fields=title"), &t.key)).await["data"].clone();
    assert_eq!(g, json!({"id": id, "title": "Sparse"}));
    let g = ok(app.get(&format!("/deals/{id}?fields=loan_amount,loan_type"), &t.key)).await["data"].clone();
    assert_eq!(keys(&g), set(&["id", "loan_amount", "loan_type"]));
    assert_eq!(g["loan_type"], "land");
    let g = ok(app.get(&format!("/deals/{id}?fields=id"), &t.key)).await["data"].clone();
    assert_eq!(g, json!({"id": id}));
    let e = fail(app.get(&format!("/deals/{id}?fields=title,secret"), &t.key), 422, "validation_error").await;
    assert!(e["details"]["fields"]["fields"].is_string(), "{e}");
    assert_eq!(str_set(&e["details"]["allowed"]), set(DEAL_FIELDS), "{e}");
}

#[tokio::test]
async fn get_include_embeds_financials_properties_team_and_pipelines() {
    let (app, t) = setup().await;
    let p1 = app
        .store
        .insert_pipeline(t.account.id, "Financing", "financing", &[("quoting", "quoting"), ("closing", "closing")], T0)
        .await
        .unwrap();
    let d = app
        .create_deal(
            &t.key,
            json!({"title": "Everything", "pipeline_ids": [p1], "deal_financials": {"purchase_price": 1000, "land_cost": 200}}),
        )
        .await;
    let other = app.create_deal(&t.key, json!({"title": "Nothing"})).await;
    let id = id_of(&d);
    let prop_id = app.store.insert_property(id, &property_row(id, "Harbor Point")).await.unwrap();
    let colleague = app.user("ana@acme.test", None).await;
    app.member(colleague, t.account.id, Role::Member).await;
    let team_id = app.store.insert_team_member(id, colleague, "originator", true).await.unwrap();

    let g =
        ok(app.get(&format!("/deals/{id}?include=financials,properties,team,pipelines"), &t.key)).await["data"].clone();
    // Every deal member is still there.
    for f in DEAL_FIELDS {
        assert!(g.get(*f).is_some(), "{f}: {g}");
    }
    assert_eq!(g["financials"]["deal_id"], id, "{g}");
    assert_eq!(num(&g["financials"]["purchase_price"]), 1000.0);
    assert_eq!(num(&g["financials"]["land_cost"]), 200.0);

    let props = g["properties"].as_array().unwrap_or_else(|| panic!("properties not an array: {g}"));
    assert_eq!(props.len(), 1);
    let p = &props[0];
    assert_eq!(p["id"], prop_id);
    assert_eq!(p["name"], "Harbor Point");
    assert_eq!(p["address"], "40 Quay St");
    assert_eq!(p["city"], "Portland");
    assert_eq!(p["state"], "ME");
    assert_eq!(p["zip"], "04101");
    assert_eq!(p["asset_type_id"], 3);
    assert_eq!(p["units"], 120);
    assert_eq!(num(&p["square_footage"]), 98_000.0);
    assert_eq!(p["year_built"], 1987);

    let team = g["team"].as_array().unwrap_or_else(|| panic!("team not an array: {g}"));
    assert_eq!(team.len(), 1);
    let m = &team[0];
    assert_eq!(m["id"], team_id);
    assert_eq!(m["user_id"], colleague);
    assert_eq!(m["email"], "ana@acme.test");
    assert_eq!(m["first_name"], "Test");
    assert_eq!(m["last_name"], "User");
    assert_eq!(m["deal_role"], "originator");
    assert_eq!(m["is_primary"], true);
    for k in ["permission", "photo_url"] {
        assert!(m.get(k).is_some(), "{k}: {m}");
    }

    let pipes = g["pipelines"].as_array().unwrap_or_else(|| panic!("pipelines not an array: {g}"));
    assert_eq!(pipes.len(), 1);
    assert_eq!(pipes[0]["pipeline_id"], p1);
    assert!(["quoting", "closing"].contains(&pipes[0]["status_name"].as_str().unwrap()), "{g}");
    assert_utc(&pipes[0]["updated_at"]);

    // A deal without sub-resources: empty lists, and its financials record with null values.
    let o = ok(app.get(&format!("/deals/{}?include=financials,properties,team,pipelines", id_of(&other)), &t.key))
        .await["data"]
        .clone();
    assert!(o["financials"]["id"].as_i64().is_some(), "{o}");
    assert!(o["financials"]["purchase_price"].is_null(), "{o}");
    for k in ["properties", "team", "pipelines"] {
        assert_eq!(o[k], json!([]), "{k}: {o}");
    }

    // Only what was asked for, combined with fields.
    let g = ok(app.get(&format!("/deals/{id}?include=team&fields=title"), &t.key)).await["data"].clone();
    assert_eq!(keys(&g), set(&["id", "title", "team"]), "{g}");
    assert_eq!(g["team"][0]["id"], team_id);
    let g = ok(app.get(&format!("/deals/{id}?include=pipelines"), &t.key)).await["data"].clone();
    for k in ["financials", "properties", "team"] {
        assert!(g.get(k).is_none_or(Value::is_null), "{k}: {g}");
    }
}

#[tokio::test]
async fn include_pipelines_is_capped_at_ten_rows() {
    let (app, t) = setup().await;
    let mut pids = Vec::new();
    for i in 0..11 {
        pids.push(
            app.store
                .insert_pipeline(t.account.id, &format!("P{i}"), "financing", &[("new", "new")], T0)
                .await
                .unwrap(),
        );
    }
    let d = app.create_deal(&t.key, json!({"title": "Busy", "pipeline_ids": pids})).await;
    let g = ok(app.get(&format!("/deals/{}?include=pipelines", id_of(&d)), &t.key)).await["data"].clone();
    let rows = g["pipelines"].as_array().unwrap();
    assert_eq!(rows.len(), 10, "{g}");
    let distinct: HashSet<i64> = rows.iter().map(|r| r["pipeline_id"].as_i64().unwrap()).collect();
    assert_eq!(distinct.len(), 10);
    assert!(distinct.iter().all(|p| pids.contains(p)));
}

#[tokio::test]
async fn unknown_include_is_422_with_allowed_names() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "x"})).await;
    for path in [format!("/deals/{}?include=financials,owner", id_of(&d)), "/deals?include=notes".to_string()] {
        let e = fail(app.get(&path, &t.key), 422, "validation_error").await;
        assert!(e["details"]["fields"]["include"].is_string(), "{e}");
        assert_eq!(str_set(&e["details"]["allowed"]), set(INCLUDES), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// patch

#[tokio::test]
async fn patch_changes_only_given_members_and_advances_updated_at() {
    let (app, t) = setup().await;
    let d = app
        .create_deal(
            &t.key,
            json!({"title": "Before", "loan_amount": 100, "loan_type": "permanent", "transaction_type": "refinance",
                   "business_plan": "stabilized", "description": "keep", "estimated_close_date": "2026-09-30"}),
        )
        .await;
    let id = id_of(&d);
    pause().await;
    let b = ok(app.patch_json(
        &format!("/deals/{id}"),
        &t.key,
        &json!({"loan_amount": 19000000, "loan_type": "heavy_bridge"}),
    ))
    .await;
    let u = &b["data"];
    assert_eq!(num(&u["loan_amount"]), 19_000_000.0);
    assert_eq!(u["loan_type"], "heavy_bridge");
    // Every other member stays (`updated_at` advances, checked below).
    for f in DEAL_FIELDS.iter().filter(|f| !["loan_amount", "loan_type", "updated_at"].contains(f)) {
        assert_eq!(u[f], d[f], "{f} changed");
    }
    let updated = assert_utc(&u["updated_at"]);
    assert!(unix_of(&updated) > unix_of(d["updated_at"].as_str().unwrap()), "updated_at did not advance: {u}");
    assert_eq!(get_deal(&app, &t.key, id).await, *u);

    // Every writable member at once.
    let all = json!({"title": "After", "loan_amount": 0, "loan_type": "tbd", "transaction_type": "new_construction",
                     "business_plan": "land", "description": "", "estimated_close_date": "2027-01-15"});
    let u = ok(app.patch_json(&format!("/deals/{id}"), &t.key, &all)).await["data"].clone();
    assert_eq!(u["title"], "After");
    assert_eq!(num(&u["loan_amount"]), 0.0);
    assert_eq!(u["loan_type"], "tbd");
    assert_eq!(u["transaction_type"], "new_construction");
    assert_eq!(u["business_plan"], "land");
    assert_eq!(u["description"], "");
    assert_eq!(u["estimated_close_date"], "2027-01-15");
    assert_eq!(u["created_at"], d["created_at"]);
    // Unknown and read-only members are ignored.
    let u2 = ok(app.patch_json(
        &format!("/deals/{id}"),
        &t.key,
        &json!({"archived": true, "close_date": "2026-01-01", "owner_account_id": 1, "pipeline_ids": [1], "zzz": 1}),
    ))
    .await["data"]
        .clone();
    assert_eq!(u2["archived"], false);
    assert!(u2["close_date"].is_null());
    assert_eq!(u2["owner_account_id"], t.account.id);
    assert_eq!(u2["title"], "After");
}

#[tokio::test]
async fn patch_null_clears_description() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "Described", "description": "text", "loan_amount": 5})).await;
    let id = id_of(&d);
    let u = ok(app.patch_json(&format!("/deals/{id}"), &t.key, &json!({"description": null}))).await["data"].clone();
    assert!(u["description"].is_null(), "{u}");
    assert_eq!(u["title"], "Described");
    assert_eq!(num(&u["loan_amount"]), 5.0);
    assert!(get_deal(&app, &t.key, id).await["description"].is_null());
}

#[tokio::test]
async fn patch_rejects_invalid_values_and_changes_nothing() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "Stable", "loan_type": "permanent", "loan_amount": 10})).await;
    let id = id_of(&d);
    let cases = [
        ("title", json!(null)),
        ("title", json!("")),
        ("title", json!("  \t ")),
        ("title", json!("x".repeat(256))),
        ("title", json!(5)),
        ("loan_type", json!("bridge")),
        ("transaction_type", json!("purchase")),
        ("business_plan", json!(3)),
        ("loan_amount", json!(-1)),
        ("loan_amount", json!("ten")),
        ("estimated_close_date", json!("2026-02-30")),
        ("description", json!(["a"])),
        ("deal_financials", json!({})),
        ("deal_financials", json!(null)),
    ];
    for (field, value) in cases {
        let mut body = json!({"loan_amount": 99});
        body[field] = value.clone();
        let e = fail(app.patch_json(&format!("/deals/{id}"), &t.key, &body), 422, "validation_error").await;
        let fields = field_errors(&e);
        assert!(fields.iter().all(|f| f.starts_with(field)) && !fields.is_empty(), "{field}={value}: {e}");
    }
    // Several at once are all named.
    let e = fail(
        app.patch_json(&format!("/deals/{id}"), &t.key, &json!({"title": null, "loan_type": "x", "loan_amount": -2})),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(field_errors(&e), set(&["title", "loan_type", "loan_amount"]));
    assert_eq!(get_deal(&app, &t.key, id).await, d, "a rejected PATCH changed the deal");
}

#[tokio::test]
async fn patch_financials_null_clears_one_value_and_keeps_the_rest() {
    let (app, t) = setup().await;
    let d = app
        .create_deal(&t.key, json!({"title": "F", "deal_financials": {"purchase_price": 11500000, "land_cost": 900}}))
        .await;
    let id = id_of(&d);
    let before = ok(app.get(&format!("/deals/{id}/financials"), &t.key)).await["data"].clone();
    let u = ok(app.patch_json(
        &format!("/deals/{id}"),
        &t.key,
        &json!({"loan_amount": 19000000, "deal_financials": {"land_cost": null, "total_cost_basis": 5}}),
    ))
    .await["data"]
        .clone();
    assert_eq!(num(&u["loan_amount"]), 19_000_000.0);
    let f = ok(app.get(&format!("/deals/{id}/financials"), &t.key)).await["data"].clone();
    assert!(f["land_cost"].is_null(), "{f}");
    assert_eq!(num(&f["purchase_price"]), 11_500_000.0);
    assert_eq!(num(&f["total_cost_basis"]), 5.0);
    assert_eq!(f["id"], before["id"], "the record was replaced");
    // Invalid financials are rejected without touching the record.
    for bad in [json!({"land_cost": -5}), json!({"noi": 1}), json!({"purchase_price": "1"})] {
        fail(
            app.patch_json(&format!("/deals/{id}"), &t.key, &json!({"deal_financials": bad})),
            422,
            "validation_error",
        )
        .await;
    }
    let f2 = ok(app.get(&format!("/deals/{id}/financials"), &t.key)).await["data"].clone();
    assert_eq!(f2, f);
}

#[tokio::test]
async fn patch_empty_object_changes_nothing() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "Untouched", "description": "d", "loan_amount": 3})).await;
    let id = id_of(&d);
    pause().await;
    let b = ok(app.patch_json(&format!("/deals/{id}"), &t.key, &json!({}))).await;
    assert_eq!(b["data"], d, "PATCH {{}} must leave the deal (including updated_at) unchanged");
    assert_eq!(get_deal(&app, &t.key, id).await, d);
}

#[tokio::test]
async fn patch_body_must_be_a_json_object() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "x"})).await;
    let path = format!("/deals/{}", id_of(&d));
    for body in ["[]", "{\"title\":", "null", "", "\"x\""] {
        fail(app.raw_json(Method::PATCH, &path, &t.key, body), 400, "bad_request").await;
    }
    assert_eq!(get_deal(&app, &t.key, id_of(&d)).await, d);
}

// ---------------------------------------------------------------------------------------------
// delete

#[tokio::test]
async fn delete_archives_and_is_idempotent() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "Going", "loan_amount": 1})).await;
    let id = id_of(&d);
    let b = ok(app.delete(&format!("/deals/{id}"), &t.key)).await;
    assert_eq!(b["data"], json!({"deleted": true}));
    let g = get_deal(&app, &t.key, id).await;
    assert_eq!(g["archived"], true);
    let archived_at = assert_utc(&g["archived_at"]);
    assert!((unix_of(&archived_at) - now()).abs() < 120);
    for f in ["title", "loan_amount", "created_at", "owner_account_id"] {
        assert_eq!(g[f], d[f], "{f}");
    }
    // Still listed and its financials still readable.
    assert_eq!(ids(&list(&app, &t.key, "").await), vec![id]);
    ok(app.get(&format!("/deals/{id}/financials"), &t.key)).await;
    // A second DELETE answers the same and keeps the first archive time (`docs/api.md#deletes`).
    pause().await;
    let b = ok(app.delete(&format!("/deals/{id}"), &t.key)).await;
    assert_eq!(b["data"], json!({"deleted": true}));
    let g2 = get_deal(&app, &t.key, id).await;
    assert_eq!(g2["archived"], true);
    assert_eq!(g2["archived_at"], g["archived_at"]);
}

#[tokio::test]
async fn list_archived_filter_selects_active_archived_or_both() {
    let (app, t) = setup().await;
    let a = id_of(&app.create_deal(&t.key, json!({"title": "A"})).await);
    let b = id_of(&app.create_deal(&t.key, json!({"title": "B"})).await);
    let c = id_of(&app.create_deal(&t.key, json!({"title": "C"})).await);
    ok(app.delete(&format!("/deals/{b}"), &t.key)).await;
    let l = list(&app, &t.key, "filter[archived]=true").await;
    assert_eq!(ids(&l), vec![b]);
    assert_eq!(l["pagination"]["total"], 1);
    assert!(l["data"].as_array().unwrap().iter().all(|d| d["archived"] == true));
    let l = list(&app, &t.key, "filter[archived]=false").await;
    assert_eq!(ids(&l), vec![a, c]);
    assert_eq!(l["pagination"]["total"], 2);
    let l = list(&app, &t.key, "").await;
    assert_eq!(ids(&l), vec![a, b, c]);
    assert_eq!(l["pagination"]["total"], 3);
    let e = fail(app.get("/deals?filter[archived]=maybe", &t.key), 422, "validation_error").await;
    assert!(e["details"]["fields"]["filter[archived]"].is_string(), "{e}");
}

// ---------------------------------------------------------------------------------------------
// list: paging and order

#[tokio::test]
async fn list_cursor_paging_walks_every_row_once() {
    let (app, t) = setup().await;
    let mut created = Vec::new();
    for i in 0..7 {
        created.push(id_of(&app.create_deal(&t.key, json!({"title": format!("Deal {i}")})).await));
    }
    let p1 = list(&app, &t.key, "limit=3").await;
    let pg = &p1["pagination"];
    assert_eq!(ids(&p1), created[0..3]);
    assert_eq!(pg["total"], 7);
    assert_eq!(pg["limit"], 3);
    assert_eq!(pg["has_more"], true);
    assert!(pg.get("cursor").is_some_and(Value::is_null), "cursor must be null on a first page: {pg}");
    assert!(pg.get("offset").is_none(), "{pg}");
    let c1 = pg["next_cursor"].as_str().unwrap().to_string();

    let p2 = list(&app, &t.key, &format!("limit=3&cursor={c1}")).await;
    let pg = &p2["pagination"];
    assert_eq!(ids(&p2), created[3..6]);
    assert_eq!(pg["total"], 7);
    assert_eq!(pg["has_more"], true);
    assert_eq!(pg["cursor"], c1.as_str());
    let c2 = pg["next_cursor"].as_str().unwrap().to_string();
    assert_ne!(c1, c2);

    let p3 = list(&app, &t.key, &format!("limit=3&cursor={c2}")).await;
    let pg = &p3["pagination"];
    assert_eq!(ids(&p3), created[6..7]);
    assert_eq!(pg["total"], 7);
    assert_eq!(pg["has_more"], false);
    assert_eq!(pg["cursor"], c2.as_str());
    assert!(pg.get("next_cursor").is_none_or(Value::is_null), "{pg}");

    // The same walk under /build.
    let b1 = ok(app.get("/build/deals?limit=3", &t.key)).await;
    assert_eq!(b1["data"], p1["data"]);
    let b2 = ok(app.get(&format!("/build/deals?limit=3&cursor={c1}"), &t.key)).await;
    assert_eq!(b2["data"], p2["data"]);
}

#[tokio::test]
async fn cursor_paging_stays_stable_while_rows_are_added() {
    let (app, t) = setup().await;
    let mut expected = Vec::new();
    for i in 0..5 {
        expected.push(id_of(&app.create_deal(&t.key, json!({"title": format!("S{i}")})).await));
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut added = false;
    loop {
        let q = match &cursor {
            Some(c) => format!("limit=2&cursor={c}"),
            None => "limit=2".to_string(),
        };
        let p = list(&app, &t.key, &q).await;
        seen.extend(ids(&p));
        if !added {
            // A deal created mid-walk sorts last and is picked up; nothing repeats.
            expected.push(id_of(&app.create_deal(&t.key, json!({"title": "Late"})).await));
            added = true;
        }
        if p["pagination"]["has_more"] == false {
            break;
        }
        cursor = Some(p["pagination"]["next_cursor"].as_str().unwrap().to_string());
        assert!(seen.len() <= 10, "runaway paging");
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn cursor_paging_respects_filters() {
    let (app, t) = setup().await;
    let mut permanent = Vec::new();
    for i in 0..5 {
        let lt = if i % 2 == 0 { "permanent" } else { "land" };
        let id = id_of(&app.create_deal(&t.key, json!({"title": format!("F{i}"), "loan_type": lt})).await);
        if lt == "permanent" {
            permanent.push(id);
        }
    }
    let p1 = list(&app, &t.key, "limit=2&filter[loan_type]=permanent").await;
    assert_eq!(ids(&p1), permanent[0..2]);
    assert_eq!(p1["pagination"]["total"], 3);
    let c = p1["pagination"]["next_cursor"].as_str().unwrap().to_string();
    let p2 = list(&app, &t.key, &format!("limit=2&filter[loan_type]=permanent&cursor={c}")).await;
    assert_eq!(ids(&p2), permanent[2..3]);
    assert_eq!(p2["pagination"]["total"], 3);
    assert_eq!(p2["pagination"]["has_more"], false);
}

#[tokio::test]
async fn list_defaults_to_id_order_and_limit_50() {
    let (app, t) = setup().await;
    let mut created = Vec::new();
    for title in ["Zulu", "Alpha", "Mike"] {
        created.push(id_of(&app.create_deal(&t.key, json!({"title": title, "loan_amount": 1})).await));
    }
    let l = list(&app, &t.key, "").await;
    assert_eq!(ids(&l), created);
    let pg = &l["pagination"];
    assert_eq!(pg["limit"], 50);
    assert_eq!(pg["total"], 3);
    assert_eq!(pg["has_more"], false);
    assert!(pg["cursor"].is_null(), "{pg}");
    assert!(pg.get("next_cursor").is_none_or(Value::is_null));
    for d in l["data"].as_array().unwrap() {
        assert_eq!(keys(d), set(DEAL_FIELDS));
    }
    // Limits at the edges.
    assert_eq!(ids(&list(&app, &t.key, "limit=1").await), created[0..1]);
    assert_eq!(list(&app, &t.key, "limit=200").await["pagination"]["limit"], 200);
    // An empty account lists nothing.
    let empty = app.tenant("empty").await;
    let l = list(&app, &empty.key, "").await;
    assert_eq!(l["data"], json!([]));
    assert_eq!(l["pagination"]["total"], 0);
}

/// Create order (ids ascending): Charlie 2M, Echo 1M, Delta 3M, Foxtrot 5M, Bravo 3M, Alpha 1M.
async fn sort_fixture(app: &TestApp, key: &str) {
    for (title, amount) in [
        ("Charlie", 2_000_000),
        ("Echo", 1_000_000),
        ("Delta", 3_000_000),
        ("Foxtrot", 5_000_000),
        ("Bravo", 3_000_000),
        ("Alpha", 1_000_000),
    ] {
        app.create_deal(key, json!({"title": title, "loan_amount": amount})).await;
    }
}

#[tokio::test]
async fn list_sort_switches_to_offset_mode() {
    let (app, t) = setup().await;
    sort_fixture(&app, &t.key).await;
    let cases: &[(&str, &[&str])] = &[
        ("title", &["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"]),
        ("-title", &["Foxtrot", "Echo", "Delta", "Charlie", "Bravo", "Alpha"]),
        // Ties broken by id ascending.
        ("loan_amount", &["Echo", "Alpha", "Charlie", "Delta", "Bravo", "Foxtrot"]),
        ("-loan_amount", &["Foxtrot", "Delta", "Bravo", "Charlie", "Echo", "Alpha"]),
        // Several keys.
        ("-loan_amount,title", &["Foxtrot", "Bravo", "Delta", "Charlie", "Alpha", "Echo"]),
        ("loan_amount,-title", &["Echo", "Alpha", "Charlie", "Delta", "Bravo", "Foxtrot"]),
    ];
    for (sort, expected) in cases {
        let l = list(&app, &t.key, &format!("sort={sort}")).await;
        assert_eq!(titles(&l), *expected, "sort={sort}");
        let pg = &l["pagination"];
        assert_eq!(pg["offset"], 0, "{pg}");
        assert_eq!(pg["total"], 6);
        assert_eq!(pg["limit"], 50);
        assert_eq!(pg["has_more"], false);
        assert!(pg.get("next_cursor").is_none(), "offset mode has no next_cursor: {pg}");
        assert!(pg.get("cursor").is_none(), "offset mode has no cursor: {pg}");
    }
    // Offset pages.
    let p1 = list(&app, &t.key, "sort=-loan_amount,title&limit=4").await;
    assert_eq!(titles(&p1), ["Foxtrot", "Bravo", "Delta", "Charlie"]);
    assert_eq!(p1["pagination"], json!({"total": 6, "limit": 4, "offset": 0, "has_more": true}));
    let p2 = list(&app, &t.key, "sort=-loan_amount,title&limit=4&offset=4").await;
    assert_eq!(titles(&p2), ["Alpha", "Echo"]);
    assert_eq!(p2["pagination"], json!({"total": 6, "limit": 4, "offset": 4, "has_more": false}));
    let p3 = list(&app, &t.key, "sort=title&limit=4&offset=10").await;
    assert_eq!(p3["data"], json!([]));
    assert_eq!(p3["pagination"]["has_more"], false);
    assert_eq!(p3["pagination"]["total"], 6);
    // Sorting combines with filters.
    let l = list(&app, &t.key, "sort=-title&filter[loan_amount][lte]=2000000").await;
    assert_eq!(titles(&l), ["Echo", "Charlie", "Alpha"]);
    assert_eq!(l["pagination"]["total"], 3);
}

#[tokio::test]
async fn list_sort_by_timestamps() {
    let (app, t) = setup().await;
    sort_fixture(&app, &t.key).await;
    let l = list(&app, &t.key, "sort=created_at").await;
    let created: Vec<i64> =
        l["data"].as_array().unwrap().iter().map(|d| unix_of(d["created_at"].as_str().unwrap())).collect();
    assert!(created.windows(2).all(|w| w[0] <= w[1]), "{l}");
    assert_eq!(l["data"].as_array().unwrap().len(), 6);
    // The most recently updated deal comes first with -updated_at.
    let charlie = ids(&list(&app, &t.key, "search=Charlie").await)[0];
    pause().await;
    ok(app.patch_json(&format!("/deals/{charlie}"), &t.key, &json!({"description": "touched"}))).await;
    let l = list(&app, &t.key, "sort=-updated_at").await;
    assert_eq!(ids(&l)[0], charlie);
    let l = list(&app, &t.key, "sort=updated_at").await;
    assert_eq!(*ids(&l).last().unwrap(), charlie);
}

#[tokio::test]
async fn list_offset_without_sort_uses_id_order() {
    let (app, t) = setup().await;
    let mut created = Vec::new();
    for i in 0..5 {
        created.push(id_of(&app.create_deal(&t.key, json!({"title": format!("O{i}")})).await));
    }
    let l = list(&app, &t.key, "offset=2&limit=2").await;
    assert_eq!(ids(&l), created[2..4]);
    assert_eq!(l["pagination"]["offset"], 2);
    assert_eq!(l["pagination"]["total"], 5);
    assert_eq!(l["pagination"]["has_more"], true);
}

#[tokio::test]
async fn list_cursor_with_sort_is_400() {
    let (app, t) = setup().await;
    sort_fixture(&app, &t.key).await;
    let c = list(&app, &t.key, "limit=2").await["pagination"]["next_cursor"].as_str().unwrap().to_string();
    for prefix in ["", "/build"] {
        let e = fail(app.get(&format!("{prefix}/deals?cursor={c}&sort=title"), &t.key), 400, "bad_request").await;
        assert_eq!(e["message"], CURSOR_SORT_MSG);
        let e =
            fail(app.get(&format!("{prefix}/deals?sort=-loan_amount&cursor={c}"), &t.key), 400, "bad_request").await;
        assert_eq!(e["message"], CURSOR_SORT_MSG);
    }
}

#[tokio::test]
async fn list_invalid_cursor_is_400() {
    let (app, t) = setup().await;
    app.create_deal(&t.key, json!({"title": "x"})).await;
    // garbage; base64 of {"x":1}; base64 of not-JSON; empty.
    for c in ["garbage!!", "eyJ4IjoxfQ==", "bm90IGpzb24=", ""] {
        let e = fail(app.get(&format!("/deals?cursor={c}"), &t.key), 400, "bad_request").await;
        assert_eq!(e["code"], "BAD_REQUEST", "{c}");
    }
}

#[tokio::test]
async fn list_limit_and_offset_out_of_range_are_422() {
    let (app, t) = setup().await;
    for q in ["limit=0", "limit=201", "limit=abc", "limit=-1", "limit=1.5", "limit="] {
        let e = fail(app.get(&format!("/deals?{q}"), &t.key), 422, "validation_error").await;
        assert!(e["details"]["fields"]["limit"].is_string(), "{q}: {e}");
    }
    for q in ["sort=title&offset=-1", "sort=title&offset=abc"] {
        let e = fail(app.get(&format!("/deals?{q}"), &t.key), 422, "validation_error").await;
        assert!(e["details"]["fields"]["offset"].is_string(), "{q}: {e}");
    }
}

#[tokio::test]
async fn list_unknown_sort_key_is_422_with_allowed_names() {
    let (app, t) = setup().await;
    for s in ["id", "-bogus", "title,bogus", "loan_type"] {
        let e = fail(app.get(&format!("/deals?sort={s}"), &t.key), 422, "validation_error").await;
        assert!(e["details"]["fields"]["sort"].is_string(), "{s}: {e}");
        assert_eq!(str_set(&e["details"]["allowed"]), set(SORT_KEYS), "{e}");
    }
}

// ---------------------------------------------------------------------------------------------
// list: filters and search

/// d1 permanent/refinance/stabilized 18.5M, d2 light_bridge/acquisition/value_add 9.2M,
/// d3 construction/new_construction/construction 30M, d4 permanent/acquisition/value_add 5M,
/// d5 nothing.
async fn filter_fixture(app: &TestApp, key: &str) -> [i64; 5] {
    let bodies = [
        json!({"title": "D1", "loan_type": "permanent", "transaction_type": "refinance", "business_plan": "stabilized", "loan_amount": 18500000}),
        json!({"title": "D2", "loan_type": "light_bridge", "transaction_type": "acquisition", "business_plan": "value_add", "loan_amount": 9200000}),
        json!({"title": "D3", "loan_type": "construction", "transaction_type": "new_construction", "business_plan": "construction", "loan_amount": 30000000}),
        json!({"title": "D4", "loan_type": "permanent", "transaction_type": "acquisition", "business_plan": "value_add", "loan_amount": 5000000}),
        json!({"title": "D5"}),
    ];
    let mut out = [0; 5];
    for (i, b) in bodies.into_iter().enumerate() {
        out[i] = id_of(&app.create_deal(key, b).await);
    }
    out
}

async fn assert_filter(app: &TestApp, key: &str, q: &str, expected: &[i64]) {
    let l = list(app, key, q).await;
    assert_eq!(ids(&l), expected, "{q}");
    assert_eq!(l["pagination"]["total"], expected.len(), "{q}");
}

#[tokio::test]
async fn list_enum_filters() {
    let (app, t) = setup().await;
    let [d1, d2, d3, d4, _] = filter_fixture(&app, &t.key).await;
    let k = &t.key;
    assert_filter(&app, k, "filter[loan_type]=permanent", &[d1, d4]).await;
    assert_filter(&app, k, "filter[loan_type]=light_bridge", &[d2]).await;
    assert_filter(&app, k, "filter[loan_type]=tbd", &[]).await;
    assert_filter(&app, k, "filter[transaction_type]=acquisition", &[d2, d4]).await;
    assert_filter(&app, k, "filter[transaction_type]=new_construction", &[d3]).await;
    assert_filter(&app, k, "filter[business_plan]=value_add", &[d2, d4]).await;
    assert_filter(&app, k, "filter[business_plan]=construction", &[d3]).await;
    // Percent-encoded brackets mean the same.
    assert_filter(&app, k, "filter%5Bloan_type%5D=permanent", &[d1, d4]).await;
}

#[tokio::test]
async fn list_loan_amount_range_filters() {
    let (app, t) = setup().await;
    let [d1, d2, d3, d4, _] = filter_fixture(&app, &t.key).await;
    let k = &t.key;
    assert_filter(&app, k, "filter[loan_amount][gte]=9200000", &[d1, d2, d3]).await;
    assert_filter(&app, k, "filter[loan_amount][gt]=9200000", &[d1, d3]).await;
    assert_filter(&app, k, "filter[loan_amount][lte]=9200000", &[d2, d4]).await;
    assert_filter(&app, k, "filter[loan_amount][lt]=9200000", &[d4]).await;
    assert_filter(&app, k, "filter[loan_amount][gte]=5000000&filter[loan_amount][lte]=18500000", &[d1, d2, d4]).await;
    assert_filter(&app, k, "filter[loan_amount][gt]=5000000&filter[loan_amount][lt]=18500000", &[d2]).await;
    assert_filter(&app, k, "filter[loan_amount][gte]=9200000.5", &[d1, d3]).await;
    assert_filter(&app, k, "filter[loan_amount][gte]=1e8", &[]).await;
    let e = fail(app.get("/deals?filter[loan_amount][gte]=lots", k), 422, "validation_error").await;
    assert!(e["details"]["fields"]["filter[loan_amount][gte]"].is_string(), "{e}");
}

#[tokio::test]
async fn list_created_at_range_filters() {
    let (app, t) = setup().await;
    let a = app.create_deal(&t.key, json!({"title": "A"})).await;
    pause().await;
    let b = app.create_deal(&t.key, json!({"title": "B"})).await;
    pause().await;
    let c = app.create_deal(&t.key, json!({"title": "C"})).await;
    let (ia, ib, ic) = (id_of(&a), id_of(&b), id_of(&c));
    let ta = a["created_at"].as_str().unwrap().to_string();
    let tb = b["created_at"].as_str().unwrap().to_string();
    assert!(unix_of(&ta) < unix_of(&tb) && unix_of(&tb) < unix_of(c["created_at"].as_str().unwrap()));
    let k = &t.key;
    assert_filter(&app, k, &format!("filter[created_at][gte]={tb}"), &[ib, ic]).await;
    assert_filter(&app, k, &format!("filter[created_at][gt]={tb}"), &[ic]).await;
    assert_filter(&app, k, &format!("filter[created_at][lte]={tb}"), &[ia, ib]).await;
    assert_filter(&app, k, &format!("filter[created_at][lt]={tb}"), &[ia]).await;
    assert_filter(&app, k, &format!("filter[created_at][gte]={ta}&filter[created_at][lte]={tb}"), &[ia, ib]).await;
    // The same instant with other offsets.
    let ub = unix_of(&tb);
    assert_filter(&app, k, &format!("filter[created_at][gte]={}", with_offset(ub, 120)), &[ib, ic]).await;
    assert_filter(&app, k, &format!("filter[created_at][lte]={}", with_offset(ub, -300)), &[ia, ib]).await;
    // Date-only bounds.
    assert_filter(&app, k, "filter[created_at][gte]=2000-01-01", &[ia, ib, ic]).await;
    assert_filter(&app, k, "filter[created_at][lte]=2000-01-01", &[]).await;
    assert_filter(&app, k, "filter[created_at][gte]=2999-01-01", &[]).await;
    for bad in ["yesterday", "2026-13-01", "2026-02-30T00:00:00Z"] {
        let e = fail(app.get(&format!("/deals?filter[created_at][gte]={bad}"), k), 422, "validation_error").await;
        assert!(e["details"]["fields"]["filter[created_at][gte]"].is_string(), "{bad}: {e}");
    }
}

#[tokio::test]
async fn list_filters_combine_with_and() {
    let (app, t) = setup().await;
    let [d1, d2, _d3, d4, _] = filter_fixture(&app, &t.key).await;
    let k = &t.key;
    assert_filter(&app, k, "filter[loan_type]=permanent&filter[transaction_type]=acquisition", &[d4]).await;
    assert_filter(&app, k, "filter[loan_type]=permanent&filter[loan_amount][gte]=10000000", &[d1]).await;
    assert_filter(&app, k, "filter[business_plan]=value_add&filter[loan_amount][lt]=9200000", &[d4]).await;
    assert_filter(&app, k, "filter[business_plan]=value_add&filter[transaction_type]=acquisition", &[d2, d4]).await;
    assert_filter(&app, k, "filter[loan_type]=light_bridge&filter[business_plan]=stabilized", &[]).await;
    ok(app.delete(&format!("/deals/{d4}"), k)).await;
    assert_filter(&app, k, "filter[loan_type]=permanent&filter[archived]=false", &[d1]).await;
    assert_filter(&app, k, "filter[loan_type]=permanent&filter[archived]=true", &[d4]).await;
    assert_filter(&app, k, "filter[loan_type]=permanent", &[d1, d4]).await;
}

#[tokio::test]
async fn list_filter_errors_are_422() {
    let (app, t) = setup().await;
    filter_fixture(&app, &t.key).await;
    let k = &t.key;
    // Unknown filter names list the allowed ones.
    for f in ["filter[status]=open", "filter[title]=D1", "filter[owner_account_id]=1"] {
        let e = fail(app.get(&format!("/deals?{f}"), k), 422, "validation_error").await;
        let allowed = str_set(&e["details"]["allowed"]);
        for name in ["loan_type", "transaction_type", "business_plan", "archived", "loan_amount", "created_at"] {
            assert!(allowed.contains(name), "{f}: {e}");
        }
        assert!(!allowed.contains("status"));
    }
    // Unknown operators list the allowed ones.
    for f in ["filter[loan_amount][ne]=1", "filter[loan_amount][eq]=1", "filter[created_at][between]=2026-01-01"] {
        let e = fail(app.get(&format!("/deals?{f}"), k), 422, "validation_error").await;
        assert_eq!(str_set(&e["details"]["allowed"]), set(OPERATORS), "{f}: {e}");
    }
    // Bad enum values.
    for f in [
        "filter[loan_type]=bridge",
        "filter[loan_type]=Permanent",
        "filter[transaction_type]=purchase",
        "filter[business_plan]=flip",
    ] {
        let e = fail(app.get(&format!("/deals?{f}"), k), 422, "validation_error").await;
        let param = f.split('=').next().unwrap();
        assert!(e["details"]["fields"][param].is_string(), "{f}: {e}");
    }
}

#[tokio::test]
async fn list_search_is_case_insensitive_substring_of_title() {
    let (app, t) = setup().await;
    let mut id = std::collections::HashMap::new();
    for title in ["Harbor Point Refi", "HARBOR VIEW", "Maple Court", "50% Pre-leased", "500 Main", "Point_Break"] {
        id.insert(title, id_of(&app.create_deal(&t.key, json!({"title": title})).await));
    }
    let k = &t.key;
    let h = [id["Harbor Point Refi"], id["HARBOR VIEW"]];
    assert_filter(&app, k, "search=harbor", &h).await;
    assert_filter(&app, k, "search=HaRbOr", &h).await;
    assert_filter(&app, k, "search=bor%20vi", &[id["HARBOR VIEW"]]).await;
    assert_filter(&app, k, "search=point", &[id["Harbor Point Refi"], id["Point_Break"]]).await;
    assert_filter(&app, k, "search=APLE", &[id["Maple Court"]]).await;
    assert_filter(&app, k, "search=zzz", &[]).await;
    // LIKE wildcards are literal.
    assert_filter(&app, k, "search=50%25", &[id["50% Pre-leased"]]).await;
    assert_filter(&app, k, "search=t_b", &[id["Point_Break"]]).await;
    assert_filter(&app, k, "search=_", &[id["Point_Break"]]).await;
    // With a filter and paging.
    let l = list(&app, k, "search=harbor&limit=1").await;
    assert_eq!(ids(&l), [h[0]]);
    assert_eq!(l["pagination"]["total"], 2);
    assert_eq!(l["pagination"]["has_more"], true);
}

#[tokio::test]
async fn list_search_matches_non_ascii_titles() {
    let (app, t) = setup().await;
    let zurich = id_of(&app.create_deal(&t.key, json!({"title": "ZÜRICH Tower"})).await);
    let cafe = id_of(&app.create_deal(&t.key, json!({"title": "Café Olé"})).await);
    let k = &t.key;
    // "ZÜRICH" exactly as written in the title.
    assert_filter(&app, k, "search=Z%C3%9CRICH", &[zurich]).await;
    // "zürich", another case.
    assert_filter(&app, k, "search=z%C3%BCrich", &[zurich]).await;
    // "CAFÉ"
    assert_filter(&app, k, "search=CAF%C3%89", &[cafe]).await;
}

#[tokio::test]
async fn list_fields_and_include() {
    let (app, t) = setup().await;
    let pid = app.store.insert_pipeline(t.account.id, "Main", "financing", &[("new", "new")], T0).await.unwrap();
    let a = id_of(
        &app.create_deal(
            &t.key,
            json!({"title": "A", "loan_amount": 1, "pipeline_ids": [pid], "deal_financials": {"purchase_price": 10}}),
        )
        .await,
    );
    let b = id_of(&app.create_deal(&t.key, json!({"title": "B", "loan_amount": 2})).await);
    let pa = app.store.insert_property(a, &property_row(a, "Prop A")).await.unwrap();
    let pb = app.store.insert_property(b, &property_row(b, "Prop B")).await.unwrap();
    let tb = app.store.insert_team_member(b, t.user_id, "closer", false).await.unwrap();

    let l = list(&app, &t.key, "fields=title,loan_amount").await;
    assert_eq!(ids(&l), [a, b]);
    for d in l["data"].as_array().unwrap() {
        assert_eq!(keys(d), set(&["id", "title", "loan_amount"]), "{d}");
    }
    let l = list(&app, &t.key, "fields=title&include=financials,properties,team,pipelines").await;
    let rows = l["data"].as_array().unwrap();
    for d in rows {
        assert_eq!(keys(d), set(&["id", "title", "financials", "properties", "team", "pipelines"]), "{d}");
    }
    let (ra, rb) = (&rows[0], &rows[1]);
    assert_eq!(num(&ra["financials"]["purchase_price"]), 10.0);
    assert!(rb["financials"]["id"].as_i64().is_some() && rb["financials"]["purchase_price"].is_null(), "{rb}");
    assert_eq!(ra["properties"].as_array().unwrap().iter().map(id_of).collect::<Vec<_>>(), [pa]);
    assert_eq!(rb["properties"].as_array().unwrap().iter().map(id_of).collect::<Vec<_>>(), [pb]);
    assert_eq!(ra["team"], json!([]));
    assert_eq!(rb["team"][0]["id"], tb);
    assert_eq!(rb["team"][0]["deal_role"], "closer");
    assert_eq!(rb["team"][0]["is_primary"], false);
    assert_eq!(ra["pipelines"][0]["pipeline_id"], pid);
    assert_eq!(rb["pipelines"], json!([]));
    // Unknown field on the list.
    let e = fail(app.get("/deals?fields=title,nope", &t.key), 422, "validation_error").await;
    assert_eq!(str_set(&e["details"]["allowed"]), set(DEAL_FIELDS), "{e}");
}

// ---------------------------------------------------------------------------------------------
// tenancy

#[tokio::test]
async fn another_accounts_deal_is_404_and_untouched() {
    let app = spawn().await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("bravo").await;
    let theirs = app
        .create_deal(&b.key, json!({"title": "B's deal", "loan_amount": 5, "deal_financials": {"purchase_price": 77}}))
        .await;
    let id = id_of(&theirs);
    let fin_before = ok(app.get(&format!("/deals/{id}/financials"), &b.key)).await["data"].clone();
    for prefix in ["", "/build"] {
        let base = format!("{prefix}/deals/{id}");
        for r in [
            app.get(&base, &a.key),
            app.get(&format!("{base}?include=financials"), &a.key),
            app.get(&format!("{base}/financials"), &a.key),
            app.patch_json(&base, &a.key, &json!({"title": "hijacked", "deal_financials": {"purchase_price": 1}})),
            app.delete(&base, &a.key),
        ] {
            let e = fail(r, 404, "not_found").await;
            assert_eq!(e["message"], "Deal not found");
        }
    }
    // X-Active-Account is ignored for API keys (`docs/auth.md#active-account`).
    let r = app.get(&format!("/deals/{id}"), &a.key).header("X-Active-Account", "bravo");
    fail(r, 404, "not_found").await;
    // Unchanged for its owner.
    assert_eq!(get_deal(&app, &b.key, id).await, theirs);
    assert_eq!(ok(app.get(&format!("/deals/{id}/financials"), &b.key)).await["data"], fin_before);
}

#[tokio::test]
async fn lists_never_show_other_accounts_deals() {
    let app = spawn().await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("bravo").await;
    let mine =
        id_of(&app.create_deal(&a.key, json!({"title": "Shared name", "loan_type": "land", "loan_amount": 1})).await);
    let theirs =
        id_of(&app.create_deal(&b.key, json!({"title": "Shared name", "loan_type": "land", "loan_amount": 1})).await);
    ok(app.delete(&format!("/deals/{theirs}"), &b.key)).await;
    for q in ["", "filter[archived]=true", "search=shared", "filter[loan_type]=land", "sort=title", "include=team"] {
        let l = list(&app, &a.key, q).await;
        assert_eq!(ids(&l), if q == "filter[archived]=true" { vec![] } else { vec![mine] }, "{q}");
        let total = l["pagination"]["total"].as_i64().unwrap();
        assert_eq!(total as usize, ids(&l).len(), "{q}");
    }
    // A cursor positioned at another account's row shows nothing of theirs.
    let c = list(&app, &b.key, "limit=1").await;
    assert_eq!(ids(&c), [theirs]);
    let all = list(&app, &a.key, "limit=200").await;
    assert!(!ids(&all).contains(&theirs));
    let l = list(&app, &b.key, "").await;
    assert_eq!(ids(&l), [theirs]);
}

// ---------------------------------------------------------------------------------------------
// scopes

async fn assert_read_only(app: &TestApp, key: &str, deal: &Value) {
    let id = id_of(deal);
    for prefix in ["", "/build"] {
        // Reads work.
        assert_eq!(ids(&ok(app.get(&format!("{prefix}/deals"), key)).await), [id]);
        assert_eq!(ok(app.get(&format!("{prefix}/deals/{id}"), key)).await["data"], *deal);
        ok(app.get(&format!("{prefix}/deals/{id}/financials"), key)).await;
        // Writes are refused.
        for r in [
            app.post_json(&format!("{prefix}/deals"), key, &json!({"title": "nope"})),
            app.patch_json(&format!("{prefix}/deals/{id}"), key, &json!({"title": "nope"})),
            app.delete(&format!("{prefix}/deals/{id}"), key),
        ] {
            let e = fail(r, 403, "forbidden").await;
            assert_eq!(e["message"], WRITE_SCOPE_MSG);
            assert_eq!(e["code"], "FORBIDDEN");
        }
        // The scope check comes before the lookup and before body validation.
        let missing = id + 1000;
        for r in [
            app.patch_json(&format!("{prefix}/deals/{missing}"), key, &json!({"title": "nope"})),
            app.delete(&format!("{prefix}/deals/{missing}"), key),
            app.post_json(&format!("{prefix}/deals"), key, &json!({"loan_type": "bogus"})),
            app.patch_json(&format!("{prefix}/deals/{id}"), key, &json!({"title": null})),
            app.raw_json(Method::POST, &format!("{prefix}/deals"), key, "not json"),
        ] {
            let e = fail(r, 403, "forbidden").await;
            assert_eq!(e["message"], WRITE_SCOPE_MSG);
        }
    }
}

#[tokio::test]
async fn read_only_key_can_read_but_not_write() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "Guarded", "deal_financials": {"land_cost": 3}})).await;
    let ro = app.key(t.user_id, &t.account, KeyPermission::ReadOnly).await;
    assert_read_only(&app, &ro, &d).await;
    assert_eq!(get_deal(&app, &t.key, id_of(&d)).await, d);
    assert_eq!(count(&app, &t.key).await, 1);
}

#[tokio::test]
async fn viewer_member_key_can_read_but_not_write() {
    let app = spawn().await;
    let v = app.tenant_with("viewco", Tier::Enterprise, Role::Viewer).await;
    let boss = app.user("boss@viewco.test", None).await;
    app.member(boss, v.account.id, Role::Admin).await;
    let boss_key = app.key(boss, &v.account, KeyPermission::FullAccess).await;
    let d = app.create_deal(&boss_key, json!({"title": "Viewed"})).await;
    assert_read_only(&app, &v.key, &d).await;
    assert_eq!(get_deal(&app, &boss_key, id_of(&d)).await, d);
    assert_eq!(count(&app, &boss_key).await, 1);
    // A member (not only an admin) may write.
    let member = app.user("member@viewco.test", None).await;
    app.member(member, v.account.id, Role::Member).await;
    let member_key = app.key(member, &v.account, KeyPermission::FullAccess).await;
    let m = app.create_deal(&member_key, json!({"title": "By member"})).await;
    ok(app.patch_json(&format!("/deals/{}", id_of(&m)), &member_key, &json!({"loan_amount": 1}))).await;
    ok(app.delete(&format!("/deals/{}", id_of(&m)), &member_key)).await;
    // Demoting the member shrinks the key (`docs/auth.md#roles`). The role is changed in the database directly,
    // as another process would; such changes reach the server's credential cache through the
    // auth epoch, polled every 500 ms, hence the pause.
    app.member(member, v.account.id, Role::Viewer).await;
    pause().await;
    let e = fail(app.post_json("/deals", &member_key, &json!({"title": "late"})), 403, "forbidden").await;
    assert_eq!(e["message"], WRITE_SCOPE_MSG);
    ok(app.get("/deals", &member_key)).await;
}

#[tokio::test]
async fn deal_routes_require_a_credential() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "Private"})).await;
    let id = id_of(&d);
    for (m, p) in [
        (Method::GET, "/deals".to_string()),
        (Method::POST, "/deals".to_string()),
        (Method::GET, format!("/deals/{id}")),
        (Method::PATCH, format!("/deals/{id}")),
        (Method::DELETE, format!("/deals/{id}")),
        (Method::GET, format!("/deals/{id}/financials")),
        (Method::GET, format!("/build/deals/{id}")),
    ] {
        let r = app.client.request(m.clone(), app.url(&p)).header("X-Origin-App", "t");
        let e = fail(r, 401, "unauthorized").await;
        assert_eq!(e["message"], "Authentication required", "{m} {p}");
    }
    assert_eq!(get_deal(&app, &t.key, id).await, d);
}

// ---------------------------------------------------------------------------------------------
// the /build alias

#[tokio::test]
async fn build_alias_serves_every_deal_endpoint() {
    let (app, t) = setup().await;
    let k = &t.key;
    let r = app.post_json(
        "/build/deals",
        k,
        &json!({"title": "Via build", "loan_amount": 9200000, "loan_type": "light_bridge", "deal_financials": {"purchase_price": 11500000}}),
    );
    let (s, b) = parts(r.send().await.unwrap()).await;
    assert_eq!(s, 201, "{b}");
    let d = b["data"].clone();
    assert_eq!(keys(&d), set(DEAL_FIELDS));
    assert_eq!(d["owner_account_id"], t.account.id);
    let id = id_of(&d);

    // Both routes read the same deal.
    let canonical = ok(app.get(&format!("/deals/{id}"), k)).await["data"].clone();
    let alias = ok(app.get(&format!("/build/deals/{id}"), k)).await["data"].clone();
    assert_eq!(canonical, d);
    assert_eq!(alias, d);
    let g = ok(app.get(&format!("/build/deals/{id}?fields=title&include=financials"), k)).await["data"].clone();
    assert_eq!(keys(&g), set(&["id", "title", "financials"]));
    assert_eq!(num(&g["financials"]["purchase_price"]), 11_500_000.0);
    let f1 = ok(app.get(&format!("/build/deals/{id}/financials"), k)).await["data"].clone();
    let f2 = ok(app.get(&format!("/deals/{id}/financials"), k)).await["data"].clone();
    assert_eq!(f1, f2);
    assert_eq!(num(&f1["purchase_price"]), 11_500_000.0);

    // Lists.
    let l1 = ok(app.get("/build/deals?sort=-loan_amount&filter[loan_type]=light_bridge", k)).await;
    let l2 = ok(app.get("/deals?sort=-loan_amount&filter[loan_type]=light_bridge", k)).await;
    assert_eq!(l1["data"], l2["data"]);
    assert_eq!(l1["pagination"], l2["pagination"]);
    assert_eq!(ids(&l1), [id]);

    // Update and archive through the alias, seen on the canonical route.
    let u = ok(app.patch_json(
        &format!("/build/deals/{id}"),
        k,
        &json!({"title": "Renamed", "deal_financials": {"land_cost": 5}}),
    ))
    .await["data"]
        .clone();
    assert_eq!(u["title"], "Renamed");
    assert_eq!(get_deal(&app, k, id).await["title"], "Renamed");
    assert_eq!(num(&ok(app.get(&format!("/deals/{id}/financials"), k)).await["data"]["land_cost"]), 5.0);
    assert_eq!(ok(app.delete(&format!("/build/deals/{id}"), k)).await["data"], json!({"deleted": true}));
    assert_eq!(get_deal(&app, k, id).await["archived"], true);
    assert_eq!(ok(app.delete(&format!("/build/deals/{id}"), k)).await["data"], json!({"deleted": true}));

    // Errors are the same too.
    let e = fail(app.get("/build/deals/abc", k), 404, "not_found").await;
    assert_eq!(e["message"], "Deal not found");
    let e = fail(app.post_json("/build/deals", k, &json!({})), 422, "validation_error").await;
    assert!(e["details"]["fields"]["title"].is_string());
    fail(app.raw_json(Method::POST, "/build/deals", k, "[]"), 400, "bad_request").await;
    let e = fail(app.get("/build/deals?limit=0", k), 422, "validation_error").await;
    assert!(e["details"]["fields"]["limit"].is_string());
}

#[tokio::test]
async fn wrong_method_on_a_deal_route_is_405_with_allow() {
    let (app, t) = setup().await;
    let d = app.create_deal(&t.key, json!({"title": "x"})).await;
    let id = id_of(&d);
    let cases = [
        (Method::PUT, format!("/deals/{id}"), &["GET", "PATCH", "DELETE"][..]),
        (Method::POST, format!("/deals/{id}"), &["GET", "PATCH", "DELETE"][..]),
        (Method::DELETE, "/deals".to_string(), &["GET", "POST"][..]),
        (Method::PATCH, "/build/deals".to_string(), &["GET", "POST"][..]),
        (Method::POST, format!("/deals/{id}/financials"), &["GET"][..]),
    ];
    for (m, path, allowed) in cases {
        let r = app.req(m.clone(), &path, &t.key).send().await.unwrap();
        let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_uppercase()).unwrap_or_default();
        let (s, b) = parts(r).await;
        assert_eq!(s, 405, "{m} {path}: {b}");
        assert_error(&b, 405, "method_not_allowed");
        for a in allowed {
            assert!(allow.contains(a), "{m} {path}: Allow {allow:?} lacks {a}");
        }
    }
    assert_eq!(get_deal(&app, &t.key, id).await, d);
}

/// Optional numbers alternate between null and values on the same (cached) statements: every
/// backend must accept both in any order.
#[tokio::test]
async fn optional_numbers_alternate_between_null_and_values() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    for i in 0..6 {
        let body = if i % 2 == 0 {
            json!({"title": format!("n{i}"), "deal_financials": {"land_cost": null, "total_cost": 5}})
        } else {
            json!({"title": format!("n{i}"), "loan_amount": 1250000.5, "deal_financials": {"land_cost": 10.5}})
        };
        let d = app.create_deal(&t.key, body).await;
        let patch = if i % 2 == 0 { json!({"loan_amount": 7.25}) } else { json!({"loan_amount": null}) };
        let (s, b) = parts(app.patch_json(&format!("/deals/{}", d["id"]), &t.key, &patch).send().await.unwrap()).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["data"]["loan_amount"], patch["loan_amount"]);
    }
}

/// List totals come from counts kept on every write (`docs/api.md#lists`): they stay exact
/// through creation and archiving, per account, with and without the archived filter, and
/// agree with what a filtered count finds.
#[tokio::test]
async fn list_totals_stay_exact_through_writes() {
    let app = spawn().await;
    let a = app.tenant("totals-a").await;
    let b = app.tenant("totals-b").await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(app.create_deal(&a.key, json!({"title": format!("Totals {n}")})).await["id"].as_i64().unwrap());
    }
    app.create_deal(&b.key, json!({"title": "Other account"})).await;
    for id in &ids[..2] {
        let r = app.client.delete(app.url(&format!("/deals/{id}"))).bearer_auth(&a.key).header("X-Origin-App", "t");
        assert_eq!(r.send().await.unwrap().status(), 200);
    }
    // Archiving twice changes nothing.
    let again =
        app.client.delete(app.url(&format!("/deals/{}", ids[0]))).bearer_auth(&a.key).header("X-Origin-App", "t");
    assert_eq!(again.send().await.unwrap().status(), 200);
    let total = |key: String, query: &'static str| {
        let app = &app;
        async move {
            let (s, b) = parts(app.get(&format!("/deals?limit=1{query}"), &key).send().await.unwrap()).await;
            assert_eq!(s, 200, "{b}");
            b["pagination"]["total"].as_i64().unwrap()
        }
    };
    assert_eq!(total(a.key.clone(), "").await, 5);
    assert_eq!(total(a.key.clone(), "&filter[archived]=true").await, 2);
    assert_eq!(total(a.key.clone(), "&filter[archived]=false").await, 3);
    assert_eq!(total(a.key.clone(), "&search=totals").await, 5, "a search counts the rows it matches");
    assert_eq!(total(b.key.clone(), "").await, 1);
    assert_eq!(total(b.key.clone(), "&filter[archived]=true").await, 0);
}
