//! The built-in lender directory: 300 made-up lenders with their programs, generated from a
//! fixed seed so every build and every node has the same directory. The database loads it the
//! first time the directory is used (`levd_store::Store::with_builtin_lenders`), demo or not.
use std::collections::HashSet;

use levd_domain::directory::{NewLender, NewProgram, US_STATES};

fn state_name(code: &str) -> &'static str {
    US_STATES.iter().find(|(c, _)| *c == code).map_or("", |(_, n)| *n)
}

/// First lender id of the built-in directory (ids are organization ids).
pub const BUILTIN_FIRST_LENDER_ID: i64 = 7001;

/// SplitMix64: tiny, fast and fully determined by its seed, so every levd build ships the
/// same directory.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    NationalBank,
    RegionalBank,
    CommunityBank,
    CreditUnion,
    DebtFund,
    LifeCompany,
    Cmbs,
    Agency,
    MortgageReit,
    PrivateLender,
}

/// How many lenders of each kind the built-in directory holds (300 in all).
const MIX: &[(Kind, usize)] = &[
    (Kind::NationalBank, 8),
    (Kind::RegionalBank, 42),
    (Kind::CommunityBank, 70),
    (Kind::CreditUnion, 30),
    (Kind::DebtFund, 60),
    (Kind::LifeCompany, 20),
    (Kind::Cmbs, 18),
    (Kind::Agency, 22),
    (Kind::MortgageReit, 12),
    (Kind::PrivateLender, 18),
];

/// Lending regions: how descriptions name them ("across …") and their states.
const REGIONS: &[(&str, &[&str])] = &[
    ("New England", &["CT", "ME", "MA", "NH", "RI", "VT"]),
    ("the Mid-Atlantic", &["DE", "DC", "MD", "NJ", "NY", "PA"]),
    ("the Southeast", &["AL", "FL", "GA", "KY", "MS", "NC", "SC", "TN", "VA", "WV"]),
    ("the Midwest", &["IL", "IN", "IA", "MI", "MN", "MO", "OH", "WI"]),
    ("the Great Plains", &["KS", "NE", "ND", "SD"]),
    ("the South Central states", &["AR", "LA", "OK", "TX"]),
    ("the Mountain West", &["AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY"]),
    ("the Pacific states", &["AK", "CA", "HI", "OR", "WA"]),
];

