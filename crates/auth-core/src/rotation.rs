//! The rotation columns of a session row: shared by the session record (`session`) and the
//! rotation state machine (`refresh`), so neither has to import the other.

use time::OffsetDateTime;

/// The rotation columns of a session row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationState {
    pub generation: u64,
    pub current_hash: [u8; 32],
    /// Hash of generation `generation - 1`'s secret; `None` before the first rotation.
    pub previous_hash: Option<[u8; 32]>,
    /// When `generation` became current; `None` before the first rotation.
    pub rotated_at: Option<OffsetDateTime>,
}
