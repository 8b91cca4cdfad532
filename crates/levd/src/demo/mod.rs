//! `--demo`: a realistic data set on an empty database, so every endpoint has something to show.
//! Deals, users and accounts are made here; each domain adds its part in its own module.
mod crm;
mod deal_data;
mod directory;
mod placements;
use levd_domain::deal::{FinancialsWrite, LOAN_TYPES, NewDeal};
use levd_domain::scope::{KeyPermission, Role, Tier};
use levd_domain::time_fmt::now_rfc3339;
use levd_store::{DealPropertyRow, Store};
use serde_json::Value;

/// What the domain seeders build on.
#[derive(Debug, Clone)]
pub struct DemoContext {
    /// The brokerage account the demo key acts for.
    pub broker_account_id: i64,
    /// A second (lender) account, for multi-account users and isolation.
    pub lender_account_id: i64,
    /// Users: Ana (admin of the broker, member of the lender), Ben (member), Chloe (viewer),
    /// Dev (admin of the lender).
    pub ana: i64,
    pub ben: i64,
    pub chloe: i64,
    pub dev: i64,
    /// Deals of the broker account, in creation order.
    pub deal_ids: Vec<i64>,
    /// The broker's "Financing" pipeline.
    pub pipeline_id: i64,
    /// Where document files go (`--data-dir`).
    pub data_dir: std::path::PathBuf,
}

#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub account_slug: String,
    pub deal_count: usize,
    pub api_key: String,
    /// E-mail address and password of the demo admin on the sign-in page.
    pub sign_in: (String, String),
}

const PROPERTIES: &[(&str, &str, &str, &str, &str)] = &[
    ("Harbor Point", "40 Quay St", "Portland", "ME", "04101"),
    ("Maple Court", "1120 Maple Ave", "Charlotte", "NC", "28203"),
    ("Riverside Lofts", "88 River Rd", "Austin", "TX", "78701"),
    ("Cedar Ridge Apartments", "500 Cedar Ridge Dr", "Boise", "ID", "83702"),
    ("Union Square Retail", "15 Union Sq", "Denver", "CO", "80202"),
    ("Lakeshore Industrial", "2300 Lakeshore Blvd", "Cleveland", "OH", "44114"),
    ("Sunset Medical Plaza", "901 Sunset Blvd", "Phoenix", "AZ", "85004"),
    ("Beacon Hill Offices", "77 Beacon St", "Boston", "MA", "02108"),
    ("Palm Grove Villas", "3400 Palm Grove Way", "Tampa", "FL", "33602"),
    ("Northgate Storage", "1800 Northgate Pkwy", "Columbus", "OH", "43215"),
    ("Granite Works", "61 Quarry Ln", "Salt Lake City", "UT", "84101"),
    ("Magnolia Commons", "420 Magnolia St", "Savannah", "GA", "31401"),
    ("Pier 9 Hotel", "9 Embarcadero", "San Francisco", "CA", "94111"),
    ("Oakwood Senior Living", "250 Oakwood Ave", "Nashville", "TN", "37203"),
];

const VERBS: &[(&str, &str, &str)] = &[
    ("Acquisition", "acquisition", "value_add"),
    ("Refinance", "refinance", "stabilized"),
    ("Construction Loan", "new_construction", "construction"),
    ("Bridge Recap", "refinance", "value_add"),
    ("Land Acquisition", "acquisition", "land"),
];

const STAGES: &[(&str, &str)] = &[
    ("new", "New"),
    ("quoting", "Quoting"),
    ("term_sheet", "Term Sheet"),
    ("closing", "Closing"),
    ("closed", "Closed"),
];

async fn user(store: &Store, email: &str, first: &str, last: &str, subject: &str) -> Result<i64, String> {
    let u = store
        .create_user(&uuid::Uuid::new_v4().to_string(), email, Some(first), Some(last), Some(subject))
        .await
        .map_err(|e| e.to_string())?;
    Ok(u.id)
}