fn region_of(state: &str) -> (&'static str, &'static [&'static str]) {
    REGIONS.iter().find(|(_, states)| states.contains(&state)).copied().unwrap_or(REGIONS[0])
}

/// Headquarters: city, state, ZIP, and whether it is a financial centre (where funds, insurers
/// and conduits sit).
const CITIES: &[(&str, &str, &str, bool)] = &[
    ("Boston", "MA", "02110", true),
    ("Worcester", "MA", "01608", false),
    ("Springfield", "MA", "01103", false),
    ("Hartford", "CT", "06103", true),
    ("Greenwich", "CT", "06830", true),
    ("New Haven", "CT", "06510", false),
    ("Providence", "RI", "02903", false),
    ("Portland", "ME", "04101", false),
    ("Manchester", "NH", "03101", false),
    ("Burlington", "VT", "05401", false),
    ("New York", "NY", "10017", true),
    ("New York", "NY", "10022", true),
    ("Buffalo", "NY", "14202", false),
    ("Rochester", "NY", "14604", false),
    ("Albany", "NY", "12207", false),
    ("Philadelphia", "PA", "19103", true),
    ("Pittsburgh", "PA", "15222", false),
    ("Harrisburg", "PA", "17101", false),
    ("Newark", "NJ", "07102", false),
    ("Princeton", "NJ", "08540", false),
    ("Baltimore", "MD", "21202", false),
    ("Bethesda", "MD", "20814", true),
    ("Wilmington", "DE", "19801", false),
    ("Washington", "DC", "20006", true),
    ("Charlotte", "NC", "28202", true),
    ("Raleigh", "NC", "27601", false),
    ("Atlanta", "GA", "30303", true),
    ("Savannah", "GA", "31401", false),
    ("Miami", "FL", "33131", true),
    ("Tampa", "FL", "33602", false),
    ("Orlando", "FL", "32801", false),
    ("Jacksonville", "FL", "32202", false),
    ("Nashville", "TN", "37203", false),
    ("Memphis", "TN", "38103", false),
    ("Birmingham", "AL", "35203", false),
    ("Louisville", "KY", "40202", false),
    ("Richmond", "VA", "23219", false),
    ("Charleston", "SC", "29401", false),
    ("Jackson", "MS", "39201", false),
    ("Charleston", "WV", "25301", false),
    ("Chicago", "IL", "60603", true),
    ("Columbus", "OH", "43215", false),
    ("Cleveland", "OH", "44114", false),
    ("Cincinnati", "OH", "45202", false),
    ("Detroit", "MI", "48226", false),
    ("Grand Rapids", "MI", "49503", false),
    ("Indianapolis", "IN", "46204", false),
    ("Milwaukee", "WI", "53202", true),
    ("Madison", "WI", "53703", false),
    ("Minneapolis", "MN", "55402", true),
    ("St. Louis", "MO", "63101", false),
    ("Kansas City", "MO", "64105", false),
    ("Des Moines", "IA", "50309", true),
    ("Omaha", "NE", "68102", true),
    ("Wichita", "KS", "67202", false),
    ("Sioux Falls", "SD", "57104", false),
    ("Fargo", "ND", "58102", false),
    ("Dallas", "TX", "75201", true),
    ("Houston", "TX", "77002", true),
    ("Austin", "TX", "78701", false),
    ("San Antonio", "TX", "78205", false),
    ("Oklahoma City", "OK", "73102", false),
    ("Tulsa", "OK", "74103", false),
    ("Little Rock", "AR", "72201", false),
    ("New Orleans", "LA", "70130", false),
    ("Baton Rouge", "LA", "70801", false),
    ("Denver", "CO", "80202", true),
    ("Phoenix", "AZ", "85004", false),
    ("Scottsdale", "AZ", "85251", false),
    ("Salt Lake City", "UT", "84101", false),
    ("Boise", "ID", "83702", false),
    ("Las Vegas", "NV", "89101", false),
    ("Reno", "NV", "89501", false),
    ("Albuquerque", "NM", "87102", false),
    ("Billings", "MT", "59101", false),
    ("Cheyenne", "WY", "82001", false),
    ("Los Angeles", "CA", "90071", true),
    ("San Francisco", "CA", "94111", true),
    ("San Diego", "CA", "92101", false),
    ("Irvine", "CA", "92618", true),
    ("Newport Beach", "CA", "92660", true),
    ("Sacramento", "CA", "95814", false),
    ("Seattle", "WA", "98101", true),
    ("Spokane", "WA", "99201", false),
    ("Portland", "OR", "97204", false),
    ("Honolulu", "HI", "96813", false),
    ("Anchorage", "AK", "99501", false),
    ("San Juan", "PR", "00901", false),
];

/// Made-up place names are built from these halves ("Fernbrook", "Larchmere", …).
const PLACE_HEADS: &[&str] = &[
    "Alder", "Ash", "Birch", "Bramble", "Cedar", "Clover", "Copper", "Elk", "Fern", "Flint", "Glen", "Granite", "Hawk",
    "Heron", "Juniper", "Keel", "Kestrel", "Lantern", "Larch", "Laurel", "Linden", "Marsh", "Meadow", "Mill", "Oak",
    "Orchard", "Osprey", "Pine", "Prairie", "Quarry", "Raven", "Reed", "Rook", "Sage", "Shore", "Sparrow", "Spruce",
    "Tallow", "Thorn", "Tide", "Timber", "Wren",
];
const PLACE_TAILS: &[&str] = &[
    "brook", "crest", "dale", "field", "ford", "haven", "hurst", "land", "mere", "moor", "point", "ridge", "stead",
    "ton", "vale", "water", "wick", "wood",
];
const SURNAMES: &[&str] = &[
    "Ashcombe",
    "Bellamy",
    "Calloway",
    "Davenport",
    "Ellery",
    "Fairbourne",
    "Garrick",
    "Hadley",
    "Iverson",
    "Jessop",
    "Kingsford",
    "Lowell",
    "Marlow",
    "Norwood",
    "Oakes",
    "Pemberton",
    "Quill",
    "Radford",
    "Sayer",
    "Thackeray",
    "Underhill",
    "Vantner",
    "Whitcombe",
    "Yardley",
    "Winslow",
    "Crane",
    "Holloway",
    "Prescott",
    "Sinclair",
    "Talbot",
    "Ainsley",
    "Brennan",
    "Corwin",
    "Dunmore",
    "Everly",
    "Fenwick",
];
const NOUNS: &[&str] = &[
    "Harbor",
    "Summit",
    "Keystone",
    "Meridian",
    "Beacon",
    "Anchor",
    "Compass",
    "Lodestar",
    "Bastion",
    "Cornerstone",
    "Trestle",
    "Ironwood",
    "Northlight",
    "Waypoint",
    "Tidewater",
    "Bluestem",
    "Highline",
    "Fieldstone",
];

/// Asset-type names used in lender descriptions.
const FOCUS: &[&str] = &[
    "multifamily",
    "industrial",
    "retail",
    "office",
    "hospitality",
    "self storage",
    "senior housing",
    "student housing",
    "mixed-use",
    "manufactured housing",
    "build-to-rent",
    "medical office",
];

fn place(rng: &mut Rng) -> String {
    format!("{}{}", rng.pick(PLACE_HEADS), rng.pick(PLACE_TAILS))
}

/// How lenders of each kind are named: `{p}` is a place, `{s}` a surname, `{n}` a noun and
/// `{city}` the lender's city.
fn name_patterns(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::NationalBank => &["{p} National Bank", "{s} {n} Bank", "United {p} Bank"],
        Kind::RegionalBank => &["{p} Bank", "{p} Bank & Trust", "{n} {p} Bank", "{s} Bank"],
        Kind::CommunityBank => {
            &["First {p} Bank", "{p} Savings Bank", "{p} Community Bank", "{city} {p} Bank", "{p} Federal Savings"]
        }
        Kind::CreditUnion => &["{p} Federal Credit Union", "{p} Community Credit Union", "{city} {p} Credit Union"],
        Kind::DebtFund => &[
            "{s} {n} Capital",
            "{p} Credit Partners",
            "{s} Real Estate Credit",
            "{n} Bridge Lending",
            "{p} Structured Finance",
        ],
        Kind::LifeCompany => &["{s} Mutual Life", "{p} Life Insurance Company", "{s} Life & Annuity"],
        Kind::Cmbs => &["{s} Commercial Mortgage", "{p} Conduit Capital", "{n} Securitized Lending"],
        Kind::Agency => &["{s} Multifamily Finance", "{p} Agency Lending", "{s} {n} Housing Capital"],
        Kind::MortgageReit => &["{p} Realty Finance Trust", "{s} Mortgage Trust"],
        Kind::PrivateLender => &["{p} Private Lending", "{s} Asset-Based Lending", "{city} {n} Funding"],
    }
}

