//! A recorded run that can be viewed at any event, forward or back.
//!
//! Stepping applies or undoes one event's deltas (cost: the size of that
//! event). Jumping far starts from the nearest checkpoint (a full state copy
//! taken every [`CHECKPOINT_EVERY`] events; frame contents are shared, not
//! copied) and applies the deltas in between.

use super::{Event, Undo};

/// Events between two checkpoints.
pub const CHECKPOINT_EVERY: usize = 128;

/// A recorded run of states `S` changed by deltas `D`, with events saying `W` and pointing at `F`.
#[derive(Clone, Debug)]
pub struct Timeline<S, W, D, F> {
    events: Vec<Event<W, D, F>>,
    /// For each event, the index of the operation that caused it.
    op_of: Vec<usize>,
    /// (events applied, state then), ascending; the first is the start.
    checkpoints: Vec<(usize, S)>,
    pos: usize,
    current: S,
}

impl<S: Clone, W, D: Undo<S>, F> Timeline<S, W, D, F> {
    /// Starts recording from `initial`.
    pub fn new(initial: S) -> Self {
        Timeline { events: Vec::new(), op_of: Vec::new(), checkpoints: vec![(0, initial.clone())], pos: 0, current: initial }
    }

    /// Appends the events of operation `op`, which took the machine to `after`.
    /// The timeline moves to the end.
    pub fn record(&mut self, op: usize, events: Vec<Event<W, D, F>>, after: &S) {
        self.op_of.extend(std::iter::repeat_n(op, events.len()));
        self.events.extend(events);
        let last = self.checkpoints.last().map(|c| c.0).unwrap_or(0);
        if self.events.len() - last >= CHECKPOINT_EVERY {
            self.checkpoints.push((self.events.len(), after.clone()));
        }
        self.pos = self.events.len();
        self.current = after.clone();
    }

    /// Rebuilds a timeline from its initial state and its events (each with
    /// the operation it belongs to), replaying them once to take the
    /// checkpoints. Ends at the last event, as a recorded timeline does.
    pub fn replay(initial: S, events: Vec<Event<W, D, F>>, op_of: Vec<usize>) -> Result<Self, &'static str> {
        if events.len() != op_of.len() {
            return Err("each event needs its operation");
        }
        if op_of.windows(2).any(|w| w[1] < w[0]) {
            return Err("operations out of order");
        }
        let mut current = initial.clone();
        let mut checkpoints = vec![(0, initial)];
        for (i, e) in events.iter().enumerate() {
            for d in &e.deltas {
                d.apply(&mut current, true);
            }
            if (i + 1) % CHECKPOINT_EVERY == 0 {
                checkpoints.push((i + 1, current.clone()));
            }
        }
        Ok(Timeline { pos: events.len(), events, op_of, checkpoints, current })
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
        self.events.is_empty()
    }

    /// Events applied so far (0 = the initial state).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The state after `position()` events.
    pub fn state(&self) -> &S {
        &self.current
    }

    /// All events.
    pub fn events(&self) -> &[Event<W, D, F>] {
        &self.events
    }

    /// The operation that caused event `i`.
    pub fn op_of(&self, i: usize) -> Option<usize> {
        self.op_of.get(i).copied()
    }

    /// The event that led to the current state, if any.
    pub fn current_event(&self) -> Option<&Event<W, D, F>> {
        self.pos.checked_sub(1).and_then(|i| self.events.get(i))
    }

    /// Applies the next event. Returns false at the end.
    pub fn step_forward(&mut self) -> bool {
        let Some(e) = self.events.get(self.pos) else {
            return false;
        };
        for d in &e.deltas {
            d.apply(&mut self.current, true);
        }
        self.pos += 1;
        true
    }

    /// Undoes the last applied event. Returns false at the start.
    pub fn step_back(&mut self) -> bool {
        if self.pos == 0 {
            return false;
        }
        self.pos -= 1;
        for d in self.events[self.pos].deltas.iter().rev() {
            d.apply(&mut self.current, false);
        }
        true
    }

    /// Moves to the state after `n` events (clamped to the end).
    pub fn seek(&mut self, n: usize) {
        let n = n.min(self.events.len());
        let near = n.abs_diff(self.pos) <= CHECKPOINT_EVERY;
        if !near {
            let (at, state) = self.checkpoints.iter().rev().find(|c| c.0 <= n).cloned().unwrap_or((0, self.checkpoints[0].1.clone()));
            self.current = state;
            self.pos = at;
        }
        while self.pos < n {
            self.step_forward();
        }
        while self.pos > n {
            self.step_back();
        }
    }

    /// The index of the first event of operation `op` (or the end).
    pub fn first_event_of(&self, op: usize) -> usize {
        self.op_of.iter().position(|o| *o >= op).unwrap_or(self.events.len())
    }
}
