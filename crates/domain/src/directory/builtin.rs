//! The reference data levd ships with: benchmark rates and the asset-type catalogue.
use super::{AssetType, BaseRate};

/// Date of the built-in base rates.
pub const BUILTIN_RATES_AS_OF: &str = "2026-03-13";

/// The benchmark rates levd ships with: key, display code, long name, value in percent.
/// The values are made up, but consistent with each other (Prime = Fed Funds upper bound + 3).
const BUILTIN_RATES: &[(&str, &str, &str, f64)] = &[
    ("sofr", "SOFR", "Secured Overnight Financing Rate", 3.62),
    ("sofr_m1", "SOFR 30-Day Avg", "30-Day Average SOFR", 3.64),
    ("sofr_m3", "SOFR 90-Day Avg", "90-Day Average SOFR", 3.69),
    ("sofr_m6", "SOFR 180-Day Avg", "180-Day Average SOFR", 3.78),
    ("term_sofr_m1", "Term SOFR 1-Mo", "One-Month Term SOFR", 3.66),
    ("term_sofr_m3", "Term SOFR 3-Mo", "Three-Month Term SOFR", 3.68),
    ("fed_funds", "Fed Funds", "Effective Federal Funds Rate", 3.63),
    ("prime_rate", "Prime Rate", "U.S. Prime Rate", 6.75),
    ("treasury_y1", "Treasury 1-Yr", "1-Year U.S. Treasury (constant maturity)", 3.58),
    ("treasury_y2", "Treasury 2-Yr", "2-Year U.S. Treasury (constant maturity)", 3.49),
    ("treasury_y3", "Treasury 3-Yr", "3-Year U.S. Treasury (constant maturity)", 3.52),
    ("treasury_y5", "Treasury 5-Yr", "5-Year U.S. Treasury (constant maturity)", 3.71),
    ("treasury_y7", "Treasury 7-Yr", "7-Year U.S. Treasury (constant maturity)", 3.90),
    ("treasury_y10", "Treasury 10-Yr", "10-Year U.S. Treasury (constant maturity)", 4.11),
    ("treasury_y30", "Treasury 30-Yr", "30-Year U.S. Treasury (constant maturity)", 4.69),
    ("swap_y5", "SOFR Swap 5-Yr", "5-Year SOFR Swap Rate", 3.45),
    ("swap_y10", "SOFR Swap 10-Yr", "10-Year SOFR Swap Rate", 3.72),
];

pub fn builtin_base_rates() -> Vec<BaseRate> {
    BUILTIN_RATES
        .iter()
        .map(|(key, code, name, rate)| BaseRate {
            code: (*code).to_string(),
            name: (*name).to_string(),
            rate: Some(*rate),
            as_of: BUILTIN_RATES_AS_OF.to_string(),
            key: (*key).to_string(),
        })
        .collect()
}

/// The asset-type catalogue: id, name, sub-types. Ids are stable (deal properties refer to
/// them).
const BUILTIN_ASSET_TYPES: &[(i64, &str, &str)] = &[
    (1, "Multifamily", "Garden, Mid-Rise, High-Rise, Affordable / LIHTC, Workforce Housing"),
    (2, "Office", "Central Business District, Suburban, Medical Office, Creative / Flex"),
    (3, "Retail", "Grocery-Anchored, Strip Center, Single-Tenant Net Lease, Regional Mall, Lifestyle Center"),
    (4, "Industrial", "Warehouse / Distribution, Flex, Manufacturing, Cold Storage, Industrial Outdoor Storage"),
    (5, "Hospitality", "Full-Service, Select-Service, Extended Stay, Resort, Limited-Service"),
    (6, "Mixed-Use", "Residential over Retail, Office / Retail, Live-Work"),
    (7, "Self Storage", "Climate-Controlled, Drive-Up, Boat & RV"),
    (8, "Senior Housing", "Independent Living, Assisted Living, Memory Care, Skilled Nursing, CCRC"),
    (9, "Healthcare", "Medical Office, Ambulatory Surgery, Behavioral Health, Hospital"),
    (10, "Student Housing", "Purpose-Built, Pedestrian-to-Campus, Drive-to-Campus"),
    (11, "Land", "Entitled, Unentitled, Infill Lots, Master-Planned Community"),
    (12, "Single-Family Rental", "Build-to-Rent, Scattered-Site Portfolio"),
    (13, "Manufactured Housing", "All-Age Community, 55+ Community, RV Park"),
    (14, "Data Center", "Hyperscale, Colocation, Powered Shell"),
    (15, "Life Science", "Lab / R&D, GMP Manufacturing"),
    (16, "Special Purpose", "Parking, Entertainment, Education, Marina"),
];

pub fn builtin_asset_types() -> Vec<AssetType> {
    BUILTIN_ASSET_TYPES
        .iter()
        .map(|(id, d, s)| AssetType {
            id: *id,
            description: Some((*d).to_string()),
            property_sub_types: Some((*s).to_string()),
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn builtin_reference_data_passes_its_own_validation() {
        use crate::directory::{parse_asset_types_json, parse_base_rates_json};
        let rates = builtin_base_rates();
        let back = parse_base_rates_json(&serde_json::to_string(&rates).unwrap()).unwrap();
        assert_eq!(back, rates);
        let types = builtin_asset_types();
        assert_eq!(parse_asset_types_json(&serde_json::to_string(&types).unwrap()).unwrap(), types);
    }
}