fn lender_name(kind: Kind, rng: &mut Rng, city: &str) -> String {
    let p = place(rng);
    let s = *rng.pick(SURNAMES);
    let n = *rng.pick(NOUNS);
    let pattern = *rng.pick(name_patterns(kind));
    pattern.replace("{p}", &p).replace("{s}", s).replace("{n}", n).replace("{city}", city)
}

/// Lower-case words joined by `-`: used for made-up web and mail domains.
fn slug(name: &str) -> String {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect::<Vec<_>>()
        .join("-")
}

/// Words that describe the kind of firm rather than name it.
const GENERIC_WORDS: &[&str] = &[
    "Bank",
    "Trust",
    "&",
    "Savings",
    "Community",
    "Federal",
    "Credit",
    "Union",
    "Capital",
    "Partners",
    "Lending",
    "Finance",
    "Mutual",
    "Life",
    "Insurance",
    "Company",
    "Annuity",
    "Commercial",
    "Mortgage",
    "Conduit",
    "National",
    "Real",
    "Estate",
    "Structured",
    "Securitized",
    "Agency",
    "Multifamily",
    "Housing",
    "Realty",
    "Private",
    "Funding",
    "Asset-Based",
    "Bridge",
    "First",
    "United",
];

fn aliases_for(name: &str, rng: &mut Rng) -> Vec<String> {
    let words: Vec<&str> = name.split(' ').collect();
    let mut out = Vec::new();
    let short: Vec<&str> = words.iter().copied().filter(|w| !GENERIC_WORDS.contains(w)).collect();
    if !short.is_empty() && short.len() < words.len() && rng.chance(70) {
        out.push(short.join(" "));
    }
    let initials: String =
        words.iter().filter(|w| **w != "&").filter_map(|w| w.chars().next()).filter(char::is_ascii_uppercase).collect();
    if initials.len() >= 3 && rng.chance(50) {
        out.push(initials);
    }
    out
}

