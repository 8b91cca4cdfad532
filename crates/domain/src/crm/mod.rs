//! CRM and billing: contacts (with phones normalised to E.164), companies, the credits that pay
//! for contact unlocks, and the subscription/credit objects of the billing endpoints. Types as the
//! API shows them, input parsing for creates and updates, and the list grammar of each list.
pub mod phone;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::input::{BodyReader, Patch};
use crate::query::{FilterKind, FilterSpec, ListSpec};
use crate::scope::Tier;

pub const CONTACT_TYPES: &[&str] = &["lender_contact", "sponsor"];
pub const COMPANY_TYPES: &[&str] = &["lender", "sponsor"];
pub const PHONE_TYPES: &[&str] = &["mobile", "office", "fax"];

/// Credits charged for revealing one AI-recommended contact. The reference publishes no price;
/// ten keeps a small pool good for a few dozen unlocks.
pub const UNLOCK_COST: i64 = 10;
/// The only unit the billing objects know.
pub const CREDIT_UNIT: &str = "credits";
/// Where a 402 sends the caller to buy credits or a plan.
pub const UPGRADE_URL: &str = "https://www.lev.com/pricing";

/// Most phone numbers one contact may carry.
pub const MAX_PHONES: usize = 20;
const MAX_RAW_PHONE: usize = 64;
const MAX_EMAIL: usize = 254;
const MAX_NAME: usize = 255;

/// Fields a client may name in `fields=` on `GET /contacts`.
pub const CONTACT_FIELDS: &[&str] = &[
    "id",
    "contact_type",
    "contact_types",
    "first_name",
    "last_name",
    "email",
    "title",
    "department",
    "address",
    "address2",
    "city",
    "state",
    "zip",
    "linkedin_url",
    "photo_url",
    "phones",
    "is_primary",
    "owner_account_id",
    "is_connected",
    "created_at",
    "updated_at",
];

/// `GET /contacts`: cursor paging and `fields` as documented. The two filters are levd
/// extensions: the documented list shows connected contacts only, and `filter[is_connected]`
/// is the way to see the others (AI-recommended contacts among them); `filter[company_id]`
/// lists the people of one company.
pub const CONTACT_LIST: ListSpec = ListSpec {
    filters: &[
        FilterSpec { name: "is_connected", kind: FilterKind::Bool },
        FilterSpec { name: "company_id", kind: FilterKind::Number },
    ],
    sorts: &[],
    fields: CONTACT_FIELDS,
    includes: &[],
    search: false,
    cursor: true,
    offset: false,
};

pub const COMPANY_FIELDS: &[&str] = &[
    "id",
    "name",
    "website",
    "address",
    "city",
    "state",
    "zip",
    "org_id",
    "owner_account_id",
    "is_connected",
    "linkedin_url",
    "created_at",
    "updated_at",
];

/// `GET /companies`. The filters are levd extensions: the response carries no `company_type`,
/// so `filter[company_type]` is how a client tells lenders from sponsors.
pub const COMPANY_LIST: ListSpec = ListSpec {
    filters: &[
        FilterSpec { name: "company_type", kind: FilterKind::Enum(COMPANY_TYPES) },
        FilterSpec { name: "is_connected", kind: FilterKind::Bool },
    ],
    sorts: &[],
    fields: COMPANY_FIELDS,
    includes: &[],
    search: false,
    cursor: true,
    offset: false,
};

// ---------------------------------------------------------------------------------------------
// Records as shown

/// A phone number of a contact (`Phone`).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Phone {
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub phone_type: Option<String>,
    pub raw: Option<String>,
    pub country: Option<String>,
    pub e164: Option<String>,
    pub extension: Option<String>,
}

/// A contact (`Contact`). `company_id` and `locked` are kept for the service and never shown:
/// the reference schema does not echo the company, and a locked contact shows as masked.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: i64,
    pub contact_type: Option<String>,
    pub contact_types: Vec<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub title: Option<String>,
    pub department: Option<String>,
    pub address: Option<String>,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub linkedin_url: Option<String>,
    pub photo_url: Option<String>,
    pub phones: Vec<Phone>,
    pub is_primary: bool,
    pub owner_account_id: i64,
    pub is_connected: bool,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub company_id: i64,
    #[serde(skip)]
    pub locked: bool,
}

