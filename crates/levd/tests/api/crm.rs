//! CRM and billing over HTTP: contacts (phones, primary contact, email rule, masking of
//! AI-recommended contacts), companies, their notes, contact unlock with credits, and the
//! billing reads. Each test runs its own server on a fresh database.
use std::collections::HashSet;

use levd_domain::crm::{ContactOrigin, NewContact, UNLOCK_COST};
use levd_domain::scope::{KeyPermission, Role, Tier};
use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::common::{TestApp, assert_error, expect, fail, keys, parts, set, setup, spawn};

const CONTACT_FIELDS: &[&str] = &[
    "address",
    "address2",
    "city",
    "contact_type",
    "contact_types",
    "created_at",
    "department",
    "email",
    "first_name",
    "id",
    "is_connected",
    "is_primary",
    "last_name",
    "linkedin_url",
    "owner_account_id",
    "phones",
    "photo_url",
    "state",
    "title",
    "updated_at",
    "zip",
];
const PHONE_FIELDS: &[&str] = &["id", "type", "raw", "country", "e164", "extension"];
const COMPANY_FIELDS: &[&str] = &[
    "address",
    "city",
    "created_at",
    "id",
    "is_connected",
    "linkedin_url",
    "name",
    "org_id",
    "owner_account_id",
    "state",
    "updated_at",
    "website",
    "zip",
];

// ---------------------------------------------------------------------------------------------
// helpers

fn field_errors(e: &Value) -> HashSet<String> {
    keys(&e["details"]["fields"])
}

fn id(v: &Value) -> i64 {
    v["id"].as_i64().unwrap_or_else(|| panic!("no integer id: {v}"))
}

async fn create_company(app: &TestApp, key: &str, name: &str, company_type: &str) -> Value {
    expect(app.post_json("/companies", key, &json!({"name": name, "company_type": company_type})), 201).await["data"]
        .clone()
}

async fn create_contact(app: &TestApp, key: &str, body: Value) -> Value {
    expect(app.post_json("/contacts", key, &body), 201).await["data"].clone()
}

async fn get_contact(app: &TestApp, key: &str, contact_id: i64) -> Value {
    expect(app.get(&format!("/contacts/{contact_id}"), key), 200).await["data"].clone()
}

/// An AI-recommended contact, as Lev's matching would leave it (straight into the store).
async fn recommended_contact(app: &TestApp, account_id: i64, company_id: i64, first: &str) -> i64 {
    let phone = levd_domain::crm::phone::normalize("(617) 555-0111", None).unwrap();
    let c = NewContact {
        contact_type: "lender_contact",
        company_id,
        email: Some(format!("{}@lender.example", first.to_lowercase())),
        texts: vec![
            ("first_name", first.to_string()),
            ("last_name", "Hidden".into()),
            ("title", "VP, Originations".into()),
        ],
        phones: vec![levd_domain::crm::PhoneInput {
            phone_type: "office",
            raw: "(617) 555-0111".into(),
            country: phone.region,
            e164: phone.e164,
            extension: None,
        }],
        is_primary: false,
    };
    app.store.insert_contact(account_id, &c, ContactOrigin::AiRecommended, "2026-01-01T00:00:00Z").await.unwrap().id
}

async fn credits(app: &TestApp, key: &str) -> Value {
    expect(app.get("/billing/credits/balance", key), 200).await["data"].clone()
}

fn unlock(app: &TestApp, key: &str, contact_id: i64) -> RequestBuilder {
    app.req(reqwest::Method::POST, &format!("/contacts/{contact_id}/actions/unlock"), key)
}

async fn unlock_charges(app: &TestApp, account_id: i64) -> usize {
    app.store.credit_ledger(account_id).await.unwrap().iter().filter(|e| e.reason == "contact_unlock").count()
}

// ---------------------------------------------------------------------------------------------
// contacts

#[tokio::test]
async fn contact_create_read_list() {
    let (app, t) = setup().await;
    let co = create_company(&app, &t.key, "Keel Harbor Bank", "lender").await;
    let body = json!({
        "contact_type": "lender_contact", "company_id": id(&co), "first_name": "Iris", "last_name": "Vale",
        "email": "iris.vale@keelharbor.example", "title": "SVP", "department": "CRE", "address": "1 Quay St",
        "address2": "Suite 400", "city": "Salem", "state": "MA", "zip": "01970",
        "linkedin_url": "https://www.linkedin.com/in/iris-vale", "photo_url": "https://img.example/iris.png",
        "phones": [
            {"raw": "(617) 555-0142", "type": "office", "e164": "+10000000000"},
            {"raw": "+44 (0)20 7946 0958", "extension": "204"},
            {"raw": "617.555.0199 x12", "type": "fax"}
        ],
        "is_primary": true
    });
    let c = create_contact(&app, &t.key, body).await;
    assert_eq!(keys(&c), set(CONTACT_FIELDS));
    assert_eq!(c["contact_type"], "lender_contact");
    assert_eq!(c["contact_types"], json!(["lender_contact"]));
    assert_eq!((c["first_name"].clone(), c["zip"].clone()), (json!("Iris"), json!("01970")));
    assert_eq!((c["is_primary"].clone(), c["is_connected"].clone()), (json!(true), json!(true)));
    assert_eq!(c["owner_account_id"], t.account.id);
    assert!(c["created_at"].as_str().unwrap().ends_with('Z'));
    let phones = c["phones"].as_array().unwrap();
    assert_eq!(phones.len(), 3);
    for p in phones {
        assert_eq!(keys(p), set(PHONE_FIELDS));
        assert!(p["id"].is_string(), "{p}");
    }
    // The server computes e164; the caller's value is ignored.
    assert_eq!(
        phones[0],
        json!({"id": phones[0]["id"], "type": "office", "raw": "(617) 555-0142", "country": "US", "e164": "+16175550142", "extension": null})
    );
    assert_eq!((phones[1]["type"].clone(), phones[1]["e164"].clone()), (json!("mobile"), json!("+442079460958")));
    assert_eq!((phones[1]["country"].clone(), phones[1]["extension"].clone()), (json!("GB"), json!("204")));
    assert_eq!((phones[2]["e164"].clone(), phones[2]["extension"].clone()), (json!("+16175550199"), json!("12")));

    let cid = id(&c);
    assert_eq!(get_contact(&app, &t.key, cid).await, c);
    // Same record under the /build alias.
    let b = expect(
        app.client
            .get(format!("{}/api/external/v2/build/contacts/{cid}", app.base))
            .bearer_auth(&t.key)
            .header("X-Origin-App", "t"),
        200,
    )
    .await;
    assert_eq!(b["data"], c);

    let list = expect(app.get("/contacts", &t.key), 200).await;
    assert_eq!(list["data"], json!([c]));
    assert_eq!(
        list["pagination"],
        json!({"total": 1, "limit": 50, "cursor": null, "has_more": false, "next_cursor": null})
    );
    let sparse = expect(app.get("/contacts?fields=first_name,email,phones", &t.key), 200).await;
    assert_eq!(keys(&sparse["data"][0]), set(&["id", "first_name", "email", "phones"]));

    // A sponsor with nothing but the required members.
    let s = create_contact(&app, &t.key, json!({"contact_type": "sponsor", "company_id": id(&co)})).await;
    assert_eq!(
        (s["phones"].clone(), s["first_name"].clone(), s["is_primary"].clone()),
        (json!([]), Value::Null, json!(false))
    );
}