struct ProgramTemplate {
    title: &'static str,
    loan_types: &'static [&'static str],
    recourse: &'static [&'static str],
    positions: &'static [&'static str],
    /// Candidate minimum and maximum loan amounts, in dollars.
    mins: &'static [f64],
    maxes: &'static [f64],
    /// Percent chance that a lender of the kind offers it (the first template is always
    /// offered).
    chance: u64,
}

const NR: &[&str] = &["non_recourse"];
const PR: &[&str] = &["partial_recourse", "full_recourse"];
const FR: &[&str] = &["full_recourse"];
const SENIOR: &[&str] = &["senior"];

const fn t(
    title: &'static str,
    loan_types: &'static [&'static str],
    recourse: &'static [&'static str],
    positions: &'static [&'static str],
    mins: &'static [f64],
    maxes: &'static [f64],
    chance: u64,
) -> ProgramTemplate {
    ProgramTemplate { title, loan_types, recourse, positions, mins, maxes, chance }
}

const NATIONAL_BANK: &[ProgramTemplate] = &[
    t(
        "CRE Term Loan",
        &["permanent"],
        &["non_recourse", "partial_recourse"],
        SENIOR,
        &[5e6, 10e6],
        &[150e6, 250e6],
        100,
    ),
    t("Construction Lending", &["construction"], PR, SENIOR, &[10e6, 15e6], &[200e6, 300e6], 85),
    t("Bridge & Repositioning", &["light_bridge"], &["partial_recourse"], SENIOR, &[10e6], &[100e6, 150e6], 60),
];
const REGIONAL_BANK: &[ProgramTemplate] = &[
    t("Commercial Real Estate Term Loan", &["permanent"], PR, SENIOR, &[1e6, 2e6], &[35e6, 50e6, 75e6], 100),
    t("Construction Loan", &["construction"], PR, SENIOR, &[2e6, 3e6], &[40e6, 60e6], 75),
    t("Light Bridge Loan", &["light_bridge"], PR, SENIOR, &[2e6], &[25e6, 40e6], 45),
];
const COMMUNITY_BANK: &[ProgramTemplate] = &[
    t("Investor Real Estate Loan", &["permanent"], FR, SENIOR, &[250e3, 500e3], &[7.5e6, 10e6, 15e6], 100),
    t("Construction & Land Development", &["construction", "land"], FR, SENIOR, &[250e3, 500e3], &[5e6, 8e6], 60),
    t("Owner-Occupied CRE", &["permanent"], FR, SENIOR, &[100e3, 250e3], &[5e6], 50),
];
const CREDIT_UNION: &[ProgramTemplate] = &[
    t("Member Business CRE Loan", &["permanent"], FR, SENIOR, &[100e3, 250e3], &[3e6, 5e6], 100),
    t("Small-Balance Construction", &["construction"], FR, SENIOR, &[250e3], &[2.5e6, 4e6], 35),
];
const DEBT_FUND: &[ProgramTemplate] = &[
    t(
        "Transitional Bridge",
        &["heavy_bridge", "light_bridge"],
        NR,
        SENIOR,
        &[5e6, 10e6, 15e6],
        &[75e6, 150e6, 250e6],
        100,
    ),
    t(
        "Mezzanine & Preferred Equity",
        &["heavy_bridge", "light_bridge", "permanent"],
        NR,
        &["mezzanine", "preferred_equity"],
        &[3e6, 5e6],
        &[50e6, 75e6],
        50,
    ),
    t(
        "Construction Lending",
        &["construction"],
        &["non_recourse", "partial_recourse"],
        SENIOR,
        &[10e6, 20e6],
        &[150e6, 250e6],
        45,
    ),
    t("Land & Predevelopment", &["land", "predevelopment"], PR, SENIOR, &[3e6, 5e6], &[30e6, 50e6], 25),
];
const LIFE_COMPANY: &[ProgramTemplate] = &[
    t("Fixed-Rate Permanent", &["permanent"], NR, SENIOR, &[5e6, 10e6], &[100e6, 150e6, 250e6], 100),
    t("Forward Commitment", &["permanent", "construction"], NR, SENIOR, &[10e6], &[75e6, 100e6], 40),
    t("Credit Tenant Lease Financing", &["permanent"], NR, SENIOR, &[5e6], &[60e6], 30),
];
const CMBS: &[ProgramTemplate] = &[
    t("Conduit Fixed-Rate", &["permanent"], NR, SENIOR, &[2e6, 3e6], &[75e6, 100e6], 100),
    t("Single Asset / Single Borrower", &["permanent"], NR, &["senior", "b_note"], &[100e6], &[750e6, 1e9], 40),
    t("Floating-Rate Bridge for Securitization", &["light_bridge"], NR, SENIOR, &[10e6], &[100e6], 30),
];
const AGENCY: &[ProgramTemplate] = &[
    t("Fannie Mae DUS Multifamily", &["permanent"], NR, SENIOR, &[3e6, 5e6], &[150e6, 250e6], 100),
    t("Freddie Mac Small Balance", &["permanent"], NR, SENIOR, &[1e6], &[7.5e6], 70),
    t("FHA 223(f) Refinance & Acquisition", &["permanent"], NR, SENIOR, &[2e6], &[100e6, 150e6], 60),
    t("FHA 221(d)(4) Construction", &["construction"], NR, SENIOR, &[5e6], &[100e6, 150e6], 45),
];
const MORTGAGE_REIT: &[ProgramTemplate] = &[
    t("Floating-Rate Bridge", &["light_bridge", "heavy_bridge"], NR, SENIOR, &[15e6, 20e6], &[200e6, 300e6], 100),
    t("Construction Mezzanine", &["construction"], NR, &["mezzanine"], &[10e6], &[75e6], 45),
];
const PRIVATE_LENDER: &[ProgramTemplate] = &[
    t("Fix-and-Flip Bridge", &["heavy_bridge"], FR, SENIOR, &[250e3, 500e3], &[5e6, 10e6], 100),
    t("Land Acquisition", &["land", "predevelopment"], FR, SENIOR, &[500e3], &[7.5e6, 10e6], 55),
    t("Rescue Capital", &["heavy_bridge", "light_bridge"], PR, &["senior", "mezzanine"], &[1e6], &[15e6], 35),
];