impl Contact {
    /// The contact as a caller may see it: an AI-recommended contact that has not been unlocked
    /// keeps its role and location (what the recommendation is about) but withholds everything
    /// that identifies or reaches the person, which is what the unlock pays for.
    pub fn for_display(mut self) -> Contact {
        if self.locked {
            self.first_name = None;
            self.last_name = None;
            self.email = None;
            self.address = None;
            self.address2 = None;
            self.zip = None;
            self.linkedin_url = None;
            self.photo_url = None;
            self.phones = Vec::new();
        }
        self
    }

    /// `first last` for other resources that name the contact (a placement's `contact_name`);
    /// `None` while locked or nameless.
    pub fn display_name(&self) -> Option<String> {
        if self.locked {
            return None;
        }
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        (!name.is_empty()).then_some(name)
    }
}

/// Stored form of `contact_types`: the values joined by commas (a closed set without commas).
pub fn join_contact_types(types: &[&str]) -> String {
    types.join(",")
}

pub fn split_contact_types(stored: &str) -> Vec<String> {
    stored.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
}

/// A CRM company (`Company`). `company_type` is accepted on create but, as in the reference,
/// not shown.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Company {
    pub id: i64,
    pub name: Option<String>,
    pub website: Option<String>,
    pub address: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub org_id: Option<i64>,
    pub owner_account_id: i64,
    pub is_connected: bool,
    pub linkedin_url: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip)]
    pub company_type: String,
}

/// `Credits`: `enabled: false` with `balance: null` is an account without credit billing;
/// `enabled: true` with `0` is a provisioned but empty pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Credits {
    pub enabled: bool,
    pub balance: Option<i64>,
    pub unit: &'static str,
}

impl Credits {
    pub fn new(enabled: bool, balance: Option<i64>) -> Credits {
        // A disabled pool has no balance to report, whatever is stored.
        Credits { enabled, balance: if enabled { Some(balance.unwrap_or(0)) } else { None }, unit: CREDIT_UNIT }
    }

    /// What an account with no credit record has: free accounts are not provisioned; paid API
    /// tiers get the pool of the matching paid plan (2,500 / 8,500 credits).
    pub fn default_for(tier: Tier) -> Credits {
        match default_credit_grant(tier) {
            Some(n) => Credits::new(true, Some(n)),
            None => Credits::new(false, None),
        }
    }
}

/// Opening balance of an account that has no credit record yet; `None` = not provisioned.
pub fn default_credit_grant(tier: Tier) -> Option<i64> {
    match tier {
        Tier::Free => None,
        Tier::Standard => Some(2_500),
        Tier::Enterprise => Some(8_500),
    }
}

/// `Subscription`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Subscription {
    #[serde(rename = "type")]
    pub subscription_type: Option<String>,
    pub status: Option<String>,
    pub billing_cycle: Option<String>,
    pub end_date: Option<String>,
}

impl Subscription {
    /// levd keeps no plan records: the subscription follows the API tier, exactly as `GET /me`
    /// reports it, so both endpoints always agree.
    pub fn for_tier(tier: Tier) -> Subscription {
        let cycle = match tier {
            Tier::Free => None,
            Tier::Standard => Some("monthly"),
            Tier::Enterprise => Some("annual"),
        };
        Subscription {
            subscription_type: Some(tier.as_str().to_string()),
            status: Some("active".to_string()),
            billing_cycle: cycle.map(str::to_string),
            end_date: None,
        }
    }
}

/// `BillingSummary`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BillingSummary {
    pub subscription: Subscription,
    pub credits: Credits,
}

/// The stored credit pool of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditPool {
    pub enabled: bool,
    pub balance: Option<i64>,
}

impl From<CreditPool> for Credits {
    fn from(p: CreditPool) -> Credits {
        Credits::new(p.enabled, p.balance)
    }
}

