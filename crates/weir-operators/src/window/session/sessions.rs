//! The open sessions of one session-window subtask: which session each row joins,
//! merging sessions a row bridges, firing sessions the watermark has passed, and the
//! compaction plan that moves accumulator states to match.
//!
//! A session is a set of *slots*. A slot is one group index in the operator's
//! accumulators; a new session gets a new slot, and when a row bridges sessions they
//! become one session whose slots are listed together (a linked list through `next`,
//! so a merge is O(1) and touches no accumulator). The first slot of a session (its
//! *root*) carries the session's bounds and key. When sessions fire, every slot is
//! renumbered: the slots of fired sessions go to output rows, the slots of each open
//! session collapse into one new slot ([`Compaction`]), so merged slots never pile up.

use std::collections::{BTreeMap, BTreeSet};

/// No slot (end of a member list).
const NONE: u32 = u32::MAX;

/// How accumulator states move when sessions fire: the operator takes the intermediate
/// state of every slot, merges `fired_slots` into output row `fired_groups[i]` and
/// `live_slots` into new slot `live_groups[i]`.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Compaction {
    /// The fired sessions in order of end: (window start, window end, key id).
    pub fired: Vec<(i64, i64, u32)>,
    /// Slots of the fired sessions.
    pub fired_slots: Vec<u32>,
    /// Output row (index in `fired`) of each of `fired_slots`.
    pub fired_groups: Vec<usize>,
    /// Slots of the sessions still open.
    pub live_slots: Vec<u32>,
    /// New slot of each of `live_slots` (one per open session).
    pub live_groups: Vec<usize>,
}

/// The open sessions of every key, with the slots they accumulate into.
#[derive(Debug)]
pub(crate) struct SessionTable {
    gap: i64,
    /// Per slot: session start (valid for roots).
    start: Vec<i64>,
    /// Per slot: session end, exclusive: last row time + gap (valid for roots).
    end: Vec<i64>,
    /// Per slot: key id.
    key: Vec<u32>,
    /// Per slot: the next slot of the same session, or `NONE`.
    next: Vec<u32>,
    /// Per slot: the last slot of its session's list (valid for roots).
    tail: Vec<u32>,
    /// Roots of open sessions by (key, start). Sessions of a key are disjoint and do not
    /// touch, so ordered by start they are ordered by end too.
    open: BTreeMap<(u32, i64), u32>,
    /// Roots of open sessions by (end, root): the firing order.
    by_end: BTreeSet<(i64, u32)>,
    /// The current watermark; `i64::MIN` before the first.
    watermark: i64,
}

impl SessionTable {
    /// An empty table for sessions closed by `gap_ms` of inactivity.
    pub fn new(gap_ms: i64) -> SessionTable {
        SessionTable {
            gap: gap_ms,
            start: Vec::new(),
            end: Vec::new(),
            key: Vec::new(),
            next: Vec::new(),
            tail: Vec::new(),
            open: BTreeMap::new(),
            by_end: BTreeSet::new(),
            watermark: i64::MIN,
        }
    }

    /// Number of slots (groups the accumulators must hold).
    pub fn slots(&self) -> usize {
        self.start.len()
    }

    /// Number of open sessions.
    pub fn open_sessions(&self) -> usize {
        self.open.len()
    }