struct KindProfile {
    lender_type: &'static [&'static str],
    category: &'static str,
    capital_source: &'static str,
    programs: &'static [ProgramTemplate],
    /// Headquarters in a financial centre.
    big_city: bool,
    /// Percent chance of a nationwide footprint (else regional or local).
    national: u64,
}

fn profile(kind: Kind) -> KindProfile {
    let p = |lender_type, category, capital_source, programs, big_city, national| KindProfile {
        lender_type,
        category,
        capital_source,
        programs,
        big_city,
        national,
    };
    match kind {
        Kind::NationalBank => p(&["bank"][..], "National Bank", "balance_sheet", NATIONAL_BANK, true, 100),
        Kind::RegionalBank => p(&["bank"][..], "Regional Bank", "balance_sheet", REGIONAL_BANK, false, 0),
        Kind::CommunityBank => p(&["bank"][..], "Community Bank", "balance_sheet", COMMUNITY_BANK, false, 0),
        Kind::CreditUnion => p(&["credit_union"][..], "Credit Union", "balance_sheet", CREDIT_UNION, false, 0),
        Kind::DebtFund => p(&["debt_fund"][..], "Debt Fund", "private_fund", DEBT_FUND, true, 70),
        Kind::LifeCompany => p(&["life_company"][..], "Life Insurance Company", "insurance", LIFE_COMPANY, true, 100),
        Kind::Cmbs => p(&["cmbs"][..], "CMBS Conduit", "cmbs", CMBS, true, 100),
        Kind::Agency => p(&["agency"][..], "Agency Lender", "agency", AGENCY, true, 100),
        Kind::MortgageReit => p(&["mortgage_reit", "debt_fund"][..], "Mortgage REIT", "reit", MORTGAGE_REIT, true, 100),
        Kind::PrivateLender => {
            p(&["private_lender"][..], "Private Lender", "private_capital", PRIVATE_LENDER, false, 0)
        }
    }
}

