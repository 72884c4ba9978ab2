//! A recorded run that can be viewed at any event, forward or back.
//!
//! Events are kept encoded ([`super::wire`]), back to back, with the byte
//! offset of each: a TLB hit costs about 25 bytes, not the hundred-odd of
//! an `Event` in memory with its vectors, so a run of millions of events
//! fits. Stepping decodes one event and applies or undoes its deltas (cost:
//! the size of that event). Jumping far starts from the nearest checkpoint
//! (a full state copy taken every [`CHECKPOINT_EVERY`] events, inside an
//! operation too; frame contents are shared, not copied) and applies the
//! events in between.
//!
//! A timeline read from a recording is indexed first and built later: its
//! events are checked and their starts noted, but their deltas are applied
//! (and the checkpoints taken) only when a seek needs them or
//! [`Timeline::build`] is called, so a page can show the first event of a
//! million-event recording before it has applied the rest.

use super::wire::{Reader, Wire, WireError};
use super::{Batch, Encoded, Event, Kinds, Undo};

/// Events between two checkpoints.
pub const CHECKPOINT_EVERY: usize = 1024;

/// A recorded run of states `S` changed by deltas `D`, with events saying `W` and pointing at `F`.
#[derive(Clone, Debug)]
pub struct Timeline<S, W, D, F> {
    /// The events, encoded one after another, with where each starts.
    events: Encoded,
    /// (operation, its first event), one entry per operation that has events.
    ops: Vec<(usize, usize)>,
    /// (events applied, state then), ascending; the first is the start.
    checkpoints: Vec<(usize, S)>,
    pos: usize,
    current: S,
    /// While not every event has been applied since reading: how many have
    /// (the checkpoints go that far) and the state after them.
    frontier: Option<(usize, S)>,
    /// Why the timeline was cut short when it was built, if it was.
    damage: Option<WireError>,
    kinds: Kinds<W, D, F>,
}

/// Applies the deltas of an encoded event (its record and focus read past,
/// checked) to `state`, forward. An error when the bytes are not one
/// event: what came before the bad delta was applied.
fn apply_encoded<S, W: Wire, D: Wire + Undo<S>, F: Wire>(state: &mut S, encoded: &[u8]) -> Result<(), WireError> {
    let mut r = Reader::new(encoded);
    W::skip(&mut r)?;
    Vec::<F>::skip(&mut r)?;
    for _ in 0..r.length()? {
        D::get(&mut r)?.apply(state, true);
    }
    match r.remaining() {
        0 => Ok(()),
        n => Err(WireError::Trailing(n)),
    }
}

impl<S: Clone, W: Wire, D: Wire + Undo<S>, F: Wire> Timeline<S, W, D, F> {
    /// Starts recording from `initial`.
    pub fn new(initial: S) -> Self {
        Timeline {
            events: Encoded::default(),
            ops: Vec::new(),
            checkpoints: vec![(0, initial.clone())],
            pos: 0,
            current: initial,
            frontier: None,
            damage: None,
            kinds: std::marker::PhantomData,
        }
    }

    /// Appends the events of operation `op` (at the end of the timeline,
    /// where it moves first); the state follows them. Their encoding is
    /// kept as the batch holds it.
    pub fn record(&mut self, op: usize, events: Batch<W, D, F>) {
        self.events.bytes.reserve(events.bytes.len());
        self.events.starts.reserve(events.len());
        for i in 0..events.len() {
            let encoded = events.encoded(i);
            // Only the deltas are needed: the record and focus are read
            // past, and each delta is applied as it is read.
            self.append(
                op,
                |state| {
                    // The machine's own batch: it decodes.
                    let _ = apply_encoded::<S, W, D, F>(state, encoded);
                },
                encoded,
            );
        }
    }

    /// Makes room for `events` more events of `bytes` bytes in all (a
    /// recording being read knows both, roughly).
    pub fn reserve(&mut self, events: usize, bytes: usize) {
        self.events.bytes.reserve(bytes);
        self.events.starts.reserve(events);
    }

    /// Appends event `encoded` of operation `op` without applying or
    /// checking it: a recording being read ([`Timeline::build`] does both).
    pub(crate) fn push_unbuilt(&mut self, op: usize, encoded: &[u8]) {
        if self.ops.last().is_none_or(|(o, _)| *o != op) {
            self.ops.push((op, self.len()));
        }
        if self.frontier.is_none() && self.pos == self.len() {
            self.frontier = Some((self.pos, self.current.clone()));
        }
        self.events.push(encoded);
    }