/// One change of an account's credit balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditLedgerEntry {
    pub id: i64,
    pub delta: i64,
    pub balance_after: i64,
    /// `opening_grant`, `contact_unlock`, or what an administrator wrote.
    pub reason: String,
    pub contact_id: Option<i64>,
    pub user_id: Option<i64>,
    pub created_at: String,
}

/// Outcome of storing a contact update.
#[derive(Debug, Clone, PartialEq)]
pub enum ContactUpdate {
    Updated(Box<Contact>),
    NotFound,
    /// AI-recommended and not unlocked yet: not editable.
    Locked,
    /// The body would change the contact's email.
    EmailChange,
}

/// Outcome of an unlock.
#[derive(Debug, Clone, PartialEq)]
pub enum Unlock {
    /// Revealed now; `balance` is what the pool holds after the charge.
    Unlocked {
        contact: Box<Contact>,
        balance: i64,
    },
    /// Nothing to reveal (never locked, or unlocked before): nothing charged.
    AlreadyVisible(Box<Contact>),
    NotFound,
    /// The pool cannot pay: nothing changed.
    Insufficient(CreditPool),
}

// ---------------------------------------------------------------------------------------------
// Input

/// A validated `PhoneIn`, with the server-computed `e164`.
#[derive(Debug, Clone, PartialEq)]
pub struct PhoneInput {
    pub phone_type: &'static str,
    pub raw: String,
    pub country: Option<String>,
    pub e164: String,
    pub extension: Option<String>,
}

/// How a contact came to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContactOrigin {
    /// Entered by the account (API, import): connected and fully visible.
    Crm,
    /// Picked by Lev's AI for a placement: not connected, identity withheld until unlocked.
    AiRecommended,
}

/// Optional text members of a contact, with their longest accepted length.
pub const CONTACT_TEXT_FIELDS: &[(&str, usize)] = &[
    ("first_name", MAX_NAME),
    ("last_name", MAX_NAME),
    ("title", MAX_NAME),
    ("department", MAX_NAME),
    ("address", MAX_NAME),
    ("address2", MAX_NAME),
    ("city", MAX_NAME),
    ("state", 100),
    ("zip", 20),
    ("linkedin_url", 2048),
    ("photo_url", 2048),
];

/// Optional text members of a company (beside the required `name`).
pub const COMPANY_TEXT_FIELDS: &[(&str, usize)] = &[
    ("website", 2048),
    ("address", MAX_NAME),
    ("city", MAX_NAME),
    ("state", 100),
    ("zip", 20),
    ("linkedin_url", 2048),
];

