//! Demo CRM: lender and sponsor companies of the brokerage (several named like lenders of the
//! built-in directory and linked to them by that name), their contacts with phones, a few
//! AI-recommended contacts still locked, notes, and a credit pool of 250 credits whose ledger
//! shows one unlock already paid for. The lender account gets a small CRM of its own, so
//! isolation can be seen. Accounts without a credit record keep their tier's default pool.
use levd_domain::crm::{
    ContactOrigin, NewCompany, NewContact, PhoneInput, UNLOCK_COST, Unlock, default_credit_grant, phone,
};
use levd_domain::scope::Tier;
use levd_service::notes::NoteParent;
use levd_store::Store;

use super::{DAY, DemoContext, stamp};

struct DemoCompany {
    name: &'static str,
    company_type: &'static str,
    website: &'static str,
    city: &'static str,
    state: &'static str,
}

/// The first six carry the names of built-in directory lenders.
const COMPANIES: &[DemoCompany] = &[
    DemoCompany {
        name: "Holloway Bank",
        company_type: "lender",
        website: "https://www.holloway-bank.example",
        city: "Princeton",
        state: "NJ",
    },
    DemoCompany {
        name: "Kingsford Life & Annuity",
        company_type: "lender",
        website: "https://www.kingsford-life-annuity.example",
        city: "New York",
        state: "NY",
    },
    DemoCompany {
        name: "Meridian Bridge Lending",
        company_type: "lender",
        website: "https://www.meridian-bridge-lending.example",
        city: "Des Moines",
        state: "IA",
    },
    DemoCompany {
        name: "Oakes Commercial Mortgage",
        company_type: "lender",
        website: "https://www.oakes-commercial-mortgage.example",
        city: "Greenwich",
        state: "CT",
    },
    DemoCompany {
        name: "Thornwater Agency Lending",
        company_type: "lender",
        website: "https://www.thornwater-agency-lending.example",
        city: "Philadelphia",
        state: "PA",
    },
    DemoCompany {
        name: "Larchton Bank & Trust",
        company_type: "lender",
        website: "https://www.larchton-bank-trust.example",
        city: "Cleveland",
        state: "OH",
    },
    DemoCompany {
        name: "Quayside Credit Union",
        company_type: "lender",
        website: "https://quaysidecu.example",
        city: "Portland",
        state: "ME",
    },
    DemoCompany {
        name: "Bastion Street Capital",
        company_type: "lender",
        website: "https://bastionstreet.example",
        city: "Boston",
        state: "MA",
    },
    DemoCompany {
        name: "Harborview Development Group",
        company_type: "sponsor",
        website: "https://harborviewdev.example",
        city: "Portland",
        state: "ME",
    },
    DemoCompany {
        name: "Oakline Property Partners",
        company_type: "sponsor",
        website: "https://oakline.example",
        city: "Nashville",
        state: "TN",
    },
    DemoCompany {
        name: "Keystone Residential",
        company_type: "sponsor",
        website: "https://keystoneresidential.example",
        city: "Philadelphia",
        state: "PA",
    },
    DemoCompany {
        name: "Blue Heron Ventures",
        company_type: "sponsor",
        website: "https://blueheron.example",
        city: "Tampa",
        state: "FL",
    },
];

type Text = &'static str;
/// Phone numbers of a demo contact: `(raw, type, country)`.
type Phones = &'static [(Text, Text, Text)];

struct DemoContact {
    /// Index into `COMPANIES`.
    company: usize,
    first: Text,
    last: Text,
    title: Text,
    phones: Phones,
    primary: bool,
    origin: ContactOrigin,
}

const fn crm(company: usize, first: Text, last: Text, title: Text, phones: Phones, primary: bool) -> DemoContact {
    DemoContact { company, first, last, title, phones, primary, origin: ContactOrigin::Crm }
}

/// An AI-recommended contact: stored in full, shown masked until unlocked.
const fn recommended(company: usize, first: Text, last: Text, title: Text, phones: Phones) -> DemoContact {
    DemoContact { company, first, last, title, phones, primary: false, origin: ContactOrigin::AiRecommended }
}

/// The two demo contacts with more than one number (raw text, type, country).
const MAYA_CHEN_PHONES: Phones = &[("(609) 555-0134", "office", "US"), ("609.555.0177", "mobile", "US")];
const RACHEL_KIM_PHONES: Phones = &[("(203) 555-0163", "office", "US"), ("(203) 555-0190", "fax", "US")];

