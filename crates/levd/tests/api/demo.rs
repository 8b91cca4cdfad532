//! The demo data set (`--demo`): every list shows something in both demo accounts, the deals
//! have a history spread over months, and each deal's figures agree wherever they appear.
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::common::*;

const BROKER: &str = "harbor-capital";
const LENDER: &str = "summit-lending";

/// A server with the demo data, and a way to call it as the demo admin in either account:
/// the printed demo key for the brokerage, Ana's sign-in (a JWT) with `X-Active-Account` for
/// the lender account, where she is a member.
struct Demo {
    app: TestApp,
    key: String,
}

impl Demo {
    async fn start() -> Demo {
        let app = spawn_with(Options { demo: true, ..Options::default() }).await;
        let key = app.demo().expect("demo data seeded").api_key.clone();
        Demo { app, key }
    }

    fn get(&self, account: &str, path: &str) -> RequestBuilder {
        if account == BROKER {
            self.app.get(path, &self.key)
        } else {
            self.app.get(path, &jwt_for("demo|ana")).header("X-Active-Account", account)
        }
    }

    async fn json(&self, account: &str, path: &str) -> (u16, Value) {
        parts(self.get(account, path).send().await.unwrap()).await
    }

    async fn list(&self, account: &str, path: &str) -> Vec<Value> {
        let (s, b) = self.json(account, path).await;
        assert_eq!(s, 200, "{account} {path}: {b}");
        b["data"].as_array().unwrap_or_else(|| panic!("{account} {path} is not a list: {b}")).clone()
    }

    async fn search(&self, account: &str, deal: i64, context: &str) -> Vec<Value> {
        let req = if account == BROKER {
            self.app.post_json(&format!("/deals/{deal}/index/search"), &self.key, &json!({}))
        } else {
            self.app
                .post_json(&format!("/deals/{deal}/index/search"), &jwt_for("demo|ana"), &json!({}))
                .header("X-Active-Account", account)
        };
        let body = json!({"context": context, "min_score": 0, "limit": 100});
        let (s, b) = parts(req.json(&body).send().await.unwrap()).await;
        assert_eq!(s, 200, "{b}");
        b["data"].as_array().unwrap().clone()
    }

    /// All deals of the account (the list includes archived ones).
    async fn deals(&self, account: &str) -> Vec<Value> {
        let (s, b) = self.json(account, "/deals?limit=100").await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["pagination"]["has_more"], false, "{b}");
        b["data"].as_array().unwrap().clone()
    }
}

fn ids(items: &[Value], field: &str) -> Vec<String> {
    items
        .iter()
        .filter_map(|v| v[field].as_i64().map(|i| i.to_string()).or(v[field].as_str().map(str::to_string)))
        .collect()
}

/// Ids of the first checklist tasks of a deal.
fn task_ids(checklists: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for list in checklists {
        let mut tasks: Vec<&Value> = list["tasks"].as_array().map(|t| t.iter().collect()).unwrap_or_default();
        for section in list["sections"].as_array().into_iter().flatten() {
            tasks.extend(section["tasks"].as_array().into_iter().flatten());
        }
        out.extend(tasks.iter().filter_map(|t| t["id"].as_i64()).map(|i| i.to_string()));
    }
    out
}

/// Not only the first few: every demo deal of both accounts has documents, notes, memos and
/// index entities (its index facts: see the financials test below), so any deal a client picks
/// shows the deal-data endpoints at work.
#[tokio::test]
async fn every_demo_deal_has_documents_notes_memos_and_index_data() {
    let demo = Demo::start().await;
    for account in [BROKER, LENDER] {
        let deals = demo.deals(account).await;
        assert!(deals.len() >= 8, "{account}: {} deals", deals.len());
        for deal in &deals {
            let id = deal["id"].as_i64().unwrap();
            for list in ["documents", "notes", "memos", "index/entities"] {
                let items = demo.list(account, &format!("/deals/{id}/{list}?limit=1")).await;
                assert!(!items.is_empty(), "{account}: deal {id} has no {list}");
            }
        }
    }
}