#[derive(Debug, Clone, PartialEq)]
pub struct NewContact {
    pub contact_type: &'static str,
    pub company_id: i64,
    pub email: Option<String>,
    /// Members of [`CONTACT_TEXT_FIELDS`] that were given.
    pub texts: Vec<(&'static str, String)>,
    pub phones: Vec<PhoneInput>,
    pub is_primary: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContactChanges {
    pub email: Patch<String>,
    /// Members of [`CONTACT_TEXT_FIELDS`] that were given (`Null` clears).
    pub texts: Vec<(&'static str, Patch<String>)>,
    /// The whole new list when given.
    pub phones: Option<Vec<PhoneInput>>,
    pub is_primary: Option<bool>,
}

impl ContactChanges {
    pub fn is_empty(&self) -> bool {
        self.email.is_absent() && self.texts.is_empty() && self.phones.is_none() && self.is_primary.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewCompany {
    pub name: String,
    pub company_type: &'static str,
    pub texts: Vec<(&'static str, String)>,
    pub org_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CompanyChanges {
    pub name: Option<String>,
    pub company_type: Option<&'static str>,
    pub texts: Vec<(&'static str, Patch<String>)>,
    pub org_id: Patch<i64>,
}

impl CompanyChanges {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.company_type.is_none() && self.texts.is_empty() && self.org_id.is_absent()
    }
}

/// Whether a PATCH may carry this `email`: the reference refuses to change an address (409),
/// so only resending the current one (in any letter case) or giving a contact its first address
/// is accepted.
pub fn email_change_allowed(current: Option<&str>, requested: &Patch<String>) -> bool {
    match (current, requested) {
        (_, Patch::Absent) | (None, _) => true,
        (Some(_), Patch::Null) => false,
        (Some(c), Patch::Value(v)) => c.trim().to_lowercase() == v.trim().to_lowercase(),
    }
}

/// Message of the 409 for an email change (as the reference words it).
pub const EMAIL_CHANGE_MESSAGE: &str = "Changing a contact's email is not supported yet";

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces or control
/// characters. Delivery is the only real check; this catches typos and pasted junk.
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else { return false };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && s.chars().count() <= MAX_EMAIL
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn read_email(r: &mut BodyReader<'_>) -> Patch<String> {
    match r.string("email", MAX_EMAIL, false) {
        Patch::Value(v) => {
            let v = v.trim().to_string();
            if valid_email(&v) {
                Patch::Value(v)
            } else {
                r.errors.add("email", "must be a valid email address");
                Patch::Absent
            }
        }
        other => other,
    }
}

/// A strictly positive integer member (ids).
fn read_id(r: &mut BodyReader<'_>, obj: &Map<String, Value>, field: &str) -> Patch<i64> {
    match obj.get(field) {
        None => Patch::Absent,
        Some(Value::Null) => Patch::Null,
        Some(v) => match v.as_i64() {
            Some(id) if id > 0 => Patch::Value(id),
            _ => {
                r.errors.add(field, "must be a positive integer");
                Patch::Absent
            }
        },
    }
}

fn read_bool(r: &mut BodyReader<'_>, obj: &Map<String, Value>, field: &str) -> Option<bool> {
    match obj.get(field) {
        None => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(_) => {
            r.errors.add(field, "must be a boolean");
            None
        }
    }
}

fn read_texts_new(r: &mut BodyReader<'_>, fields: &[(&'static str, usize)]) -> Vec<(&'static str, String)> {
    fields.iter().filter_map(|(name, max)| r.string(name, *max, false).value().map(|v| (*name, v))).collect()
}

fn read_texts_patch(r: &mut BodyReader<'_>, fields: &[(&'static str, usize)]) -> Vec<(&'static str, Patch<String>)> {
    fields
        .iter()
        .filter_map(|(name, max)| {
            let p = r.string(name, *max, false);
            (!p.is_absent()).then_some((*name, p))
        })
        .collect()
}

/// Reads `phones` (an array of `PhoneIn`); problems are reported per member, e.g.
/// `phones[1].raw`. A caller-supplied `e164` is ignored: it is always computed here.
fn read_phones(r: &mut BodyReader<'_>, obj: &Map<String, Value>) -> Option<Vec<PhoneInput>> {
    let items = match obj.get("phones") {
        None => return None,
        Some(Value::Array(items)) => items,
        Some(_) => {
            r.errors.add("phones", "must be an array of phone objects");
            return None;
        }
    };
    if items.len() > MAX_PHONES {
        r.errors.add("phones", format!("must have at most {MAX_PHONES} items"));
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |member: &str| format!("phones[{i}].{member}");
        let Value::Object(p) = item else {
            r.errors.add(&format!("phones[{i}]"), "must be an object");
            continue;
        };
        let phone_type = match p.get("type") {
            None | Some(Value::Null) => Some("mobile"),
            Some(Value::String(s)) => PHONE_TYPES.iter().copied().find(|t| *t == s.as_str()),
            Some(_) => None,
        };
        if phone_type.is_none() {
            r.errors.add(&at("type"), format!("must be one of: {}", PHONE_TYPES.join(", ")));
        }
        let country = match p.get("country") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic()) => {
                Ok(Some(s.to_ascii_uppercase()))
            }
            Some(_) => Err(()),
        };
        if country.is_err() {
            r.errors.add(&at("country"), "must be a 2-letter ISO region code");
        }
        let extension = match p.get("extension") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => phone::parse_extension(s.trim()).map(Some).ok_or(()),
            Some(_) => Err(()),
        };
        if extension.is_err() {
            r.errors.add(&at("extension"), format!("must be 1 to {} digits", phone::MAX_EXTENSION_DIGITS));
        }
        let raw = match p.get("raw") {
            Some(Value::String(s)) if s.trim().is_empty() => {
                r.errors.add(&at("raw"), "must not be blank");
                None
            }
            Some(Value::String(s)) if s.chars().count() > MAX_RAW_PHONE => {
                r.errors.add(&at("raw"), format!("must be at most {MAX_RAW_PHONE} characters"));
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            None | Some(Value::Null) => {
                r.errors.add(&at("raw"), "is required");
                None
            }
            Some(_) => {
                r.errors.add(&at("raw"), "must be a string");
                None
            }
        };
        let (Some(phone_type), Ok(country), Ok(extension), Some(raw)) = (phone_type, country, extension, raw) else {
            continue;
        };
        match phone::normalize(&raw, country.as_deref()) {
            Ok(n) => out.push(PhoneInput {
                phone_type,
                raw,
                country: n.region,
                e164: n.e164,
                // An explicit `extension` wins over one written into `raw`.
                extension: extension.or(n.extension),
            }),
            Err(phone::PhoneError::UnsupportedRegion) => {
                r.errors.add(&at("country"), phone::PhoneError::UnsupportedRegion.message())
            }
            Err(e) => r.errors.add(&at("raw"), e.message()),
        }
    }
    Some(out)
}

/// Validates a `POST /contacts` body.
pub fn parse_new_contact(body: &Map<String, Value>) -> Result<NewContact, ApiError> {
    let mut r = BodyReader::new(body);
    let contact_type = r.enumeration("contact_type", CONTACT_TYPES);
    r.required("contact_type", &contact_type);
    let company_id = read_id(&mut r, body, "company_id");
    r.required("company_id", &company_id);
    let email = read_email(&mut r);
    let texts = read_texts_new(&mut r, CONTACT_TEXT_FIELDS);
    let phones = read_phones(&mut r, body);
    let is_primary = read_bool(&mut r, body, "is_primary");
    r.finish()?;
    Ok(NewContact {
        contact_type: contact_type.value().unwrap_or("lender_contact"),
        company_id: company_id.value().unwrap_or(0),
        email: email.value(),
        texts,
        phones: phones.unwrap_or_default(),
        is_primary: is_primary.unwrap_or(false),
    })
}

/// Validates a `PATCH /contacts/{id}` body. `contact_type` and `company_id` are not patchable
/// and, like any unknown member, ignored.
pub fn parse_contact_changes(body: &Map<String, Value>) -> Result<ContactChanges, ApiError> {
    let mut r = BodyReader::new(body);
    let email = read_email(&mut r);
    let texts = read_texts_patch(&mut r, CONTACT_TEXT_FIELDS);
    let phones = read_phones(&mut r, body);
    let is_primary = read_bool(&mut r, body, "is_primary");
    r.finish()?;
    Ok(ContactChanges { email, texts, phones, is_primary })
}

/// Validates a `POST /companies` body.
pub fn parse_new_company(body: &Map<String, Value>) -> Result<NewCompany, ApiError> {
    let mut r = BodyReader::new(body);
    let name = r.string("name", MAX_NAME, true);
    r.required("name", &name);
    let company_type = r.enumeration("company_type", COMPANY_TYPES);
    r.required("company_type", &company_type);
    let texts = read_texts_new(&mut r, COMPANY_TEXT_FIELDS);
    let org_id = read_id(&mut r, body, "org_id");
    r.finish()?;
    Ok(NewCompany {
        name: name.value().unwrap_or_default(),
        company_type: company_type.value().unwrap_or("lender"),
        texts,
        org_id: org_id.value(),
    })
}

/// Validates a `PATCH /companies/{id}` body: the create members, each optional; `name` and
/// `company_type` cannot be cleared, the others can (`null`).
pub fn parse_company_changes(body: &Map<String, Value>) -> Result<CompanyChanges, ApiError> {
    let mut r = BodyReader::new(body);
    let name = match r.string("name", MAX_NAME, true) {
        Patch::Null => {
            r.errors.add("name", "must not be null");
            None
        }
        p => p.value(),
    };
    let company_type = match r.enumeration("company_type", COMPANY_TYPES) {
        Patch::Null => {
            r.errors.add("company_type", "must not be null");
            None
        }
        p => p.value(),
    };
    let texts = read_texts_patch(&mut r, COMPANY_TEXT_FIELDS);
    let org_id = read_id(&mut r, body, "org_id");
    r.finish()?;
    Ok(CompanyChanges { name, company_type, texts, org_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    /// Offending members, sorted (the order of `details.fields` is not part of the contract).
    fn fields(e: &ApiError) -> Vec<String> {
        let mut f: Vec<String> = e.details["fields"].as_object().unwrap().keys().cloned().collect();
        f.sort();
        f
    }

    #[test]
    fn contact_create_requires_type_and_company() {
        let e = parse_new_contact(&obj(json!({"company_id": 3}))).unwrap_err();
        assert_eq!((e.status(), e.message.as_str()), (422, "contact_type is required"));
        let e = parse_new_contact(&obj(json!({"contact_type": "broker", "company_id": "3"}))).unwrap_err();
        assert_eq!(fields(&e), ["company_id", "contact_type"]);
        let e = parse_new_contact(&obj(json!({"contact_type": "sponsor"}))).unwrap_err();
        assert_eq!(e.details["fields"]["company_id"], "is required");
    }

    #[test]
    fn contact_create_parses_phones() {
        let c = parse_new_contact(&obj(json!({
            "contact_type": "lender_contact", "company_id": 7, "first_name": "Iris", "email": " iris@lender.example ",
            "phones": [
                {"raw": "(617) 555-0142", "type": "office", "e164": "+19999999999"},
                {"raw": "020 7946 0958", "country": "gb", "extension": "204"},
                {"raw": "617-555-0199 x7"}
            ],
            "is_primary": true, "unknown": 1
        })))
        .unwrap();
        assert_eq!(c.email.as_deref(), Some("iris@lender.example"));
        assert_eq!(c.texts, vec![("first_name", "Iris".to_string())]);
        assert!(c.is_primary);
        let p = &c.phones;
        assert_eq!(
            (p[0].phone_type, p[0].e164.as_str(), p[0].country.as_deref()),
            ("office", "+16175550142", Some("US"))
        );
        assert_eq!(
            (p[1].phone_type, p[1].e164.as_str(), p[1].extension.as_deref()),
            ("mobile", "+442079460958", Some("204"))
        );
        assert_eq!(p[1].country.as_deref(), Some("GB"));
        assert_eq!(p[2].extension.as_deref(), Some("7"));
    }

    #[test]
    fn phone_problems_name_the_member() {
        let e = parse_new_contact(&obj(json!({
            "contact_type": "sponsor", "company_id": 1,
            "phones": [{"raw": "12"}, {"type": "pager", "raw": "6175550142"}, "x", {"raw": "6175550142", "country": "USA"},
                       {"raw": "495 123 4567", "country": "RU"}, {"raw": "6175550142", "extension": "12a"}, {}]
        })))
        .unwrap_err();
        assert_eq!(
            fields(&e),
            [
                "phones[0].raw",
                "phones[1].type",
                "phones[2]",
                "phones[3].country",
                "phones[4].country",
                "phones[5].extension",
                "phones[6].raw"
            ]
        );
        let many: Vec<Value> = (0..=MAX_PHONES).map(|_| json!({"raw": "6175550142"})).collect();
        let e = parse_contact_changes(&obj(json!({ "phones": many }))).unwrap_err();
        assert_eq!(fields(&e), ["phones"]);
        assert!(parse_contact_changes(&obj(json!({"phones": null}))).is_err());
    }

    #[test]
    fn contact_patch_semantics() {
        let c = parse_contact_changes(&obj(json!({"title": "MD", "city": null, "phones": [], "contact_type": "x"})))
            .unwrap();
        assert_eq!(c.texts, vec![("title", Patch::Value("MD".to_string())), ("city", Patch::Null)]);
        assert_eq!(c.phones, Some(vec![]));
        assert!(!c.is_empty());
        assert!(parse_contact_changes(&obj(json!({}))).unwrap().is_empty());
        assert!(parse_contact_changes(&obj(json!({"is_primary": "yes"}))).is_err());
        assert!(parse_contact_changes(&obj(json!({"email": "not-an-email"}))).is_err());
    }

    #[test]
    fn email_rules() {
        assert!(email_change_allowed(Some("A@x.example"), &Patch::Value("a@X.example".into())));
        assert!(!email_change_allowed(Some("a@x.example"), &Patch::Value("b@x.example".into())));
        assert!(!email_change_allowed(Some("a@x.example"), &Patch::Null));
        assert!(email_change_allowed(None, &Patch::Value("b@x.example".into())));
        assert!(email_change_allowed(Some("a@x.example"), &Patch::Absent));
        for bad in [
            "",
            "a",
            "a@b",
            "@b.example",
            "a@.example",
            "a@b.example.",
            "a b@c.example",
            "a@b@c.example",
            "a@b..example",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
        assert!(valid_email("first.last+crm@sub.lender.example"));
    }

    #[test]
    fn company_inputs() {
        let e = parse_new_company(&obj(json!({}))).unwrap_err();
        assert_eq!(fields(&e), ["company_type", "name"]);
        let e = parse_new_company(&obj(json!({"name": " ", "company_type": "bank", "org_id": 0}))).unwrap_err();
        assert_eq!(fields(&e), ["company_type", "name", "org_id"]);
        let c = parse_new_company(&obj(
            json!({"name": "Keel Bank", "company_type": "lender", "org_id": 42, "city": "Salem"}),
        ))
        .unwrap();
        assert_eq!((c.org_id, c.texts.len()), (Some(42), 1));
        let ch = parse_company_changes(&obj(json!({"website": null, "org_id": null}))).unwrap();
        assert_eq!((ch.org_id, ch.texts), (Patch::Null, vec![("website", Patch::Null)]));
        assert!(parse_company_changes(&obj(json!({"name": null}))).is_err());
        assert!(parse_company_changes(&obj(json!({"company_type": null}))).is_err());
        assert!(parse_company_changes(&obj(json!({}))).unwrap().is_empty());
    }

    #[test]
    fn locked_contacts_are_masked() {
        let c = Contact {
            id: 1,
            contact_type: Some("lender_contact".into()),
            contact_types: vec!["lender_contact".into()],
            first_name: Some("Iris".into()),
            last_name: Some("Vale".into()),
            email: Some("iris@x.example".into()),
            title: Some("VP".into()),
            department: None,
            address: Some("1 Main".into()),
            address2: None,
            city: Some("Boston".into()),
            state: Some("MA".into()),
            zip: Some("02108".into()),
            linkedin_url: Some("https://linkedin.example/iris".into()),
            photo_url: None,
            phones: vec![Phone { id: None, phone_type: None, raw: None, country: None, e164: None, extension: None }],
            is_primary: false,
            owner_account_id: 1,
            is_connected: false,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            company_id: 1,
            locked: true,
        };
        assert_eq!(c.display_name(), None);
        let shown = c.clone().for_display();
        assert_eq!((shown.first_name, shown.email, shown.phones.len()), (None, None, 0));
        assert_eq!((shown.title.as_deref(), shown.city.as_deref()), (Some("VP"), Some("Boston")));
        let open = Contact { locked: false, ..c };
        assert_eq!(open.display_name().as_deref(), Some("Iris Vale"));
        let v = serde_json::to_value(open.for_display()).unwrap();
        assert_eq!(v.as_object().unwrap().len(), CONTACT_FIELDS.len());
        assert_eq!(v["phones"][0]["type"], Value::Null);
    }

    #[test]
    fn credits_states() {
        assert_eq!(
            serde_json::to_value(Credits::new(false, Some(5))).unwrap(),
            json!({"enabled": false, "balance": null, "unit": "credits"})
        );
        assert_eq!(Credits::new(true, None).balance, Some(0));
        assert!(!Credits::default_for(Tier::Free).enabled);
        assert_eq!(Credits::default_for(Tier::Standard).balance, Some(2_500));
        let s = serde_json::to_value(Subscription::for_tier(Tier::Enterprise)).unwrap();
        assert_eq!(s, json!({"type": "enterprise", "status": "active", "billing_cycle": "annual", "end_date": null}));
    }
}
