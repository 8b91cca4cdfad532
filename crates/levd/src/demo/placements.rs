//! Demo placements, term sheets and pipelines for the broker account: each active deal goes out
//! to several lenders at different stages, the answered outreaches carry quotes priced the way
//! lenders quote them (SOFR or Treasury spreads, fixed coupons), and a second pipeline sits
//! beside the Financing one.
use levd_domain::crm::{ContactOrigin, NewCompany, NewContact};
use levd_domain::input::Patch;
use levd_domain::placements::{BaseRateInput, BaseRateSetting, LenderCheck, PlacementInsert, parse_new_term_sheet};
use levd_store::Store;
use serde_json::{Value, json};

use super::{DAY, DemoAccount, DemoContext, stamp};

/// Lenders the demo approaches when the CRM demo data brings none: name, contact.
const LENDERS: &[(&str, &str, &str)] = &[
    ("Northbay Bank", "Priya", "Shah"),
    ("Atlas Life Insurance", "Marcus", "Hale"),
    ("Crescent Credit Partners", "Elena", "Voss"),
    ("Granite Debt Fund", "Tom", "Becker"),
    ("Keystone Capital", "Aisha", "Grant"),
    ("Pinecrest Federal Credit Union", "Luis", "Ortega"),
    ("Meridian Agency Lending", "Hannah", "Cole"),
    ("Harborview Commercial Mortgage", "Owen", "Price"),
];

/// Stages an outreach can be at, from just logged to done.
const OUTREACH: &[&str] = &["sent", "lender_reviewing", "terms_received", "negotiating", "declined", "new", "closed"];

const FEEDBACK: &[&str] = &[
    "Wants the trailing-12 and a current rent roll before quoting.",
    "Comfortable with the sponsor; sizing to a 1.25x DSCR.",
    "Passed: outside their footprint for this asset type.",
    "Asked for a site visit next week.",
    "Will hold spread if we close within 45 days.",
];

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub async fn seed(store: &Store, ctx: &DemoContext) -> Result<(), String> {
    pipelines(store, ctx).await?;
    // Even deals of the brokerage are Ben's (he creates their placements); Ana runs the rest.
    // On the lender's desk, Dev syndicates and Ana helps.
    let placed = seed_account(store, &ctx.broker, [ctx.ben, ctx.ana]).await?
        + seed_account(store, &ctx.lender, [ctx.dev, ctx.ana]).await?;
    tracing::debug!(placements = placed, "demo placements seeded");
    Ok(())
}

