//! Demo deal data for the first deals of the brokerage: vaults (Resources, the default Deal
//! Room, a Closing room on the first deal) holding real small files, a checklist per Deal Room
//! with sections and tasks in several states, a published and a draft memo, and an index of
//! facts extracted from those files (with disagreeing candidates, so some facts need review).
//!
//! The files are written to the data directory named by `LEV_DATA_DIR`, else `lev-data` (the
//! default of `levd serve --data-dir`): the seeder is handed only the store.
use std::path::PathBuf;
use std::sync::Arc;

use levd_domain::deal_data::{
    ENTITY_DEAL, ENTITY_PROPERTY, ENTITY_SPONSOR, NewMemo, NewObservation, NewTask, SOURCE_DOCUMENT, TaskParent,
    TaskPlace, render_memo_pdf,
};
use levd_domain::limits::RateLimitConfig;
use levd_domain::time_fmt::now_rfc3339;
use levd_service::Service;
use levd_store::Store;
use serde_json::Value;

use super::DemoContext;

/// How many of the brokerage's deals get a data room.
const DEALS_WITH_DATA: usize = 6;

/// Document type ids of the catalog seeded by the migration.
const TYPE_RENT_ROLL: i64 = 1;
const TYPE_OPERATING_STATEMENT: i64 = 2;
const TYPE_APPRAISAL: i64 = 3;
const TYPE_PSA: i64 = 4;
const TYPE_ENVIRONMENTAL: i64 = 5;
const TYPE_SPONSOR_FINANCIALS: i64 = 10;
const TYPE_INSURANCE: i64 = 9;

/// Metric ids of the catalog seeded by the migration.
const M_DEAL_NAME: i64 = 1;
const M_LOAN_AMOUNT: i64 = 2;
const M_PURCHASE_PRICE: i64 = 3;
const M_APPRAISED_VALUE: i64 = 4;
const M_CAP_RATE: i64 = 5;
const M_LTV: i64 = 6;
const M_PROPERTY_NAME: i64 = 20;
const M_PROPERTY_ADDRESS: i64 = 21;
const M_UNITS: i64 = 22;
const M_YEAR_BUILT: i64 = 23;
const M_GPR: i64 = 30;
const M_EGI: i64 = 31;
const M_OPEX: i64 = 32;
const M_NOI: i64 = 33;
const M_OCCUPANCY: i64 = 40;
const M_AVG_RENT: i64 = 42;
const M_SPONSOR_NAME: i64 = 50;
const M_SPONSOR_NET_WORTH: i64 = 51;
const M_SPONSOR_LIQUIDITY: i64 = 52;

const SPONSORS: &[&str] = &[
    "Quayside Residential Partners",
    "Maple Street Capital",
    "Riverbend Development Group",
    "Cedar Peak Investors",
    "Union Retail Holdings",
    "Great Lakes Logistics Fund",
];

fn data_dir(ctx: &DemoContext) -> PathBuf {
    ctx.data_dir.clone()
}

