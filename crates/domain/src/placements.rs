//! (owned by the placements work) Types, enums and validation of this domain.
