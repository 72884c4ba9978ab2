//! The journal: the one place state changes are recorded.
//!
//! A subsystem changes its state only through its context, which applies a
//! delta and hands it to the journal ([`Journal::record`]); closing the
//! deltas recorded so far into an [`Event`] is [`Journal::emit`]. A failed
//! operation is undone from the journal, delta by delta in reverse
//! ([`Journal::rollback`]). A [`Timeline`] replays a recorded run forward and
//! back; [`wire`] encodes one.
//!
//! The journal knows no subsystem: it is generic over the event record
//! type `W`, the delta type `D` (the facade's sums of every subsystem's
//! records and deltas) and the focus type `F` (what an event points at).
//! Each subsystem sees it through a small sink trait of its own,
//! implemented by the facade.

pub mod event;
pub mod ordmap;
pub mod timeline;
pub mod wire;

pub use event::{Event, EventKind, Narrate, Points, Sealed};
pub use timeline::{Timeline, CHECKPOINT_EVERY};
use wire::Wire;

/// The record, delta and focus types a container holds, without owning one.
type Kinds<W, D, F> = std::marker::PhantomData<fn() -> (W, D, F)>;

/// Calls `changed(key, old, new)` for every key whose value differs between
/// `old` and `new` (present in one only, or different in both), in key
/// order: how a subsystem turns "the state before and after" into deltas
/// of the entries that changed.
pub fn diff_maps<K: Ord + Clone, V: PartialEq + Clone>(
    old: &ordmap::OrdMap<K, V>,
    new: &ordmap::OrdMap<K, V>,
    mut changed: impl FnMut(K, Option<V>, Option<V>),
) {
    for (k, v) in old {
        match new.get(k) {
            Some(n) if n == v => {}
            n => changed(k.clone(), Some(v.clone()), n.cloned()),
        }
    }
    for (k, n) in new {
        if !old.contains_key(k) {
            changed(k.clone(), None, Some(n.clone()));
        }
    }
}

/// The value a delta sets: `new` going forward, `old` undoing it.
pub fn pick<'a, T>(old: &'a T, new: &'a T, forward: bool) -> &'a T {
    if forward {
        new
    } else {
        old
    }
}

/// Sets `map[key]` to `value`, or removes it for `None`.
pub fn put<K: Ord, V>(map: &mut impl ordmap::Table<K, V>, key: K, value: Option<V>) {
    match value {
        Some(v) => map.set(key, v),
        None => map.unset(&key),
    }
}

/// A change that can be applied to a state `S` and undone.
pub trait Undo<S> {
    /// Applies the change (`forward`) or its inverse.
    fn apply(&self, state: &mut S, forward: bool);
}

/// Deltas recorded since the last event, and the events of the operation
/// being applied, encoded as they are emitted: an operation of millions of
/// events (a firmware's delay loop) holds about 25 bytes per event, not an
/// [`Event`] with its vectors.
#[derive(Clone, Debug)]
pub struct Journal<W, D, F> {
    pending: Vec<D>,
    events: Batch<W, D, F>,
    /// Where an event is encoded before it joins the batch (kept, so
    /// encoding allocates nothing).
    scratch: Vec<u8>,
}

impl<W, D, F> Default for Journal<W, D, F> {
    fn default() -> Self {
        Journal { pending: Vec::new(), events: Batch::default(), scratch: Vec::new() }
    }
}

impl<W: Wire, D: Wire, F: Wire> Journal<W, D, F> {
    /// Records a delta the caller has already applied to its state.
    pub fn record(&mut self, d: D) {
        self.pending.push(d);
    }