fn about(kind: Kind, city: &str, state: &str, region: &str, national: bool, focus: &str) -> String {
    let st = state_name(state);
    let reach = if national { "nationwide".to_string() } else { format!("across {region}") };
    let first = match kind {
        Kind::NationalBank => format!(
            "Commercial bank headquartered in {city}, {st}, with a real estate finance group lending {reach} on stabilized and transitional properties."
        ),
        Kind::RegionalBank => format!(
            "Regional bank based in {city}, {st}, serving commercial real estate investors and developers {reach}."
        ),
        Kind::CommunityBank => format!(
            "Community bank in {city}, {st}, making relationship-based investor and owner-occupied real estate loans close to home."
        ),
        Kind::CreditUnion => format!(
            "Member-owned credit union in {city}, {st}, with a member business lending program for small-balance commercial real estate."
        ),
        Kind::DebtFund => format!(
            "Real estate credit manager based in {city}, {st}, providing non-recourse bridge, construction and subordinate financing {reach}."
        ),
        Kind::LifeCompany => format!(
            "Insurance company general-account lender in {city}, {st}, offering low-leverage, long-term fixed-rate loans on high-quality stabilized assets {reach}."
        ),
        Kind::Cmbs => format!(
            "Conduit lender in {city}, {st}, originating fixed-rate loans for securitization on stabilized commercial properties {reach}."
        ),
        Kind::Agency => format!(
            "Multifamily finance company in {city}, {st}, originating Fannie Mae, Freddie Mac and FHA-insured loans for apartment, senior and student housing owners {reach}."
        ),
        Kind::MortgageReit => format!(
            "Commercial mortgage REIT based in {city}, {st}, lending floating-rate bridge loans on transitional assets {reach}."
        ),
        Kind::PrivateLender => format!(
            "Private lender in {city}, {st}, making short-term, asset-based loans to investors and developers {reach}."
        ),
    };
    format!("{first} Preferred asset types: {focus}.")
}

/// Rounds a loan amount to a figure a lender would publish.
fn round_amount(x: f64) -> f64 {
    let step = if x < 1e6 {
        50e3
    } else if x < 10e6 {
        250e3
    } else {
        1e6
    };
    (x / step).round() * step
}

fn timestamp_from(day: time::Date, seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    format!("{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}Z", day.year(), u8::from(day.month()), day.day())
}