#[tokio::test]
async fn contact_list_pages_with_a_cursor() {
    let (app, t) = setup().await;
    let co = create_company(&app, &t.key, "Pager Bank", "lender").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let c = create_contact(
            &app,
            &t.key,
            json!({"contact_type": "sponsor", "company_id": id(&co), "first_name": format!("P{i}")}),
        )
        .await;
        ids.push(id(&c));
    }
    let mut seen = Vec::new();
    let mut path = "/contacts?limit=2".to_string();
    loop {
        let page = expect(app.get(&path, &t.key), 200).await;
        assert_eq!(page["pagination"]["total"], 5);
        seen.extend(page["data"].as_array().unwrap().iter().map(id));
        if page["pagination"]["has_more"] == false {
            assert_eq!(page["pagination"]["next_cursor"], Value::Null);
            break;
        }
        path = format!("/contacts?limit=2&cursor={}", page["pagination"]["next_cursor"].as_str().unwrap());
    }
    assert_eq!(seen, ids);
    let by_company = expect(app.get(&format!("/contacts?filter[company_id]={}", id(&co)), &t.key), 200).await;
    assert_eq!(by_company["pagination"]["total"], 5);
    let none = expect(app.get(&format!("/contacts?filter[company_id]={}", id(&co) + 1), &t.key), 200).await;
    assert_eq!(none["data"], json!([]));

    for (q, status) in [
        ("limit=0", 422),
        ("limit=201", 422),
        ("limit=x", 422),
        ("fields=nope", 422),
        ("filter[email]=x", 422),
        ("sort=first_name", 422),
        ("cursor=eyJpZCI6MX0=&sort=first_name", 400),
        ("cursor=!!", 400),
    ] {
        let e = fail(
            app.get(&format!("/contacts?{q}"), &t.key),
            status,
            if status == 400 { "bad_request" } else { "validation_error" },
        )
        .await;
        if q.starts_with("cursor=eyJ") {
            assert_eq!(e["message"], "cursor and sort cannot be combined; use offset pagination when sorting");
        }
    }
}

