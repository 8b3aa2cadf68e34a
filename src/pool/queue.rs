//! The master's queue of events for its host to take (`Pool::events`):
//! bounded, the oldest dropped (and counted) when full, so a host that
//! never takes them costs a fixed amount of memory.

use super::EVENT_CAPACITY;
use crate::rules::event::Event;
use std::collections::VecDeque;

#[derive(Default)]
pub(super) struct EventQueue {
    events: VecDeque<Event>,
    dropped: u64,
}

impl EventQueue {
    /// Files an event; the oldest goes when the queue is full.
    pub(super) fn push(&mut self, ev: Event) {
        if self.events.len() >= EVENT_CAPACITY {
            self.events.pop_front();
            self.dropped += 1;
        }
        self.events.push_back(ev);
    }

    /// Every queued event, oldest first; the queue is left empty.
    pub(super) fn take(&mut self) -> Vec<Event> {
        self.events.drain(..).collect()
    }

    /// Events dropped because the queue was full.
    pub(super) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// In a forked child, which is not the master: the parent's events are
    /// not its own to report.
    pub(super) fn clear(&mut self) {
        self.events.clear();
        self.dropped = 0;
    }
}