/// The built-in lender directory: 300 made-up lenders of every kind (banks, credit unions,
/// debt funds, life companies, CMBS conduits, agency lenders, mortgage REITs, private lenders)
/// with their programs. Deterministic: the same on every build and every node.
pub fn builtin_lenders() -> Vec<NewLender> {
    let mut rng = Rng(0x4C45_5644_0001_2026);
    let mut kinds: Vec<Kind> = MIX.iter().flat_map(|(k, n)| std::iter::repeat_n(*k, *n)).collect();
    // Fisher–Yates, so ids do not run in blocks of one kind.
    for i in (1..kinds.len()).rev() {
        let j = rng.below(i + 1);
        kinds.swap(i, j);
    }
    let big: Vec<&(&str, &str, &str, bool)> = CITIES.iter().filter(|c| c.3).collect();
    let first_day = time::macros::date!(2021 - 01 - 04);
    let last_day = time::macros::date!(2026 - 02 - 27);
    let span = (last_day - first_day).whole_days().max(1) as usize;
    let all_states: Vec<String> = US_STATES.iter().map(|(c, _)| (*c).to_string()).filter(|c| c != "PR").collect();

    let mut names: HashSet<String> = HashSet::new();
    let mut program_id = 0i64;
    let mut out = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.into_iter().enumerate() {
        let prof = profile(kind);
        let (city, state, zip, _) = if prof.big_city { **rng.pick(&big) } else { *rng.pick(CITIES) };
        let mut name = lender_name(kind, &mut rng, city);
        for _ in 0..20 {
            if !names.contains(&name) {
                break;
            }
            name = lender_name(kind, &mut rng, city);
        }
        if names.contains(&name) {
            name = format!("{name} of {city}");
        }
        names.insert(name.clone());
        let id = BUILTIN_FIRST_LENDER_ID + i as i64;
        let s = slug(&name);
        let (region, region_states) = region_of(state);
        let national = rng.chance(prof.national);
        let footprint: Vec<String> = if national {
            all_states.clone()
        } else if matches!(kind, Kind::CommunityBank | Kind::CreditUnion) {
            let mut f = vec![state.to_string()];
            for _ in 0..rng.below(3) {
                let other = *rng.pick(region_states);
                if !f.iter().any(|x| x == other) {
                    f.push(other.to_string());
                }
            }
            f
        } else {
            let mut f: Vec<String> = region_states.iter().map(|s| (*s).to_string()).collect();
            if !f.iter().any(|x| x == state) {
                f.push(state.to_string());
            }
            f
        };
        let mut focus: Vec<&str> = Vec::new();
        for _ in 0..(2 + rng.below(3)) {
            let f = *rng.pick(FOCUS);
            if !focus.contains(&f) {
                focus.push(f);
            }
        }
        let focus_text = match focus.as_slice() {
            [one] => (*one).to_string(),
            [init @ .., last] => format!("{} and {last}", init.join(", ")),
            [] => "multifamily".to_string(),
        };

        let mut programs = Vec::new();
        for (n, tpl) in prof.programs.iter().enumerate() {
            if n > 0 && !rng.chance(tpl.chance) {
                continue;
            }
            program_id += 1;
            // Lenders of one kind differ a little in size: scale the published bounds.
            let scale = 0.8 + (rng.below(5) as f64) * 0.1;
            let min = round_amount(rng.pick(tpl.mins) * scale);
            let max = round_amount(rng.pick(tpl.maxes) * scale).max(min);
            let recourse_n = 1 + rng.below(tpl.recourse.len());
            programs.push(NewProgram {
                id: Some(program_id),
                title: Some(tpl.title.to_string()),
                loan_types: Some(tpl.loan_types.iter().map(|s| (*s).to_string()).collect()),
                recourse_types: Some(tpl.recourse[..recourse_n].iter().map(|s| (*s).to_string()).collect()),
                min_loan_amount: Some(min),
                max_loan_amount: Some(max),
                capital_source_type: Some(prof.capital_source.to_string()),
                positions: Some(tpl.positions.iter().map(|s| (*s).to_string()).collect()),
                sponsor_states: Some(footprint.clone()),
                status: Some(if rng.chance(92) { "active" } else { "inactive" }.to_string()),
            });
        }

        let created = first_day + time::Duration::days(rng.below(span * 3 / 4) as i64);
        let remaining = (last_day - created).whole_days().max(1) as usize;
        let updated = created + time::Duration::days(rng.below(remaining) as i64);
        let has_logo = rng.chance(75);
        let logo = |file: &str| format!("https://assets.levd.example/lenders/{id}/{file}");
        let street_no = 10 + rng.below(2_490);
        let street = format!(
            "{street_no} {} {}",
            rng.pick(PLACE_HEADS),
            rng.pick(&["Street", "Avenue", "Boulevard", "Plaza", "Way", "Place", "Drive"])
        );
        let suite = if rng.chance(60) { format!(", Suite {}", 100 + rng.below(30) * 100) } else { String::new() };
        let mut lender_type: Vec<String> = prof.lender_type.iter().map(|s| (*s).to_string()).collect();
        if matches!(kind, Kind::RegionalBank | Kind::NationalBank) && rng.chance(15) {
            lender_type.push("agency".to_string());
        }
        let created_at = timestamp_from(created, rng.next() % 86_400);
        let updated_at = timestamp_from(updated, rng.next() % 86_400).max(created_at.clone());
        out.push(NewLender {
            id,
            website: Some(format!("https://www.{s}.example")),
            logo_url: has_logo.then(|| logo("logo.png")),
            address: Some(format!("{street}{suite}")),
            city: Some(city.to_string()),
            state: Some(state.to_string()),
            zip: Some(zip.to_string()),
            about: Some(about(kind, city, state, region, national, &focus_text)),
            lender_type: Some(lender_type),
            category: Some(prof.category.to_string()),
            linkedin_url: rng.chance(85).then(|| format!("https://www.linkedin.com/company/{s}-example")),
            aliases: Some(aliases_for(&name, &mut rng)),
            domains: Some(vec![format!("{s}.example")]),
            square_logo_url: (has_logo && rng.chance(80)).then(|| logo("logo-square.png")),
            created_at: Some(created_at),
            updated_at: Some(updated_at),
            programs: Some(programs),
            name,
        });
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use levd_domain::deal::LOAN_TYPES;
    use levd_domain::directory::{normalize_state, parse_lenders_json};

    use super::*;

    #[test]
    fn builtin_directory_is_deterministic_and_varied() {
        let a = builtin_lenders();
        assert_eq!(a, builtin_lenders());
        assert_eq!(a.len(), 300);
        let names: HashSet<&str> = a.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names.len(), a.len(), "names are unique");
        for kind in ["bank", "credit_union", "debt_fund", "life_company", "cmbs", "agency", "mortgage_reit"] {
            assert!(a.iter().any(|l| l.lender_type.as_ref().unwrap().iter().any(|t| t == kind)), "{kind}");
        }
        let programs: usize = a.iter().map(|l| l.programs.as_ref().unwrap().len()).sum();
        assert!(programs > 500, "{programs}");
        for l in &a {
            assert!(l.created_at <= l.updated_at);
            assert!(normalize_state(l.state.as_deref().unwrap()).is_some());
            for p in l.programs.as_ref().unwrap() {
                assert!(p.min_loan_amount <= p.max_loan_amount, "{p:?}");
                assert!(p.loan_types.as_ref().unwrap().iter().all(|t| LOAN_TYPES.contains(&t.as_str())));
            }
        }
        let states: HashSet<&str> = a.iter().filter_map(|l| l.state.as_deref()).collect();
        assert!(states.len() > 35, "{}", states.len());
    }
    #[test]
    fn builtin_directory_passes_its_own_validation() {
        let a = builtin_lenders();
        let json = serde_json::to_string(&serde_json::json!({ "lenders": a })).unwrap();
        assert_eq!(parse_lenders_json(&json).unwrap(), a);
    }
    /// Every node loads the directory it generates itself, so the generator's output may never
    /// change by accident: this digest pins it.
    #[test]
    fn builtin_directory_is_the_one_shipped() {
        use sha2::{Digest, Sha256};
        let json = serde_json::to_string(&builtin_lenders()).unwrap();
        assert_eq!(
            hex::encode(Sha256::digest(json.as_bytes())),
            "db41d42655df6f4dc9c64f4ccc5560fa426c518804ca88029d52926423d6b2ed"
        );
    }
}
