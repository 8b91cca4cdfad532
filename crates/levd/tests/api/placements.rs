//! Placements (with notes and masking), term sheets (units, rate model, soft delete),
//! pipelines and the pipeline move, deal properties and team — over HTTP, each test on its own
//! server and database.
use std::collections::HashSet;

use levd_domain::crm::{ContactOrigin, NewCompany, NewContact};
use levd_domain::scope::{KeyPermission, Role, Tier};
use levd_domain::time_fmt::now_rfc3339;
use levd_store::DealPropertyRow;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

const WRITE_SCOPE_MSG: &str = "Missing required scope: deals:write";
const NO_FIELDS_MSG: &str = "Request body must contain at least one field to update";
const PLACEMENT_FIELDS: &[&str] = &[
    "contact_id",
    "contact_match_status",
    "contact_name",
    "created_at",
    "deal_id",
    "description",
    "id",
    "last_communication_date",
    "lender_first_response_date",
    "lender_name",
    "lender_status",
    "lev_score",
    "outreach_date",
    "outreach_source",
    "private_company_id",
    "score",
    "status",
    "updated_at",
    "visibility",
];
const TERM_SHEET_FIELDS: &[&str] = &[
    "amortization",
    "base_rate",
    "base_rate_value",
    "capital_source_type",
    "created_at",
    "deal_id",
    "deleted_at",
    "effective_spread",
    "exit_fee",
    "extension_one",
    "extension_three",
    "extension_two",
    "floor",
    "floor_type",
    "good_faith_deposit",
    "id",
    "initial_funding",
    "io_period",
    "ir_details",
    "is_visible_to_borrower",
    "lender_name",
    "max_ltc",
    "max_ltv",
    "min_debt_yield",
    "min_dscr",
    "notes",
    "org_id",
    "origination_fee",
    "payment_method",
    "placement_id",
    "prepayment_penalty",
    "prepayment_penalty_details",
    "quote_type",
    "rate_type",
    "recourse",
    "recourse_type",
    "term",
    "title",
    "total_rate",
    "updated_at",
    "winning",
];

// ---------------------------------------------------------------------------------------------
// helpers

