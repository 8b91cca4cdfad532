//! `--demo`: a realistic data set on an empty database, so every endpoint has something to show
//! in both demo accounts. Deals, users and accounts are made here; each domain adds its part in
//! its own module. Every figure of a deal comes from one model of its property (`model`), and
//! every date is derived from fixed base dates, so two runs build the same history.
mod crm;
mod deal_data;
mod directory;
pub mod lenders;
pub mod model;
mod placements;
use levd_domain::deal::{FinancialsWrite, LOAN_TYPES, NewDeal};
use levd_domain::scope::{KeyPermission, Role, Tier};
use levd_domain::time_fmt::format_timestamp;
use levd_store::{DealPropertyRow, Store};
use serde_json::Value;

use model::{Model, ratio4};

/// Seconds in a day.
pub const DAY: i64 = 86_400;
/// 2026-01-12T15:00:00Z: the brokerage's first demo deal arrives.
const BROKER_BASE: i64 = 1_768_230_000;
/// 2026-03-02T14:00:00Z: the lender's first demo loan request arrives.
const LENDER_BASE: i64 = 1_772_460_000;

/// The wire form of an instant given in seconds since the Unix epoch.
pub fn stamp(unix: i64) -> String {
    format_timestamp(time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH))
}

/// The calendar date (`YYYY-MM-DD`) of an instant.
pub fn date(unix: i64) -> String {
    stamp(unix)[..10].to_string()
}

/// A deal of the demo, with the model its figures come from.
#[derive(Debug, Clone)]
pub struct DemoDeal {
    pub id: i64,
    pub title: String,
    pub property: &'static (&'static str, &'static str, &'static str, &'static str, &'static str),
    pub model: Model,
    pub loan_type: &'static str,
    /// When the deal was created (seconds since the epoch).
    pub created: i64,
    pub archived: bool,
}

/// One demo account and what was made in it.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub id: i64,
    /// Its deals, in creation order.
    pub deals: Vec<DemoDeal>,
    /// Its main pipeline.
    pub pipeline_id: i64,
    /// The user who leads its deals.
    pub lead: i64,
    /// Users who work on its deals beside the lead.
    pub team: Vec<i64>,
    /// Before this instant only reference data (companies, contacts) exists.
    pub base: i64,
}

