//! (owned by the deal_data work) Types, enums and validation of this domain.