    /// Closes the pending deltas into an event saying `what`, encoded as
    /// [`Event`]'s [`Wire`] encoding writes it. The pending list keeps its
    /// room for the next event.
    pub fn emit(&mut self, what: W, focus: Vec<F>) {
        let out = &mut self.scratch;
        out.clear();
        what.put(out);
        focus.put(out);
        wire::put_varint(out, self.pending.len() as u64);
        for d in self.pending.drain(..) {
            d.put(out);
        }
        let b = &mut self.events;
        // A recording is limited to 4 GiB of encoded events.
        b.starts.push(u32::try_from(b.bytes.len()).unwrap_or(u32::MAX));
        b.bytes.extend_from_slice(out);
    }

    /// Whether deltas were recorded since the last event.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Starts a new operation: forgets anything left from the last one.
    pub fn clear(&mut self) {
        self.pending.clear();
        self.events = Batch::default();
    }

    /// The events of the operation, which succeeded.
    pub fn take_events(&mut self) -> Batch<W, D, F> {
        std::mem::take(&mut self.events)
    }

    /// Every delta of the operation, which failed, in the order recorded;
    /// the caller undoes them in reverse.
    pub fn rollback(&mut self) -> Vec<D> {
        let mut all: Vec<D> = std::mem::take(&mut self.events).iter().flat_map(|e| e.deltas).collect();
        all.append(&mut self.pending);
        all
    }
}

/// Events, encoded back to back (as a [`Timeline`] keeps them), with where
/// each starts: what an operation returns. Most operations have a few
/// short events (a TLB hit is one of about 25 bytes): those are held in
/// place, so an operation allocates nothing for its events until they
/// outgrow [`BATCH_INLINE`] bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch<W, D, F> {
    bytes: smallvec::SmallVec<[u8; BATCH_INLINE]>,
    starts: smallvec::SmallVec<[u32; 2]>,
    kinds: Kinds<W, D, F>,
}

/// Bytes of events a [`Batch`] holds without allocating.
pub const BATCH_INLINE: usize = 64;

impl<W, D, F> Default for Batch<W, D, F> {
    fn default() -> Self {
        Batch { bytes: smallvec::SmallVec::new(), starts: smallvec::SmallVec::new(), kinds: std::marker::PhantomData }
    }
}

/// Where event `i` of `bytes` is, given where each starts.
fn slice<'a>(bytes: &'a [u8], starts: &[u32], i: usize) -> &'a [u8] {
    let start = starts.get(i).map(|s| *s as usize).unwrap_or(bytes.len());
    let end = starts.get(i + 1).map(|s| *s as usize).unwrap_or(bytes.len());
    bytes.get(start..end).unwrap_or(&[])
}

impl<W: Wire, D: Wire, F: Wire> Batch<W, D, F> {
    /// Number of events.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The encoding of event `i`.
    pub fn encoded(&self, i: usize) -> &[u8] {
        slice(&self.bytes, &self.starts, i)
    }

    /// Event `i`, decoded.
    pub fn get(&self, i: usize) -> Option<Event<W, D, F>> {
        if i >= self.len() {
            return None;
        }
        Event::get(&mut wire::Reader::new(self.encoded(i))).ok()
    }

    /// The events, decoded one at a time.
    pub fn iter(&self) -> impl Iterator<Item = Event<W, D, F>> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// Events kept encoded back to back with where each starts: a
/// [`Timeline`]'s store.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Encoded {
    bytes: Vec<u8>,
    starts: Vec<u32>,
}

impl Encoded {
    fn len(&self) -> usize {
        self.starts.len()
    }

    fn encoded(&self, i: usize) -> &[u8] {
        slice(&self.bytes, &self.starts, i)
    }

    /// Drops events `n..`.
    fn truncate(&mut self, n: usize) {
        if let Some(&at) = self.starts.get(n) {
            self.bytes.truncate(at as usize);
            self.starts.truncate(n);
        }
    }

    /// Appends an event's encoding.
    fn push(&mut self, encoded: &[u8]) {
        // A recording is limited to 4 GiB of encoded events.
        self.starts.push(u32::try_from(self.bytes.len()).unwrap_or(u32::MAX));
        self.bytes.extend_from_slice(encoded);
    }
}