/// What the domain seeders build on.
#[derive(Debug, Clone)]
pub struct DemoContext {
    /// The brokerage account the demo key acts for.
    pub broker: DemoAccount,
    /// A second (lender) account, for multi-account users and isolation.
    pub lender: DemoAccount,
    /// Users: Ana (admin of the broker, member of the lender), Ben (member), Chloe (viewer),
    /// Dev (admin of the lender).
    pub ana: i64,
    pub ben: i64,
    pub chloe: i64,
    pub dev: i64,
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

type Property = (&'static str, &'static str, &'static str, &'static str, &'static str);

const PROPERTIES: &[Property] = &[
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

/// Loan requests on the lender's credit desk.
const LENDER_PROPERTIES: &[Property] = &[
    ("Willow Creek Townhomes", "14 Willow Creek Rd", "Raleigh", "NC", "27601"),
    ("Foundry Row Apartments", "300 Foundry St", "Pittsburgh", "PA", "15222"),
    ("Mesa Verde Flats", "2150 Mesa Verde Dr", "Albuquerque", "NM", "87102"),
    ("Prairie Wind Commons", "77 Prairie Wind Blvd", "Omaha", "NE", "68102"),
    ("Bayfront Residences", "501 Bayfront Pkwy", "Pensacola", "FL", "32502"),
    ("Summit Ridge Apartments", "9 Summit Ridge Ct", "Spokane", "WA", "99201"),
    ("Cobblestone Place", "42 Cobblestone Way", "Richmond", "VA", "23219"),
    ("Ironwood Lofts", "1600 Ironwood Ave", "Tucson", "AZ", "85701"),
];

const LENDER_STAGES: &[(&str, &str)] = &[
    ("screening", "Screening"),
    ("underwriting", "Underwriting"),
    ("committee", "Credit Committee"),
    ("approved", "Approved"),
];

/// How one account's deals are laid out.
struct Plan {
    properties: &'static [Property],
    count: usize,
    /// Offsets the property models, so the accounts show different figures.
    salt: usize,
    base: i64,
    /// Days between two deals.
    spacing: i64,
    stages: usize,
    /// Every n-th deal is archived.
    archive_every: Option<usize>,
}

/// Creates one account's deals from their models: financials, property, team, pipeline stage
/// and a history spread over months.
async fn seed_deals(store: &Store, account: &mut DemoAccount, plan: &Plan) -> Result<(), String> {
    let err = |e: levd_store::StoreError| e.to_string();
    for i in 0..plan.count {
        let property = &plan.properties[i % plan.properties.len()];
        let (name, address, city, state, zip) = *property;
        let (verb, tx, business_plan) = VERBS[i % VERBS.len()];
        let loan_type = match business_plan {
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
        let m = Model::new(i, plan.salt);
        let created = plan.base + i as i64 * plan.spacing * DAY + ((i * 37) % 9) as i64 * 3_600;
        let updated = created + (2 + (i * 5) % 24) as i64 * DAY + 5_400;
        let at = stamp(created);
        let phase = if i >= plan.properties.len() {
            format!(" Phase {}", i / plan.properties.len() + 1)
        } else {
            String::new()
        };
        let deal = NewDeal {
            title: format!("{name} {verb}{phase}"),
            loan_amount: Some(m.loan_amount),
            loan_type: Some(loan_type),
            transaction_type: Some(tx),
            business_plan: Some(business_plan),
            description: Some(format!("{verb} financing for {name}, a {}-unit property in {city}, {state}.", m.units)),
            estimated_close_date: Some(date(created + (75 + (i * 11) % 60) as i64 * DAY)),
            pipeline_ids: vec![],
            financials: Some(FinancialsWrite {
                values: vec![
                    ("purchase_price", Some(m.purchase_price)),
                    ("estimated_value", Some(m.value)),
                    ("land_cost", Some((m.value * 0.15 / 1_000.0).round() * 1_000.0)),
                ],
            }),
        };
        let d = store.insert_deal(account.id, &deal, &at).await.map_err(err)?;
        store
            .set_financial_values(
                d.id,
                &[
                    ("in_place_noi", Value::from(m.noi)),
                    ("going_in_cap_rate", Value::from(m.cap_rate)),
                    ("going_in_cap_rate_as_of_date", Value::from(date(created))),
                    ("stabilized_occupancy", Value::from(ratio4(m.occupancy.max(0.95)))),
                    ("cash_out", Value::from(tx == "refinance")),
                ],
                &at,
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
                    units: Some(m.units),
                    square_footage: Some((m.units * 850) as f64),
                    year_built: Some(m.year_built),
                },
            )
            .await
            .map_err(err)?;
        store.insert_team_member(d.id, account.lead, "deal_lead", true).await.map_err(err)?;
        if !account.team.is_empty() {
            let originator = account.team[i % account.team.len()];
            store.insert_team_member(d.id, originator, "originator", false).await.map_err(err)?;
        }
        store
            .place_deal_in_pipeline(d.id, account.pipeline_id, (i % plan.stages) as i64, &stamp(updated))
            .await
            .map_err(err)?;
        store.set_deal_updated_at(d.id, &stamp(updated)).await.map_err(err)?;
        let archived = plan.archive_every.is_some_and(|n| i % n == n - 1);
        if archived {
            store.archive_deal(account.id, d.id, &stamp(updated)).await.map_err(err)?;
        }
        account.deals.push(DemoDeal {
            id: d.id,
            title: d.title.clone(),
            property,
            model: m,
            loan_type,
            created,
            archived,
        });
    }
    Ok(())
}

/// Notes on each deal, written by its team as the deal moved along; the figures quoted are
/// the deal's own.
async fn deal_notes(store: &Store, account: &DemoAccount) -> Result<(), String> {
    let err = |e: levd_store::StoreError| e.to_string();
    for (i, d) in account.deals.iter().enumerate() {
        let m = &d.model;
        let (name, _, city, _, _) = *d.property;
        let author = |k: usize| {
            if account.team.is_empty() || k.is_multiple_of(2) {
                account.lead
            } else {
                account.team[(i + k) % account.team.len()]
            }
        };
        let notes = [
            format!(
                "Intake call with the sponsor: {name} in {city}, {} units at {:.1}% occupancy.",
                m.units,
                m.occupancy * 100.0
            ),
            format!(
                "T-12 ties to the rent roll: NOI {} on EGI {}. At a {:.2}% cap rate that is {} of value.",
                money(m.noi),
                money(m.egi),
                m.cap_rate * 100.0,
                money(m.value)
            ),
            format!(
                "Sizing: {} is {:.1}% LTV with a {:.1}% debt yield; lenders should be comfortable.",
                money(m.loan_amount),
                m.ltv * 100.0,
                m.debt_yield() * 100.0
            ),
        ];
        for (k, text) in notes.iter().enumerate().take(1 + i % 3) {
            let at = stamp(d.created + (1 + k as i64 * 2) * DAY + 3_600);
            store.insert_note(account.id, "deal", d.id, author(k), text, &at).await.map_err(err)?;
        }
    }
    Ok(())
}

/// Whole dollars with thousands separators (`$1,234,567`).
pub fn money(x: f64) -> String {
    let whole = x.round() as i64;
    let digits = whole.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{}${out}", if whole < 0 { "-" } else { "" })
}

/// Creates the demo data set unless the database already holds accounts.
pub async fn seed_if_empty(store: &Store, data_dir: &std::path::Path) -> Result<Option<DemoSummary>, String> {
    let err = |e: levd_store::StoreError| e.to_string();
    if store.count_accounts().await.map_err(err)? > 0 {
        tracing::info!("--demo: the database already holds data; nothing seeded");
        return Ok(None);
    }
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

    let financing = store
        .insert_pipeline(broker.id, "Financing", "financing", STAGES, &stamp(BROKER_BASE - 30 * DAY))
        .await
        .map_err(err)?;
    let credit = store
        .insert_pipeline(lender.id, "Credit Review", "financing", LENDER_STAGES, &stamp(LENDER_BASE - 30 * DAY))
        .await
        .map_err(err)?;

    let mut broker_demo = DemoAccount {
        id: broker.id,
        deals: Vec::new(),
        pipeline_id: financing,
        lead: ana,
        team: vec![ben, chloe],
        base: BROKER_BASE,
    };
    let plan = Plan {
        properties: PROPERTIES,
        count: 42,
        salt: 0,
        base: BROKER_BASE,
        spacing: 6,
        stages: STAGES.len(),
        archive_every: Some(9),
    };
    seed_deals(store, &mut broker_demo, &plan).await?;
    let mut lender_demo = DemoAccount {
        id: lender.id,
        deals: Vec::new(),
        pipeline_id: credit,
        lead: dev,
        team: vec![ana],
        base: LENDER_BASE,
    };
    let plan = Plan {
        properties: LENDER_PROPERTIES,
        count: LENDER_PROPERTIES.len(),
        salt: 100,
        base: LENDER_BASE,
        spacing: 19,
        stages: LENDER_STAGES.len(),
        archive_every: None,
    };
    seed_deals(store, &mut lender_demo, &plan).await?;
    deal_notes(store, &broker_demo).await?;
    deal_notes(store, &lender_demo).await?;
    let count = broker_demo.deals.len();
    let ctx = DemoContext {
        broker: broker_demo,
        lender: lender_demo,
        ana,
        ben,
        chloe,
        dev,
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
    // Ana's key in the lender account, so its key list is not empty either.
    service
        .issue_key(ana, lender.id, lender.tier(), "Demo key (credit desk)", KeyPermission::ReadOnly)
        .await
        .map_err(|e| e.message)?;
    Ok(Some(DemoSummary {
        account_slug: broker.slug,
        deal_count: count,
        api_key: key.secret.expose().to_string(),
        sign_in: ("ana.ruiz@harborcap.example".to_owned(), password),
    }))
}
