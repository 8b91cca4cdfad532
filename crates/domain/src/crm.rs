//! CRM and billing: contacts (with phones normalised to E.164), companies, the credits that pay
//! for contact unlocks, and the subscription/credit objects of the billing endpoints. Types as the
//! API shows them, input parsing for creates and updates, and the list grammar of each list.
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

// ---------------------------------------------------------------------------------------------
// Phone numbers

/// E.164 normalisation of phone numbers as people type them: NANP numbers in any of the usual
/// spellings, `+`-prefixed (or `00`/`011`-prefixed) international numbers, and national numbers
/// of a handful of common regions with their trunk prefix and length rules. Numbers of other
/// regions are accepted in international form under the general E.164 rules.
pub mod phone {
    /// Longest extension accepted.
    pub const MAX_EXTENSION_DIGITS: usize = 10;
    /// E.164 allows at most 15 digits after the `+`.
    const MAX_E164_DIGITS: usize = 15;
    /// Shortest international number in service (small island networks) is 7 digits.
    const MIN_E164_DIGITS: usize = 7;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum PhoneError {
        /// Characters that no phone spelling uses (letters other than an extension marker…).
        BadCharacters,
        /// An extension marker without 1–10 digits after it.
        BadExtension,
        /// A number without `+` for a region with no numbering rules here.
        UnsupportedRegion,
        /// Wrong length or digits for its region.
        Invalid,
    }