const CONTACTS: &[DemoContact] = &[
    crm(0, "Maya", "Chen", "SVP, Commercial Real Estate", MAYA_CHEN_PHONES, true),
    crm(0, "Daniel", "Reyes", "VP, Credit", &[("609-555-0150 x214", "office", "US")], false),
    crm(1, "Helen", "Park", "Director, Mortgage Investments", &[("+1 212 555 0147", "office", "US")], true),
    crm(1, "Tom", "Whitaker", "Analyst", &[], false),
    crm(2, "Luis", "Ortega", "Managing Director", &[("515 555 0121", "mobile", "US")], true),
    crm(3, "Rachel", "Kim", "Head of Originations", RACHEL_KIM_PHONES, true),
    crm(3, "Imogen", "Clarke", "Director, London Desk", &[("020 7946 0321", "office", "GB")], false),
    crm(4, "Grace", "Liu", "Senior Originator, Multifamily", &[("215-555-0118", "mobile", "US")], true),
    crm(5, "Owen", "Brooks", "Relationship Manager", &[("216.555.0102", "office", "US")], true),
    crm(6, "Nora", "Quinn", "Commercial Lending Officer", &[("(207) 555-0145", "office", "US")], true),
    crm(7, "Victor", "Hale", "Principal", &[("617-555-0188 ext. 7", "office", "US")], true),
    crm(8, "Ethan", "Cole", "Principal", &[("(207) 555-0101", "mobile", "US")], true),
    crm(8, "Lena", "Fischer", "Director of Development", &[("+49 30 1234567", "mobile", "DE")], false),
    crm(9, "Marcus", "Bell", "Managing Partner", &[("615 555 0176", "mobile", "US")], true),
    crm(10, "Sofia", "Alvarez", "VP, Acquisitions", &[("215.555.0133", "office", "US")], true),
    crm(11, "Jordan", "Wells", "Founder", &[("(813) 555-0109", "mobile", "US")], true),
    recommended(0, "Brian", "Foster", "Director, Construction Lending", &[("(609) 555-0166", "office", "US")]),
    recommended(2, "Carla", "Mendes", "VP, Originations", &[("515-555-0139", "mobile", "US")]),
    recommended(3, "Peter", "Lang", "Managing Director, Conduit", &[("(203) 555-0112", "office", "US")]),
    recommended(4, "Yuki", "Tanaka", "Senior Underwriter", &[("215 555 0170 x31", "office", "US")]),
];

/// Notes on contacts (index into `CONTACTS`) and companies (index into `COMPANIES`).
const CONTACT_NOTES: &[(usize, &str)] = &[
    (0, "Prefers a call before we send a package; quick turnaround on construction loans under $30M."),
    (0, "Confirmed appetite for the Harbor Point refinance at up to 65% LTV."),
    (2, "Allocations reset in January; best window for permanent loans is Q1."),
    (4, "Will look at transitional multifamily in the Midwest; no hospitality."),
    (11, "Sponsor on Harbor Point; wants non-recourse if leverage allows."),
];
const COMPANY_NOTES: &[(usize, &str)] = &[
    (0, "Relationship bank for the Portland portfolio; hold limit around $40M."),
    (2, "Bridge lender with fast closings; floating-rate only, SOFR floors typical."),
    (8, "Repeat sponsor: three deals closed with us since 2023."),
];

fn phones_of(c: &DemoContact) -> Result<Vec<PhoneInput>, String> {
    c.phones
        .iter()
        .map(|(raw, phone_type, country)| {
            let n = phone::normalize(raw, Some(country)).map_err(|e| format!("demo phone {raw}: {}", e.message()))?;
            Ok(PhoneInput {
                phone_type,
                raw: (*raw).to_string(),
                country: n.region,
                e164: n.e164,
                extension: n.extension,
            })
        })
        .collect()
}

fn email_of(c: &DemoContact, website: &str) -> String {
    let domain = website.trim_start_matches("https://").trim_start_matches("www.");
    format!("{}.{}@{domain}", c.first.to_lowercase(), c.last.to_lowercase())
}

