//! (owned by the placements work) Routes of this domain.
use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