/// Each active deal of the account goes out to several lenders, each outreach dated after
/// the deal arrived; answered ones carry quotes sized on the deal's own loan amount.
async fn seed_account(store: &Store, owner: &DemoAccount, creators: [i64; 2]) -> Result<usize, String> {
    let account = owner.id;
    let directory_time = stamp(owner.base - 25 * DAY);
    let mut lenders: Vec<i64> =
        store.lender_companies(account).await.map_err(err)?.into_iter().map(|(id, _)| id).collect();
    if lenders.len() < 4 {
        for (name, first, last) in LENDERS {
            let company = NewCompany { name: (*name).to_string(), company_type: "lender", texts: vec![], org_id: None };
            let c = store.insert_company(account, &company, &directory_time).await.map_err(err)?;
            let contact = NewContact {
                contact_type: "lender_contact",
                company_id: c.id,
                email: Some(format!("{}.{}@lender.example", first.to_lowercase(), last.to_lowercase())),
                texts: vec![("first_name", (*first).to_string()), ("last_name", (*last).to_string())],
                phones: vec![],
                is_primary: true,
            };
            store.insert_contact(account, &contact, ContactOrigin::Crm, &directory_time).await.map_err(err)?;
            lenders.push(c.id);
        }
    }

    let mut placed = 0usize;
    for (i, demo_deal) in owner.deals.iter().enumerate() {
        if demo_deal.archived {
            continue;
        }
        let deal_id = demo_deal.id;
        let amount = demo_deal.model.loan_amount;
        let count = 3 + i % 3;
        let mut winner_given = false;
        let mut used = Vec::new();
        for k in 0..count {
            let lender = lenders[(i + k * 3) % lenders.len()];
            if used.contains(&lender) {
                continue;
            }
            used.push(lender);
            let status = OUTREACH[(i + k * 2) % OUTREACH.len()];
            let creator = creators[i % 2];
            let visibility = match (i + k) % 7 {
                0 => "hidden",
                1 | 4 => "masked",
                _ => "shared",
            };
            // Most outreaches go to a known contact; every third is left to the AI match.
            let named = if k % 3 == 2 { None } else { store.named_contact_at(account, lender).await.map_err(err)? };
            let check = store.check_lender(account, deal_id, lender, named).await.map_err(err)?;
            let LenderCheck::Found { lender_name, org_id, contact_id, contact_name } = check else { continue };
            // Logged a few days after the deal arrived; sent the next morning; answered within
            // two days; last touched a week or so later.
            let logged = demo_deal.created + (3 + k as i64) * DAY;
            let sent = logged + DAY - 3 * 3_600;
            let first_response = sent + (1 + (i + k) % 2) as i64 * DAY + 4 * 3_600;
            let last_touch = first_response + (4 + (i * 3 + k) % 9) as i64 * DAY;
            let contacted = status != "new";
            let answered = !matches!(status, "new" | "sent");
            let record = PlacementInsert {
                deal_id,
                private_company_id: lender,
                contact_id,
                org_id,
                lender_name: Some(lender_name),
                contact_name,
                status: status.to_string(),
                lender_status: Some(
                    match status {
                        "new" | "sent" => "lead_qualification",
                        "lender_reviewing" => "under_review",
                        "terms_received" | "negotiating" => "term_sheet_issued",
                        "declined" => "declined",
                        _ => "approved",
                    }
                    .to_string(),
                ),
                description: (k % 2 == 1).then(|| FEEDBACK[(i + k) % FEEDBACK.len()].to_string()),
                lev_score: Some(55.0 + ((i * 7 + k * 13) % 44) as f64 + 0.5),
                score: (k % 3 == 0).then(|| (50 + (i * 11 + k * 17) % 50) as f64),
                outreach_date: contacted.then(|| stamp(sent)),
                outreach_source: Some("direct".into()),
                last_communication_date: contacted.then(|| stamp(if answered { last_touch } else { sent })),
                lender_first_response_date: answered.then(|| stamp(first_response)),
                visibility: visibility.to_string(),
            };
            let placement_id = store.insert_placement(account, creator, &record, &stamp(logged)).await.map_err(err)?;
            placed += 1;
            // Every placement gets a note: the lender's feedback, else the outreach log.
            let text = match &record.description {
                Some(feedback) => feedback.clone(),
                None => format!("Package sent to {}.", record.lender_name.as_deref().unwrap_or("the lender")),
            };
            store
                .insert_note(
                    account,
                    "placement",
                    placement_id,
                    creator,
                    &text,
                    &stamp(if contacted { sent } else { logged }),
                )
                .await
                .map_err(err)?;
            if matches!(status, "terms_received" | "negotiating" | "closed") {
                let winning = status == "closed" && !winner_given;
                winner_given |= winning;
                let body = quote(i, k, amount, Some(demo_deal.loan_type), placement_id, winning);
                let Value::Object(body) = body else { continue };
                let write = parse_new_term_sheet(&body).map_err(|e| e.message)?;
                let base_rate = match &write.base_rate {
                    Patch::Value(BaseRateInput::Named(name)) => match store.benchmark(name).await.map_err(err)? {
                        Some(b) => BaseRateSetting::Benchmark(b),
                        None => BaseRateSetting::Fixed,
                    },
                    _ => BaseRateSetting::Fixed,
                };
                let quoted = stamp(first_response + DAY);
                let id = store
                    .insert_term_sheet(account, deal_id, creator, &write, &base_rate, &quoted)
                    .await
                    .map_err(err)?;
                // One superseded quote, withdrawn (soft-deleted) after a better one came in.
                if k == 2 && i % 4 == 1 {
                    store.delete_term_sheet(account, deal_id, id, &stamp(last_touch)).await.map_err(err)?;
                }
            }
        }
    }
    Ok(placed)
}

