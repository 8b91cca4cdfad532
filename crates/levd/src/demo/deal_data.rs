//! Demo deal data for every deal of both accounts: vaults (Resources, the default Deal Room, a
//! Closing room on the first deal) holding real small files, a checklist per Deal Room with
//! tasks in several states, memos, and an index of facts extracted from those files (with
//! disagreeing candidates, so some facts need review). Every figure comes from the deal's
//! model, the same one its loan amount and financials come from. The first deals of each
//! account get the full data room; the others a smaller one, to keep `--demo` fast.
//!
//! The files are written to the data directory the server was given (`--data-dir`).
use std::sync::Arc;

use levd_domain::deal_data::{
    ENTITY_DEAL, ENTITY_PROPERTY, ENTITY_SPONSOR, NewMemo, NewObservation, NewTask, SOURCE_DOCUMENT, TaskParent,
    TaskPlace, render_memo_pdf,
};
use levd_domain::limits::RateLimitConfig;
use levd_service::Service;
use levd_store::Store;
use serde_json::Value;

use super::model::Model;
use super::{DAY, DemoAccount, DemoContext, DemoDeal, date, money, stamp};

/// How many deals of each account get the full data room.
const FULL_ROOMS: usize = 6;

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

fn rent_roll_csv(property: &str, as_of: &str, f: &Model) -> String {
    let mut out = format!("# Rent roll - {property} - as of {as_of}\nunit,type,sq_ft,status,lease_end,monthly_rent\n");
    let occupied = (f.units as f64 * f.occupancy).round() as i64;
    // The first units of the roll; rents step around the average so they average to it.
    let listed = f.units.min(60);
    let occupied_listed = (listed as f64 * f.occupancy).round().min(occupied as f64) as i64;
    for u in 1..=listed {
        let kind = if u % 3 == 0 { "2BR/2BA" } else { "1BR/1BA" };
        let sf = if u % 3 == 0 { 1_050 } else { 740 };
        let vacant = u > occupied_listed;
        let rent = if vacant { 0.0 } else { f.avg_rent + ((u % 5) as f64 - 2.0) * 35.0 };
        out.push_str(&format!(
            "{:03},{kind},{sf},{},{},{:.2}\n",
            100 + u,
            if vacant { "vacant" } else { "occupied" },
            if vacant { String::new() } else { format!("2027-{:02}-28", u % 12 + 1) },
            rent
        ));
    }
    out.push_str(&format!(
        "# total units {}, occupied {}, physical occupancy {:.1}%, average rent {}\n",
        f.units,
        occupied,
        f.occupancy * 100.0,
        money(f.avg_rent)
    ));
    out
}

