//! The kinds of long-lived handles the log tracks.

/// What a tracked handle is. Each kind has its own table of live handles and its own metrics,
/// labelled `kind="<name>"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// An iterator over records (`Wal::read_from`): pins the chunk it is reading.
    Reader,
    /// A tailing iterator (`Wal::tail_from`): pins the chunk it is reading.
    Tail,
    /// A transaction not yet committed or aborted (`Wal::begin`).
    Transaction,
    /// A snapshot being written: pins the history it needs.
    Snapshot,
}

impl Kind {
    /// Every kind, in a fixed order (the order of [`Kind::index`]).
    pub const ALL: [Kind; 4] = [Kind::Reader, Kind::Tail, Kind::Transaction, Kind::Snapshot];

    /// The label value in metrics and log messages.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Reader => "reader",
            Kind::Tail => "tail",
            Kind::Transaction => "transaction",
            Kind::Snapshot => "snapshot",
        }
    }

    /// The position of the kind in [`Kind::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Kind::Reader => 0,
            Kind::Tail => 1,
            Kind::Transaction => 2,
            Kind::Snapshot => 3,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