fn field_errors(e: &Value) -> HashSet<String> {
    keys(&e["details"]["fields"])
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

async fn lender(app: &TestApp, account_id: i64, name: &str, org_id: Option<i64>) -> i64 {
    company(app, account_id, name, "lender", org_id).await
}

async fn company(app: &TestApp, account_id: i64, name: &str, kind: &'static str, org_id: Option<i64>) -> i64 {
    let c = NewCompany { name: name.into(), company_type: kind, texts: vec![], org_id };
    app.store.insert_company(account_id, &c, &now_rfc3339()).await.unwrap().id
}

async fn contact(
    app: &TestApp,
    account_id: i64,
    company_id: i64,
    first: &str,
    last: &str,
    origin: ContactOrigin,
) -> i64 {
    let c = NewContact {
        contact_type: "lender_contact",
        company_id,
        email: None,
        texts: vec![("first_name", first.to_string()), ("last_name", last.to_string())],
        phones: vec![],
        is_primary: false,
    };
    app.store.insert_contact(account_id, &c, origin, &now_rfc3339()).await.unwrap().id
}

async fn deal(app: &TestApp, key: &str, title: &str) -> i64 {
    app.create_deal(key, json!({"title": title, "loan_amount": 18_000_000})).await["id"].as_i64().unwrap()
}

async fn create_placement(app: &TestApp, key: &str, body: Value) -> Value {
    expect(app.post_json("/placements", key, &body), 201).await["data"].clone()
}

/// A placement on `deal` with a new lender company named `lender_name`.
async fn placement_at_new_lender(app: &TestApp, t: &Tenant, deal: i64, lender_name: &str) -> Value {
    let lender = lender(app, t.account.id, lender_name, None).await;
    create_placement(app, &t.key, json!({"deal_id": deal, "private_company_id": lender})).await
}

async fn get_placement(app: &TestApp, key: &str, id: i64) -> Value {
    expect(app.get(&format!("/placements/{id}"), key), 200).await["data"].clone()
}

fn quote(placement_id: i64) -> Value {
    json!({
        "placement_id": placement_id, "quote_type": "hard_quote", "rate_type": "floating",
        "base_rate": "sofr_m1", "total_rate": 2.75, "initial_funding": 18_000_000, "term": 36,
        "io_period": 36, "max_ltv": 0.65, "origination_fee": 0.0075, "floor": 4.0, "floor_type": "base_rate"
    })
}

/// A non-admin member of the tenant's account with a full-access key (owns nothing yet).
async fn member(app: &TestApp, t: &Tenant, name: &str, role: Role) -> (i64, String) {
    let u = app.user(&format!("{name}@{}.test", t.account.slug), Some(&format!("sub-{name}"))).await;
    app.member(u, t.account.id, role).await;
    (u, app.key(u, &t.account, KeyPermission::FullAccess).await)
}

/// An account with a deal and a lender with one named contact.
struct Fixture {
    app: TestApp,
    t: Tenant,
    deal: i64,
    lender: i64,
    contact: i64,
}

async fn fixture() -> Fixture {
    let app = spawn().await;
    let t = app.tenant("harbor").await;
    let deal = deal(&app, &t.key, "Harbor Point Refinance").await;
    let lender = lender(&app, t.account.id, "Northbay Bank", Some(7781)).await;
    let contact = contact(&app, t.account.id, lender, "Priya", "Shah", ContactOrigin::Crm).await;
    Fixture { app, t, deal, lender, contact }
}

/// A placement of the fixture's lender and contact on `deal`.
async fn fixture_placement(app: &TestApp, key: &str, deal: i64, lender: i64, contact: i64) -> Value {
    create_placement(app, key, json!({"deal_id": deal, "private_company_id": lender, "contact_id": contact})).await
}

// ---------------------------------------------------------------------------------------------
// placements

#[tokio::test]
async fn placement_create_read_list_and_lifecycle() {
    let Fixture { app, t, deal, lender, contact } = fixture().await;
    let p = create_placement(
        &app,
        &t.key,
        json!({"deal_id": deal, "private_company_id": lender, "contact_id": contact, "score": 55,
               "description": "Relationship lender", "lender_status": "lead_qualification"}),
    )
    .await;
    assert_eq!(keys(&p), set(PLACEMENT_FIELDS));
    assert_eq!(p["deal_id"], deal);
    assert_eq!(p["private_company_id"], lender);
    assert_eq!(p["lender_name"], "Northbay Bank");
    assert_eq!(p["contact_id"], contact);
    assert_eq!(p["contact_name"], "Priya Shah");
    assert_eq!(p["status"], "new");
    assert_eq!(p["visibility"], "masked");
    assert_eq!(p["outreach_source"], "direct");
    assert_eq!(p["lender_status"], "lead_qualification");
    assert_eq!(num(&p["score"]), 55.0);
    assert_eq!(p["lev_score"], Value::Null);
    assert_eq!(p["outreach_date"], Value::Null);
    assert!(p["created_at"].as_str().unwrap().ends_with('Z'));
    let id = p["id"].as_i64().unwrap();
    assert_eq!(get_placement(&app, &t.key, id).await, p);

    // Sending: the outreach is stamped. The lender answering: the first response is stamped.
    let sent = expect(app.patch_json(&format!("/placements/{id}"), &t.key, &json!({"status": "sent"})), 200).await;
    let sent = &sent["data"];
    assert_eq!(sent["status"], "sent");
    assert!(sent["outreach_date"].as_str().unwrap().ends_with('Z'));
    assert!(sent["last_communication_date"].is_string());
    assert_eq!(sent["lender_first_response_date"], Value::Null);
    let answered =
        expect(app.patch_json(&format!("/placements/{id}"), &t.key, &json!({"status": "terms_received"})), 200).await;
    assert!(answered["data"]["lender_first_response_date"].is_string());
    assert_eq!(answered["data"]["outreach_date"], sent["outreach_date"]);

    // Other fields, and clearing.
    let changed = expect(
        app.patch_json(
            &format!("/placements/{id}"),
            &t.key,
            &json!({"score": null, "outreach_date": "2026-05-03T16:00:00+02:00", "lender_status": "under_review",
                    "visibility": "shared", "deal_id": deal, "private_company_id": lender}),
        ),
        200,
    )
    .await;
    let changed = &changed["data"];
    assert_eq!(changed["score"], Value::Null);
    assert_eq!(changed["outreach_date"], "2026-05-03T14:00:00Z");
    assert_eq!(changed["lender_status"], "under_review");
    assert_eq!(changed["visibility"], "shared");

    // Archive by PATCH: still readable, still listed unless filtered out; restorable.
    let archived =
        expect(app.patch_json(&format!("/placements/{id}"), &t.key, &json!({"status": "archived"})), 200).await;
    assert_eq!(archived["data"]["status"], "archived");
    assert_eq!(get_placement(&app, &t.key, id).await["status"], "archived");
    let other = self::lender(&app, t.account.id, "Atlas Life", None).await;
    let p2 = create_placement(&app, &t.key, json!({"deal_id": deal, "private_company_id": other})).await;
    let all = expect(app.get("/placements", &t.key), 200).await;
    assert_eq!(ids(&all), vec![id, p2["id"].as_i64().unwrap()]);
    let live = expect(app.get("/placements?filter[archived]=false", &t.key), 200).await;
    assert_eq!(ids(&live), vec![p2["id"].as_i64().unwrap()]);
    let only = expect(app.get("/placements?filter[status]=archived", &t.key), 200).await;
    assert_eq!(ids(&only), vec![id]);
    let restored =
        expect(app.patch_json(&format!("/placements/{id}"), &t.key, &json!({"status": "negotiating"})), 200).await;
    assert_eq!(restored["data"]["status"], "negotiating");
    // No DELETE on placements.
    fail(app.delete(&format!("/placements/{id}"), &t.key), 405, "method_not_allowed").await;
}

#[tokio::test]
async fn placement_list_pages_with_a_cursor_and_filters() {
    let Fixture { app, t, deal, lender: l1, .. } = fixture().await;
    let other_deal = self::deal(&app, &t.key, "Maple Court").await;
    let l2 = lender(&app, t.account.id, "Atlas Life", None).await;
    let mut created = Vec::new();
    for (d, l) in [(deal, l1), (deal, l2), (other_deal, l1), (other_deal, l2), (deal, l1)] {
        let c = contact(&app, t.account.id, l, "A", "B", ContactOrigin::Crm).await;
        let p = create_placement(&app, &t.key, json!({"deal_id": d, "private_company_id": l, "contact_id": c})).await;
        created.push(p["id"].as_i64().unwrap());
    }
    let first = expect(app.get("/placements?limit=2", &t.key), 200).await;
    assert_eq!(ids(&first), created[..2].to_vec());
    let pg = &first["pagination"];
    assert_eq!((pg["total"].clone(), pg["limit"].clone(), pg["has_more"].clone()), (json!(5), json!(2), json!(true)));
    assert_eq!(pg["cursor"], Value::Null);
    let next = pg["next_cursor"].as_str().unwrap().to_string();
    let second = expect(app.get(&format!("/placements?limit=2&cursor={next}"), &t.key), 200).await;
    assert_eq!(ids(&second), created[2..4].to_vec());
    let next = second["pagination"]["next_cursor"].as_str().unwrap().to_string();
    let last = expect(app.get(&format!("/placements?limit=2&cursor={next}"), &t.key), 200).await;
    assert_eq!(ids(&last), created[4..].to_vec());
    assert_eq!(last["pagination"]["has_more"], false);
    assert_eq!(last["pagination"]["next_cursor"], Value::Null);

    // Optional numbers present and absent, in turn (on PostgreSQL a statement prepared with a
    // float must also take a missing one).
    let third = self::deal(&app, &t.key, "Third").await;
    for i in 0..6 {
        let score = if i % 2 == 0 { json!(40 + i) } else { Value::Null };
        let l = lender(&app, t.account.id, &format!("Lender {i}"), None).await;
        let p =
            create_placement(&app, &t.key, json!({"deal_id": third, "private_company_id": l, "score": score})).await;
        assert_eq!(p["score"], if i % 2 == 0 { json!(f64::from(40 + i)) } else { Value::Null });
        let mut q = quote(p["id"].as_i64().unwrap());
        if i % 2 == 1 {
            q["base_rate"] = json!("none-fixed");
            q["max_ltv"] = Value::Null;
        }
        let ts = expect(app.post_json(&format!("/deals/{third}/term-sheets"), &t.key, &q), 201).await;
        assert_eq!(ts["data"]["base_rate_value"].is_null(), i % 2 == 1);
    }

    let by_deal = expect(app.get(&format!("/placements?filter[deal_id]={other_deal}"), &t.key), 200).await;
    assert_eq!(ids(&by_deal), created[2..4].to_vec());
    assert_eq!(by_deal["pagination"]["total"], 2);
    let slim = expect(app.get("/placements?fields=status,lender_name&limit=1", &t.key), 200).await;
    assert_eq!(keys(&slim["data"][0]), set(&["id", "status", "lender_name"]));

    // Query errors: cursor with sort (400), bad limit / unknown filter (422), bad cursor (400).
    let e = fail(app.get(&format!("/placements?cursor={next}&sort=id"), &t.key), 400, "bad_request").await;
    assert_eq!(e["message"], "cursor and sort cannot be combined; use offset pagination when sorting");
    fail(app.get("/placements?limit=0", &t.key), 422, "validation_error").await;
    fail(app.get("/placements?limit=201", &t.key), 422, "validation_error").await;
    fail(app.get("/placements?filter[lender]=x", &t.key), 422, "validation_error").await;
    fail(app.get("/placements?filter[status]=bogus", &t.key), 422, "validation_error").await;
    fail(app.get("/placements?cursor=%%%", &t.key), 400, "bad_request").await;
}

#[tokio::test]
async fn placement_create_validation_and_duplicates() {
    let Fixture { app, t, deal, lender, contact } = fixture().await;
    let post = |body: Value| app.post_json("/placements", &t.key, &body);
    let e = fail(post(json!({})), 422, "validation_error").await;
    assert_eq!(field_errors(&e), set(&["deal_id", "private_company_id"]));
    let e = fail(
        post(json!({"deal_id": "x", "private_company_id": lender, "score": 101, "visibility": "visible",
                    "outreach_date": "next week", "lender_status": "maybe", "description": 5})),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(
        field_errors(&e),
        set(&["deal_id", "score", "visibility", "outreach_date", "lender_status", "description"])
    );
    let e = fail(
        post(json!({"deal_id": deal, "private_company_id": lender, "status": "pending"})),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(e["message"], "status: input is not a valid enum member");
    let e =
        fail(post(json!({"deal_id": deal, "private_company_id": lender, "status": "archived"})), 400, "bad_request")
            .await;
    assert_eq!(
        e["message"],
        "Cannot create a placement with status='archived'; create an active placement and PATCH to archive"
    );
    let raw = |b: &'static str| app.raw_json(Method::POST, "/placements", &t.key, b);
    fail(raw("{\"deal_id\": "), 400, "bad_request").await;
    fail(raw("[1, 2]"), 400, "bad_request").await;

    // Linkage checks: deal, lender company, contact at that lender.
    let e = fail(post(json!({"deal_id": 999_999, "private_company_id": lender})), 404, "not_found").await;
    assert_eq!(e["message"], "Deal not found");
    let e = fail(post(json!({"deal_id": deal, "private_company_id": 999_999})), 404, "not_found").await;
    assert_eq!(e["message"], "Private company not found");
    let sponsor = company(&app, t.account.id, "Sponsor LLC", "sponsor", None).await;
    let e = fail(post(json!({"deal_id": deal, "private_company_id": sponsor})), 422, "validation_error").await;
    assert_eq!(field_errors(&e), set(&["private_company_id"]));
    let other_lender = self::lender(&app, t.account.id, "Atlas Life", None).await;
    let e = fail(
        post(json!({"deal_id": deal, "private_company_id": other_lender, "contact_id": contact})),
        404,
        "not_found",
    )
    .await;
    assert_eq!(e["message"], "Contact not found");

    // One placement per (deal, contact, lender): a duplicate is a 400, not a 409.
    let body = json!({"deal_id": deal, "private_company_id": lender, "contact_id": contact});
    create_placement(&app, &t.key, body.clone()).await;
    let e = fail(app.post_json("/placements", &t.key, &body), 400, "bad_request").await;
    assert_eq!(e["message"], "A placement already exists for this deal, contact, and lender; use PATCH to update it");
    // Same lender without a contact, and the same pair on another deal, are different outreaches.
    create_placement(&app, &t.key, json!({"deal_id": deal, "private_company_id": lender})).await;
    fail(post(json!({"deal_id": deal, "private_company_id": lender})), 400, "bad_request").await;
    let d2 = self::deal(&app, &t.key, "Second").await;
    create_placement(&app, &t.key, json!({"deal_id": d2, "private_company_id": lender, "contact_id": contact})).await;
    let total = expect(app.get("/placements", &t.key), 200).await["pagination"]["total"].clone();
    assert_eq!(total, 3);

    // Idempotent retries create nothing new.
    let d3 = self::deal(&app, &t.key, "Third").await;
    let body = json!({"deal_id": d3, "private_company_id": lender});
    let first = app.post_json("/placements", &t.key, &body).header("Idempotency-Key", "pl-1").send().await.unwrap();
    assert_eq!(first.status(), 201);
    let again = app.post_json("/placements", &t.key, &body).header("Idempotency-Key", "pl-1").send().await.unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(expect(app.get("/placements", &t.key), 200).await["pagination"]["total"], 4);
}

#[tokio::test]
async fn placement_patch_validation() {
    let Fixture { app, t, deal, lender, contact } = fixture().await;
    let p = fixture_placement(&app, &t.key, deal, lender, contact).await;
    let path = format!("/placements/{}", p["id"]);
    for body in [json!({}), json!({"id": 5, "lender_name": "x"}), json!({"deal_id": deal})] {
        let e = fail(app.patch_json(&path, &t.key, &body), 400, "bad_request").await;
        assert_eq!(e["message"], NO_FIELDS_MSG, "{body}");
    }
    let e = fail(app.patch_json(&path, &t.key, &json!({"status": "done"})), 422, "validation_error").await;
    assert_eq!(e["message"], "status: input is not a valid enum member");
    for body in [
        json!({"status": null}),
        json!({"visibility": null}),
        json!({"visibility": "public"}),
        json!({"score": -1}),
        json!({"score": "high"}),
        json!({"outreach_date": 20260503}),
        json!({"deal_id": deal + 1, "status": "sent"}),
        json!({"private_company_id": lender + 100}),
        json!({"contact_id": null}),
    ] {
        fail(app.patch_json(&path, &t.key, &body), 422, "validation_error").await;
    }
    // Nothing changed by the refused requests.
    let now = get_placement(&app, &t.key, p["id"].as_i64().unwrap()).await;
    assert_eq!(now, p);
    fail(app.patch_json("/placements/999999", &t.key, &json!({"status": "sent"})), 404, "not_found").await;
    fail(app.patch_json("/placements/abc", &t.key, &json!({"status": "sent"})), 404, "not_found").await;
    fail(app.get("/placements/abc", &t.key), 404, "not_found").await;
}

#[tokio::test]
async fn placement_notes_and_description_log() {
    let Fixture { app, t, deal, lender, .. } = fixture().await;
    let p = create_placement(&app, &t.key, json!({"deal_id": deal, "private_company_id": lender})).await;
    let id = p["id"].as_i64().unwrap();
    let notes = format!("/placements/{id}/notes");
    assert_eq!(expect(app.get(&notes, &t.key), 200).await["pagination"]["total"], 0);

    // Changing the description logs it as a note; resending the same text logs nothing.
    let body = json!({"description": "Lender wants the updated rent roll."});
    expect(app.patch_json(&format!("/placements/{id}"), &t.key, &body), 200).await;
    expect(app.patch_json(&format!("/placements/{id}"), &t.key, &body), 200).await;
    let list = expect(app.get(&notes, &t.key), 200).await;
    assert_eq!(list["pagination"]["total"], 1);
    assert_eq!(list["data"][0]["text"], "Lender wants the updated rent roll.");
    assert_eq!(list["data"][0]["created_by"]["id"], t.user_id);

    // Notes: add, page, edit, delete for good.
    let n = expect(app.post_json(&notes, &t.key, &json!({"text": "Call scheduled."})), 201).await;
    let nid = n["data"]["id"].as_i64().unwrap();
    assert_eq!(n["data"]["text"], "Call scheduled.");
    expect(app.post_json(&notes, &t.key, &json!({"text": "Third"})), 201).await;
    let page = expect(app.get(&format!("{notes}?limit=2"), &t.key), 200).await;
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert_eq!(page["pagination"]["has_more"], true);
    let edited = expect(app.patch_json(&format!("{notes}/{nid}"), &t.key, &json!({"text": "Call moved."})), 200).await;
    assert_eq!(edited["data"]["text"], "Call moved.");
    fail(app.patch_json(&format!("{notes}/{nid}"), &t.key, &json!({"text": ""})), 400, "bad_request").await;
    fail(app.patch_json(&format!("{notes}/{nid}"), &t.key, &json!({"text": "  "})), 422, "validation_error").await;
    fail(app.post_json(&notes, &t.key, &json!({})), 422, "validation_error").await;
    let del = expect(app.delete(&format!("{notes}/{nid}"), &t.key), 200).await;
    assert_eq!(del["data"], json!({"deleted": true}));
    let e = fail(app.delete(&format!("{notes}/{nid}"), &t.key), 404, "not_found").await;
    assert_eq!(e["message"], "Placement or note not found");
    // A note is reachable only through its own placement.
    let other = placement_at_new_lender(&app, &t, deal, "Atlas").await;
    let first_note = list["data"][0]["id"].as_i64().unwrap();
    fail(
        app.patch_json(&format!("/placements/{}/notes/{first_note}", other["id"]), &t.key, &json!({"text": "x"})),
        404,
        "not_found",
    )
    .await;
    let e = fail(app.get("/placements/999999/notes", &t.key), 404, "not_found").await;
    assert_eq!(e["message"], "Placement not found");
    // Clearing the description is logged too.
    expect(app.patch_json(&format!("/placements/{id}"), &t.key, &json!({"description": null})), 200).await;
    let list = expect(app.get(&notes, &t.key), 200).await;
    assert_eq!(list["data"].as_array().unwrap().last().unwrap()["text"], "Description cleared.");
}

#[tokio::test]
async fn ai_matched_contact_stays_unnamed_until_unlocked() {
    let Fixture { app, t, deal, lender, contact } = fixture().await;
    let locked = self::contact(&app, t.account.id, lender, "Hidden", "Person", ContactOrigin::AiRecommended).await;
    // No contact named: the lender's AI-recommended contact is matched, its name withheld.
    let p = create_placement(&app, &t.key, json!({"deal_id": deal, "private_company_id": lender})).await;
    assert_eq!(p["contact_id"], locked);
    assert_eq!(p["contact_name"], Value::Null);
    assert_eq!(p["lender_name"], "Northbay Bank");
    // The recommendation is used once per deal; the next outreach waits for a contact.
    let p2 = create_placement(
        &app,
        &t.key,
        json!({"deal_id": deal, "private_company_id": lender, "contact_id": contact, "status": "sent"}),
    )
    .await;
    assert_eq!(p2["contact_name"], "Priya Shah");
    assert!(p2["outreach_date"].is_string());
    let p3 = create_placement(&app, &t.key, json!({"deal_id": deal, "private_company_id": lender})).await;
    assert_eq!(p3["contact_id"], Value::Null);
}

/// What the contact match did is part of the placement: `matched` (a recommended contact was
/// assigned), `no_match` (none was available, and none will be assigned later), or
/// `not_requested` (the caller named the contact). A masked view does not show it.
#[tokio::test]
async fn the_contact_match_reports_its_outcome() {
    let Fixture { app, t, deal, lender, contact } = fixture().await;
    // Only a CRM contact at the lender: nothing to recommend.
    let none = create_placement(&app, &t.key, json!({"deal_id": deal, "private_company_id": lender})).await;
    assert_eq!((none["contact_id"].clone(), none["contact_match_status"].clone()), (Value::Null, json!("no_match")));
    let id = none["id"].as_i64().unwrap();
    // The outcome is final: a recommendation added later does not change this placement.
    let locked = self::contact(&app, t.account.id, lender, "Hidden", "Person", ContactOrigin::AiRecommended).await;
    let again = get_placement(&app, &t.key, id).await;
    assert_eq!((again["contact_id"].clone(), again["contact_match_status"].clone()), (Value::Null, json!("no_match")));
    // On another deal the recommendation is matched.
    let deal2 = self::deal(&app, &t.key, "Second").await;
    let m = create_placement(&app, &t.key, json!({"deal_id": deal2, "private_company_id": lender})).await;
    assert_eq!((m["contact_id"].clone(), m["contact_match_status"].clone()), (json!(locked), json!("matched")));
    let named = create_placement(
        &app,
        &t.key,
        json!({"deal_id": deal2, "private_company_id": lender, "contact_id": contact, "visibility": "masked"}),
    )
    .await;
    assert_eq!(named["contact_match_status"], "not_requested");
    // Listed and selected like any member.
    let listed =
        expect(app.get(&format!("/placements?filter[deal_id]={deal2}&fields=contact_match_status"), &t.key), 200).await;
    let statuses: Vec<&str> =
        listed["data"].as_array().unwrap().iter().map(|p| p["contact_match_status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["matched", "not_requested"]);
    // A member who does not own the masked placement sees no linkage, this member included.
    let (_, other) = member(&app, &t, "viewer", Role::Member).await;
    let seen = get_placement(&app, &other, named["id"].as_i64().unwrap()).await;
    assert_eq!((seen["contact_id"].clone(), seen["contact_match_status"].clone()), (Value::Null, Value::Null));
}

/// Two placements created at once for the same deal and lender, neither naming a contact, get
/// different recommended contacts instead of one failing as a duplicate.
#[tokio::test]
async fn concurrent_matches_take_different_contacts() {
    let Fixture { app, t, deal, lender, .. } = fixture().await;
    let a = self::contact(&app, t.account.id, lender, "Rec", "One", ContactOrigin::AiRecommended).await;
    let b = self::contact(&app, t.account.id, lender, "Rec", "Two", ContactOrigin::AiRecommended).await;
    let body = json!({"deal_id": deal, "private_company_id": lender});
    let (r1, r2) = tokio::join!(
        send(app.post_json("/placements", &t.key, &body)),
        send(app.post_json("/placements", &t.key, &body))
    );
    assert_eq!((r1.0, r2.0), (201, 201), "{r1:?} {r2:?}");
    let mut got = [r1.1["data"]["contact_id"].as_i64().unwrap(), r2.1["data"]["contact_id"].as_i64().unwrap()];
    got.sort_unstable();
    assert_eq!(got, [a, b]);
}

/// `base_rate` takes, in any letter case, the key, the code or the display name of a listed
/// benchmark, and stores the benchmark's code.
#[tokio::test]
async fn term_sheet_base_rate_accepts_key_code_and_name() {
    let Fixture { app, t, deal, lender, contact } = fixture().await;
    let p = fixture_placement(&app, &t.key, deal, lender, contact).await;
    let pid = p["id"].as_i64().unwrap();
    let base = format!("/deals/{deal}/term-sheets");
    let market = expect(app.get("/market/base-rates", &t.key), 200).await["data"].clone();
    let rates = market.as_array().unwrap();
    assert!(!rates.is_empty());
    for r in rates {
        let (key, code, name) = (r["key"].as_str().unwrap(), r["code"].as_str().unwrap(), r["name"].as_str().unwrap());
        for sent in [key.to_string(), key.to_uppercase(), code.to_lowercase(), name.to_string(), name.to_uppercase()] {
            let mut body = quote(pid);
            body["base_rate"] = json!(sent);
            let ts = expect(app.post_json(&base, &t.key, &body), 201).await["data"].clone();
            assert_eq!(ts["base_rate"], code, "{sent}");
            assert_eq!(ts["base_rate_value"], r["rate"], "{sent}");
            let id = ts["id"].as_i64().unwrap();
            let patched =
                expect(app.patch_json(&format!("{base}/{id}"), &t.key, &json!({"base_rate": sent})), 200).await;
            assert_eq!(patched["data"]["base_rate"], code, "{sent}");
        }
    }
    let mut body = quote(pid);
    body["base_rate"] = json!("30-Day Average SOFRX");
    let e = fail(app.post_json(&base, &t.key, &body), 422, "validation_error").await;
    assert!(e["details"]["fields"]["base_rate"].is_string(), "{e}");
}

#[tokio::test]
async fn masked_and_hidden_placements_for_non_owners() {
    let Fixture { app, t, deal, lender, contact } = fixture().await;
    let l2 = self::lender(&app, t.account.id, "Atlas Life", Some(42)).await;
    let l3 = self::lender(&app, t.account.id, "Crescent Credit", None).await;
    let masked = create_placement(
        &app,
        &t.key,
        json!({"deal_id": deal, "private_company_id": lender, "contact_id": contact, "visibility": "masked"}),
    )
    .await;
    let shared =
        create_placement(&app, &t.key, json!({"deal_id": deal, "private_company_id": l2, "visibility": "shared"}))
            .await;
    let hidden =
        create_placement(&app, &t.key, json!({"deal_id": deal, "private_company_id": l3, "visibility": "hidden"}))
            .await;
    let ts = expect(
        app.post_json(&format!("/deals/{deal}/term-sheets"), &t.key, &quote(masked["id"].as_i64().unwrap())),
        201,
    )
    .await["data"]
        .clone();
    expect(app.post_json(&format!("/deals/{deal}/term-sheets"), &t.key, &quote(hidden["id"].as_i64().unwrap())), 201)
        .await;

    // A member who neither created the placements nor sits on the deal team.
    let (_, outsider) = member(&app, &t, "olly", Role::Member).await;
    let list = expect(app.get("/placements", &outsider), 200).await;
    assert_eq!(ids(&list), vec![masked["id"].as_i64().unwrap(), shared["id"].as_i64().unwrap()]);
    assert_eq!(list["pagination"]["total"], 2);
    let m = &list["data"][0];
    assert_eq!(m["lender_name"], "Lender A");
    assert_eq!(
        (m["private_company_id"].clone(), m["contact_id"].clone(), m["contact_name"].clone()),
        (Value::Null, Value::Null, Value::Null)
    );
    assert_eq!(m["status"], "new");
    let s = &list["data"][1];
    assert_eq!(s["lender_name"], "Atlas Life");
    assert_eq!(s["private_company_id"], l2);
    fail(app.get(&format!("/placements/{}", hidden["id"]), &outsider), 404, "not_found").await;
    fail(app.get(&format!("/placements/{}/notes", hidden["id"]), &outsider), 404, "not_found").await;
    assert_eq!(get_placement(&app, &outsider, masked["id"].as_i64().unwrap()).await["lender_name"], "Lender A");
    // Non-owners cannot unmask by changing visibility, nor probe the linkage.
    let e = fail(
        app.patch_json(&format!("/placements/{}", masked["id"]), &outsider, &json!({"visibility": "shared"})),
        403,
        "forbidden",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("owner"));
    fail(
        app.patch_json(&format!("/placements/{}", masked["id"]), &outsider, &json!({"private_company_id": lender})),
        422,
        "validation_error",
    )
    .await;
    // Their term-sheet view is masked the same way; the hidden placement's quote is left out.
    let quotes = expect(app.get(&format!("/deals/{deal}/term-sheets"), &outsider), 200).await;
    assert_eq!(ids(&quotes), vec![ts["id"].as_i64().unwrap()]);
    assert_eq!(quotes["data"][0]["lender_name"], "Lender A");
    assert_eq!(quotes["data"][0]["org_id"], Value::Null);
    assert_eq!(ts["org_id"], 7781);
    assert_eq!(ts["lender_name"], "Northbay Bank");

    // On the deal team, the same user owns the deal's placements and sees everything.
    let (teammate_id, teammate) = member(&app, &t, "tara", Role::Member).await;
    app.store.insert_team_member(deal, teammate_id, "originator", false).await.unwrap();
    let list = expect(app.get("/placements", &teammate), 200).await;
    assert_eq!(list["pagination"]["total"], 3);
    assert_eq!(list["data"][0]["lender_name"], "Northbay Bank");
    assert_eq!(list["data"][0]["contact_name"], "Priya Shah");
    let q = expect(app.get(&format!("/deals/{deal}/term-sheets/{}", ts["id"]), &teammate), 200).await;
    assert_eq!(q["data"]["org_id"], 7781);
    // The owner shares it: now everyone sees the lender.
    expect(app.patch_json(&format!("/placements/{}", masked["id"]), &teammate, &json!({"visibility": "shared"})), 200)
        .await;
    assert_eq!(get_placement(&app, &outsider, masked["id"].as_i64().unwrap()).await["lender_name"], "Northbay Bank");
}

// ---------------------------------------------------------------------------------------------
// term sheets

#[tokio::test]
async fn term_sheet_rate_model_winning_and_soft_delete() {
    let Fixture { app, t, deal, lender, contact } = fixture().await;
    let p = fixture_placement(&app, &t.key, deal, lender, contact).await;
    let pid = p["id"].as_i64().unwrap();
    let base = format!("/deals/{deal}/term-sheets");
    let mut body = quote(pid);
    body["additional_funding"] = json!(500_000);
    body["extension_fee"] = json!(0.0025);
    body["recourse"] = json!("non_recourse");
    body["min_dscr"] = json!(1.25);
    let ts = expect(app.post_json(&base, &t.key, &body), 201).await["data"].clone();
    assert_eq!(keys(&ts), set(TERM_SHEET_FIELDS));
    assert_eq!(ts["deal_id"], deal);
    assert_eq!(ts["placement_id"], pid);
    assert_eq!(ts["org_id"], 7781);
    assert_eq!(ts["lender_name"], "Northbay Bank");
    // The benchmark and its snapshot come from the market data.
    let market = expect(app.get("/market/base-rates", &t.key), 200).await;
    let rate_of = |code: &str| {
        let r = market["data"].as_array().unwrap().iter().find(|r| r["code"] == code);
        num(&r.unwrap_or_else(|| panic!("no {code} in {market}"))["rate"])
    };
    assert_eq!(ts["base_rate"], "SOFR 30-Day Avg");
    assert_eq!(num(&ts["base_rate_value"]), rate_of("SOFR 30-Day Avg"));
    assert_eq!(num(&ts["total_rate"]), 2.75);
    assert_eq!(num(&ts["effective_spread"]), 2.75);
    assert_eq!(num(&ts["max_ltv"]), 0.65);
    assert_eq!(num(&ts["origination_fee"]), 0.0075);
    assert_eq!(num(&ts["floor"]), 4.0);
    assert_eq!(ts["floor_type"], "base_rate");
    assert_eq!(ts["initial_funding"], 18_000_000);
    assert_eq!((ts["term"].clone(), ts["io_period"].clone()), (json!(36), json!(36)));
    assert_eq!(ts["recourse"], "non_recourse");
    assert_eq!(ts["winning"], false);
    assert_eq!(ts["is_visible_to_borrower"], true);
    assert_eq!(ts["deleted_at"], Value::Null);
    let id = ts["id"].as_i64().unwrap();
    let one = format!("{base}/{id}");
    assert_eq!(expect(app.get(&one, &t.key), 200).await["data"], ts);

    // Dropping the benchmark makes total_rate the whole fixed coupon.
    let fixed =
        expect(app.patch_json(&one, &t.key, &json!({"base_rate": null, "total_rate": 6.4, "rate_type": "fixed"})), 200)
            .await["data"]
            .clone();
    assert_eq!(fixed["base_rate"], "none-fixed");
    assert_eq!(fixed["base_rate_value"], Value::Null);
    assert_eq!(fixed["effective_spread"], Value::Null);
    assert_eq!(num(&fixed["total_rate"]), 6.4);
    // A benchmark by display value; total_rate left as is now reads as a spread over it.
    let bench = expect(app.patch_json(&one, &t.key, &json!({"base_rate": "treasury 5-yr", "total_rate": 2.1})), 200)
        .await["data"]
        .clone();
    assert_eq!(bench["base_rate"], "Treasury 5-Yr");
    assert_eq!(num(&bench["base_rate_value"]), rate_of("Treasury 5-Yr"));
    assert_eq!(num(&bench["effective_spread"]), 2.1);
    // Omitting base_rate keeps it; "none-fixed" works as a value too.
    let kept =
        expect(app.patch_json(&one, &t.key, &json!({"title": "5-yr fixed", "term": null})), 200).await["data"].clone();
    assert_eq!(kept["base_rate"], "Treasury 5-Yr");
    assert_eq!(kept["term"], Value::Null);
    assert_eq!(kept["title"], "5-yr fixed");
    let none = expect(app.patch_json(&one, &t.key, &json!({"base_rate": "none-fixed"})), 200).await["data"].clone();
    assert_eq!(none["base_rate"], "none-fixed");

    // One winner per deal.
    let other = expect(
        app.post_json(
            &base,
            &t.key,
            &json!({"placement_id": pid, "quote_type": "indication",
        "rate_type": "fixed", "total_rate": 6.85, "initial_funding": 17_500_000, "winning": true}),
        ),
        201,
    )
    .await["data"]
        .clone();
    assert_eq!(other["winning"], true);
    assert_eq!(other["base_rate"], "none-fixed");
    let won = expect(app.patch_json(&one, &t.key, &json!({"winning": true})), 200).await["data"].clone();
    assert_eq!(won["winning"], true);
    assert_eq!(expect(app.get(&format!("{base}/{}", other["id"]), &t.key), 200).await["data"]["winning"], false);

    // Soft delete: 200 twice, still readable by id with deleted_at, gone from the list, frozen.
    let list = expect(app.get(&base, &t.key), 200).await;
    assert_eq!(ids(&list), vec![id, other["id"].as_i64().unwrap()]);
    assert_eq!(expect(app.delete(&one, &t.key), 200).await["data"], json!({"deleted": true}));
    let gone = expect(app.get(&one, &t.key), 200).await["data"].clone();
    let deleted_at = gone["deleted_at"].as_str().unwrap().to_string();
    assert!(deleted_at.ends_with('Z'));
    assert_eq!(gone["winning"], false);
    assert_eq!(expect(app.delete(&one, &t.key), 200).await["data"], json!({"deleted": true}));
    assert_eq!(expect(app.get(&one, &t.key), 200).await["data"]["deleted_at"], deleted_at);
    let list = expect(app.get(&base, &t.key), 200).await;
    assert_eq!(ids(&list), vec![other["id"].as_i64().unwrap()]);
    assert_eq!(list["pagination"]["total"], 1);
    fail(app.patch_json(&one, &t.key, &json!({"title": "x"})), 404, "not_found").await;
}

#[tokio::test]
async fn term_sheet_validation() {
    let Fixture { app, t, deal, lender, .. } = fixture().await;
    let p = create_placement(&app, &t.key, json!({"deal_id": deal, "private_company_id": lender})).await;
    let pid = p["id"].as_i64().unwrap();
    let base = format!("/deals/{deal}/term-sheets");
    let e = fail(app.post_json(&base, &t.key, &json!({})), 422, "validation_error").await;
    assert_eq!(field_errors(&e), set(&["placement_id", "quote_type", "rate_type", "total_rate", "initial_funding"]));
    let mut bad = quote(pid);
    bad["quote_type"] = json!("firm_offer");
    let e = fail(app.post_json(&base, &t.key, &bad), 422, "validation_error").await;
    assert_eq!(e["message"], "quote_type: input is not a valid enum member");
    let mut bad = quote(pid);
    bad["base_rate"] = json!("LIBOR 1-Mo");
    let e = fail(app.post_json(&base, &t.key, &bad), 422, "validation_error").await;
    assert_eq!(e["message"], "base_rate: not a valid BaseRateNames member");
    // Units: a percent where a ratio belongs, cents on whole dollars, months as text.
    let mut bad = quote(pid);
    bad["max_ltv"] = json!(65);
    bad["origination_fee"] = json!(1.5);
    bad["initial_funding"] = json!(18_000_000.5);
    bad["term"] = json!("36");
    bad["floor"] = json!(400);
    bad["recourse"] = json!("some");
    bad["winning"] = json!("yes");
    let e = fail(app.post_json(&base, &t.key, &bad), 422, "validation_error").await;
    assert_eq!(
        field_errors(&e),
        set(&["max_ltv", "origination_fee", "initial_funding", "term", "floor", "recourse", "winning"])
    );
    // The placement must be a live one on this deal.
    let e = fail(app.post_json(&base, &t.key, &quote(999_999)), 404, "not_found").await;
    assert_eq!(e["message"], "Placement not found");
    let d2 = self::deal(&app, &t.key, "Elsewhere").await;
    let e = fail(app.post_json(&format!("/deals/{d2}/term-sheets"), &t.key, &quote(pid)), 404, "not_found").await;
    assert_eq!(e["message"], "Placement not found");
    let e = fail(app.post_json("/deals/999999/term-sheets", &t.key, &quote(pid)), 404, "not_found").await;
    assert_eq!(e["message"], "Deal not found");
    let archived = placement_at_new_lender(&app, &t, deal, "Old").await;
    expect(app.patch_json(&format!("/placements/{}", archived["id"]), &t.key, &json!({"status": "archived"})), 200)
        .await;
    let e = fail(app.post_json(&base, &t.key, &quote(archived["id"].as_i64().unwrap())), 422, "validation_error").await;
    assert_eq!(field_errors(&e), set(&["placement_id"]));

    let ts = expect(app.post_json(&base, &t.key, &quote(pid)), 201).await["data"].clone();
    let one = format!("{base}/{}", ts["id"]);
    let e = fail(app.patch_json(&one, &t.key, &json!({"winning": null})), 422, "validation_error").await;
    assert_eq!(
        e["message"],
        "winning cannot be null. Send true or false to update it, or omit the field to leave it unchanged."
    );
    let e = fail(app.patch_json(&one, &t.key, &json!({"base_rate": "libor_m1"})), 422, "validation_error").await;
    assert_eq!(e["message"], "base_rate: not a valid BaseRateNames member");
    for body in [json!({}), json!({"id": 1}), json!({"deal_id": deal, "placement_id": pid})] {
        let e = fail(app.patch_json(&one, &t.key, &body), 400, "bad_request").await;
        assert_eq!(e["message"], NO_FIELDS_MSG);
    }
    for body in [
        json!({"placement_id": pid + 1, "title": "x"}),
        json!({"deal_id": d2}),
        json!({"total_rate": null}),
        json!({"quote_type": null}),
        json!({"is_visible_to_borrower": null}),
        json!({"max_ltc": 1.2}),
        json!({"extension_one": -6}),
    ] {
        fail(app.patch_json(&one, &t.key, &body), 422, "validation_error").await;
    }
    assert_eq!(expect(app.get(&one, &t.key), 200).await["data"], ts);
    // The term sheet lives under its own deal only.
    fail(app.get(&format!("/deals/{d2}/term-sheets/{}", ts["id"]), &t.key), 404, "not_found").await;
    let e = fail(app.delete(&format!("{base}/999999"), &t.key), 404, "not_found").await;
    assert_eq!(e["message"], "Term sheet not found");
    fail(app.get("/deals/999999/term-sheets", &t.key), 404, "not_found").await;
}

// ---------------------------------------------------------------------------------------------
// pipelines, properties, team

#[tokio::test]
async fn pipelines_and_the_pipeline_move() {
    let app = spawn().await;
    let t = app.tenant("harbor").await;
    let b = app.tenant("rival").await;
    let now = now_rfc3339();
    let stages = [("new", "New"), ("quoting", "Quoting"), ("term_sheet", "Term Sheet"), ("closing", "Closing")];
    let financing = app.store.insert_pipeline(t.account.id, "Financing", "financing", &stages, &now).await.unwrap();
    let acquisitions = app
        .store
        .insert_pipeline(t.account.id, "Acquisitions", "acquisition", &[("sourcing", "Sourcing"), ("loi", "LOI")], &now)
        .await
        .unwrap();
    app.store.set_pipeline_display(t.account.id, acquisitions, Some("Buy side"), Some(1)).await.unwrap();
    app.store.set_pipeline_display(t.account.id, financing, None, Some(2)).await.unwrap();
    app.store
        .set_pipeline_status_display(t.account.id, financing, "quoting", Some("Out to lenders"), None, Some("send"))
        .await
        .unwrap();
    let foreign = app.store.insert_pipeline(b.account.id, "Theirs", "financing", &stages, &now).await.unwrap();

    let list = expect(app.get("/pipelines", &t.key), 200).await;
    assert_eq!(ids(&list), vec![acquisitions, financing]);
    assert_eq!(list["pagination"], json!({"total": 2, "limit": 50, "offset": 0, "has_more": false}));
    let fin = &list["data"][1];
    assert_eq!(
        keys(fin),
        set(&["id", "pipeline_type", "pipeline_name", "description", "owner_account_id", "order", "statuses"])
    );
    assert_eq!(fin["pipeline_name"], "Financing");
    assert_eq!(fin["pipeline_type"], "financing");
    assert_eq!(fin["owner_account_id"], t.account.id);
    assert_eq!(fin["order"], 2);
    let statuses = fin["statuses"].as_array().unwrap();
    assert_eq!(
        statuses.iter().map(|s| s["status"].as_str().unwrap()).collect::<Vec<_>>(),
        ["new", "quoting", "term_sheet", "closing"]
    );
    assert_eq!(statuses.iter().map(|s| s["order"].as_i64().unwrap()).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(keys(&statuses[0]), set(&["id", "status", "custom_status_name", "description", "order", "icon"]));
    assert_eq!(statuses[1]["custom_status_name"], "Out to lenders");
    assert_eq!(statuses[1]["icon"], "send");
    assert_eq!(list["data"][0]["description"], "Buy side");
    let page = expect(app.get("/pipelines?limit=1&offset=1", &t.key), 200).await;
    assert_eq!(ids(&page), vec![financing]);
    assert_eq!(page["pagination"]["has_more"], false);
    assert_eq!(expect(app.get("/pipelines?limit=1", &t.key), 200).await["pagination"]["has_more"], true);
    fail(app.get("/pipelines?limit=500", &t.key), 422, "validation_error").await;
    assert_eq!(expect(app.get(&format!("/pipelines/{financing}"), &t.key), 200).await["data"], *fin);
    let e = fail(app.get(&format!("/pipelines/{foreign}"), &t.key), 404, "not_found").await;
    assert_eq!(e["message"], "Pipeline not found");

    // The move: default is the first stage; an explicit stage; other pipelines untouched.
    let d = deal(&app, &t.key, "Moving").await;
    let path = format!("/deals/{d}/pipeline");
    let moved = expect(app.post_json(&path, &t.key, &json!({"pipeline_id": financing})), 200).await["data"].clone();
    assert_eq!(moved["deal_id"], d);
    assert_eq!(moved["pipeline_id"], financing);
    assert_eq!(moved["pipeline_status_id"], statuses[0]["id"]);
    assert_eq!(moved["status"], "new");
    let term_sheet_stage = statuses[2]["id"].as_i64().unwrap();
    let moved = expect(
        app.post_json(&path, &t.key, &json!({"pipeline_id": financing, "pipeline_status_id": term_sheet_stage})),
        200,
    )
    .await["data"]
        .clone();
    // The stage is named by its status key, the value clients join with statuses[].status.
    assert_eq!((moved["status"].clone(), moved["status_name"].clone()), (json!("term_sheet"), json!("term_sheet")));
    expect(app.post_json(&path, &t.key, &json!({"pipeline_id": acquisitions})), 200).await;
    let with = expect(app.get(&format!("/deals/{d}?include=pipelines"), &t.key), 200).await;
    let rows = with["data"]["pipelines"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let fin_row = rows.iter().find(|r| r["pipeline_id"] == financing).unwrap();
    assert_eq!(fin_row["status_name"], "term_sheet");
    assert!(statuses.iter().any(|st| st["status"] == fin_row["status_name"]), "{fin_row}");
    let listed = expect(app.get("/deals?include=pipelines", &t.key), 200).await;
    let listed_row = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == d)
        .and_then(|x| x["pipelines"].as_array().unwrap().iter().find(|r| r["pipeline_id"] == financing).cloned())
        .unwrap();
    assert_eq!(listed_row["status_name"], "term_sheet");

    // Unknown or foreign pipeline: 400 (not 404); a stage of another pipeline: 400.
    for pid in [foreign, 999_999] {
        let e = fail(app.post_json(&path, &t.key, &json!({"pipeline_id": pid})), 400, "bad_request").await;
        assert_eq!(e["message"], "Pipeline not found");
    }
    let e = fail(
        app.post_json(&path, &t.key, &json!({"pipeline_id": acquisitions, "pipeline_status_id": term_sheet_stage})),
        400,
        "bad_request",
    )
    .await;
    assert_eq!(e["message"], "Pipeline status not found");
    fail(app.post_json(&path, &t.key, &json!({})), 422, "validation_error").await;
    fail(app.post_json(&path, &t.key, &json!({"pipeline_id": "x"})), 422, "validation_error").await;
    let e = fail(app.post_json("/deals/999999/pipeline", &t.key, &json!({"pipeline_id": financing})), 404, "not_found")
        .await;
    assert_eq!(e["message"], "Deal not found");
    // The rival's deal cannot be moved into anything; its pipeline row is unchanged.
    let bd = deal(&app, &b.key, "Theirs").await;
    fail(app.post_json(&format!("/deals/{bd}/pipeline"), &t.key, &json!({"pipeline_id": financing})), 404, "not_found")
        .await;
    let theirs = expect(app.get(&format!("/deals/{bd}?include=pipelines"), &b.key), 200).await;
    assert_eq!(theirs["data"]["pipelines"], json!([]));
    assert_eq!(expect(app.get("/pipelines", &b.key), 200).await["pagination"]["total"], 1);
}

#[tokio::test]
async fn deal_properties_and_team() {
    let app = spawn().await;
    let t = app.tenant("harbor").await;
    let b = app.tenant("rival").await;
    let d = deal(&app, &t.key, "Harbor Point").await;
    for (i, name) in ["Harbor Point", "Harbor Point Annex", "Quay Garage"].iter().enumerate() {
        let p = DealPropertyRow { address: Some(format!("{} Quay St", 40 + i)), ..property_row(d, name) };
        app.store.insert_property(d, &p).await.unwrap();
    }
    let props = expect(app.get(&format!("/deals/{d}/properties"), &t.key), 200).await;
    let items = props["data"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(
        keys(&items[0]),
        set(&[
            "id",
            "name",
            "address",
            "city",
            "state",
            "zip",
            "asset_type_id",
            "units",
            "square_footage",
            "year_built"
        ])
    );
    assert_eq!(items[0]["name"], "Harbor Point");
    assert_eq!(items[0]["state"], "ME");
    assert_eq!(num(&items[0]["square_footage"]), 98_000.0);
    assert_eq!(props["pagination"]["total"], 3);
    let page = expect(app.get(&format!("/deals/{d}/properties?limit=2&offset=2"), &t.key), 200).await;
    assert_eq!(page["data"][0]["name"], "Quay Garage");
    assert_eq!(page["pagination"]["has_more"], false);

    app.store.insert_team_member(d, t.user_id, "deal_lead", true).await.unwrap();
    let (u2, _) = member(&app, &t, "ben", Role::Member).await;
    app.store.insert_team_member(d, u2, "originator", false).await.unwrap();
    let team = expect(app.get(&format!("/deals/{d}/team"), &t.key), 200).await;
    let items = team["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        keys(&items[0]),
        set(&[
            "id",
            "user_id",
            "first_name",
            "last_name",
            "email",
            "deal_role",
            "is_primary",
            "permission",
            "photo_url"
        ])
    );
    assert_eq!(items[0]["user_id"], t.user_id);
    assert_eq!(items[0]["deal_role"], "deal_lead");
    assert_eq!(items[0]["is_primary"], true);
    assert_eq!(items[0]["email"], "admin@harbor.test");
    assert_eq!(items[1]["is_primary"], false);

    // Another account's deal, a missing one, a non-numeric id: 404.
    for path in [format!("/deals/{d}/properties"), format!("/deals/{d}/team")] {
        let e = fail(app.get(&path, &b.key), 404, "not_found").await;
        assert_eq!(e["message"], "Deal not found");
    }
    fail(app.get("/deals/999999/team", &t.key), 404, "not_found").await;
    fail(app.get("/deals/abc/properties", &t.key), 404, "not_found").await;
    // Also under the /build alias.
    let r = app
        .client
        .get(format!("{}/api/external/v2/build/deals/{d}/team", app.base))
        .bearer_auth(&t.key)
        .header("X-Origin-App", "t")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

// ---------------------------------------------------------------------------------------------
// scopes and accounts

#[tokio::test]
async fn writes_need_deals_write_and_reads_work_read_only() {
    let Fixture { app, t, deal, lender, contact } = fixture().await;
    let p = fixture_placement(&app, &t.key, deal, lender, contact).await;
    let pid = p["id"].as_i64().unwrap();
    let ts =
        expect(app.post_json(&format!("/deals/{deal}/term-sheets"), &t.key, &quote(pid)), 201).await["data"].clone();
    let n = expect(app.post_json(&format!("/placements/{pid}/notes"), &t.key, &json!({"text": "kept"})), 201).await;
    let nid = n["data"]["id"].as_i64().unwrap();
    let pipeline = app
        .store
        .insert_pipeline(t.account.id, "Financing", "financing", &[("new", "New")], &now_rfc3339())
        .await
        .unwrap();

    let read_only = app.key(t.user_id, &t.account, KeyPermission::ReadOnly).await;
    let (_, viewer) = member(&app, &t, "vera", Role::Viewer).await;
    let other_lender = self::lender(&app, t.account.id, "Atlas", None).await;
    let writes: Vec<(Method, String, Value)> = vec![
        (Method::POST, "/placements".into(), json!({"deal_id": deal, "private_company_id": other_lender})),
        (Method::PATCH, format!("/placements/{pid}"), json!({"status": "archived"})),
        // The scope check comes before the lookup: a missing placement is still 403.
        (Method::PATCH, "/placements/999999".into(), json!({"status": "archived"})),
        (Method::POST, format!("/placements/{pid}/notes"), json!({"text": "x"})),
        (Method::PATCH, format!("/placements/{pid}/notes/{nid}"), json!({"text": "x"})),
        (Method::DELETE, format!("/placements/{pid}/notes/{nid}"), json!({})),
        (Method::POST, format!("/deals/{deal}/term-sheets"), quote(pid)),
        (Method::PATCH, format!("/deals/{deal}/term-sheets/{}", ts["id"]), json!({"winning": true})),
        (Method::DELETE, format!("/deals/{deal}/term-sheets/{}", ts["id"]), json!({})),
        (Method::POST, format!("/deals/{deal}/pipeline"), json!({"pipeline_id": pipeline})),
    ];
    for key in [&read_only, &viewer] {
        for (m, path, body) in &writes {
            let e = fail(app.req(m.clone(), path, key).json(body), 403, "forbidden").await;
            assert_eq!(e["message"], WRITE_SCOPE_MSG, "{m} {path}");
        }
        // Reads are fine.
        for path in [
            "/placements".to_string(),
            format!("/placements/{pid}"),
            format!("/placements/{pid}/notes"),
            format!("/deals/{deal}/term-sheets"),
            format!("/deals/{deal}/term-sheets/{}", ts["id"]),
            "/pipelines".to_string(),
            format!("/pipelines/{pipeline}"),
            format!("/deals/{deal}/properties"),
            format!("/deals/{deal}/team"),
        ] {
            expect(app.get(&path, key), 200).await;
        }
    }
    // Nothing changed.
    assert_eq!(get_placement(&app, &t.key, pid).await, p);
    let one = expect(app.get(&format!("/deals/{deal}/term-sheets/{}", ts["id"]), &t.key), 200).await;
    assert_eq!(one["data"], ts);
    assert_eq!(expect(app.get("/placements", &t.key), 200).await["pagination"]["total"], 1);
    assert_eq!(expect(app.get(&format!("/placements/{pid}/notes"), &t.key), 200).await["data"][0]["text"], "kept");
    let d = expect(app.get(&format!("/deals/{deal}?include=pipelines"), &t.key), 200).await;
    assert_eq!(d["data"]["pipelines"], json!([]));
}

#[tokio::test]
async fn other_accounts_records_are_not_found_and_unchanged() {
    let Fixture { app, t: b, deal, lender, contact } = fixture().await;
    let a = app.tenant_with("alpha", Tier::Standard, Role::Admin).await;
    let p =
        create_placement(&app, &b.key, json!({"deal_id": deal, "private_company_id": lender, "contact_id": contact}))
            .await;
    let pid = p["id"].as_i64().unwrap();
    let ts =
        expect(app.post_json(&format!("/deals/{deal}/term-sheets"), &b.key, &quote(pid)), 201).await["data"].clone();
    let tid = ts["id"].as_i64().unwrap();
    let n = expect(app.post_json(&format!("/placements/{pid}/notes"), &b.key, &json!({"text": "secret"})), 201).await;
    let nid = n["data"]["id"].as_i64().unwrap();
    let a_deal = self::deal(&app, &a.key, "Mine").await;
    let a_lender = self::lender(&app, a.account.id, "My Bank", None).await;

    let attempts: Vec<(Method, String, Value)> = vec![
        (Method::GET, format!("/placements/{pid}"), json!(null)),
        (Method::PATCH, format!("/placements/{pid}"), json!({"status": "archived"})),
        (Method::GET, format!("/placements/{pid}/notes"), json!(null)),
        (Method::POST, format!("/placements/{pid}/notes"), json!({"text": "x"})),
        (Method::PATCH, format!("/placements/{pid}/notes/{nid}"), json!({"text": "x"})),
        (Method::DELETE, format!("/placements/{pid}/notes/{nid}"), json!(null)),
        (Method::GET, format!("/deals/{deal}/term-sheets"), json!(null)),
        (Method::POST, format!("/deals/{deal}/term-sheets"), quote(pid)),
        (Method::GET, format!("/deals/{deal}/term-sheets/{tid}"), json!(null)),
        (Method::PATCH, format!("/deals/{deal}/term-sheets/{tid}"), json!({"winning": true})),
        (Method::DELETE, format!("/deals/{deal}/term-sheets/{tid}"), json!(null)),
        // Their placement under my deal, and their lender or deal in my create.
        (Method::POST, format!("/deals/{a_deal}/term-sheets"), quote(pid)),
        (Method::POST, "/placements".into(), json!({"deal_id": deal, "private_company_id": a_lender})),
        (Method::POST, "/placements".into(), json!({"deal_id": a_deal, "private_company_id": lender})),
    ];
    for (m, path, body) in attempts {
        let mut r = app.req(m.clone(), &path, &a.key);
        if !body.is_null() {
            r = r.json(&body);
        }
        fail(r, 404, "not_found").await;
    }
    assert_eq!(expect(app.get("/placements", &a.key), 200).await["pagination"]["total"], 0);
    // Their records are as they were.
    assert_eq!(get_placement(&app, &b.key, pid).await, p);
    assert_eq!(expect(app.get(&format!("/deals/{deal}/term-sheets/{tid}"), &b.key), 200).await["data"], ts);
    let notes = expect(app.get(&format!("/placements/{pid}/notes"), &b.key), 200).await;
    assert_eq!(notes["data"][0]["text"], "secret");
}