    /// Applies up to `budget` more of the events not yet applied since the
    /// timeline was read, checking each and taking their checkpoints; Ok(true)
    /// when every event has been (a page calls this while the student looks
    /// at the first events). Where the timeline stands does not move.
    ///
    /// An event that does not decode ends the timeline: it and every later
    /// one are dropped, and the error (this call's and every later one's)
    /// says which it was.
    pub fn build(&mut self, budget: usize) -> Result<bool, WireError> {
        let Timeline { events, checkpoints, frontier, ops, damage, .. } = self;
        if let Some(e) = damage {
            return Err(e.clone());
        }
        let Some((k, state)) = frontier else { return Ok(true) };
        let end = k.saturating_add(budget).min(events.len());
        while *k < end {
            if let Err(cause) = apply_encoded::<S, W, D, F>(state, events.encoded(*k)) {
                let event = *k;
                events.truncate(event);
                ops.truncate(ops.partition_point(|(_, first)| *first < event));
                *frontier = None;
                let e = WireError::InEvent { event, cause: Box::new(cause) };
                *damage = Some(e.clone());
                return Err(e);
            }
            *k += 1;
            if *k % CHECKPOINT_EVERY == 0 {
                checkpoints.push((*k, state.clone()));
            }
        }
        let done = *k == events.len();
        if done {
            *frontier = None;
        }
        Ok(done)
    }

    /// Events applied since the timeline was read (all of them once built).
    pub fn built(&self) -> usize {
        self.frontier.as_ref().map_or(self.len(), |(k, _)| *k)
    }

    /// Applies an event's deltas (`apply` does, to the current state),
    /// keeps its encoding and takes a checkpoint when one is due.
    fn append(&mut self, op: usize, apply: impl FnOnce(&mut S), encoded: &[u8]) {
        self.seek(self.len());
        if self.ops.last().is_none_or(|(o, _)| *o != op) {
            self.ops.push((op, self.len()));
        }
        apply(&mut self.current);
        self.events.push(encoded);
        self.pos += 1;
        if self.pos % CHECKPOINT_EVERY == 0 {
            self.checkpoints.push((self.pos, self.current.clone()));
        }
    }

    /// The state before the first event.
    pub fn initial(&self) -> &S {
        &self.checkpoints[0].1
    }

    /// Number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.len() == 0
    }

    /// Events applied so far (0 = the initial state).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The state after `position()` events.
    pub fn state(&self) -> &S {
        &self.current
    }

    /// Event `i`, decoded.
    pub fn event(&self, i: usize) -> Option<Event<W, D, F>> {
        if i >= self.len() {
            return None;
        }
        Event::get(&mut Reader::new(self.events.encoded(i))).ok()
    }

    /// Events `from..to`, decoded.
    pub fn events(&self, from: usize, to: usize) -> impl Iterator<Item = Event<W, D, F>> + '_ {
        (from..to.min(self.len())).filter_map(|i| self.event(i))
    }

    /// The encoding of event `i`, as [`Timeline::record`] wrote it.
    pub fn encoded(&self, i: usize) -> &[u8] {
        self.events.encoded(i)
    }

    /// Bytes the encoded events and their index take (checkpoints aside).
    pub fn encoded_bytes(&self) -> usize {
        self.events.bytes.len() + 4 * self.events.starts.len() + 16 * self.ops.len()
    }

    /// The operation that caused event `i`.
    pub fn op_of(&self, i: usize) -> Option<usize> {
        if i >= self.len() {
            return None;
        }
        let k = self.ops.partition_point(|(_, first)| *first <= i);
        self.ops.get(k.checked_sub(1)?).map(|(op, _)| *op)
    }

    /// The event that led to the current state, if any.
    pub fn current_event(&self) -> Option<Event<W, D, F>> {
        self.pos.checked_sub(1).and_then(|i| self.event(i))
    }

    /// Applies the next event. Returns false at the end.
    pub fn step_forward(&mut self) -> bool {
        // Only events that were checked are applied (an event that does not
        // decode ends the timeline before it).
        if self.pos >= self.built() && self.build(1).is_err() {
            return false;
        }
        if self.pos >= self.len() {
            return false;
        }
        let _ = apply_encoded::<S, W, D, F>(&mut self.current, self.events.encoded(self.pos));
        self.pos += 1;
        true
    }

    /// Undoes the last applied event. Returns false at the start.
    pub fn step_back(&mut self) -> bool {
        let Some(e) = self.pos.checked_sub(1).and_then(|i| self.event(i)) else {
            return false;
        };
        self.pos -= 1;
        for d in e.deltas.iter().rev() {
            d.apply(&mut self.current, false);
        }
        true
    }

    /// Moves to the state after `n` events (clamped to the end).
    pub fn seek(&mut self, n: usize) {
        let n = n.min(self.len());
        // The checkpoints before n must exist.
        let built = self.built();
        if n > built {
            // An event that does not decode ends the timeline before n.
            let _ = self.build(n - built);
        }
        // (The build may have cut the timeline short.)
        let n = n.min(self.len());
        let near = n.abs_diff(self.pos) <= CHECKPOINT_EVERY / 2;
        if !near {
            let (at, state) = self.checkpoints.iter().rev().find(|c| c.0 <= n).cloned().unwrap_or((0, self.checkpoints[0].1.clone()));
            // Going forward from here is shorter than from the checkpoint.
            if !(self.pos <= n && n - self.pos < n - at) {
                self.current = state;
                self.pos = at;
            }
        }
        while self.pos < n && self.step_forward() {}
        while self.pos > n && self.step_back() {}
    }

    /// The index of the first event of operation `op` (or the end).
    pub fn first_event_of(&self, op: usize) -> usize {
        self.ops.iter().find(|(o, _)| *o >= op).map(|(_, first)| *first).unwrap_or(self.len())
    }
}
