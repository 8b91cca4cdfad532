//! (owned by the crm work) Types, enums and validation of this domain.