#[tokio::test]
async fn every_list_endpoint_shows_items_in_both_demo_accounts() {
    let demo = Demo::start().await;
    let (s, doc) = demo.json(BROKER, "/openapi.json").await;
    assert_eq!(s, 200);
    let prefix = "/api/external/v2";
    let paths: Vec<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, ops)| ops.get("get").is_some())
        .map(|(p, _)| p.strip_prefix(prefix).unwrap_or(p).to_string())
        .collect();
    assert!(paths.len() > 20, "{paths:?}");

    for account in [BROKER, LENDER] {
        // Parents for the nested lists, taken from the account's own lists.
        let deals = demo.list(account, "/deals?limit=10").await;
        let mut parents: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        parents.insert("deal_id", ids(&deals, "id"));
        parents.insert("contact_id", ids(&demo.list(account, "/contacts?limit=100").await, "id"));
        parents.insert("company_id", ids(&demo.list(account, "/companies?limit=100").await, "id"));
        parents.insert("placement_id", ids(&demo.list(account, "/placements?limit=20").await, "id"));
        parents.insert("org_id", ids(&demo.list(account, "/lenders/directory?limit=12").await, "id"));
        let first_deal = parents["deal_id"][0].clone();
        parents.insert("task_id", task_ids(&demo.list(account, &format!("/deals/{first_deal}/checklists")).await));
        for (name, values) in &parents {
            assert!(!values.is_empty(), "{account}: no {name} to nest under");
        }

        let mut checked = Vec::new();
        for path in &paths {
            let params: Vec<&str> =
                path.split('/').filter(|seg| seg.starts_with('{')).map(|seg| seg.trim_matches(['{', '}'])).collect();
            let candidates: Vec<String> = match params.as_slice() {
                [] => vec![path.clone()],
                [one] => match parents.get(one) {
                    Some(values) => values.iter().take(12).map(|v| path.replace(&format!("{{{one}}}"), v)).collect(),
                    None => continue,
                },
                _ => continue,
            };
            let mut is_list = false;
            let mut found = false;
            for concrete in &candidates {
                let (s, b) = demo.json(account, concrete).await;
                assert_eq!(s, 200, "{account} GET {concrete}: {b}");
                if let Some(items) = b["data"].as_array() {
                    is_list = true;
                    if !items.is_empty() {
                        found = true;
                        break;
                    }
                }
            }
            if is_list {
                assert!(found, "{account}: GET {path} is empty for every parent tried");
                checked.push(path.clone());
            }
        }
        // The lists levd serves today, at least: the account's own and the nested ones.
        for must in [
            "/deals",
            "/contacts",
            "/companies",
            "/placements",
            "/pipelines",
            "/api-keys",
            "/account/team",
            "/deals/{deal_id}/notes",
            "/deals/{deal_id}/documents",
            "/deals/{deal_id}/memos",
            "/deals/{deal_id}/checklists",
            "/deals/{deal_id}/term-sheets",
            "/deals/{deal_id}/vaults",
            "/deals/{deal_id}/index/entities",
            "/contacts/{contact_id}/notes",
            "/companies/{company_id}/notes",
            "/placements/{placement_id}/notes",
            "/checklist-tasks/{task_id}/notes",
        ] {
            assert!(checked.iter().any(|p| p == must), "{account}: {must} not checked; checked {checked:?}");
        }

        // The index holds facts on every deal tried.
        let deal: i64 = first_deal.parse().unwrap();
        assert!(!demo.search(account, deal, "net operating income").await.is_empty(), "{account}: empty index");
    }
}

fn unix(ts: &str) -> i64 {
    // `YYYY-MM-DDTHH:MM:SSZ` → days since 2000-01-01 is enough for spans; compute exactly.
    let (y, m, d) =
        (ts[0..4].parse::<i64>().unwrap(), ts[5..7].parse::<i64>().unwrap(), ts[8..10].parse::<i64>().unwrap());
    let (h, mi, s) =
        (ts[11..13].parse::<i64>().unwrap(), ts[14..16].parse::<i64>().unwrap(), ts[17..19].parse::<i64>().unwrap());
    // Days from civil (proleptic Gregorian).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h * 3_600 + mi * 60 + s
}

#[test]
fn unix_of_a_timestamp() {
    assert_eq!(unix("1970-01-01T00:00:00Z"), 0);
    assert_eq!(unix("2026-01-12T15:00:00Z"), 1_768_230_000);
}