#[tokio::test]
async fn contact_create_validation() {
    let (app, t) = setup().await;
    let co = create_company(&app, &t.key, "Rule Bank", "lender").await;
    let other = app.tenant("other").await;
    let foreign = create_company(&app, &other.key, "Foreign Bank", "lender").await;

    let e = fail(app.post_json("/contacts", &t.key, &json!({"company_id": id(&co)})), 422, "validation_error").await;
    assert_eq!(e["message"], "contact_type is required");
    let e = fail(app.post_json("/contacts", &t.key, &json!({})), 422, "validation_error").await;
    assert_eq!(field_errors(&e), set(&["contact_type", "company_id"]));
    let e = fail(
        app.post_json(
            "/contacts",
            &t.key,
            &json!({"contact_type": "broker", "company_id": "1", "email": "nope", "is_primary": 1, "first_name": 7}),
        ),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(field_errors(&e), set(&["contact_type", "company_id", "email", "is_primary", "first_name"]));
    // Companies of other accounts, or none, are not usable.
    for company_id in [id(&foreign), 999_999] {
        let e = fail(
            app.post_json("/contacts", &t.key, &json!({"contact_type": "sponsor", "company_id": company_id})),
            422,
            "validation_error",
        )
        .await;
        assert_eq!(field_errors(&e), set(&["company_id"]));
    }
    // Unparseable phones are 422, naming the member.
    let e = fail(
        app.post_json(
            "/contacts",
            &t.key,
            &json!({"contact_type": "sponsor", "company_id": id(&co), "phones": [{"raw": "(617) 555-0142"}, {"raw": "call me maybe"}, {"raw": "555-0142"}, {"type": "pager"}]}),
        ),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(field_errors(&e), set(&["phones[1].raw", "phones[2].raw", "phones[3].type", "phones[3].raw"]));
    let e = fail(
        app.post_json(
            "/contacts",
            &t.key,
            &json!({"contact_type": "sponsor", "company_id": id(&co), "phones": {"raw": "1"}}),
        ),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(field_errors(&e), set(&["phones"]));
    let long = "x".repeat(256);
    let e = fail(
        app.post_json(
            "/contacts",
            &t.key,
            &json!({"contact_type": "sponsor", "company_id": id(&co), "last_name": long}),
        ),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(field_errors(&e), set(&["last_name"]));

    // Bodies that are not JSON objects are 400.
    for body in ["[1]", "{", "\"x\""] {
        fail(app.raw_json(reqwest::Method::POST, "/contacts", &t.key, body), 400, "bad_request").await;
    }
    // Nothing was created along the way.
    assert_eq!(expect(app.get("/contacts", &t.key), 200).await["pagination"]["total"], 0);
}

#[tokio::test]
async fn contact_update_rules() {
    let (app, t) = setup().await;
    let co = create_company(&app, &t.key, "Patch Bank", "lender").await;
    let a = create_contact(
        &app,
        &t.key,
        json!({"contact_type": "lender_contact", "company_id": id(&co), "first_name": "Ann", "email": "ann@patch.example",
               "city": "Austin", "phones": [{"raw": "512-555-0100"}], "is_primary": true}),
    )
    .await;
    let aid = id(&a);
    let path = format!("/contacts/{aid}");

    let u = expect(app.patch_json(&path, &t.key, &json!({"title": "Managing Director", "city": null, "phones": [{"raw": "+1 512 555 0101", "type": "office"}], "contact_type": "sponsor"})), 200).await["data"].clone();
    assert_eq!(u["title"], "Managing Director");
    assert_eq!(u["city"], Value::Null);
    assert_eq!(u["contact_type"], "lender_contact", "contact_type is not patchable");
    assert_eq!(u["phones"].as_array().unwrap().len(), 1);
    assert_eq!(u["phones"][0]["e164"], "+15125550101");
    assert_eq!(get_contact(&app, &t.key, aid).await, u);
    let cleared = expect(app.patch_json(&path, &t.key, &json!({"phones": []})), 200).await["data"].clone();
    assert_eq!(cleared["phones"], json!([]));

    // The email cannot change; resending it (in any case) is fine.
    let e = fail(app.patch_json(&path, &t.key, &json!({"email": "ann@elsewhere.example"})), 409, "conflict").await;
    assert_eq!(e["message"], "Changing a contact's email is not supported yet");
    fail(app.patch_json(&path, &t.key, &json!({"email": null, "title": "CEO"})), 409, "conflict").await;
    let same = expect(app.patch_json(&path, &t.key, &json!({"email": "ANN@patch.example"})), 200).await["data"].clone();
    assert_eq!(same["email"], "ann@patch.example");
    assert_eq!(get_contact(&app, &t.key, aid).await["title"], "Managing Director", "the refused PATCH changed nothing");
    // A contact without an email may get one.
    let b = create_contact(
        &app,
        &t.key,
        json!({"contact_type": "lender_contact", "company_id": id(&co), "first_name": "Bo"}),
    )
    .await;
    let bid = id(&b);
    let b2 = expect(app.patch_json(&format!("/contacts/{bid}"), &t.key, &json!({"email": "bo@patch.example"})), 200)
        .await["data"]
        .clone();
    assert_eq!(b2["email"], "bo@patch.example");

    // Promoting Bo demotes Ann; at most one primary per company.
    assert_eq!(b2["is_primary"], false);
    let b3 =
        expect(app.patch_json(&format!("/contacts/{bid}"), &t.key, &json!({"is_primary": true})), 200).await["data"]
            .clone();
    assert_eq!(b3["is_primary"], true);
    assert_eq!(get_contact(&app, &t.key, aid).await["is_primary"], false);
    // Creating a new primary demotes Bo.
    let c = create_contact(
        &app,
        &t.key,
        json!({"contact_type": "lender_contact", "company_id": id(&co), "is_primary": true}),
    )
    .await;
    assert_eq!(get_contact(&app, &t.key, bid).await["is_primary"], false);
    assert_eq!(get_contact(&app, &t.key, id(&c)).await["is_primary"], true);
    let off =
        expect(app.patch_json(&format!("/contacts/{}", id(&c)), &t.key, &json!({"is_primary": false})), 200).await;
    assert_eq!(off["data"]["is_primary"], false);

    // Empty and absent bodies change nothing, `updated_at` included.
    let before = get_contact(&app, &t.key, aid).await;
    let same = expect(app.patch_json(&path, &t.key, &json!({})), 200).await["data"].clone();
    assert_eq!(same, before);
    let same = expect(app.req(reqwest::Method::PATCH, &path, &t.key), 200).await["data"].clone();
    assert_eq!(same, before);

    let e = fail(
        app.patch_json(&path, &t.key, &json!({"phones": [{"raw": "12"}], "is_primary": "yes"})),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(field_errors(&e), set(&["phones[0].raw", "is_primary"]));
    fail(app.raw_json(reqwest::Method::PATCH, &path, &t.key, "[]"), 400, "bad_request").await;
    for missing in ["/contacts/999999", "/contacts/abc", "/contacts/0"] {
        let e = fail(app.patch_json(missing, &t.key, &json!({"title": "x"})), 404, "not_found").await;
        assert_eq!(e["message"], "Contact not found");
        fail(app.get(missing, &t.key), 404, "not_found").await;
    }
}

#[tokio::test]
async fn contact_roles_and_scopes() {
    let app = spawn().await;
    let t = app.tenant("acme").await;
    let co = create_company(&app, &t.key, "Scope Bank", "lender").await;
    let c = create_contact(&app, &t.key, json!({"contact_type": "sponsor", "company_id": id(&co), "first_name": "Cy"}))
        .await;
    let path = format!("/contacts/{}", id(&c));

    // A read-only key of the admin reads, but cannot write.
    let ro = app.key(t.user_id, &t.account, KeyPermission::ReadOnly).await;
    expect(app.get("/contacts", &ro), 200).await;
    expect(app.get(&path, &ro), 200).await;
    let e = fail(
        app.post_json("/contacts", &ro, &json!({"contact_type": "sponsor", "company_id": id(&co)})),
        403,
        "forbidden",
    )
    .await;
    assert_eq!(e["message"], "Missing required scope: contacts:write");
    let e = fail(app.patch_json(&path, &ro, &json!({"first_name": "Mallory"})), 403, "forbidden").await;
    assert_eq!(e["message"], "Missing required scope: contacts:write");
    // The scope check comes before the lookup and the body.
    let e = fail(app.patch_json("/contacts/999999", &ro, &json!({"email": 5})), 403, "forbidden").await;
    assert_eq!(e["message"], "Missing required scope: contacts:write");
    let e = fail(unlock(&app, &ro, id(&c)), 403, "forbidden").await;
    assert_eq!(e["message"], "Missing required scope: ai:actions");

    // A viewer is not authorized to create, whatever the key.
    let viewer = app.user("viewer@acme.test", None).await;
    app.member(viewer, t.account.id, Role::Viewer).await;
    let vk = app.key(viewer, &t.account, KeyPermission::FullAccess).await;
    expect(app.get(&path, &vk), 200).await;
    let e = fail(
        app.post_json("/contacts", &vk, &json!({"contact_type": "sponsor", "company_id": id(&co)})),
        403,
        "forbidden",
    )
    .await;
    assert_eq!(e["message"], "User not authorized to create contact");
    let e =
        fail(app.post_json("/companies", &vk, &json!({"name": "V", "company_type": "lender"})), 403, "forbidden").await;
    assert_eq!(e["message"], "User not authorized to create company");
    let e = fail(app.patch_json(&path, &vk, &json!({"first_name": "V"})), 403, "forbidden").await;
    assert_eq!(e["message"], "Missing required scope: contacts:write");
    // A member may create.
    let member = app.user("member@acme.test", None).await;
    app.member(member, t.account.id, Role::Member).await;
    let mk = app.key(member, &t.account, KeyPermission::FullAccess).await;
    create_contact(&app, &mk, json!({"contact_type": "sponsor", "company_id": id(&co)})).await;

    assert_eq!(get_contact(&app, &t.key, id(&c)).await["first_name"], "Cy", "refused writes changed nothing");
}

#[tokio::test]
async fn crm_records_of_other_accounts_are_not_found() {
    let app = spawn().await;
    let a = app.tenant("alpha").await;
    let b = app.tenant("beta").await;
    let co = create_company(&app, &b.key, "Beta Bank", "lender").await;
    let c = create_contact(
        &app,
        &b.key,
        json!({"contact_type": "lender_contact", "company_id": id(&co), "first_name": "Bea"}),
    )
    .await;
    let locked = recommended_contact(&app, b.account.id, id(&co), "Hidden").await;
    let note =
        expect(app.post_json(&format!("/contacts/{}/notes", id(&c)), &b.key, &json!({"text": "beta only"})), 201).await
            ["data"]
            .clone();
    let cnote =
        expect(app.post_json(&format!("/companies/{}/notes", id(&co)), &b.key, &json!({"text": "beta co"})), 201).await
            ["data"]
            .clone();
    let before_contact = get_contact(&app, &b.key, id(&c)).await;
    let before_company = expect(app.get(&format!("/companies/{}", id(&co)), &b.key), 200).await["data"].clone();

    let (cid, coid, nid, cnid) = (id(&c), id(&co), id(&note), id(&cnote));
    for (m, path) in [
        ("GET", format!("/contacts/{cid}")),
        ("PATCH", format!("/contacts/{cid}")),
        ("GET", format!("/contacts/{cid}/notes")),
        ("POST", format!("/contacts/{cid}/notes")),
        ("PATCH", format!("/contacts/{cid}/notes/{nid}")),
        ("DELETE", format!("/contacts/{cid}/notes/{nid}")),
        ("POST", format!("/contacts/{locked}/actions/unlock")),
        ("GET", format!("/companies/{coid}")),
        ("PATCH", format!("/companies/{coid}")),
        ("GET", format!("/companies/{coid}/notes")),
        ("POST", format!("/companies/{coid}/notes")),
        ("PATCH", format!("/companies/{coid}/notes/{cnid}")),
        ("DELETE", format!("/companies/{coid}/notes/{cnid}")),
    ] {
        let req =
            app.req(m.parse().unwrap(), &path, &a.key).json(&json!({"text": "x", "first_name": "Eve", "name": "Eve"}));
        let e = fail(req, 404, "not_found").await;
        assert!(e["message"].as_str().unwrap().contains("not found"), "{m} {path}: {e}");
    }
    // Lists show only the caller's own records.
    assert_eq!(expect(app.get("/contacts?filter[is_connected]=false", &a.key), 200).await["data"], json!([]));
    assert_eq!(expect(app.get("/contacts", &a.key), 200).await["data"], json!([]));
    assert_eq!(expect(app.get("/companies", &a.key), 200).await["data"], json!([]));
    // Nothing changed for the owner, and nobody paid.
    assert_eq!(get_contact(&app, &b.key, cid).await, before_contact);
    assert_eq!(expect(app.get(&format!("/companies/{coid}"), &b.key), 200).await["data"], before_company);
    assert_eq!(get_contact(&app, &b.key, locked).await["first_name"], Value::Null);
    let notes = expect(app.get(&format!("/contacts/{cid}/notes"), &b.key), 200).await;
    assert_eq!(notes["data"][0]["text"], "beta only");
    let notes = expect(app.get(&format!("/companies/{coid}/notes"), &b.key), 200).await;
    assert_eq!(notes["data"][0]["text"], "beta co");
    assert_eq!(unlock_charges(&app, a.account.id).await + unlock_charges(&app, b.account.id).await, 0);
}

// ---------------------------------------------------------------------------------------------
// companies

#[tokio::test]
async fn company_create_read_update_list() {
    let (app, t) = setup().await;
    let body = json!({"name": "Northgate Life", "company_type": "lender", "website": "https://northgate.example",
                      "address": "9 Elm St", "city": "Hartford", "state": "CT", "zip": "06103", "org_id": 7004,
                      "linkedin_url": "https://www.linkedin.com/company/northgate"});
    let c = expect(app.post_json("/companies", &t.key, &body), 201).await["data"].clone();
    assert_eq!(keys(&c), set(COMPANY_FIELDS));
    assert_eq!(
        (c["name"].clone(), c["org_id"].clone(), c["zip"].clone()),
        (json!("Northgate Life"), json!(7004), json!("06103"))
    );
    assert_eq!((c["owner_account_id"].clone(), c["is_connected"].clone()), (json!(t.account.id), json!(true)));
    let path = format!("/companies/{}", id(&c));
    assert_eq!(expect(app.get(&path, &t.key), 200).await["data"], c);

    let u = expect(
        app.patch_json(&path, &t.key, &json!({"website": "https://ng.example", "org_id": null, "zip": null})),
        200,
    )
    .await["data"]
        .clone();
    assert_eq!(
        (u["website"].clone(), u["org_id"].clone(), u["zip"].clone(), u["city"].clone()),
        (json!("https://ng.example"), Value::Null, Value::Null, json!("Hartford"))
    );
    let u2 =
        expect(app.patch_json(&path, &t.key, &json!({"name": "Northgate Mutual", "company_type": "sponsor"})), 200)
            .await["data"]
            .clone();
    assert_eq!(u2["name"], "Northgate Mutual");
    assert_eq!(
        expect(app.patch_json(&path, &t.key, &json!({})), 200).await["data"],
        u2,
        "an empty PATCH changes nothing"
    );

    let e = fail(app.post_json("/companies", &t.key, &json!({})), 422, "validation_error").await;
    assert_eq!(field_errors(&e), set(&["name", "company_type"]));
    let e =
        fail(app.post_json("/companies", &t.key, &json!({"company_type": "lender"})), 422, "validation_error").await;
    assert_eq!(e["message"], "name is required");
    let e = fail(app.post_json("/companies", &t.key, &json!({"name": "X"})), 422, "validation_error").await;
    assert_eq!(e["message"], "company_type is required");
    let e = fail(
        app.post_json("/companies", &t.key, &json!({"name": "  ", "company_type": "bank", "org_id": -3})),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(field_errors(&e), set(&["name", "company_type", "org_id"]));
    let e = fail(
        app.post_json("/companies", &t.key, &json!({"name": "x".repeat(256), "company_type": "lender"})),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(field_errors(&e), set(&["name"]));
    let e =
        fail(app.patch_json(&path, &t.key, &json!({"name": null, "company_type": "bank"})), 422, "validation_error")
            .await;
    assert_eq!(field_errors(&e), set(&["name", "company_type"]));
    assert_eq!(expect(app.get(&path, &t.key), 200).await["data"], u2, "refused PATCHes changed nothing");
    let e = fail(app.get("/companies/424242", &t.key), 404, "not_found").await;
    assert_eq!(e["message"], "Company not found");
    fail(app.patch_json("/companies/x", &t.key, &json!({"name": "y"})), 404, "not_found").await;

    // Lists: cursor paging, fields, and the company_type filter.
    create_company(&app, &t.key, "Sponsor One", "sponsor").await;
    create_company(&app, &t.key, "Lender Two", "lender").await;
    let page = expect(app.get("/companies?limit=2", &t.key), 200).await;
    assert_eq!((page["pagination"]["total"].clone(), page["pagination"]["has_more"].clone()), (json!(3), json!(true)));
    let next = page["pagination"]["next_cursor"].as_str().unwrap().to_string();
    let rest = expect(app.get(&format!("/companies?limit=2&cursor={next}"), &t.key), 200).await;
    assert_eq!(rest["data"][0]["name"], "Lender Two");
    let lenders = expect(app.get("/companies?filter[company_type]=lender&fields=name", &t.key), 200).await;
    assert_eq!(lenders["data"], json!([{"id": lenders["data"][0]["id"], "name": "Lender Two"}]));
    let sponsors = expect(app.get("/companies?filter[company_type]=sponsor", &t.key), 200).await;
    assert_eq!(sponsors["pagination"]["total"], 2);
    fail(app.get("/companies?filter[company_type]=bank", &t.key), 422, "validation_error").await;

    // Scopes: read-only keys read but do not write.
    let ro = app.key(t.user_id, &t.account, KeyPermission::ReadOnly).await;
    expect(app.get(&path, &ro), 200).await;
    let e =
        fail(app.post_json("/companies", &ro, &json!({"name": "R", "company_type": "lender"})), 403, "forbidden").await;
    assert_eq!(e["message"], "Missing required scope: companies:write");
    let e = fail(app.patch_json(&path, &ro, &json!({"name": "R"})), 403, "forbidden").await;
    assert_eq!(e["message"], "Missing required scope: companies:write");
}

// ---------------------------------------------------------------------------------------------
// notes

#[tokio::test]
async fn contact_and_company_notes() {
    let (app, t) = setup().await;
    let co = create_company(&app, &t.key, "Noted Bank", "lender").await;
    let c = create_contact(&app, &t.key, json!({"contact_type": "lender_contact", "company_id": id(&co)})).await;
    let ro = app.key(t.user_id, &t.account, KeyPermission::ReadOnly).await;
    for (base, scope) in [
        (format!("/contacts/{}/notes", id(&c)), "contacts:write"),
        (format!("/companies/{}/notes", id(&co)), "companies:write"),
    ] {
        let n = expect(app.post_json(&base, &t.key, &json!({"text": "Met at the regional conference."})), 201).await["data"].clone();
        assert_eq!(keys(&n), set(&["id", "text", "created_by", "created_at", "updated_at"]));
        assert_eq!(n["created_by"]["id"], t.user_id);
        let nid = id(&n);
        for i in 0..2 {
            expect(app.post_json(&base, &t.key, &json!({"text": format!("n{i}")})), 201).await;
        }
        let page = expect(app.get(&format!("{base}?limit=2"), &t.key), 200).await;
        assert_eq!(
            (page["pagination"]["total"].clone(), page["pagination"]["has_more"].clone()),
            (json!(3), json!(true))
        );
        let next = page["pagination"]["next_cursor"].as_str().unwrap().to_string();
        let page2 = expect(app.get(&format!("{base}?limit=2&cursor={next}"), &ro), 200).await;
        assert_eq!(page2["data"][0]["text"], "n1");

        let e = expect(app.patch_json(&format!("{base}/{nid}"), &t.key, &json!({"text": "Met in Boston."})), 200).await;
        assert_eq!(e["data"]["text"], "Met in Boston.");
        let e = fail(app.patch_json(&format!("{base}/{nid}"), &t.key, &json!({"text": ""})), 400, "bad_request").await;
        assert_eq!(e["message"], "text cannot be empty");
        fail(app.patch_json(&format!("{base}/{nid}"), &t.key, &json!({"text": "  "})), 422, "validation_error").await;
        fail(app.post_json(&base, &t.key, &json!({"text": " "})), 422, "validation_error").await;
        fail(app.post_json(&base, &t.key, &json!({})), 422, "validation_error").await;

        let e = fail(app.post_json(&base, &ro, &json!({"text": "x"})), 403, "forbidden").await;
        assert_eq!(e["message"], format!("Missing required scope: {scope}"));
        fail(app.delete(&format!("{base}/{nid}"), &ro), 403, "forbidden").await;

        let d = expect(app.delete(&format!("{base}/{nid}"), &t.key), 200).await;
        assert_eq!(d["data"], json!({"deleted": true}));
        fail(app.delete(&format!("{base}/{nid}"), &t.key), 404, "not_found").await;
        fail(app.patch_json(&format!("{base}/{nid}"), &t.key, &json!({"text": "again"})), 404, "not_found").await;
        assert_eq!(expect(app.get(&base, &t.key), 200).await["pagination"]["total"], 2);
    }
    // A note id under the wrong parent is not found.
    let other = create_contact(&app, &t.key, json!({"contact_type": "lender_contact", "company_id": id(&co)})).await;
    let n = expect(app.post_json(&format!("/contacts/{}/notes", id(&c)), &t.key, &json!({"text": "mine"})), 201).await
        ["data"]
        .clone();
    let e = fail(
        app.patch_json(&format!("/contacts/{}/notes/{}", id(&other), id(&n)), &t.key, &json!({"text": "x"})),
        404,
        "not_found",
    )
    .await;
    assert_eq!(e["message"], "Contact or note not found");
    let e = fail(app.delete(&format!("/companies/{}/notes/{}", id(&co), id(&n)), &t.key), 404, "not_found").await;
    assert_eq!(e["message"], "Company or note not found");
    let e = fail(app.get("/contacts/777777/notes", &t.key), 404, "not_found").await;
    assert_eq!(e["message"], "Contact not found");
    // Locked contacts take notes too (a note reveals nothing about the person).
    let locked = recommended_contact(&app, t.account.id, id(&co), "Quiet").await;
    expect(app.post_json(&format!("/contacts/{locked}/notes"), &t.key, &json!({"text": "ask about bridge"})), 201)
        .await;
}

// ---------------------------------------------------------------------------------------------
// unlock and credits

#[tokio::test]
async fn unlock_reveals_once_and_charges_once() {
    let (app, t) = setup().await;
    let co = create_company(&app, &t.key, "Vault Bank", "lender").await;
    let locked = recommended_contact(&app, t.account.id, id(&co), "Sable").await;

    // Before the unlock: masked, not connected, so not in the default list; not editable.
    let masked = get_contact(&app, &t.key, locked).await;
    assert_eq!(keys(&masked), set(CONTACT_FIELDS));
    for f in ["first_name", "last_name", "email", "linkedin_url"] {
        assert_eq!(masked[f], Value::Null, "{f}");
    }
    assert_eq!((masked["phones"].clone(), masked["title"].clone()), (json!([]), json!("VP, Originations")));
    assert_eq!(masked["is_connected"], false);
    assert_eq!(expect(app.get("/contacts", &t.key), 200).await["data"], json!([]));
    let hidden = expect(app.get("/contacts?filter[is_connected]=false", &t.key), 200).await;
    assert_eq!(hidden["data"], json!([masked]));
    let e = fail(
        app.patch_json(&format!("/contacts/{locked}"), &t.key, &json!({"email": "guess@lender.example"})),
        409,
        "conflict",
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("unlock"), "{e}");

    let start = credits(&app, &t.key).await;
    assert_eq!(start, json!({"enabled": true, "balance": 8500, "unit": "credits"}), "enterprise default pool");

    let idem = "6f1c2a7e-2b1d-4f0e-9a51-1c8d2e3f4a5b";
    let r = unlock(&app, &t.key, locked).header("Idempotency-Key", idem).send().await.unwrap();
    assert!(r.headers().get("idempotent-replayed").is_none());
    let (s, body) = parts(r).await;
    assert_eq!(s, 200, "{body}");
    let revealed = body["data"].clone();
    assert_eq!((revealed["first_name"].clone(), revealed["last_name"].clone()), (json!("Sable"), json!("Hidden")));
    assert_eq!(revealed["email"], "sable@lender.example");
    assert_eq!(revealed["phones"][0]["e164"], "+16175550111");
    assert_eq!(credits(&app, &t.key).await["balance"], 8500 - UNLOCK_COST);

    // The same request again is replayed, not re-run: no second charge.
    let r = unlock(&app, &t.key, locked).header("Idempotency-Key", idem).send().await.unwrap();
    assert_eq!(r.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let (s, replay) = parts(r).await;
    assert_eq!((s, replay["data"].clone()), (200, revealed.clone()));
    // A new request for a contact already unlocked returns it and charges nothing.
    let again = expect(unlock(&app, &t.key, locked).header("Idempotency-Key", "another-key-1"), 200).await;
    assert_eq!(again["data"]["first_name"], "Sable");
    expect(unlock(&app, &t.key, locked), 200).await;
    assert_eq!(credits(&app, &t.key).await["balance"], 8500 - UNLOCK_COST);
    let ledger = app.store.credit_ledger(t.account.id).await.unwrap();
    let reasons: Vec<(&str, i64, i64)> = ledger.iter().map(|e| (e.reason.as_str(), e.delta, e.balance_after)).collect();
    assert_eq!(reasons, [("opening_grant", 8500, 8500), ("contact_unlock", -UNLOCK_COST, 8500 - UNLOCK_COST)]);
    assert_eq!((ledger[1].contact_id, ledger[1].user_id), (Some(locked), Some(t.user_id)));

    // Unlocked: readable in full and editable; ordinary contacts unlock for free.
    assert_eq!(get_contact(&app, &t.key, locked).await["first_name"], "Sable");
    expect(app.patch_json(&format!("/contacts/{locked}"), &t.key, &json!({"title": "SVP"})), 200).await;
    let plain = create_contact(
        &app,
        &t.key,
        json!({"contact_type": "lender_contact", "company_id": id(&co), "first_name": "Open"}),
    )
    .await;
    assert_eq!(expect(unlock(&app, &t.key, id(&plain)), 200).await["data"], plain);
    assert_eq!(credits(&app, &t.key).await["balance"], 8500 - UNLOCK_COST);
    let e = fail(unlock(&app, &t.key, 987_654), 404, "not_found").await;
    assert_eq!(e["message"], "Contact not found");
    fail(unlock(&app, &t.key, 0), 404, "not_found").await;

    // A viewer holds no ai:actions.
    let viewer = app.user("viewer@acme.test", None).await;
    app.member(viewer, t.account.id, Role::Viewer).await;
    let vk = app.key(viewer, &t.account, KeyPermission::FullAccess).await;
    let e = fail(unlock(&app, &vk, locked), 403, "forbidden").await;
    assert_eq!(e["message"], "Missing required scope: ai:actions");
}

#[tokio::test]
async fn unlock_without_credits_is_402_and_changes_nothing() {
    let (app, t) = setup().await;
    let co = create_company(&app, &t.key, "Dry Bank", "lender").await;
    let locked = recommended_contact(&app, t.account.id, id(&co), "Penny").await;
    app.store
        .set_credit_balance(t.account.id, Some(UNLOCK_COST - 1), "adjustment", "2026-01-01T00:00:00Z")
        .await
        .unwrap();

    let e = fail(unlock(&app, &t.key, locked).header("Idempotency-Key", "dry-1"), 402, "payment_required").await;
    assert_eq!(e["code"], "PAYMENT_REQUIRED");
    assert_eq!(e["message"], "Insufficient credits to unlock this contact");
    let prereq = e["prerequisites"].as_array().unwrap();
    assert!(!prereq.is_empty() && prereq.iter().all(Value::is_string), "{e}");
    assert!(e["upgrade_url"].as_str().unwrap().starts_with("https://"), "{e}");
    assert_eq!(
        (e["details"]["credits_required"].clone(), e["details"]["credits_available"].clone()),
        (json!(UNLOCK_COST), json!(UNLOCK_COST - 1))
    );
    // Neither half happened: still locked, still the same balance, no ledger entry.
    assert_eq!(get_contact(&app, &t.key, locked).await["first_name"], Value::Null);
    assert_eq!(credits(&app, &t.key).await, json!({"enabled": true, "balance": UNLOCK_COST - 1, "unit": "credits"}));
    assert_eq!(unlock_charges(&app, t.account.id).await, 0);

    // With enough credits it works, down to exactly zero (still enabled).
    app.store.set_credit_balance(t.account.id, Some(UNLOCK_COST), "grant", "2026-01-02T00:00:00Z").await.unwrap();
    expect(unlock(&app, &t.key, locked).header("Idempotency-Key", "dry-2"), 200).await;
    assert_eq!(credits(&app, &t.key).await, json!({"enabled": true, "balance": 0, "unit": "credits"}));
    let summary = expect(app.get("/billing/summary", &t.key), 200).await["data"].clone();
    assert_eq!(summary["credits"], json!({"enabled": true, "balance": 0, "unit": "credits"}));

    // A free account is not provisioned for credits: 402 saying so.
    let free = app.tenant_with("free", Tier::Free, Role::Admin).await;
    let fco = create_company(&app, &free.key, "Free Bank", "lender").await;
    let flocked = recommended_contact(&app, free.account.id, id(&fco), "Frank").await;
    assert_eq!(credits(&app, &free.key).await, json!({"enabled": false, "balance": null, "unit": "credits"}));
    let e = fail(unlock(&app, &free.key, flocked), 402, "payment_required").await;
    assert_eq!(e["details"]["credits_available"], Value::Null);
    assert!(e["prerequisites"][0].as_str().unwrap().contains("Enable credit billing"), "{e}");
    assert_eq!(get_contact(&app, &free.key, flocked).await["first_name"], Value::Null);
}

#[tokio::test]
async fn concurrent_unlocks_never_overspend() {
    let (app, t) = setup().await;
    let co = create_company(&app, &t.key, "Race Bank", "lender").await;
    let one = recommended_contact(&app, t.account.id, id(&co), "Solo").await;
    let many: Vec<i64> = {
        let mut v = Vec::new();
        for i in 0..6 {
            v.push(recommended_contact(&app, t.account.id, id(&co), &format!("R{i}")).await);
        }
        v
    };
    // Eight racing unlocks of one contact: one charge.
    let reqs: Vec<_> = (0..8).map(|_| unlock(&app, &t.key, one).send()).collect();
    for r in futures_join(reqs).await {
        assert_eq!(r.status(), 200);
    }
    assert_eq!(unlock_charges(&app, t.account.id).await, 1);
    assert_eq!(credits(&app, &t.key).await["balance"], 8500 - UNLOCK_COST);

    // Six racing unlocks with credit for three: three succeed, three get 402, balance 0.
    app.store
        .set_credit_balance(t.account.id, Some(3 * UNLOCK_COST), "adjustment", "2026-01-01T00:00:00Z")
        .await
        .unwrap();
    let reqs: Vec<_> = many.iter().map(|c| unlock(&app, &t.key, *c).send()).collect();
    let statuses: Vec<u16> = futures_join(reqs).await.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 402).count(), 3, "{statuses:?}");
    assert_eq!(credits(&app, &t.key).await["balance"], 0);
    assert_eq!(unlock_charges(&app, t.account.id).await, 4);
    let mut revealed = 0;
    for c in &many {
        if get_contact(&app, &t.key, *c).await["first_name"] != Value::Null {
            revealed += 1;
        }
    }
    assert_eq!(revealed, 3, "every revealed contact was paid for, and only those");
}

/// Runs the requests concurrently and waits for all of them.
async fn futures_join<F>(reqs: Vec<F>) -> Vec<reqwest::Response>
where
    F: std::future::Future<Output = reqwest::Result<reqwest::Response>> + Send + 'static,
{
    let handles: Vec<_> = reqs.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn billing_reads() {
    let app = spawn().await;
    let ent = app.tenant("ent").await;
    let standard = app.tenant_with("std", Tier::Standard, Role::Admin).await;
    let free = app.tenant_with("free", Tier::Free, Role::Admin).await;

    let s = expect(app.get("/billing/summary", &ent.key), 200).await["data"].clone();
    assert_eq!(keys(&s), set(&["subscription", "credits"]));
    assert_eq!(keys(&s["subscription"]), set(&["type", "status", "billing_cycle", "end_date"]));
    assert_eq!(s["credits"], json!({"enabled": true, "balance": 8500, "unit": "credits"}));
    // The subscription is the one GET /me reports.
    let me = expect(app.get("/me", &ent.key), 200).await["data"].clone();
    assert_eq!(s["subscription"], me["subscription"]);
    assert_eq!(credits(&app, &standard.key).await, json!({"enabled": true, "balance": 2500, "unit": "credits"}));
    let fs = expect(app.get("/billing/summary", &free.key), 200).await["data"].clone();
    assert_eq!(fs["credits"], json!({"enabled": false, "balance": null, "unit": "credits"}));
    assert_eq!(fs["subscription"]["type"], "free");

    // Balances follow the stored pool.
    app.store.set_credit_balance(standard.account.id, Some(42), "adjustment", "2026-01-01T00:00:00Z").await.unwrap();
    assert_eq!(credits(&app, &standard.key).await["balance"], 42);
    app.store.set_credit_balance(standard.account.id, None, "adjustment", "2026-01-01T00:00:00Z").await.unwrap();
    assert_eq!(credits(&app, &standard.key).await, json!({"enabled": false, "balance": null, "unit": "credits"}));
    assert_eq!(credits(&app, &ent.key).await["balance"], 8500, "another account's pool is untouched");

    // billing:read is a read scope: read-only keys and viewers have it.
    let ro = app.key(ent.user_id, &ent.account, KeyPermission::ReadOnly).await;
    expect(app.get("/billing/summary", &ro), 200).await;
    let viewer = app.user("viewer@ent.test", None).await;
    app.member(viewer, ent.account.id, Role::Viewer).await;
    let vk = app.key(viewer, &ent.account, KeyPermission::FullAccess).await;
    expect(app.get("/billing/credits/balance", &vk), 200).await;
    // No credential: 401.
    let r = app.client.get(app.url("/billing/summary")).header("X-Origin-App", "t").send().await.unwrap();
    let (s, b) = parts(r).await;
    assert_eq!(s, 401);
    assert_error(&b, 401, "unauthorized");
}