/// Operating expense lines that add up to the model's total.
fn expense_lines(f: &Model) -> [(&'static str, f64); 6] {
    let share = |x: f64| (f.opex * x).round();
    let (payroll, repairs, utilities, insurance, management) =
        (share(0.28), share(0.14), share(0.12), share(0.08), share(0.12));
    let taxes = f.opex - payroll - repairs - utilities - insurance - management;
    [
        ("Payroll", payroll),
        ("Repairs and maintenance", repairs),
        ("Utilities", utilities),
        ("Real estate taxes", taxes),
        ("Insurance", insurance),
        ("Management fee", management),
    ]
}

fn t12_csv(property: &str, period: &str, f: &Model) -> String {
    let mut out = format!("# Trailing twelve months operating statement - {property} - {period}\nline_item,amount\n");
    for (item, amount) in [
        ("Gross potential rent", f.gpr),
        ("Vacancy and credit loss", -f.vacancy_loss),
        ("Other income", f.other_income),
        ("Effective gross income", f.egi),
    ] {
        out.push_str(&format!("{item},{amount:.0}\n"));
    }
    for (item, amount) in expense_lines(f) {
        out.push_str(&format!("{item},{amount:.0}\n"));
    }
    out.push_str(&format!("Total operating expenses,{:.0}\nNet operating income,{:.0}\n", f.opex, f.noi));
    out
}

fn appraisal_text(property: &str, address: &str, as_of: &str, f: &Model) -> String {
    format!(
        "Subject property: {property}, {address}.\n\
         Improvements: {} residential units built in {}.\n\n\
         Income approach: trailing twelve months net operating income of {} capitalised at {:.2}% \
         indicates an as-is market value of {}.\n\
         Sales comparison approach supports a range of {} to {}.\n\n\
         Reconciled as-is market value: {} as of {as_of}.\n\
         Physical occupancy at inspection: {:.1}%.",
        f.units,
        f.year_built,
        money(f.noi),
        f.cap_rate * 100.0,
        money(f.value),
        money(f.value * 0.95),
        money(f.value * 1.04),
        money(f.value),
        f.occupancy * 100.0,
    )
}

fn memo_body(title: &str, property: &str, sponsor: &str, f: &Model) -> String {
    format!(
        "Executive summary\n\
         {sponsor} requests {} of first-mortgage financing for {title}. The loan is sized at {:.0}% \
         of the {} appraised value and {:.0}% of the {} purchase price, a {:.2}% cap rate on \
         trailing NOI.\n\n\
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
        f.ltv * 100.0,
        money(f.value),
        f.loan_amount / f.purchase_price * 100.0,
        money(f.purchase_price),
        f.cap_rate * 100.0,
        f.units,
        f.year_built,
        f.occupancy * 100.0,
        money(f.avg_rent),
        money(f.egi),
        money(f.opex),
        money(f.noi),
        f.debt_yield() * 100.0,
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
    let service = Service::new(store.clone(), Arc::new(RateLimitConfig::default()), Arc::new(|| {}))
        .with_data_dir(ctx.data_dir.clone());
    for owner in [&ctx.broker, &ctx.lender] {
        for (i, deal) in owner.deals.iter().enumerate() {
            seed_deal(&service, store, ctx, owner, i, deal).await?;
        }
    }
    Ok(())
}

/// The data room of one deal: full for the first deals of an account, smaller for the rest.
async fn seed_deal(
    service: &Service,
    store: &Store,
    ctx: &DemoContext,
    owner: &DemoAccount,
    i: usize,
    deal: &DemoDeal,
) -> Result<(), String> {
    let err = |e: levd_domain::ApiError| e.message;
    let serr = |e: levd_store::StoreError| e.to_string();
    let account = owner.id;
    let deal_id = deal.id;
    let full = i < FULL_ROOMS;
    let f = &deal.model;
    let (property_name, street, city, state, zip) = *deal.property;
    let property_name = property_name.to_string();
    let address = format!("{street}, {city}, {state} {zip}");
    let property_id = store.properties_of(&[deal_id]).await.map_err(serr)?.first().map_or(0, |p| p.id);
    let sponsor = SPONSORS[(i + usize::from(owner.id != ctx.broker.id) * 3) % SPONSORS.len()];
    // The borrower's figures date from a couple of weeks before the deal arrived; the room
    // opens a few days after it; tasks fall due over the following months.
    let as_of = date(deal.created - 12 * DAY);
    let period = format!("twelve months to {}", date(deal.created - 30 * DAY));
    let now = stamp(deal.created + 4 * DAY);
    let due = |days: i64| date(deal.created + days * DAY);
    let (lead, helper) = (owner.lead, owner.team.first().copied().unwrap_or(owner.lead));
    let (reviewer, reviewer_email) = if owner.id == ctx.broker.id {
        (ctx.chloe, "chloe.martin@harborcap.example")
    } else {
        (ctx.ana, "ana.ruiz@harborcap.example")
    };

    // Documents (their vaults and folders are created on the way).
    let add = |vault: Option<&'static str>, folder: Option<&'static str>, name: String, bytes: Vec<u8>, ty: i64| async move {
        let added = service.add_document(deal_id, vault, folder, &name, &bytes, Some(ty)).await.map_err(err)?;
        added.document.get("id").and_then(Value::as_i64).ok_or_else(|| "document without id".to_string())
    };
    let rent_roll = add(
        Some("Deal Room"),
        Some("Financials"),
        format!("Rent Roll {as_of}.csv"),
        rent_roll_csv(&property_name, &as_of, f).into_bytes(),
        TYPE_RENT_ROLL,
    )
    .await?;
    let t12 = add(
        Some("Deal Room"),
        Some("Financials"),
        "T12 Operating Statement.csv".into(),
        t12_csv(&property_name, &period, f).into_bytes(),
        TYPE_OPERATING_STATEMENT,
    )
    .await?;
    let appraisal = add(
        Some("Deal Room"),
        Some("Third-Party Reports"),
        format!("{property_name} Appraisal Summary.pdf"),
        render_memo_pdf(
            &format!("{property_name} - Appraisal Summary"),
            &format!("Value as of {as_of}"),
            &appraisal_text(&property_name, &address, &as_of, f),
        ),
        TYPE_APPRAISAL,
    )
    .await?;
    let sponsor_doc = if full {
        Some(
            add(
                None,
                Some("Sponsor"),
                format!("{sponsor} - Statement of Financial Condition.txt"),
                format!(
                    "{sponsor}\nStatement of financial condition as of {as_of}\n\n\
                     Total assets: {}\nTotal liabilities: {}\nNet worth: {}\nCash and marketable securities: {}\n",
                    money(f.purchase_price * 6.0),
                    money(f.purchase_price * 3.4),
                    money(f.purchase_price * 2.6),
                    money(f.loan_amount * 0.35),
                )
                .into_bytes(),
                TYPE_SPONSOR_FINANCIALS,
            )
            .await?,
        )
    } else {
        None
    };
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
                         for a purchase price of {}.\nEarnest money: {}.\nClosing date: on or before {}.",
                        money(f.purchase_price),
                        money(f.purchase_price * 0.02),
                        due(120)
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
    let task =
        |section: Option<i64>, parent: Option<i64>, title: &str, status: &'static str, due: String, types: Vec<i64>| {
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
                due_date: Some(due),
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
        task(Some(financials), None, "Current rent roll", "approved", due(10), vec![TYPE_RENT_ROLL]),
        Some(helper),
    )
    .await?;
    let t_t12 = insert(
        task(Some(financials), None, "T-12 operating statement", "reviewing", due(15), vec![TYPE_OPERATING_STATEMENT]),
        Some(helper),
    )
    .await?;
    let t_appraisal =
        insert(task(None, None, "Appraisal", "approved", due(40), vec![TYPE_APPRAISAL]), Some(lead)).await?;
    insert(task(None, None, "Kick-off call with the lender", "approved", due(5), vec![]), Some(lead)).await?;
    let mut borrower_tasks = vec![t_rent, t_t12];
    let mut t_psa = None;
    if full {
        let reports = store
            .insert_checklist_section(account, checklist, "Third-Party Reports", 2, (Some(&*due(20)), Some(&*due(65))))
            .await
            .map_err(serr)?;
        let closing = store
            .insert_checklist_section(account, checklist, "Legal and Closing", 3, (Some(&*due(80)), Some(&*due(120))))
            .await
            .map_err(serr)?;
        let t_budget =
            insert(task(Some(financials), None, "Operating budget", "requested", due(25), vec![12]), None).await?;
        let t_sponsor = insert(
            task(
                Some(financials),
                None,
                "Sponsor financial statement",
                "updates_needed",
                due(20),
                vec![TYPE_SPONSOR_FINANCIALS],
            ),
            Some(lead),
        )
        .await?;
        borrower_tasks.extend([t_budget, t_sponsor]);
        insert(
            task(Some(financials), Some(t_sponsor), "Signed and dated by the guarantor", "to_do", due(20), vec![]),
            None,
        )
        .await?;
        insert(
            task(Some(financials), Some(t_sponsor), "Schedule of real estate owned", "requested", due(20), vec![]),
            None,
        )
        .await?;
        insert(
            task(
                Some(reports),
                None,
                "Phase I environmental site assessment",
                "requested",
                due(45),
                vec![TYPE_ENVIRONMENTAL],
            ),
            None,
        )
        .await?;
        insert(task(Some(reports), None, "Property condition report", "to_do", due(55), vec![6]), None).await?;
        t_psa = Some(
            insert(
                task(Some(closing), None, "Executed purchase and sale agreement", "approved", due(85), vec![TYPE_PSA]),
                None,
            )
            .await?,
        );
        insert(task(Some(closing), None, "Evidence of insurance", "to_do", due(110), vec![TYPE_INSURANCE]), None)
            .await?;
        insert(task(Some(closing), None, "Title commitment", "cancelled", due(100), vec![8]), None).await?;
        if let Some(doc) = sponsor_doc {
            store.link_task_file(account, t_sponsor, doc, "manually_added").await.map_err(serr)?;
        }
    }

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
                assigned_user_id: Some(lead),
                due_date: Some(due(118 + n as i64)),
                document_type_ids: vec![],
            };
            let place = TaskPlace { checklist_id: list, section_id: None, parent_task_id: None };
            store.insert_task(account, place, &t, &now).await.map_err(serr)?;
        }
    }

    store.complete_task(account, t_rent, &stamp(deal.created + 9 * DAY)).await.map_err(serr)?;
    store.complete_task(account, t_appraisal, &stamp(deal.created + 38 * DAY)).await.map_err(serr)?;
    if let (Some(t), Some(doc)) = (t_psa, psa) {
        store.complete_task(account, t, &stamp(deal.created + 84 * DAY)).await.map_err(serr)?;
        store.link_task_file(account, t, doc, "auto_match").await.map_err(serr)?;
    }
    for t in borrower_tasks {
        store
            .set_task_assignment(
                account,
                t,
                Some("borrower"),
                Some(("private_company", 9_000 + i as i64, Some(sponsor))),
            )
            .await
            .map_err(serr)?;
    }
    store
        .set_task_assignment(account, t_appraisal, Some("lender"), Some(("account", account, None)))
        .await
        .map_err(serr)?;
    store.add_task_collaborator(t_t12, Some(reviewer), reviewer_email).await.map_err(serr)?;
    store.add_task_collaborator(t_t12, None, "controller@borrower.example").await.map_err(serr)?;
    store.link_task_file(account, t_rent, rent_roll, "auto_match").await.map_err(serr)?;
    store.link_task_file(account, t_t12, t12, "auto_match").await.map_err(serr)?;
    store.link_task_file(account, t_appraisal, appraisal, "manually_added").await.map_err(serr)?;
    store
        .insert_note(
            account,
            "checklist_task",
            t_t12,
            helper,
            &format!("Borrower restated the T-12: NOI now {}; the restated copy is in the room.", money(f.noi)),
            &stamp(deal.created + 12 * DAY),
        )
        .await
        .map_err(serr)?;

    // Memos: a published financing memorandum, and on the first deals a draft credit memo.
    let om = NewMemo {
        uuid: uuid::Uuid::new_v4().to_string(),
        title: format!("{} - Financing Memorandum", deal.title),
        memo_type: "debt_financing_om",
        status: "published",
        body: memo_body(&deal.title, &property_name, sponsor, f),
        created_by_user_id: Some(lead),
        vault_ids: vec![room.id, resources.id],
    };
    store.insert_memo(account, deal_id, &om, &stamp(deal.created + 14 * DAY)).await.map_err(serr)?;
    if full {
        let credit = NewMemo {
            uuid: uuid::Uuid::new_v4().to_string(),
            title: format!("{} - Credit Memo (draft)", deal.title),
            memo_type: "credit_memo",
            status: "draft",
            body: format!("Draft for internal review.\n\n{}", memo_body(&deal.title, &property_name, sponsor, f)),
            created_by_user_id: Some(helper),
            vault_ids: vec![resources.id],
        };
        store.insert_memo(account, deal_id, &credit, &stamp(deal.created + 16 * DAY)).await.map_err(serr)?;
    }

    // The index: values extracted from the files above.
    let d = (ENTITY_DEAL, deal_id, None);
    let p = || (ENTITY_PROPERTY, property_id, Some(format!("property:{property_id}")));
    let pct = |x: f64| format!("{:.2}%", x * 100.0);
    let pct1 = |x: f64| format!("{:.1}%", x * 100.0);
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
            sponsor_doc.unwrap_or(appraisal),
            &[1],
        ),
        extraction(
            M_APPRAISED_VALUE,
            d.clone(),
            money(f.value),
            "Reconciled as-is market value from the appraisal",
            0.96,
            85,
            appraisal,
            &[1],
        ),
        extraction(
            M_CAP_RATE,
            d.clone(),
            pct(f.cap_rate),
            "Capitalisation rate applied to trailing NOI in the income approach",
            0.9,
            80,
            appraisal,
            &[1],
        ),
        extraction(
            M_LTV,
            d.clone(),
            pct(f.ltv),
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
        extraction(M_OPEX, p(), money(f.opex), "Total operating expenses, trailing twelve months", 0.94, 80, t12, &[1]),
        extraction(
            M_NOI,
            p(),
            money(f.noi),
            "Net operating income for the trailing twelve months",
            0.96,
            85,
            t12,
            &[1],
        ),
        extraction(
            M_OCCUPANCY,
            p(),
            pct1(f.occupancy),
            "Physical occupancy on the rent roll",
            0.95,
            85,
            rent_roll,
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
    ];
    if full {
        // The appraisal reads NOI slightly differently; the T-12 wins on weight, and the
        // disagreement flags the fact for review. Occupancy at inspection differs as well.
        observations.push(extraction(
            M_NOI,
            p(),
            money((f.noi * 0.985).round()),
            "Net operating income used in the appraisal's income approach",
            0.72,
            60,
            appraisal,
            &[1],
        ));
        observations.push(extraction(
            M_OCCUPANCY,
            p(),
            pct1(f.occupancy - 0.02),
            "Occupancy observed at the appraisal inspection",
            0.8,
            60,
            appraisal,
            &[1],
        ));
    }
    if let Some(doc) = sponsor_doc {
        let sponsor_id =
            store.insert_index_entity(account, deal_id, ENTITY_SPONSOR, sponsor, &now).await.map_err(serr)?;
        let s = || (ENTITY_SPONSOR, sponsor_id, Some(format!("sponsor:{sponsor_id}")));
        observations.extend([
            extraction(
                M_SPONSOR_NAME,
                s(),
                sponsor.to_string(),
                "Sponsor named on the statement of financial condition",
                0.99,
                90,
                doc,
                &[1],
            ),
            extraction(
                M_SPONSOR_NET_WORTH,
                s(),
                money(f.purchase_price * 2.6),
                "Sponsor net worth on the statement of financial condition",
                0.92,
                80,
                doc,
                &[1],
            ),
            extraction(
                M_SPONSOR_LIQUIDITY,
                s(),
                money(f.loan_amount * 0.35),
                "Sponsor cash and marketable securities",
                0.88,
                80,
                doc,
                &[1],
            ),
        ]);
    }
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
            o.period_value = Some("T12".into());
        }
    }
    for o in &observations {
        service.record_extraction(account, deal_id, o).await.map_err(err)?;
    }
    Ok(())
}
