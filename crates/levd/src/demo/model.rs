//! One underwriting model per demo property. Every figure the demo shows about a deal (its loan
//! amount, its financials, the files in its data room, the facts of its index, its memos) is
//! read from this model, so they all agree: rent roll → gross potential rent → effective gross
//! income → operating expenses → NOI → value at a cap rate → loan at a loan-to-value ratio.
//!
//! Everything is a pure function of the deal's position in the demo, so the data set is the
//! same on every run.

/// The whole-dollar and ratio figures of one property.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub units: i64,
    pub year_built: i64,
    /// Average in-place monthly rent per unit, whole dollars.
    pub avg_rent: f64,
    /// Physical occupancy, a fraction (0.93).
    pub occupancy: f64,
    /// Gross potential rent per year: every unit leased at the average rent.
    pub gpr: f64,
    /// Vacancy and credit loss per year (a positive amount).
    pub vacancy_loss: f64,
    /// Parking, laundry and fees per year.
    pub other_income: f64,
    /// Effective gross income: GPR less vacancy, plus other income.
    pub egi: f64,
    /// Operating expenses per year.
    pub opex: f64,
    /// Net operating income: EGI less operating expenses.
    pub noi: f64,
    /// Value: NOI capitalised at the market cap rate, rounded to the thousand.
    pub value: f64,
    /// NOI over value, to the hundredth of a percent (0.0625).
    pub cap_rate: f64,
    pub purchase_price: f64,
    /// Loan amount: value at the target loan-to-value, rounded to ten thousand.
    pub loan_amount: f64,
    /// Loan over value, to the hundredth of a percent.
    pub ltv: f64,
}

/// Rounds a ratio to the hundredth of a percent.
pub fn ratio4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

impl Model {
    /// The model of the demo deal at position `i` (0-based) of an account whose deals are
    /// numbered from `salt` (so two accounts do not show the same numbers).
    pub fn new(i: usize, salt: usize) -> Model {
        let n = i + salt;
        let units = (40 + (n * 13) % 260) as i64;
        let year_built = (1965 + (n * 7) % 58) as i64;
        let avg_rent = (1_150 + (n * 137) % 1_400) as f64;
        let occupancy = 0.88 + (n % 6) as f64 * 0.015;
        let gpr = avg_rent * units as f64 * 12.0;
        let vacancy_loss = (gpr * (1.0 - occupancy)).round();
        let other_income = (gpr * 0.03).round();
        let egi = gpr - vacancy_loss + other_income;
        let opex = (egi * (0.36 + (n % 5) as f64 * 0.02)).round();
        let noi = egi - opex;
        let market_cap = 0.0525 + (n % 7) as f64 * 0.0025;
        let value = ((noi / market_cap) / 1_000.0).round() * 1_000.0;
        let cap_rate = ratio4(noi / value);
        let purchase_price = ((value * (0.96 + (n % 3) as f64 * 0.02)) / 1_000.0).round() * 1_000.0;
        let target_ltv = 0.55 + (n % 4) as f64 * 0.05;
        let loan_amount = ((value * target_ltv) / 10_000.0).round() * 10_000.0;
        Model {
            units,
            year_built,
            avg_rent,
            occupancy,
            gpr,
            vacancy_loss,
            other_income,
            egi,
            opex,
            noi,
            value,
            cap_rate,
            purchase_price,
            loan_amount,
            ltv: ratio4(loan_amount / value),
        }
    }

    /// Debt yield: NOI over the loan amount.
    pub fn debt_yield(&self) -> f64 {
        self.noi / self.loan_amount
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_model_is_internally_consistent() {
        for salt in [0, 100] {
            for i in 0..60 {
                let m = Model::new(i, salt);
                assert_eq!(m.gpr, m.avg_rent * m.units as f64 * 12.0);
                assert_eq!(m.egi, m.gpr - m.vacancy_loss + m.other_income);
                assert_eq!(m.noi, m.egi - m.opex);
                assert!(m.noi > 0.0);
                assert!((m.cap_rate - m.noi / m.value).abs() < 0.00005, "{m:?}");
                assert!((m.ltv - m.loan_amount / m.value).abs() < 0.00005, "{m:?}");
                assert!((0.04..0.09).contains(&m.cap_rate), "{m:?}");
                assert!((0.5..0.75).contains(&m.ltv), "{m:?}");
                assert!(m.loan_amount >= 1_000_000.0, "{m:?}");
                for x in [m.gpr, m.egi, m.opex, m.noi, m.value, m.purchase_price, m.loan_amount] {
                    assert_eq!(x, x.round());
                }
            }
        }
    }

    #[test]
    fn models_differ_between_accounts() {
        assert_ne!(Model::new(0, 0), Model::new(0, 100));
    }
}
