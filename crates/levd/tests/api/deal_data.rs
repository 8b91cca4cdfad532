//! (owned by the deal_data work) Black-box tests of this domain.