pub async fn seed(store: &Store, ctx: &DemoContext) -> Result<(), String> {
    let err = |e: levd_store::StoreError| e.to_string();
    // The CRM predates the deals: companies and contacts a month before the first deal, notes
    // spread over the weeks after.
    let account = ctx.broker.id;
    let now = stamp(ctx.broker.base - 35 * DAY);

    let mut company_ids = Vec::with_capacity(COMPANIES.len());
    for c in COMPANIES {
        let new = NewCompany {
            name: c.name.to_string(),
            company_type: c.company_type,
            texts: vec![
                ("website", c.website.to_string()),
                ("city", c.city.to_string()),
                ("state", c.state.to_string()),
                ("linkedin_url", format!("https://www.linkedin.com/company/{}", slug(c.name))),
            ],
            org_id: None,
        };
        company_ids.push(store.insert_company(account, &new, &now).await.map_err(err)?.id);
    }
    // The directory may not be loaded yet; then the companies simply stay unlinked.
    match store.link_companies_to_directory_by_name(account).await {
        Ok(n) => tracing::debug!(linked = n, "demo companies linked to the directory by name"),
        Err(e) => tracing::debug!(error = %e, "demo companies not linked to the directory"),
    }

    let mut contact_ids = Vec::with_capacity(CONTACTS.len());
    for c in CONTACTS {
        let company = &COMPANIES[c.company];
        let contact_type = if company.company_type == "lender" { "lender_contact" } else { "sponsor" };
        let new = NewContact {
            contact_type,
            company_id: company_ids[c.company],
            email: Some(email_of(c, company.website)),
            texts: vec![
                ("first_name", c.first.to_string()),
                ("last_name", c.last.to_string()),
                ("title", c.title.to_string()),
                ("city", company.city.to_string()),
                ("state", company.state.to_string()),
                ("linkedin_url", format!("https://www.linkedin.com/in/{}-{}", slug(c.first), slug(c.last))),
            ],
            phones: phones_of(c)?,
            is_primary: c.primary,
        };
        contact_ids.push(store.insert_contact(account, &new, c.origin, &now).await.map_err(err)?.id);
    }

    for (i, (contact, text)) in CONTACT_NOTES.iter().enumerate() {
        let author = if i % 2 == 0 { ctx.ana } else { ctx.ben };
        let at = stamp(ctx.broker.base - (30 - 4 * i as i64) * DAY);
        store
            .insert_note(account, NoteParent::Contact.type_name(), contact_ids[*contact], author, text, &at)
            .await
            .map_err(err)?;
    }
    for (i, (company, text)) in COMPANY_NOTES.iter().enumerate() {
        let at = stamp(ctx.broker.base - (28 - 5 * i as i64) * DAY);
        store
            .insert_note(account, NoteParent::Company.type_name(), company_ids[*company], ctx.ana, text, &at)
            .await
            .map_err(err)?;
    }

    // 260 credits, then one recommended contact (Carla Mendes) unlocked by Ana: 250 left, and
    // the ledger shows both entries.
    // Credits live in the present: the billing period is the current one.
    let today = levd_domain::time_fmt::now_rfc3339();
    store.set_credit_balance(account, Some(250 + UNLOCK_COST), "grant", &today).await.map_err(err)?;
    let carla = CONTACTS.iter().position(|c| c.first == "Carla").and_then(|i| contact_ids.get(i)).copied();
    if let Some(carla) = carla {
        let outcome = store
            .unlock_contact(account, ctx.ana, carla, UNLOCK_COST, default_credit_grant(Tier::Enterprise), &today)
            .await
            .map_err(err)?;
        if !matches!(outcome, Unlock::Unlocked { .. }) {
            return Err(format!("demo unlock did not charge: {outcome:?}"));
        }
    }

    // The lender account's own CRM: a sponsor it finances, invisible to the brokerage.
    let lender = ctx.lender.id;
    let now = stamp(ctx.lender.base - 20 * DAY);
    let sponsor = store
        .insert_company(
            lender,
            &NewCompany {
                name: "Cedar Ridge Holdings".into(),
                company_type: "sponsor",
                texts: vec![("city", "Boise".into()), ("state", "ID".into())],
                org_id: None,
            },
            &now,
        )
        .await
        .map_err(err)?;
    let alex = DemoContact {
        company: 0,
        first: "Alex",
        last: "Morgan",
        title: "CFO",
        phones: &[("(208) 555-0112", "office", "US")],
        primary: true,
        origin: ContactOrigin::Crm,
    };
    let new = NewContact {
        contact_type: "sponsor",
        company_id: sponsor.id,
        email: Some("alex.morgan@cedarridge.example".into()),
        texts: vec![("first_name", "Alex".into()), ("last_name", "Morgan".into()), ("title", alex.title.into())],
        phones: phones_of(&alex)?,
        is_primary: true,
    };
    let contact = store.insert_contact(lender, &new, ContactOrigin::Crm, &now).await.map_err(err)?;
    store
        .insert_note(lender, NoteParent::Contact.type_name(), contact.id, ctx.dev, "Annual review due in March.", &now)
        .await
        .map_err(err)?;
    store
        .insert_note(
            lender,
            NoteParent::Company.type_name(),
            sponsor.id,
            ctx.dev,
            "Existing borrower: two loans outstanding, both current. Guarantor liquidity verified in January.",
            &stamp(ctx.lender.base - 10 * DAY),
        )
        .await
        .map_err(err)?;
    Ok(())
}

fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}