fn money(x: f64) -> String {
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

struct Figures {
    units: i64,
    year_built: i64,
    avg_rent: f64,
    occupancy: f64,
    gpr: f64,
    egi: f64,
    opex: f64,
    noi: f64,
    purchase_price: f64,
    appraised: f64,
    loan_amount: f64,
}

impl Figures {
    fn new(i: usize, loan_amount: f64, units: Option<i64>, year_built: Option<i64>) -> Figures {
        let units = units.unwrap_or(120);
        let avg_rent = 1_250.0 + (i as f64) * 95.0;
        let occupancy = 0.91 + (i % 4) as f64 * 0.015;
        let gpr = avg_rent * units as f64 * 12.0;
        let egi = gpr * occupancy * 0.98;
        let opex = egi * 0.41;
        let noi = egi - opex;
        Figures {
            units,
            year_built: year_built.unwrap_or(1998),
            avg_rent,
            occupancy,
            gpr,
            egi,
            opex,
            noi,
            purchase_price: (loan_amount * 1.35).round(),
            appraised: (loan_amount * 1.5).round(),
            loan_amount,
        }
    }
}

fn rent_roll_csv(property: &str, f: &Figures) -> String {
    let mut out =
        format!("# Rent roll - {property} - as of 2026-05-01\nunit,type,sq_ft,status,lease_end,monthly_rent\n");
    let occupied = (f.units as f64 * f.occupancy).round() as i64;
    for u in 1..=f.units.min(60) {
        let kind = if u % 3 == 0 { "2BR/2BA" } else { "1BR/1BA" };
        let sf = if u % 3 == 0 { 1_050 } else { 740 };
        let vacant = u > occupied.min(60);
        let rent = if vacant { 0.0 } else { f.avg_rent + ((u % 5) as f64 - 2.0) * 35.0 };
        out.push_str(&format!(
            "{:03},{kind},{sf},{},{},{:.2}\n",
            100 + u,
            if vacant { "vacant" } else { "occupied" },
            if vacant { String::new() } else { format!("2027-{:02}-28", u % 12 + 1) },
            rent
        ));
    }
    out.push_str(&format!("# total units {}, physical occupancy {:.1}%\n", f.units, f.occupancy * 100.0));
    out
}

fn t12_csv(property: &str, f: &Figures) -> String {
    format!(
        "# Trailing twelve months operating statement - {property} - May 2025 to April 2026\n\
         line_item,amount\n\
         Gross potential rent,{:.0}\n\
         Vacancy and credit loss,{:.0}\n\
         Other income,{:.0}\n\
         Effective gross income,{:.0}\n\
         Payroll,{:.0}\n\
         Repairs and maintenance,{:.0}\n\
         Utilities,{:.0}\n\
         Real estate taxes,{:.0}\n\
         Insurance,{:.0}\n\
         Management fee,{:.0}\n\
         Total operating expenses,{:.0}\n\
         Net operating income,{:.0}\n",
        f.gpr,
        -(f.gpr - f.egi / 0.98 * 0.98) - f.gpr * 0.02,
        f.gpr * 0.02,
        f.egi,
        f.opex * 0.28,
        f.opex * 0.14,
        f.opex * 0.12,
        f.opex * 0.26,
        f.opex * 0.08,
        f.opex * 0.12,
        f.opex,
        f.noi
    )
}

fn appraisal_text(property: &str, address: &str, f: &Figures) -> String {
    format!(
        "Subject property: {property}, {address}.\n\
         Improvements: {} residential units built in {}.\n\n\
         Income approach: trailing twelve months net operating income of {} capitalised at {:.2}% \
         indicates an as-is market value of {}.\n\
         Sales comparison approach supports a range of {} to {}.\n\n\
         Reconciled as-is market value: {} as of April 30, 2026.\n\
         Physical occupancy at inspection: {:.1}%.",
        f.units,
        f.year_built,
        money(f.noi),
        f.noi / f.appraised * 100.0,
        money(f.appraised),
        money(f.appraised * 0.95),
        money(f.appraised * 1.04),
        money(f.appraised),
        f.occupancy * 100.0,
    )
}

fn memo_body(title: &str, property: &str, sponsor: &str, f: &Figures) -> String {
    format!(
        "Executive summary\n\
         {sponsor} requests {} of first-mortgage financing for {title}. The loan is sized at {:.0}% \
         of the {} appraised value and {:.0}% of the {} purchase price.\n\n\
         The property\n\
         {property} is a {}-unit residential community built in {}, {:.1}% occupied at an average \
         in-place rent of {} per unit.\n\n\
         Operating history\n\
         Trailing twelve months: effective gross income {}, operating expenses {}, net operating \
         income {}. Debt yield on the requested loan: {:.1}%.\n\n\
         Sponsor\n\
         {sponsor} owns and operates comparable assets in the region and will retain management.\n\n\
         Request\n\
         Term of five years, interest-only for twenty-four months, non-recourse with standard carve-outs.",
        money(f.loan_amount),
        f.loan_amount / f.appraised * 100.0,
        money(f.appraised),
        f.loan_amount / f.purchase_price * 100.0,
        money(f.purchase_price),
        f.units,
        f.year_built,
        f.occupancy * 100.0,
        money(f.avg_rent),
        money(f.egi),
        money(f.opex),
        money(f.noi),
        f.noi / f.loan_amount * 100.0,
    )
}

#[allow(clippy::too_many_arguments)]
fn extraction(
    metric_id: i64,
    entity: (&str, i64, Option<String>),
    value: String,
    context: &str,
    confidence: f64,
    weight: i64,
    document_id: i64,
    pages: &[i64],
) -> NewObservation {
    let (entity_type, entity_id, entity_ref) = entity;
    NewObservation {
        metric_id,
        entity_type: Some(entity_type.to_string()),
        entity_id: Some(entity_id),
        entity_ref,
        group_ref: None,
        original_text: Some(value.clone()),
        value_text: value,
        context: Some(context.to_string()),
        summary: None,
        period_type: None,
        period_value: None,
        confidence: Some(confidence),
        weight,
        source_type: SOURCE_DOCUMENT,
        document_id: Some(document_id),
        pages: pages.to_vec(),
        created_by_user_id: None,
    }
}

pub async fn seed(store: &Store, ctx: &DemoContext) -> Result<(), String> {
    let service =
        Service::new(store.clone(), Arc::new(RateLimitConfig::default()), Arc::new(|| {})).with_data_dir(data_dir(ctx));
    let err = |e: levd_domain::ApiError| e.message;
    let serr = |e: levd_store::StoreError| e.to_string();
    let account = ctx.broker_account_id;
    let now = now_rfc3339();

    for (i, &deal_id) in ctx.deal_ids.iter().take(DEALS_WITH_DATA).enumerate() {
        let deal = store.deal(account, deal_id).await.map_err(serr)?.ok_or("demo deal missing")?;
        let property = store.properties_of(&[deal_id]).await.map_err(serr)?.into_iter().next();
        let (property_id, property_name, address) = match &property {
            Some(p) => (
                p.id,
                p.name.clone().unwrap_or_else(|| deal.title.clone()),
                format!(
                    "{}, {}, {} {}",
                    p.address.clone().unwrap_or_default(),
                    p.city.clone().unwrap_or_default(),
                    p.state.clone().unwrap_or_default(),
                    p.zip.clone().unwrap_or_default()
                ),
            ),
            None => (0, deal.title.clone(), String::new()),
        };
        let f = Figures::new(
            i,
            deal.loan_amount.unwrap_or(5_000_000.0),
            property.as_ref().and_then(|p| p.units),
            property.as_ref().and_then(|p| p.year_built),
        );
        let sponsor = SPONSORS[i % SPONSORS.len()];

        // Documents (their vaults and folders are created on the way).
        let add = |vault: Option<&'static str>, folder: Option<&'static str>, name: String, bytes: Vec<u8>, ty: i64| {
            let service = &service;
            async move {
                let added = service.add_document(deal_id, vault, folder, &name, &bytes, Some(ty)).await.map_err(err)?;
                added.document.get("id").and_then(Value::as_i64).ok_or_else(|| "document without id".to_string())
            }
        };
        let rent_roll = add(
            Some("Deal Room"),
            Some("Financials/2026"),
            "Rent Roll May 2026.csv".into(),
            rent_roll_csv(&property_name, &f).into_bytes(),
            TYPE_RENT_ROLL,
        )
        .await?;
        let t12 = add(
            Some("Deal Room"),
            Some("Financials/2026"),
            "T12 Operating Statement Apr 2026.csv".into(),
            t12_csv(&property_name, &f).into_bytes(),
            TYPE_OPERATING_STATEMENT,
        )
        .await?;
        let appraisal = add(
            Some("Deal Room"),
            Some("Third-Party Reports"),
            format!("{property_name} Appraisal Summary.pdf"),
            render_memo_pdf(
                &format!("{property_name} - Appraisal Summary"),
                "Prepared April 2026",
                &appraisal_text(&property_name, &address, &f),
            ),
            TYPE_APPRAISAL,
        )
        .await?;
        let sponsor_doc = add(
            None,
            Some("Sponsor"),
            format!("{sponsor} - Statement of Financial Condition.txt"),
            format!(
                "{sponsor}\nStatement of financial condition as of December 31, 2025\n\n\
                 Total assets: {}\nTotal liabilities: {}\nNet worth: {}\nCash and marketable securities: {}\n",
                money(f.purchase_price * 6.0),
                money(f.purchase_price * 3.4),
                money(f.purchase_price * 2.6),
                money(f.loan_amount * 0.35),
            )
            .into_bytes(),
            TYPE_SPONSOR_FINANCIALS,
        )
        .await?;
        let psa = if i == 0 {
            Some(
                add(
                    Some("Closing"),
                    None,
                    "Purchase and Sale Agreement (executed).pdf".into(),
                    render_memo_pdf(
                        "Purchase and Sale Agreement",
                        "Executed copy",
                        &format!(
                            "Seller agrees to sell and Purchaser agrees to buy {property_name}, {address}, \
                             for a purchase price of {}.\nEarnest money: {}.\nClosing date: on or before 2026-09-30.",
                            money(f.purchase_price),
                            money(f.purchase_price * 0.02)
                        ),
                    ),
                    TYPE_PSA,
                )
                .await?,
            )
        } else {
            None
        };

        // The checklist of the default Deal Room.
        let vaults = store.list_vaults(account, deal_id).await.map_err(serr)?;
        let room = vaults.iter().find(|v| v.is_default).ok_or("demo deal without a Deal Room")?;
        let resources = vaults.iter().find(|v| v.vault_type == "resources").ok_or("demo deal without Resources")?;
        let checklist = store.checklist_of_vault(account, room.id).await.map_err(serr)?.ok_or("no checklist")?;
        let financials =
            store.insert_checklist_section(account, checklist, "Financials", 1, (None, None)).await.map_err(serr)?;
        let reports = store
            .insert_checklist_section(
                account,
                checklist,
                "Third-Party Reports",
                2,
                (Some("2026-06-01"), Some("2026-07-15")),
            )
            .await
            .map_err(serr)?;
        let closing = store
            .insert_checklist_section(
                account,
                checklist,
                "Legal and Closing",
                3,
                (Some("2026-08-01"), Some("2026-09-30")),
            )
            .await
            .map_err(serr)?;
        let task = |section: Option<i64>,
                    parent: Option<i64>,
                    title: &str,
                    status: &'static str,
                    due: &str,
                    types: Vec<i64>| {
            let t = NewTask {
                parent: match (parent, section) {
                    (Some(p), _) => TaskParent::Task(p),
                    (None, Some(s)) => TaskParent::Section(s),
                    (None, None) => TaskParent::Checklist(checklist),
                },
                title: title.to_string(),
                description: None,
                status,
                assigned_user_id: None,
                due_date: Some(due.to_string()),
                document_type_ids: types,
            };
            let place = TaskPlace { checklist_id: checklist, section_id: section, parent_task_id: parent };
            (t, place)
        };
        let insert = async |spec: (NewTask, TaskPlace), assignee: Option<i64>| -> Result<i64, String> {
            let (mut t, place) = spec;
            t.assigned_user_id = assignee;
            store.insert_task(account, place, &t, &now).await.map_err(serr)
        };
        let t_rent = insert(
            task(Some(financials), None, "Current rent roll", "approved", "2026-05-15", vec![TYPE_RENT_ROLL]),
            Some(ctx.ben),
        )
        .await?;
        let t_t12 = insert(
            task(
                Some(financials),
                None,
                "T-12 operating statement",
                "reviewing",
                "2026-05-20",
                vec![TYPE_OPERATING_STATEMENT],
            ),
            Some(ctx.ben),
        )
        .await?;
        let t_budget =
            insert(task(Some(financials), None, "2026 operating budget", "requested", "2026-06-10", vec![12]), None)
                .await?;
        let t_sponsor = insert(
            task(
                Some(financials),
                None,
                "Sponsor financial statement",
                "updates_needed",
                "2026-06-05",
                vec![TYPE_SPONSOR_FINANCIALS],
            ),
            Some(ctx.ana),
        )
        .await?;
        insert(
            task(Some(financials), Some(t_sponsor), "Signed and dated by the guarantor", "to_do", "2026-06-05", vec![]),
            None,
        )
        .await?;
        insert(
            task(Some(financials), Some(t_sponsor), "Schedule of real estate owned", "requested", "2026-06-05", vec![]),
            None,
        )
        .await?;
        let t_appraisal = insert(
            task(Some(reports), None, "Appraisal", "approved", "2026-06-30", vec![TYPE_APPRAISAL]),
            Some(ctx.ana),
        )
        .await?;
        insert(
            task(
                Some(reports),
                None,
                "Phase I environmental site assessment",
                "requested",
                "2026-07-01",
                vec![TYPE_ENVIRONMENTAL],
            ),
            None,
        )
        .await?;
        insert(task(Some(reports), None, "Property condition report", "to_do", "2026-07-10", vec![6]), None).await?;
        let t_psa = insert(
            task(Some(closing), None, "Executed purchase and sale agreement", "approved", "2026-08-05", vec![TYPE_PSA]),
            None,
        )
        .await?;
        insert(task(Some(closing), None, "Evidence of insurance", "to_do", "2026-09-15", vec![TYPE_INSURANCE]), None)
            .await?;
        insert(task(Some(closing), None, "Title commitment", "cancelled", "2026-09-01", vec![8]), None).await?;
        insert(task(None, None, "Kick-off call with the lender", "approved", "2026-05-05", vec![]), Some(ctx.ana))
            .await?;

        // The Closing room of the first deal has a short checklist of its own.
        if let Some(closing_room) = vaults.iter().find(|v| v.title.as_deref() == Some("Closing")) {
            let list = store.checklist_of_vault(account, closing_room.id).await.map_err(serr)?.ok_or("no checklist")?;
            for (n, (title, status)) in
                [("Wire instructions verified by phone", "to_do"), ("Closing statement approved", "reviewing")]
                    .into_iter()
                    .enumerate()
            {
                let t = NewTask {
                    parent: TaskParent::Checklist(list),
                    title: title.into(),
                    description: Some("Both parties sign off before funding.".into()),
                    status,
                    assigned_user_id: Some(ctx.ana),
                    due_date: Some(format!("2026-09-{:02}", 25 + n)),
                    document_type_ids: vec![],
                };
                let place = TaskPlace { checklist_id: list, section_id: None, parent_task_id: None };
                store.insert_task(account, place, &t, &now).await.map_err(serr)?;
            }
        }

        store.complete_task(account, t_rent, &now).await.map_err(serr)?;
        store.complete_task(account, t_appraisal, &now).await.map_err(serr)?;
        if psa.is_some() {
            store.complete_task(account, t_psa, &now).await.map_err(serr)?;
        }
        for (t, role) in [(t_rent, "borrower"), (t_t12, "borrower"), (t_budget, "borrower"), (t_sponsor, "borrower")] {
            store
                .set_task_assignment(account, t, Some(role), Some(("private_company", 9_000 + i as i64, Some(sponsor))))
                .await
                .map_err(serr)?;
        }
        store
            .set_task_assignment(account, t_appraisal, Some("lender"), Some(("account", account, None)))
            .await
            .map_err(serr)?;
        store.add_task_collaborator(t_t12, Some(ctx.chloe), "chloe.martin@harborcap.example").await.map_err(serr)?;
        store.add_task_collaborator(t_t12, None, "controller@borrower.example").await.map_err(serr)?;
        store.link_task_file(account, t_rent, rent_roll, "auto_match").await.map_err(serr)?;
        store.link_task_file(account, t_t12, t12, "auto_match").await.map_err(serr)?;
        store.link_task_file(account, t_appraisal, appraisal, "manually_added").await.map_err(serr)?;
        store.link_task_file(account, t_sponsor, sponsor_doc, "manually_added").await.map_err(serr)?;
        if let Some(psa) = psa {
            store.link_task_file(account, t_psa, psa, "auto_match").await.map_err(serr)?;
        }
        store
            .insert_note(
                account,
                "checklist_task",
                t_t12,
                ctx.ben,
                "Borrower says the restated T-12 arrives Monday.",
                &now,
            )
            .await
            .map_err(serr)?;

        // Memos: a published financing memorandum and a draft credit memo.
        let om = NewMemo {
            uuid: uuid::Uuid::new_v4().to_string(),
            title: format!("{} - Financing Memorandum", deal.title),
            memo_type: "debt_financing_om",
            status: "published",
            body: memo_body(&deal.title, &property_name, sponsor, &f),
            created_by_user_id: Some(ctx.ana),
            vault_ids: vec![room.id, resources.id],
        };
        store.insert_memo(account, deal_id, &om, &now).await.map_err(serr)?;
        let credit = NewMemo {
            uuid: uuid::Uuid::new_v4().to_string(),
            title: format!("{} - Credit Memo (draft)", deal.title),
            memo_type: "credit_memo",
            status: "draft",
            body: format!("Draft for internal review.\n\n{}", memo_body(&deal.title, &property_name, sponsor, &f)),
            created_by_user_id: Some(ctx.ben),
            vault_ids: vec![resources.id],
        };
        store.insert_memo(account, deal_id, &credit, &now).await.map_err(serr)?;

        // The index: values extracted from the files above.
        let sponsor_id =
            store.insert_index_entity(account, deal_id, ENTITY_SPONSOR, sponsor, &now).await.map_err(serr)?;
        let d = (ENTITY_DEAL, deal_id, None);
        let p = || (ENTITY_PROPERTY, property_id, Some(format!("property:{property_id}")));
        let s = || (ENTITY_SPONSOR, sponsor_id, Some(format!("sponsor:{sponsor_id}")));
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        let mut observations = vec![
            extraction(
                M_DEAL_NAME,
                d.clone(),
                deal.title.clone(),
                "Deal name on the financing request",
                0.99,
                90,
                appraisal,
                &[1],
            ),
            extraction(
                M_LOAN_AMOUNT,
                d.clone(),
                money(f.loan_amount),
                "Requested first-mortgage loan amount",
                0.97,
                80,
                sponsor_doc,
                &[1],
            ),
            extraction(
                M_APPRAISED_VALUE,
                d.clone(),
                money(f.appraised),
                "Reconciled as-is market value from the appraisal",
                0.96,
                85,
                appraisal,
                &[1],
            ),
            extraction(
                M_CAP_RATE,
                d.clone(),
                pct(f.noi / f.appraised),
                "Capitalisation rate applied to trailing NOI in the income approach",
                0.9,
                80,
                appraisal,
                &[1],
            ),
            extraction(
                M_LTV,
                d.clone(),
                pct(f.loan_amount / f.appraised),
                "Loan-to-value: requested loan over appraised value",
                0.99,
                90,
                appraisal,
                &[1],
            ),
            extraction(
                M_PROPERTY_NAME,
                p(),
                property_name.clone(),
                "Subject property named in the appraisal",
                0.99,
                90,
                appraisal,
                &[1],
            ),
            extraction(M_PROPERTY_ADDRESS, p(), address.clone(), "Subject property address", 0.98, 90, appraisal, &[1]),
            extraction(
                M_UNITS,
                p(),
                f.units.to_string(),
                "Total residential units on the rent roll",
                0.97,
                80,
                rent_roll,
                &[1],
            ),
            extraction(
                M_YEAR_BUILT,
                p(),
                f.year_built.to_string(),
                "Year the improvements were built",
                0.93,
                80,
                appraisal,
                &[1],
            ),
            extraction(M_GPR, p(), money(f.gpr), "Gross potential rent, trailing twelve months", 0.95, 80, t12, &[1]),
            extraction(M_EGI, p(), money(f.egi), "Effective gross income, trailing twelve months", 0.95, 80, t12, &[1]),
            extraction(
                M_OPEX,
                p(),
                money(f.opex),
                "Total operating expenses, trailing twelve months",
                0.94,
                80,
                t12,
                &[1],
            ),
            extraction(
                M_NOI,
                p(),
                money(f.noi),
                "Net operating income for the trailing twelve months ended April 2026",
                0.96,
                85,
                t12,
                &[1],
            ),
            // The appraisal reads NOI slightly differently; the T-12 wins on weight, and the
            // disagreement flags the fact for review.
            extraction(
                M_NOI,
                p(),
                money(f.noi * 0.985),
                "Net operating income used in the appraisal's income approach",
                0.72,
                60,
                appraisal,
                &[1],
            ),
            extraction(
                M_OCCUPANCY,
                p(),
                pct(f.occupancy),
                "Physical occupancy on the May 2026 rent roll",
                0.95,
                85,
                rent_roll,
                &[1],
            ),
            extraction(
                M_OCCUPANCY,
                p(),
                pct(f.occupancy - 0.02),
                "Occupancy observed at the appraisal inspection",
                0.8,
                60,
                appraisal,
                &[1],
            ),
            extraction(
                M_AVG_RENT,
                p(),
                money(f.avg_rent),
                "Average in-place monthly rent per occupied unit",
                0.9,
                75,
                rent_roll,
                &[1],
            ),
            extraction(
                M_SPONSOR_NAME,
                s(),
                sponsor.to_string(),
                "Sponsor named on the statement of financial condition",
                0.99,
                90,
                sponsor_doc,
                &[1],
            ),
            extraction(
                M_SPONSOR_NET_WORTH,
                s(),
                money(f.purchase_price * 2.6),
                "Sponsor net worth as of December 31, 2025",
                0.92,
                80,
                sponsor_doc,
                &[1],
            ),
            extraction(
                M_SPONSOR_LIQUIDITY,
                s(),
                money(f.loan_amount * 0.35),
                "Sponsor cash and marketable securities",
                0.88,
                80,
                sponsor_doc,
                &[1],
            ),
        ];
        if let Some(psa) = psa {
            observations.push(extraction(
                M_PURCHASE_PRICE,
                d.clone(),
                money(f.purchase_price),
                "Purchase price in the executed purchase and sale agreement",
                0.99,
                90,
                psa,
                &[1],
            ));
        }
        for o in &mut observations {
            if matches!(o.metric_id, M_GPR | M_EGI | M_OPEX | M_NOI) && o.document_id == Some(t12) {
                o.period_type = Some("trailing".into());
                o.period_value = Some("T12 Apr 2026".into());
            }
        }
        for o in &observations {
            service.record_extraction(account, deal_id, o).await.map_err(err)?;
        }
    }
    Ok(())
}
