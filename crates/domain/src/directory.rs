//! (owned by the directory work) Types, enums and validation of this domain.