/// A lender quote shaped like the loan: bridge and construction loans float over SOFR with a
/// floor and extensions; permanent loans are fixed, some over the 5-year Treasury and some at
/// an all-in coupon.
fn quote(i: usize, k: usize, amount: f64, loan_type: Option<&str>, placement_id: i64, winning: bool) -> Value {
    let funding = ((amount * (0.9 + ((i + k) % 3) as f64 * 0.05)) / 10_000.0).round() as i64 * 10_000;
    let jitter = ((i * 5 + k * 3) % 10) as f64 * 0.05;
    // Rates to the basis point and ratios to the hundredth of a percent, as lenders quote them.
    let bp = |x: f64| (x * 100.0).round() / 100.0;
    let ratio = |x: f64| (x * 10_000.0).round() / 10_000.0;
    let mut q = match loan_type {
        Some("heavy_bridge" | "light_bridge" | "construction" | "land" | "predevelopment") => json!({
            "title": "Floating-rate bridge",
            "rate_type": "floating", "base_rate": if k % 2 == 1 { "term_sofr_m1" } else { "sofr_m1" }, "total_rate": bp(2.95 + jitter),
            "floor": 4.0, "floor_type": "base_rate", "term": 36, "io_period": 36,
            "extension_one": 12, "extension_two": 12, "extension_fee": 0.0025, "exit_fee": 0.005,
            "max_ltc": 0.75, "recourse": "partial_recourse", "recourse_type": "completion_guaranty",
            "prepayment_penalty": "minimum_interest", "prepayment_penalty_details": "12 months minimum interest",
            "payment_method": "interest_only", "capital_source_type": "debt_fund",
            "ir_details": "Interest reserve sized to 12 months"
        }),
        _ if k.is_multiple_of(2) => json!({
            "title": "10-year fixed",
            "rate_type": "fixed", "base_rate": "treasury_y5", "total_rate": bp(1.75 + jitter),
            "term": 120, "amortization": 360, "io_period": 24, "min_dscr": 1.25, "min_debt_yield": 0.08,
            "recourse": "non_recourse", "recourse_type": "carve_outs_only", "prepayment_penalty": "yield_maintenance",
            "payment_method": "partial_interest_only", "capital_source_type": "life_company"
        }),
        _ => json!({
            "title": "5-year fixed",
            "rate_type": "fixed", "base_rate": "none-fixed", "total_rate": bp(6.15 + jitter),
            "term": 60, "amortization": 300, "min_dscr": 1.3, "recourse": "full_recourse",
            "prepayment_penalty": "step_down", "prepayment_penalty_details": "3-2-1 step-down",
            "payment_method": "principal_and_interest", "capital_source_type": "bank"
        }),
    };
    if let Value::Object(m) = &mut q {
        m.insert("placement_id".into(), json!(placement_id));
        m.insert("quote_type".into(), json!(["soft_quote", "hard_quote", "term_sheet", "indication"][(i + k) % 4]));
        m.insert("initial_funding".into(), json!(funding));
        m.insert("max_ltv".into(), json!(ratio(0.6 + ((i + k) % 4) as f64 * 0.05)));
        m.insert("origination_fee".into(), json!(ratio(0.005 + ((i + k) % 3) as f64 * 0.0025)));
        m.insert("good_faith_deposit".into(), json!(25_000));
        m.insert("winning".into(), json!(winning));
        m.insert("is_visible_to_borrower".into(), json!(k % 4 != 3));
        m.insert("notes".into(), json!("Subject to appraisal, site inspection and credit committee."));
    }
    q
}

/// Display details of the Financing pipeline, and a second (acquisitions) pipeline with some
/// deals in it.
async fn pipelines(store: &Store, ctx: &DemoContext) -> Result<(), String> {
    let account = ctx.broker.id;
    let pipeline_id = ctx.broker.pipeline_id;
    store
        .set_pipeline_display(account, pipeline_id, Some("Debt placement, from intake to funding"), Some(1))
        .await
        .map_err(err)?;
    for (key, custom, description, icon) in [
        ("new", None, Some("Deal received; package in preparation"), Some("inbox")),
        ("quoting", Some("Out to lenders"), Some("Package sent; collecting quotes"), Some("send")),
        ("term_sheet", None, Some("Term sheet selected and negotiated"), Some("file-text")),
        ("closing", None, Some("Diligence, docs and closing"), Some("briefcase")),
        ("closed", Some("Funded"), Some("Loan funded"), Some("check-circle")),
    ] {
        store.set_pipeline_status_display(account, pipeline_id, key, custom, description, icon).await.map_err(err)?;
    }
    let now = stamp(ctx.broker.base - 10 * DAY);
    let stages = [
        ("sourcing", "Sourcing"),
        ("underwriting", "Underwriting"),
        ("loi", "LOI"),
        ("due_diligence", "Due Diligence"),
        ("closed", "Closed"),
    ];
    let acquisitions =
        store.insert_pipeline(account, "Acquisitions", "acquisition", &stages, &now).await.map_err(err)?;
    store
        .set_pipeline_display(account, acquisitions, Some("Buy-side opportunities under review"), Some(2))
        .await
        .map_err(err)?;
    store
        .set_pipeline_status_display(account, acquisitions, "loi", Some("Letter of intent"), None, Some("pen"))
        .await
        .map_err(err)?;
    for (i, deal) in ctx.broker.deals.iter().enumerate().filter(|(i, _)| i % 5 == 0 || i % 5 == 4) {
        let at = stamp(deal.created + 2 * DAY);
        store.place_deal_in_pipeline(deal.id, acquisitions, (i % stages.len()) as i64, &at).await.map_err(err)?;
    }
    store
        .set_pipeline_display(
            ctx.lender.id,
            ctx.lender.pipeline_id,
            Some("Loan requests from screening to approval"),
            Some(1),
        )
        .await
        .map_err(err)?;
    Ok(())
}