    /// Open sessions as (key id, start, end), ordered by key and start.
    #[cfg(test)]
    pub fn sessions(&self) -> impl Iterator<Item = (u32, i64, i64)> + '_ {
        self.open
            .iter()
            .map(|(&(key, start), &root)| (key, start, self.end[root as usize]))
    }

    /// The slot a row of key `key` at time `ts` is added to, merging the sessions it
    /// bridges; `None` when the row is late: it joins no open session and its own
    /// session `[ts, ts + gap)` would already have fired. `found` is scratch space.
    pub fn assign(&mut self, key: u32, ts: i64, found: &mut Vec<u32>) -> Option<u32> {
        let hi = ts.saturating_add(self.gap);
        // A session [s, e) joins the row's window [ts, hi) when they overlap or touch
        // (Flink's `TimeWindow::intersects`): s <= hi and e >= ts. Walk back from the
        // last session starting at or before `hi` while sessions still reach `ts`.
        found.clear();
        for (_, &root) in self.open.range((key, i64::MIN)..=(key, hi)).rev() {
            if self.end[root as usize] < ts {
                break;
            }
            found.push(root);
        }
        let Some((&target, others)) = found.split_first() else {
            if self.watermark != i64::MIN && hi.saturating_sub(1) <= self.watermark {
                return None;
            }
            let slot = self.new_slot(key, ts, hi);
            self.open.insert((key, ts), slot);
            self.by_end.insert((hi, slot));
            return Some(slot);
        };
        let t = target as usize;
        let (old_start, old_end) = (self.start[t], self.end[t]);
        let mut new_start = old_start.min(ts);
        let mut new_end = old_end.max(hi);
        for &other in others {
            let o = other as usize;
            new_start = new_start.min(self.start[o]);
            new_end = new_end.max(self.end[o]);
            self.open.remove(&(key, self.start[o]));
            self.by_end.remove(&(self.end[o], other));
            // Append the other session's slots to the target's list.
            let last = self.tail[t] as usize;
            self.next[last] = other;
            self.tail[t] = self.tail[o];
        }
        if new_start != old_start {
            self.open.remove(&(key, old_start));
            self.open.insert((key, new_start), target);
            self.start[t] = new_start;
        }
        if new_end != old_end {
            self.by_end.remove(&(old_end, target));
            self.by_end.insert((new_end, target));
            self.end[t] = new_end;
        }
        Some(target)
    }

    fn new_slot(&mut self, key: u32, start: i64, end: i64) -> u32 {
        let slot = self.start.len() as u32;
        self.start.push(start);
        self.end.push(end);
        self.key.push(key);
        self.next.push(NONE);
        self.tail.push(slot);
        slot
    }

    /// Advances to `watermark`: every session with `end - 1 <= watermark` fires. Returns
    /// how to move the accumulator states, and renumbers the slots accordingly (slot `i`
    /// of the open sessions is `live_groups` of its old slots), or `None` when no session
    /// fires (nothing changes then).
    pub fn advance(&mut self, watermark: i64) -> Option<Compaction> {
        self.watermark = self.watermark.max(watermark);
        let mut plan = Compaction::default();
        while let Some(&(end, root)) = self.by_end.first() {
            if end.saturating_sub(1) > self.watermark {
                break;
            }
            self.by_end.pop_first();
            let r = root as usize;
            self.open.remove(&(self.key[r], self.start[r]));
            let row = plan.fired.len();
            plan.fired.push((self.start[r], end, self.key[r]));
            self.for_each_member(root, |slot| {
                plan.fired_slots.push(slot);
                plan.fired_groups.push(row);
            });
        }
        if plan.fired.is_empty() {
            return None;
        }
        self.renumber(&mut plan);
        Some(plan)
    }

    /// Renumbers the slots without firing anything: slot `i` becomes the `i`-th open
    /// session in (key, start) order, whose bounds and key [`SessionTable::open_in_order`]
    /// lists. Returns how to move the accumulator states (`fired` empty).
    pub fn compact(&mut self) -> Compaction {
        let mut plan = Compaction::default();
        self.renumber(&mut plan);
        plan
    }

    /// The open sessions as (key id, start, end), in (key, start) order: after
    /// [`SessionTable::compact`], the `i`-th is slot `i`.
    pub fn open_in_order(&self) -> Vec<(u32, i64, i64)> {
        self.open
            .iter()
            .map(|(&(key, start), &root)| (key, start, self.end[root as usize]))
            .collect()
    }

    /// Adds a restored open session of key `key` (which overlaps no open session of that
    /// key); returns its slot.
    pub fn restore_session(&mut self, key: u32, start: i64, end: i64) -> u32 {
        let slot = self.new_slot(key, start, end);
        self.open.insert((key, start), slot);
        self.by_end.insert((end, slot));
        slot
    }

    /// Raises the watermark to a restored one (never backwards).
    pub fn restore_watermark(&mut self, watermark: i64) {
        self.watermark = self.watermark.max(watermark);
    }

    /// Renumbers the slots of the open sessions into one slot each, in (key, start)
    /// order, adding the moves to `plan`.
    fn renumber(&mut self, plan: &mut Compaction) {
        let mut renumbered = SessionTable::new(self.gap);
        renumbered.watermark = self.watermark;
        for (&(key, start), &root) in &self.open {
            let end = self.end[root as usize];
            let slot = renumbered.new_slot(key, start, end);
            renumbered.open.insert((key, start), slot);
            renumbered.by_end.insert((end, slot));
            self.for_each_member(root, |old| {
                plan.live_slots.push(old);
                plan.live_groups.push(slot as usize);
            });
        }
        *self = renumbered;
    }

    fn for_each_member(&self, root: u32, mut f: impl FnMut(u32)) {
        let mut slot = root;
        while slot != NONE {
            f(slot);
            slot = self.next[slot as usize];
        }
    }

    /// Key ids of the open sessions, ascending and distinct.
    pub fn live_keys(&self) -> Vec<u32> {
        let mut keys: Vec<u32> = self.open.keys().map(|&(k, _)| k).collect();
        keys.dedup();
        keys
    }

    /// Replaces every key id `k` by `mapping[k]` (which keeps the order of live keys).
    pub fn remap_keys(&mut self, mapping: &[u32]) {
        for k in &mut self.key {
            if let Some(&new) = mapping.get(*k as usize) {
                *k = new;
            }
        }
        self.open = std::mem::take(&mut self.open)
            .into_iter()
            .map(|((k, start), root)| {
                let new = mapping.get(k as usize).copied().unwrap_or(k);
                ((new, start), root)
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_extend_merge_and_fire_sessions() {
        let mut t = SessionTable::new(10);
        let mut found = Vec::new();
        let a = t.assign(0, 100, &mut found).unwrap();
        // Within the gap (touching counts): same session.
        assert_eq!(t.assign(0, 110, &mut found), Some(a));
        // Another key has its own sessions.
        let other = t.assign(1, 105, &mut found).unwrap();
        assert_ne!(other, a);
        // Too far: a new session [200, 210).
        let b = t.assign(0, 200, &mut found).unwrap();
        assert_ne!(b, a);
        assert_eq!(
            t.sessions().collect::<Vec<_>>(),
            vec![(0, 100, 120), (0, 200, 210), (1, 105, 115)]
        );
        // Out of order, before the first session: extends its start.
        assert_eq!(t.assign(0, 95, &mut found), Some(a));
        // 120..200 is bridged by rows at 120, 130, ... 190: the last one merges.
        for ts in [120, 130, 140, 150, 160, 170, 180] {
            assert_eq!(t.assign(0, ts, &mut found), Some(a));
        }
        assert_eq!(t.open_sessions(), 3);
        let merged = t.assign(0, 190, &mut found).unwrap();
        assert!(merged == a || merged == b);
        assert_eq!(
            t.sessions().collect::<Vec<_>>(),
            vec![(0, 95, 210), (1, 105, 115)]
        );
        // Watermark 114 fires key 1's session [105, 115).
        let plan = t.advance(114).unwrap();
        assert_eq!(plan.fired, vec![(105, 115, 1)]);
        assert_eq!(plan.fired_slots, vec![other]);
        // The open session's two slots collapse into new slot 0.
        assert_eq!(plan.live_slots.len(), 2);
        assert_eq!(plan.live_groups, vec![0, 0]);
        assert_eq!(t.slots(), 1);
        // Nothing fires at 200; at 209 the merged session does.
        assert!(t.advance(200).is_none());
        // A row of key 1 at 103: its session [103, 113) would have fired: late.
        assert_eq!(t.assign(1, 103, &mut found), None);
        // A row of key 0 at 150 is inside the open session: not late.
        assert_eq!(t.assign(0, 150, &mut found), Some(0));
        let plan = t.advance(209).unwrap();
        assert_eq!(plan.fired, vec![(95, 210, 0)]);
        assert_eq!(t.open_sessions(), 0);
        assert_eq!(t.slots(), 0);
    }

    #[test]
    fn a_row_bridging_two_sessions_merges_them() {
        let mut t = SessionTable::new(5);
        let mut found = Vec::new();
        let a = t.assign(7, 0, &mut found).unwrap();
        let b = t.assign(7, 11, &mut found).unwrap();
        // [0, 5) and [11, 16): a row at 5 gives [5, 10), which touches the first only.
        assert_eq!(t.assign(7, 5, &mut found), Some(a));
        // Now [0, 10) and [11, 16): a row at 10 touches both and merges them.
        let merged = t.assign(7, 10, &mut found).unwrap();
        assert!(merged == a || merged == b);
        assert_eq!(t.sessions().collect::<Vec<_>>(), vec![(7, 0, 16)]);
        let plan = t.advance(i64::MAX).unwrap();
        assert_eq!(plan.fired, vec![(0, 16, 7)]);
        let mut slots = plan.fired_slots.clone();
        slots.sort();
        assert_eq!(slots, vec![a, b]);
        assert_eq!(plan.fired_groups, vec![0, 0]);
    }

    #[test]
    fn key_ids_are_remapped() {
        let mut t = SessionTable::new(5);
        let mut found = Vec::new();
        t.assign(3, 0, &mut found);
        t.assign(9, 0, &mut found);
        assert_eq!(t.live_keys(), vec![3, 9]);
        let mut mapping = vec![u32::MAX; 10];
        mapping[3] = 0;
        mapping[9] = 1;
        t.remap_keys(&mapping);
        assert_eq!(t.sessions().collect::<Vec<_>>(), vec![(0, 0, 5), (1, 0, 5)]);
        let plan = t.advance(10).unwrap();
        assert_eq!(plan.fired, vec![(0, 5, 0), (0, 5, 1)]);
    }
}