#[tokio::test]
async fn demo_deals_have_a_history_spread_over_months() {
    let demo = Demo::start().await;
    for account in [BROKER, LENDER] {
        let deals = demo.deals(account).await;
        assert!(deals.len() >= 6, "{account}: {} deals", deals.len());
        let created: Vec<i64> = deals.iter().map(|d| unix(d["created_at"].as_str().unwrap())).collect();
        let span_days = (created.iter().max().unwrap() - created.iter().min().unwrap()) / 86_400;
        assert!(span_days >= 90, "{account}: deals created within {span_days} days");
        let distinct: std::collections::BTreeSet<i64> = created.iter().copied().collect();
        assert_eq!(distinct.len(), deals.len(), "{account}: deals share a creation time");
        for d in &deals {
            let (c, u) = (d["created_at"].as_str().unwrap(), d["updated_at"].as_str().unwrap());
            assert!(unix(u) > unix(c), "{account}: deal {} updated {u} before or when created {c}", d["id"]);
            // Dates lie in the past, not in the future of the machine's clock.
            assert!(unix(u) <= now(), "{account}: deal {} updated in the future: {u}", d["id"]);
        }
    }
}

/// The number of a currency or percent fact (`$1,234`, `5.25%`); `None` for text facts.
fn number(text: &str) -> Option<f64> {
    text.trim_start_matches('$').trim_end_matches('%').replace(',', "").parse().ok()
}

#[tokio::test]
async fn each_demo_deals_financials_agree_with_its_index_facts() {
    let demo = Demo::start().await;
    let mut compared = 0;
    for account in [BROKER, LENDER] {
        for deal in demo.deals(account).await {
            let id = deal["id"].as_i64().unwrap();
            let (s, f) = demo.json(account, &format!("/deals/{id}/financials")).await;
            assert_eq!(s, 200, "{f}");
            let f = &f["data"];
            let facts: BTreeMap<String, f64> = demo
                .search(account, id, "net operating income cap rate appraised value loan amount loan to value")
                .await
                .iter()
                .filter_map(|r| Some((r["metric_key"].as_str()?.to_string(), number(r["value_text"].as_str()?)?)))
                .collect();
            let fact =
                |key: &str| *facts.get(key).unwrap_or_else(|| panic!("{account} deal {id}: no {key} in {facts:?}"));
            let (noi, value, cap) = (
                f["in_place_noi"].as_f64().unwrap(),
                f["estimated_value"].as_f64().unwrap(),
                f["going_in_cap_rate"].as_f64().unwrap(),
            );
            let loan = deal["loan_amount"].as_f64().unwrap();
            let ctx = format!("{account} deal {id}: financials {f} facts {facts:?}");
            assert_eq!(noi, fact("noi_t12"), "{ctx}");
            assert_eq!(value, fact("appraised_value"), "{ctx}");
            assert_eq!(loan, fact("loan_amount_requested"), "{ctx}");
            assert!((cap - noi / value).abs() < 0.00005, "cap rate is not NOI / value: {ctx}");
            assert!((cap - fact("going_in_cap_rate") / 100.0).abs() < 0.00005, "{ctx}");
            assert!((fact("loan_to_value") / 100.0 - loan / value).abs() < 0.00005, "{ctx}");
            if let Some(price) = facts.get("purchase_price") {
                assert_eq!(f["purchase_price"].as_f64(), Some(*price), "{ctx}");
            }
            compared += 1;
        }
    }
    assert!(compared >= 48, "{compared} deals compared");
}

/// A first start on an empty database logs no warning and no error.
#[tokio::test]
async fn a_first_demo_start_logs_no_warning_or_error() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = fresh_database(dir.path()).await;
    let mut child = demo_server_with_json_logs(dir.path(), &db);
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut ready = false;
    while !ready && Instant::now() < deadline {
        let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(120), lines.next_line()).await else { break };
        ready = line.contains("Demo API key");
    }
    assert!(ready, "the server did not get ready");
    // Everything a start logs comes before the ready lines; the exit is not under test.
    child.kill().await.unwrap();
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).await.unwrap();
    assert!(logs.contains("token signing key created"), "{logs}");
    for line in logs.lines() {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let level = v["level"].as_str().unwrap_or_default();
        assert!(!matches!(level, "WARN" | "ERROR"), "{line}");
    }
}