/// Creates the demo data set unless the database already holds accounts.
pub async fn seed_if_empty(store: &Store, data_dir: &std::path::Path) -> Result<Option<DemoSummary>, String> {
    let err = |e: levd_store::StoreError| e.to_string();
    if store.count_accounts().await.map_err(err)? > 0 {
        tracing::info!("--demo: the database already holds data; nothing seeded");
        return Ok(None);
    }
    let now = now_rfc3339();
    let broker = store
        .create_account(
            &uuid::Uuid::new_v4().to_string(),
            "harbor-capital",
            "Harbor Capital Advisors",
            Some("brokerage"),
            Tier::Enterprise,
        )
        .await
        .map_err(err)?;
    let lender = store
        .create_account(
            &uuid::Uuid::new_v4().to_string(),
            "summit-lending",
            "Summit Lending Partners",
            Some("lender"),
            Tier::Standard,
        )
        .await
        .map_err(err)?;
    let ana = user(store, "ana.ruiz@harborcap.example", "Ana", "Ruiz", "demo|ana").await?;
    let ben = user(store, "ben.okafor@harborcap.example", "Ben", "Okafor", "demo|ben").await?;
    let chloe = user(store, "chloe.martin@harborcap.example", "Chloe", "Martin", "demo|chloe").await?;
    let dev = user(store, "dev.patel@summitlending.example", "Dev", "Patel", "demo|dev").await?;
    // A password for the sign-in page of the built-in authorization server (MCP clients).
    let password = format!("demo-{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let hash = levd_oauth::password::hash(&password)?;
    store.set_password(ana, &hash, "demo|ana").await.map_err(err)?;
    store.upsert_membership(ana, broker.id, Role::Admin).await.map_err(err)?;
    store.upsert_membership(ben, broker.id, Role::Member).await.map_err(err)?;
    store.upsert_membership(chloe, broker.id, Role::Viewer).await.map_err(err)?;
    store.upsert_membership(ana, lender.id, Role::Member).await.map_err(err)?;
    store.upsert_membership(dev, lender.id, Role::Admin).await.map_err(err)?;

    let financing = store.insert_pipeline(broker.id, "Financing", "financing", STAGES, &now).await.map_err(err)?;
    store
        .insert_pipeline(
            lender.id,
            "Credit Review",
            "financing",
            &[("screening", "Screening"), ("approved", "Approved")],
            &now,
        )
        .await
        .map_err(err)?;

    let mut deal_ids = Vec::new();
    for i in 0..42usize {
        let (name, address, city, state, zip) = PROPERTIES[i % PROPERTIES.len()];
        let (verb, tx, plan) = VERBS[i % VERBS.len()];
        let loan_type = match plan {
            "construction" => "construction",
            "land" => "land",
            "value_add" => {
                if i % 2 == 0 {
                    "heavy_bridge"
                } else {
                    "light_bridge"
                }
            }
            _ => "permanent",
        };
        debug_assert!(LOAN_TYPES.contains(&loan_type));
        let amount = 2_500_000.0 + ((i * 7_919) % 48) as f64 * 750_000.0;
        let phase = if i >= PROPERTIES.len() { format!(" Phase {}", i / PROPERTIES.len() + 1) } else { String::new() };
        let deal = NewDeal {
            title: format!("{name} {verb}{phase}"),
            loan_amount: Some(amount),
            loan_type: Some(loan_type),
            transaction_type: Some(tx),
            business_plan: Some(plan),
            description: Some(format!("{verb} financing for {name} in {city}, {state}.")),
            estimated_close_date: Some(format!("2027-{:02}-{:02}", i % 12 + 1, i % 27 + 1)),
            pipeline_ids: vec![],
            financials: Some(FinancialsWrite {
                values: vec![
                    ("purchase_price", Some((amount * 1.35).round())),
                    ("estimated_value", Some((amount * 1.5).round())),
                    ("land_cost", Some((amount * 0.2).round())),
                ],
            }),
        };
        let d = store.insert_deal(broker.id, &deal, &now).await.map_err(err)?;
        store
            .set_financial_values(
                d.id,
                &[
                    ("in_place_noi", Value::from((amount * 0.07).round())),
                    ("going_in_cap_rate", Value::from(0.055 + (i % 5) as f64 * 0.004)),
                    ("stabilized_occupancy", Value::from(0.9 + (i % 4) as f64 * 0.02)),
                    ("cash_out", Value::from(tx == "refinance")),
                ],
                &now,
            )
            .await
            .map_err(err)?;
        store
            .insert_property(
                d.id,
                &DealPropertyRow {
                    deal_id: d.id,
                    id: 0,
                    name: Some(name.to_string()),
                    address: Some(address.to_string()),
                    city: Some(city.to_string()),
                    state: Some(state.to_string()),
                    zip: Some(zip.to_string()),
                    asset_type_id: Some((i % 6 + 1) as i64),
                    units: Some((40 + (i * 13) % 260) as i64),
                    square_footage: Some((30_000 + (i * 4_111) % 200_000) as f64),
                    year_built: Some((1965 + (i * 7) % 58) as i64),
                },
            )
            .await
            .map_err(err)?;
        store.insert_team_member(d.id, ana, "deal_lead", true).await.map_err(err)?;
        store.insert_team_member(d.id, if i % 2 == 0 { ben } else { chloe }, "originator", false).await.map_err(err)?;
        store.place_deal_in_pipeline(d.id, financing, (i % STAGES.len()) as i64, &now).await.map_err(err)?;
        if i % 9 == 8 {
            store.archive_deal(broker.id, d.id, &now).await.map_err(err)?;
        }
        deal_ids.push(d.id);
    }
    let count = deal_ids.len();
    let ctx = DemoContext {
        broker_account_id: broker.id,
        lender_account_id: lender.id,
        ana,
        ben,
        chloe,
        dev,
        deal_ids,
        pipeline_id: financing,
        data_dir: data_dir.to_path_buf(),
    };
    directory::seed(store, &ctx).await?;
    crm::seed(store, &ctx).await?;
    placements::seed(store, &ctx).await?;
    deal_data::seed(store, &ctx).await?;
    let service = levd_service::Service::new(
        store.clone(),
        std::sync::Arc::new(levd_domain::limits::RateLimitConfig::default()),
        std::sync::Arc::new(|| {}),
    );
    let key = service
        .issue_key(ana, broker.id, broker.tier(), "Demo key", KeyPermission::FullAccess)
        .await
        .map_err(|e| e.message)?;
    Ok(Some(DemoSummary {
        account_slug: broker.slug,
        deal_count: count,
        api_key: key.secret.expose().to_string(),
        sign_in: ("ana.ruiz@harborcap.example".to_owned(), password),
    }))
}