    impl PhoneError {
        pub fn message(self) -> &'static str {
            match self {
                PhoneError::BadCharacters => {
                    "is not a phone number (only digits, spaces, + ( ) - . / and an extension)"
                }
                PhoneError::BadExtension => "has an extension marker without 1 to 10 digits after it",
                PhoneError::UnsupportedRegion => {
                    "has no numbering rules for national numbers; send the number in international form (+...)"
                }
                PhoneError::Invalid => "is not a valid phone number for its region",
            }
        }
    }

    /// A normalised number.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Normalized {
        /// `+` and 7–15 digits.
        pub e164: String,
        /// ISO region of the number, when it is known.
        pub region: Option<String>,
        /// Extension written into the number (`x12`, `ext. 12`, `#12`).
        pub extension: Option<String>,
    }

    /// Numbering rules of one region.
    #[derive(Debug)]
    struct Region {
        iso: &'static str,
        calling_code: &'static str,
        /// Digit dialled before national numbers, dropped in international form.
        trunk: Option<u8>,
        /// Prefix for dialling abroad from this region.
        international_prefix: &'static str,
        /// Length bounds of the national significant number.
        min_len: usize,
        max_len: usize,
        /// Digits a national significant number may start with.
        first_digits: &'static [u8],
        /// North American area/exchange code rules.
        nanp: bool,
    }

    const fn nanp(iso: &'static str) -> Region {
        Region {
            iso,
            calling_code: "1",
            trunk: Some(b'1'),
            international_prefix: "011",
            min_len: 10,
            max_len: 10,
            first_digits: b"23456789",
            nanp: true,
        }
    }

    const fn plan(
        iso: &'static str,
        calling_code: &'static str,
        trunk: Option<u8>,
        len: (usize, usize),
        first_digits: &'static [u8],
    ) -> Region {
        Region {
            iso,
            calling_code,
            trunk,
            international_prefix: "00",
            min_len: len.0,
            max_len: len.1,
            first_digits,
            nanp: false,
        }
    }

    /// The first region of each calling code is the one reported for international input
    /// unless the caller's region shares the code.
    const REGIONS: &[Region] = &[
        nanp("US"),
        nanp("CA"),
        nanp("PR"),
        nanp("VI"),
        nanp("GU"),
        nanp("AS"),
        nanp("MP"),
        nanp("BS"),
        nanp("BB"),
        nanp("BM"),
        nanp("JM"),
        nanp("KY"),
        nanp("TT"),
        nanp("DO"),
        plan("GB", "44", Some(b'0'), (9, 10), b"1235789"),
        plan("IE", "353", Some(b'0'), (7, 9), b"123456789"),
        plan("DE", "49", Some(b'0'), (6, 13), b"123456789"),
        plan("FR", "33", Some(b'0'), (9, 9), b"123456789"),
        plan("ES", "34", None, (9, 9), b"6789"),
        // Italian landline numbers keep their leading 0 in international form: no trunk.
        plan("IT", "39", None, (6, 11), b"038"),
        plan("NL", "31", Some(b'0'), (9, 9), b"123456789"),
        plan("CH", "41", Some(b'0'), (9, 9), b"23456789"),
        plan("AU", "61", Some(b'0'), (9, 9), b"23478"),
        plan("IN", "91", Some(b'0'), (10, 10), b"23456789"),
        plan("JP", "81", Some(b'0'), (9, 10), b"123456789"),
        plan("SG", "65", None, (8, 8), b"3689"),
        plan("HK", "852", None, (8, 8), b"2356789"),
        plan("MX", "52", None, (10, 10), b"123456789"),
        plan("BR", "55", Some(b'0'), (10, 11), b"123456789"),
        plan("AE", "971", Some(b'0'), (8, 9), b"234679"),
    ];

    fn region(iso: &str) -> Option<&'static Region> {
        REGIONS.iter().find(|r| r.iso.eq_ignore_ascii_case(iso))
    }

    /// The region whose calling code starts `digits`; calling codes are prefix-free, so at most
    /// one code matches.
    fn region_by_calling_code(digits: &str) -> Option<&'static Region> {
        REGIONS.iter().find(|r| digits.starts_with(r.calling_code))
    }

    /// Characters people use to group digits.
    fn is_separator(c: char) -> bool {
        matches!(c, ' ' | '-' | '.' | '(' | ')' | '/' | '\t' | '\u{a0}' | '\u{2010}'..='\u{2015}' | '\u{2212}')
    }

    /// `Some(digits)` for 1–10 ASCII digits.
    pub fn parse_extension(s: &str) -> Option<String> {
        (!s.is_empty() && s.len() <= MAX_EXTENSION_DIGITS && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.to_string())
    }

    /// Splits `raw` into the number and an extension written after a marker.
    fn split_extension(raw: &str) -> Result<(&str, Option<String>), PhoneError> {
        let Some((at, _)) = raw.char_indices().find(|(_, c)| c.is_alphabetic() || matches!(c, '#' | ';' | ',')) else {
            return Ok((raw, None));
        };
        let (number, tail) = raw.split_at(at);
        let tail = tail.to_lowercase();
        const MARKERS: &[&str] = &[";ext=", "extension", "ext.", "ext", "x.", "x", "#", ","];
        let Some(rest) = MARKERS.iter().find_map(|m| tail.strip_prefix(m)) else {
            return Err(PhoneError::BadCharacters);
        };
        let digits = rest.trim_start_matches([' ', ':', '.', ',', '=', '#']).trim_end();
        parse_extension(digits).map(|e| (number, Some(e))).ok_or(PhoneError::BadExtension)
    }

    /// Checks a national significant number against its region.
    fn valid_nsn(r: &Region, nsn: &str) -> bool {
        let b = nsn.as_bytes();
        if b.len() < r.min_len || b.len() > r.max_len || !b.first().is_some_and(|d| r.first_digits.contains(d)) {
            return false;
        }
        if r.nanp {
            // NPA-NXX-XXXX: area code N11 is a service code, exchanges start with 2-9.
            let service_area = b.get(1) == Some(&b'1') && b.get(2) == Some(&b'1');
            let exchange_ok = b.get(3).is_some_and(|d| (b'2'..=b'9').contains(d));
            return !service_area && exchange_ok;
        }
        true
    }

    fn finish(r: &Region, nsn: &str) -> Result<String, PhoneError> {
        let e164 = format!("+{}{nsn}", r.calling_code);
        if e164.len() - 1 > MAX_E164_DIGITS || !valid_nsn(r, nsn) {
            return Err(PhoneError::Invalid);
        }
        Ok(e164)
    }

    /// International digits (after `+`, `00` or `011`).
    fn international(digits: &str, hint: Option<&str>) -> Result<Normalized, PhoneError> {
        if let Some(r) = region_by_calling_code(digits) {
            let mut nsn = &digits[r.calling_code.len()..];
            // "+44 (0)20 …": the national trunk digit written inside an international number.
            if r.trunk == Some(b'0') && nsn.starts_with('0') {
                nsn = &nsn[1..];
            }
            let e164 = finish(r, nsn)?;
            // The caller's region wins when it shares the calling code (+1: US or CA …).
            let reported = hint.and_then(region).filter(|h| h.calling_code == r.calling_code).unwrap_or(r);
            return Ok(Normalized { e164, region: Some(reported.iso.to_string()), extension: None });
        }
        let len = digits.len();
        if !(MIN_E164_DIGITS..=MAX_E164_DIGITS).contains(&len) || digits.starts_with('0') {
            return Err(PhoneError::Invalid);
        }
        Ok(Normalized { e164: format!("+{digits}"), region: hint.map(str::to_ascii_uppercase), extension: None })
    }

    /// Normalises `raw` to E.164. `region` (two letters) says how to read a number without `+`;
    /// `None` means `US`.
    pub fn normalize(raw: &str, region_hint: Option<&str>) -> Result<Normalized, PhoneError> {
        let (number, extension) = split_extension(raw.trim())?;
        let number = number.trim();
        let (plus, body) = match number.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, number),
        };
        let mut digits = String::with_capacity(body.len());
        for c in body.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
            } else if !is_separator(c) {
                return Err(PhoneError::BadCharacters);
            }
        }
        if digits.is_empty() {
            return Err(PhoneError::Invalid);
        }
        let mut out = if plus {
            international(&digits, region_hint)?
        } else {
            let r = region(region_hint.unwrap_or("US")).ok_or(PhoneError::UnsupportedRegion)?;
            match digits.strip_prefix(r.international_prefix) {
                Some(rest) if !rest.is_empty() => international(rest, region_hint)?,
                _ => {
                    let nsn = match r.trunk {
                        // NANP: "1 617 555 0142" carries the trunk 1 before ten digits.
                        Some(t) if r.nanp => match digits.strip_prefix(char::from(t)) {
                            Some(rest) if digits.len() == r.max_len + 1 => rest,
                            _ => digits.as_str(),
                        },
                        Some(t) => digits.strip_prefix(char::from(t)).unwrap_or(&digits),
                        None => digits.as_str(),
                    };
                    Normalized { e164: finish(r, nsn)?, region: Some(r.iso.to_string()), extension: None }
                }
            }
        };
        out.extension = extension;
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use proptest::prelude::*;

        fn e164(raw: &str, region: Option<&str>) -> String {
            normalize(raw, region).unwrap_or_else(|e| panic!("{raw:?} ({region:?}): {e:?}")).e164
        }

        #[test]
        fn us_spellings() {
            for raw in [
                "(617) 555-0142",
                "617-555-0142",
                "617.555.0142",
                "617 555 0142",
                "6175550142",
                "1 617 555 0142",
                "1-617-555-0142",
                "+1 (617) 555-0142",
                "+16175550142",
                "011 1 617 555 0142",
                " (617)\u{a0}555\u{2013}0142 ",
            ] {
                assert_eq!(e164(raw, None), "+16175550142", "{raw}");
            }
            let n = normalize("(617) 555-0142", None).unwrap();
            assert_eq!(n.region.as_deref(), Some("US"));
        }

        #[test]
        fn nanp_rules() {
            for bad in [
                "555-0142",
                "617-555-014",
                "617-555-01422",
                "(117) 555-0142",
                "(611) 555-0142",
                "(617) 155-0142",
                "2 617 555 0142",
            ] {
                assert_eq!(normalize(bad, None), Err(PhoneError::Invalid), "{bad}");
            }
            // Canada shares +1; the caller's region is kept.
            let n = normalize("+1 416 555 0199", Some("CA")).unwrap();
            assert_eq!((n.e164.as_str(), n.region.as_deref()), ("+14165550199", Some("CA")));
            let n = normalize("+1 416 555 0199", Some("GB")).unwrap();
            assert_eq!(n.region.as_deref(), Some("US"));
        }

        #[test]
        fn extensions() {
            for raw in [
                "617-555-0142 x12",
                "617-555-0142 ext. 12",
                "617-555-0142 Ext 12",
                "617-555-0142#12",
                "617-555-0142;ext=12",
                "617 555 0142, 12",
                "617-555-0142 extension: 12",
            ] {
                let n = normalize(raw, None).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
                assert_eq!((n.e164.as_str(), n.extension.as_deref()), ("+16175550142", Some("12")), "{raw}");
            }
            assert_eq!(normalize("617-555-0142 x", None), Err(PhoneError::BadExtension));
            assert_eq!(normalize("617-555-0142 x12345678901", None), Err(PhoneError::BadExtension));
            assert_eq!(normalize("1-800-FLOWERS", None), Err(PhoneError::BadCharacters));
            assert_eq!(normalize("call me", None), Err(PhoneError::BadCharacters));
        }

        #[test]
        fn international_regions() {
            let cases: &[(&str, Option<&str>, &str, &str)] = &[
                ("020 7946 0958", Some("GB"), "+442079460958", "GB"),
                ("+44 (0)20 7946 0958", None, "+442079460958", "GB"),
                ("0044 20 7946 0958", Some("DE"), "+442079460958", "GB"),
                ("07700 900123", Some("gb"), "+447700900123", "GB"),
                ("030 123456", Some("DE"), "+4930123456", "DE"),
                ("01 23 45 67 89", Some("FR"), "+33123456789", "FR"),
                ("612 345 678", Some("ES"), "+34612345678", "ES"),
                ("06 1234 5678", Some("IT"), "+390612345678", "IT"),
                ("+39 06 1234 5678", None, "+390612345678", "IT"),
                ("020 123 4567", Some("NL"), "+31201234567", "NL"),
                ("044 668 18 00", Some("CH"), "+41446681800", "CH"),
                ("(02) 9876 5432", Some("AU"), "+61298765432", "AU"),
                ("0412 345 678", Some("AU"), "+61412345678", "AU"),
                ("098765 43210", Some("IN"), "+919876543210", "IN"),
                ("03-1234-5678", Some("JP"), "+81312345678", "JP"),
                ("6123 4567", Some("SG"), "+6561234567", "SG"),
                ("2123 4567", Some("HK"), "+85221234567", "HK"),
                ("55 1234 5678", Some("MX"), "+525512345678", "MX"),
                ("(11) 91234-5678", Some("BR"), "+5511912345678", "BR"),
                ("01 234 5678", Some("IE"), "+35312345678", "IE"),
                ("04 123 4567", Some("AE"), "+97141234567", "AE"),
            ];
            for (raw, region, expected, iso) in cases {
                let n = normalize(raw, *region).unwrap_or_else(|e| panic!("{raw}: {e:?}"));
                assert_eq!((n.e164.as_str(), n.region.as_deref()), (*expected, Some(*iso)), "{raw}");
            }
        }

        #[test]
        fn other_codes_follow_the_general_rules() {
            let n = normalize("+7 495 123-45-67", None).unwrap();
            assert_eq!((n.e164.as_str(), n.region), ("+74951234567", None));
            let n = normalize("+7 495 123-45-67", Some("ru")).unwrap();
            assert_eq!(n.region.as_deref(), Some("RU"));
            assert_eq!(normalize("+0 123 4567", None), Err(PhoneError::Invalid));
            assert_eq!(normalize("+7 12", None), Err(PhoneError::Invalid));
            assert_eq!(normalize("+7 1234 5678 9012 3456", None), Err(PhoneError::Invalid));
            assert_eq!(normalize("495 123 4567", Some("RU")), Err(PhoneError::UnsupportedRegion));
        }

        #[test]
        fn region_rules_reject() {
            for (raw, region) in [
                ("020 7946 09", "GB"),
                ("+44 20 7946 09581", "GB"),
                ("+44 4 1234 5678", "GB"),
                ("512 345 678", "ES"),
                ("0412 345 67", "AU"),
                ("+61 5 1234 5678", "AU"),
                ("1234 5678", "SG"),
                ("+", "US"),
                ("", "US"),
                ("++1 617 555 0142", "US"),
                ("617+555+0142", "US"),
            ] {
                assert!(normalize(raw, Some(region)).is_err(), "{raw} ({region})");
            }
        }

        fn nanp_number() -> impl Strategy<Value = (String, String, String)> {
            (
                (2u8..=9, 0u8..=9, 0u8..=9)
                    .prop_filter("N11 area codes are service codes", |(_, b, c)| !(*b == 1 && *c == 1)),
                (2u8..=9, 0u8..=9, 0u8..=9),
                0u16..=9999,
            )
                .prop_map(|((a, b, c), (d, e, f), line)| {
                    (format!("{a}{b}{c}"), format!("{d}{e}{f}"), format!("{line:04}"))
                })
        }

        proptest! {
            #[test]
            fn every_us_spelling_gives_one_e164((area, exchange, line) in nanp_number(), style in 0usize..7) {
                let raw = match style {
                    0 => format!("({area}) {exchange}-{line}"),
                    1 => format!("{area}-{exchange}-{line}"),
                    2 => format!("{area}.{exchange}.{line}"),
                    3 => format!("{area}{exchange}{line}"),
                    4 => format!("1 {area} {exchange} {line}"),
                    5 => format!("+1 ({area}) {exchange}-{line}"),
                    _ => format!("+1{area}{exchange}{line}"),
                };
                let n = normalize(&raw, None).unwrap();
                prop_assert_eq!(n.e164, format!("+1{area}{exchange}{line}"));
            }

            #[test]
            fn output_is_canonical_and_stable(raw in "[+]?[0-9 ()./-]{0,24}", region in prop::sample::select(vec!["US", "GB", "DE", "FR", "AU", "JP", "IT", "ZZ"])) {
                if let Ok(n) = normalize(&raw, Some(region)) {
                    let digits = &n.e164[1..];
                    prop_assert!(n.e164.starts_with('+'));
                    prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                    prop_assert!((MIN_E164_DIGITS..=MAX_E164_DIGITS).contains(&digits.len()), "{}", n.e164);
                    prop_assert!(!digits.starts_with('0'));
                    // Normalising the output again changes nothing.
                    let again = normalize(&n.e164, n.region.as_deref()).unwrap();
                    prop_assert_eq!(&again.e164, &n.e164);
                    prop_assert_eq!(again.region, n.region);
                }
            }

            #[test]
            fn never_panics(raw in any::<String>(), region in "[A-Za-z]{2}") {
                let _ = normalize(&raw, Some(&region));
            }
        }
    }
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
