//! The shared table: every word format of a pool's shared memory
//! (`layout`: header, slots, generation words, the growth fit's points), the
//! mapping that holds them (`region`: private, shared or a named file) and
//! the rolling budget's word (`budget`). A change to any word format
//! changes `layout::LAYOUT_VERSION`.

pub(crate) mod budget;
pub(crate) mod layout;
pub(crate) mod region;
