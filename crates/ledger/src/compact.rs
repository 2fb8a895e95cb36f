//! The compact replay of the two tables that grow with every send (`sends` and
//! `conversations`), so that `verify` needs memory bounded by a fixed budget instead of by
//! the ledger's size.
//!
//! Owns: a fixed-size expected state per row (keyed 64-bit digests of what the events say
//! the row holds, plus the few values later events change on their own: the first, last and
//! last-dispatch event, the run, the newest receipt), filled from the events in `seq` order
//! and checked against the table streamed in storage order; partitioning of the keys into passes
//! when one pass would not fit; and the diagnosis that names the differing row and column.
//!
//! How it decides: each row's state is folded exactly as the full replay in [`crate::audit`]
//! folds it ([`crate::audit`]'s `replay_sends` / `replay_conversations` stay the definition
//! and are what the diagnosis runs), except that text and numbers of the image are kept as a
//! SipHash-1-3 digest under keys drawn at random for each verify (never stored, so nobody can
//! prepare an edit whose digest matches; a blind edit passes with probability 2⁻⁶⁴). Rows are
//! filed by a keyed 64-bit hash of their key; a collision can only make verify fail (it
//! says so and asks for a rerun, which draws new keys), never pass. When the table holds
//! more rows than [`KEYS_PER_PASS`], keys are split by their hash into passes, each of which
//! reads the events and the table again and keeps only its own keys.

use std::collections::HashMap;
use std::hash::{BuildHasher as _, Hasher as _, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::audit::{TableState, raw_values, replay_conversations, replay_sends};
use crate::chain::{Event, SendImage};
use crate::error::{LedgerError, Result};
use crate::model::{BrokenLink, SendState};
use crate::raw::RawTable;
use crate::store::{Cells, Db, p};

/// Rows of one table kept per pass. A pass sizes its maps for its share plus an eighth and
/// 1,024 (the keyed hash spreads keys evenly), which stays within 2²¹ hash buckets per map,
/// so a pass needs about 210 MiB whatever the ledger's size, and a ledger of up to 1,600,000
/// sends is verified in one pass.
pub(crate) const KEYS_PER_PASS: u64 = 1_600_000;

static PER_PASS: AtomicU64 = AtomicU64::new(0);

/// Rows of one table kept per pass ([`KEYS_PER_PASS`] unless a test lowered it).
pub(crate) fn keys_per_pass() -> u64 {
    match PER_PASS.load(Ordering::Relaxed) {
        0 => KEYS_PER_PASS,
        n => n,
    }
}

/// Lowers the rows kept per pass, so small test ledgers take several passes (the outcome
/// of verify does not depend on it; only its memory and time do); 0 restores the default.
#[cfg(feature = "testing")]
pub(crate) fn set_keys_per_pass(n: u64) {
    PER_PASS.store(n, Ordering::Relaxed);
}

/// A map keyed by an already keyed hash.
type Map<V> = hashbrown::HashMap<u64, V, foldhash::fast::RandomState>;

/// "No event" / "no value" in a `u32` slot.
const NONE: u32 = u32::MAX;
/// A receipt column that an old event leaves unchecked.
const UNCHECKED: u32 = u32::MAX - 1;

/// The event kinds that change `sends` or `conversations`.
const KINDS: &str = "'sends_claimed', 'outcomes_recorded', 'dispatching_recovered', \
                     'unknown_resolved', 'receipt_recorded'";

/// The random keys of one verify.
pub(crate) struct Seeds {
    key: RandomState,
    row: RandomState,
}

impl Seeds {
    pub(crate) fn new() -> Seeds {
        Seeds {
            key: RandomState::new(),
            row: RandomState::new(),
        }
    }

    fn key(&self, domain: u8, parts: &[&str]) -> u64 {
        let mut h = self.key.build_hasher();
        h.write_u8(domain);
        for part in parts {
            h.write(part.as_bytes());
            h.write_u8(0xff);
        }
        h.finish()
    }

    fn send_key(&self, campaign: &str, row_key: &str) -> u64 {
        self.key(1, &[campaign, row_key])
    }

    fn recipient_key(&self, recipient: &str) -> u64 {
        self.key(2, &[recipient])
    }

    fn message_key(&self, message_id: &str) -> u64 {
        self.key(3, &[message_id])
    }

    fn digest(&self) -> Dig {
        Dig(self.row.build_hasher())
    }
}

/// A row digest under construction: each value tagged by kind (UTF-8 never holds `0xff`).
struct Dig(std::hash::DefaultHasher);

impl Dig {
    fn t(&mut self, s: Option<&str>) {
        match s {
            None => self.0.write_u8(0),
            Some(s) => {
                self.0.write_u8(1);
                self.0.write(s.as_bytes());
                self.0.write_u8(0xff);
            }
        }
    }

    fn i(&mut self, n: Option<i64>) {
        match n {
            None => self.0.write_u8(0),
            Some(n) => {
                self.0.write_u8(2);
                self.0.write_i64(n);
            }
        }
    }

    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// What one `sends` row must hold (see the module docs).
#[derive(Debug, Clone, Copy)]
struct SendExp {
    /// Digest of the image columns of the last event (category only if it carried one).
    img: u64,
    /// Key of the row's current message id (0: none).
    msg: u64,
    /// The newest receipt's time (meaningful when `receipt` is a status).
    receipt_at: i64,
    /// Image events (indexes into `evs`): first (`created_at`), last (`updated_at`), last
    /// claim that dispatched (`dispatched_at`, or [`NONE`]).
    created: u32,
    last: u32,
    dispatched: u32,
    /// Interned run id, or [`NONE`].
    run: u32,
    /// Interned receipt status, [`NONE`] (NULL) or [`UNCHECKED`].
    receipt: u32,
    category: bool,
}

/// What one `conversations` row must hold.
#[derive(Debug, Clone, Copy)]
struct ConvExp {
    /// Digest of recipient, channel and conversation id.
    dig: u64,
    /// The image event that wrote it (`updated_at`).
    ev: u32,
}

#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn id(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(UNCHECKED - 1);
        self.ids.insert(s.to_owned(), id);
        self.names.push(s.to_owned());
        id
    }

    fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }
}

/// One pass of the compact replay: the expected rows of the keys in partition `part` of
/// `parts`.
pub(crate) struct BigReplay<'s> {
    seeds: &'s Seeds,
    part: u64,
    parts: u64,
    /// `(seq, at)` of every event that carried send images.
    evs: Vec<(u64, i64)>,
    sends: Map<SendExp>,
    /// Message key → the row key that first held it; further holders in `more_msgs`.
    msgs: Map<u64>,
    more_msgs: HashMap<u64, Vec<u64>>,
    convs: Map<ConvExp>,
    runs: Interner,
    statuses: Interner,
    /// Most rows a map may hold without growing (its allocated capacity: the table's share
    /// plus a margin). The events can name more keys than the table holds only if rows were
    /// deleted behind the chain; past the cap the pass stops filing rows (memory stays
    /// bounded) and reports that.
    cap_sends: usize,
    cap_convs: usize,
    overflow_sends: bool,
    overflow_convs: bool,
}

fn image_digest(seeds: &Seeds, img: &SendImage) -> u64 {
    let mut d = seeds.digest();
    d.t(Some(&img.campaign));
    d.t(Some(&img.row_key));
    d.t(Some(img.recipient.as_str()));
    d.t(Some(&img.masked));
    d.t(Some(img.channel.as_str()));
    d.t(Some(&img.template_hash));
    d.t(Some(img.state.as_str()));
    d.i(Some(i64::from(img.attempts)));
    d.i(img.next_attempt_at);
    d.t(img.message_id.as_deref());
    d.t(img.conversation_id.as_deref());
    d.t(img.error_code.as_deref());
    d.t(img.note.as_deref());
    if let Some(c) = &img.category {
        d.t(Some(c));
    }
    d.finish()
}

fn conv_digest(seeds: &Seeds, recipient: &str, channel: &str, conv: &str) -> u64 {
    let mut d = seeds.digest();
    d.t(Some(recipient));
    d.t(Some(channel));
    d.t(Some(conv));
    d.finish()
}

/// The send images an event carries, its run id, and whether it is a claim.
fn images(event: &Event) -> Option<(&[SendImage], Option<&str>, bool)> {
    match event {
        Event::SendsClaimed { run_id, rows, .. } => Some((rows, Some(run_id), true)),
        Event::OutcomesRecorded { run_id, rows, .. }
        | Event::UnknownResolved { run_id, rows, .. } => Some((rows, Some(run_id), false)),
        Event::DispatchingRecovered { rows, .. } => Some((rows, None, false)),
        _ => None,
    }
}

impl<'s> BigReplay<'s> {
    /// An empty pass for partition `part` of `parts`, sized for `n_sends` and `n_convs` rows
    /// in all.
    pub(crate) fn new(seeds: &'s Seeds, part: u64, parts: u64, n_sends: u64, n_convs: u64) -> Self {
        let want = |n: u64| {
            let share = usize::try_from(n.div_ceil(parts.max(1))).unwrap_or(usize::MAX / 2);
            share + share / 8 + 1_024
        };
        let hasher = foldhash::fast::RandomState::default;
        let send_map: Map<SendExp> = Map::with_capacity_and_hasher(want(n_sends), hasher());
        let conv_map: Map<ConvExp> = Map::with_capacity_and_hasher(want(n_convs), hasher());
        let msgs: Map<u64> = Map::with_capacity_and_hasher(want(n_sends), hasher());
        BigReplay {
            seeds,
            part,
            parts: parts.max(1),
            evs: Vec::new(),
            cap_sends: send_map.capacity(),
            cap_convs: conv_map.capacity(),
            sends: send_map,
            msgs,
            more_msgs: HashMap::new(),
            convs: conv_map,
            runs: Interner::default(),
            statuses: Interner::default(),
            overflow_sends: false,
            overflow_convs: false,
        }
    }

    fn mine(&self, key: u64) -> bool {
        key % self.parts == self.part
    }

    /// Folds one intact event into the expected rows of this pass.
    pub(crate) fn apply(&mut self, seq: u64, at: i64, event: &Event) {
        if let Event::ReceiptRecorded {
            message_id,
            status,
            receipt_at,
            ..
        } = event
        {
            self.receipt(message_id, status, *receipt_at);
            return;
        }
        let Some((rows, run_id, claimed)) = images(event) else {
            return;
        };
        let idx = u32::try_from(self.evs.len()).unwrap_or(UNCHECKED - 1);
        self.evs.push((seq, at));
        let run = run_id.map(|r| self.runs.id(r));
        let writes_convs = match event {
            Event::OutcomesRecorded { .. } => Some(false),
            Event::UnknownResolved { .. } => Some(true),
            _ => None,
        };
        for img in rows {
            let key = self.seeds.send_key(&img.campaign, &img.row_key);
            if self.mine(key) {
                if self.sends.len() >= self.cap_sends && !self.sends.contains_key(&key) {
                    self.overflow_sends = true;
                } else {
                    self.image(key, idx, run, claimed, img);
                }
            }
            // Only `Found` (→ sent) of a resolution writes the map.
            let conv_write = match writes_convs {
                Some(only_sent) => !only_sent || img.state == SendState::Sent,
                None => false,
            };
            if let (true, Some(conv)) = (conv_write, &img.conversation_id) {
                let rkey = self.seeds.recipient_key(img.recipient.as_str());
                if self.mine(rkey) {
                    if self.convs.len() >= self.cap_convs && !self.convs.contains_key(&rkey) {
                        self.overflow_convs = true;
                        continue;
                    }
                    let dig = conv_digest(
                        self.seeds,
                        img.recipient.as_str(),
                        img.channel.as_str(),
                        conv,
                    );
                    self.convs.insert(rkey, ConvExp { dig, ev: idx });
                }
            }
        }
    }

    fn image(&mut self, key: u64, idx: u32, run: Option<u32>, claimed: bool, img: &SendImage) {
        let msg = img
            .message_id
            .as_deref()
            .map_or(0, |m| self.seeds.message_key(m));
        let e = self.sends.entry(key).or_insert(SendExp {
            img: 0,
            msg: 0,
            receipt_at: 0,
            created: idx,
            last: idx,
            dispatched: NONE,
            run: NONE,
            receipt: NONE,
            category: false,
        });
        e.img = image_digest(self.seeds, img);
        e.category = img.category.is_some();
        e.last = idx;
        e.msg = msg;
        if let Some(run) = run {
            e.run = run;
        }
        if claimed && matches!(img.state, SendState::Dispatching | SendState::HandedOff) {
            e.dispatched = idx;
        }
        if msg != 0 {
            match self.msgs.entry(msg) {
                hashbrown::hash_map::Entry::Vacant(v) => {
                    v.insert(key);
                }
                hashbrown::hash_map::Entry::Occupied(o) => {
                    if *o.get() != key {
                        let more = self.more_msgs.entry(msg).or_default();
                        if !more.contains(&key) {
                            more.push(key);
                        }
                    }
                }
            }
        }
    }

    fn receipt(&mut self, message_id: &str, status: &str, receipt_at: Option<i64>) {
        let msg = self.seeds.message_key(message_id);
        let mut keys: Vec<u64> = self.msgs.get(&msg).copied().into_iter().collect();
        if let Some(more) = self.more_msgs.get(&msg) {
            keys.extend(more);
        }
        for key in keys {
            let Some(e) = self.sends.get(&key).copied() else {
                continue;
            };
            if e.msg != msg {
                continue;
            }
            let mut e = e;
            match receipt_at {
                Some(at) => {
                    let newer = match e.receipt {
                        UNCHECKED => false,
                        NONE => true,
                        _ => e.receipt_at <= at,
                    };
                    if newer {
                        e.receipt = self.statuses.id(status);
                        e.receipt_at = at;
                    }
                }
                // An event from before the keyed chain does not carry the receipt's time.
                None => e.receipt = UNCHECKED,
            }
            self.sends.insert(key, e);
        }
    }

    fn at(&self, idx: u32) -> Option<i64> {
        self.evs.get(idx as usize).map(|e| e.1)
    }

    fn seq(&self, idx: u32) -> u64 {
        self.evs.get(idx as usize).map_or(0, |e| e.0)
    }

    /// Whether a `sends` row (columns in [`RawTable::Sends`] order) holds what `e` expects.
    fn send_matches(&self, e: &SendExp, r: &dyn Cells) -> Result<bool> {
        let mut d = self.seeds.digest();
        for i in 0..7 {
            d.t(r.text(i)?);
        }
        d.i(r.int(7)?);
        d.i(r.int(8)?);
        for i in 9..13 {
            d.t(r.text(i)?);
        }
        let category = r.text(19)?;
        if e.category {
            d.t(category);
        }
        if d.finish() != e.img {
            return Ok(false);
        }
        let run = (e.run != NONE).then(|| self.runs.name(e.run)).flatten();
        let dispatched = (e.dispatched != NONE)
            .then(|| self.at(e.dispatched))
            .flatten();
        if r.text(13)? != run
            || r.int(14)? != self.at(e.created)
            || r.int(15)? != dispatched
            || r.int(16)? != self.at(e.last)
        {
            return Ok(false);
        }
        Ok(match e.receipt {
            UNCHECKED => true,
            NONE => r.text(17)?.is_none() && r.int(18)?.is_none(),
            id => r.text(17)? == self.statuses.name(id) && r.int(18)? == Some(e.receipt_at),
        })
    }

    /// Streams `sends` (in storage order) and checks this pass's rows; returns the rows checked
    /// and the first difference.
    pub(crate) fn check_sends(&mut self, db: &mut dyn Db) -> Result<(u64, Option<BrokenLink>)> {
        let table = RawTable::Sends;
        if self.overflow_sends {
            return Ok((0, Some(overflow(table, self.cap_sends))));
        }
        // Storage order: rows are matched by key hash, so no sort or index walk is needed.
        let sql = format!("SELECT {} FROM sends", table.select_list());
        let mut rows = 0;
        let mut bad: Option<Bad> = None;
        let this = &mut *self;
        db.each(&sql, &[], &mut |r| {
            if bad.is_some() {
                return Ok(());
            }
            let (campaign, row_key) = (r.str(0)?, r.str(1)?);
            let key = this.seeds.send_key(campaign, row_key);
            if !this.mine(key) {
                return Ok(());
            }
            rows += 1;
            match this.sends.remove(&key) {
                None => {
                    bad = Some(Bad::Inserted(format!("{campaign}/{row_key}")));
                }
                Some(e) => {
                    if !this.send_matches(&e, r).map_err(|_| wrong_kind(table))? {
                        bad = Some(Bad::Differs(key));
                    }
                }
            }
            Ok(())
        })?;
        let bad = bad.or_else(|| {
            self.sends
                .iter()
                .min_by_key(|(_, e)| self.seq(e.last))
                .map(|(k, _)| Bad::Differs(*k))
        });
        let broken = match bad {
            None => None,
            Some(bad) => Some(explain(db, self.seeds, table, bad)?),
        };
        Ok((rows, broken))
    }

    /// Streams `conversations` (in storage order) and checks this pass's rows.
    pub(crate) fn check_conversations(
        &mut self,
        db: &mut dyn Db,
    ) -> Result<(u64, Option<BrokenLink>)> {
        let table = RawTable::Conversations;
        if self.overflow_convs {
            return Ok((0, Some(overflow(table, self.cap_convs))));
        }
        // Storage order: rows are matched by key hash, so no sort or index walk is needed.
        let sql = format!("SELECT {} FROM conversations", table.select_list());
        let mut rows = 0;
        let mut bad: Option<Bad> = None;
        let this = &mut *self;
        db.each(&sql, &[], &mut |r| {
            if bad.is_some() {
                return Ok(());
            }
            let recipient = r.str(0)?;
            let key = this.seeds.recipient_key(recipient);
            if !this.mine(key) {
                return Ok(());
            }
            rows += 1;
            match this.convs.remove(&key) {
                None => bad = Some(Bad::Inserted(recipient.to_owned())),
                Some(e) => {
                    let ok = (|| -> Result<bool> {
                        let dig = conv_digest(this.seeds, recipient, r.str(1)?, r.str(2)?);
                        Ok(dig == e.dig && r.int(3)? == this.at(e.ev))
                    })()
                    .map_err(|_| wrong_kind(table))?;
                    if !ok {
                        bad = Some(Bad::Differs(key));
                    }
                }
            }
            Ok(())
        })?;
        let bad = bad.or_else(|| {
            self.convs
                .iter()
                .min_by_key(|(_, e)| self.seq(e.ev))
                .map(|(k, _)| Bad::Differs(*k))
        });
        let broken = match bad {
            None => None,
            Some(bad) => Some(explain(db, self.seeds, table, bad)?),
        };
        Ok((rows, broken))
    }
}

fn overflow(table: RawTable, cap: usize) -> BrokenLink {
    BrokenLink {
        seq: None,
        reason: format!(
            "table `{}`: the events record more than {cap} rows in one pass of verify, more than \
             the table holds: rows were deleted behind the chain",
            table.name()
        ),
    }
}

fn wrong_kind(table: RawTable) -> LedgerError {
    LedgerError::Corrupt(format!("value of the wrong kind in {}", table.name()))
}

/// A row the compact check found wrong.
enum Bad {
    /// A table row no event recorded (its key as the full replay names it).
    Inserted(String),
    /// The row with this key hash differs from the events, or is missing.
    Differs(u64),
}

/// Streams the events that change `sends` or `conversations`, decoded, in `seq` order (for
/// the passes after the first, whose links the first pass checked in the same snapshot).
pub(crate) fn each_event(db: &mut dyn Db, f: &mut dyn FnMut(u64, i64, &Event)) -> Result<()> {
    db.each(
        &format!("SELECT seq, at, payload_json FROM events WHERE kind IN ({KINDS}) ORDER BY seq"),
        &[],
        &mut |r| {
            let seq = u64::try_from(r.i(0)?).unwrap_or(0);
            let event: Event = serde_json::from_str(r.str(2)?).map_err(|e| {
                LedgerError::Corrupt(format!("event #{seq} payload is unreadable: {e}"))
            })?;
            f(seq, r.i(1)?, &event);
            Ok(())
        },
    )
}

/// The event with only the send images that `keep` accepts (receipts pass whole).
fn only_rows(event: &Event, keep: &dyn Fn(&SendImage) -> bool) -> Option<Event> {
    let pick = |rows: &[SendImage]| rows.iter().filter(|r| keep(r)).cloned().collect();
    let mut out = event.clone();
    match &mut out {
        Event::SendsClaimed { rows, .. }
        | Event::OutcomesRecorded { rows, .. }
        | Event::UnknownResolved { rows, .. }
        | Event::DispatchingRecovered { rows, .. } => *rows = pick(rows),
        Event::ReceiptRecorded { .. } => {}
        _ => return None,
    }
    Some(out)
}

/// Names the difference the way the full replay does: replays the events of that one row
/// exactly ([`replay_sends`] / [`replay_conversations`]) and compares it with its stored row.
fn explain(db: &mut dyn Db, seeds: &Seeds, table: RawTable, bad: Bad) -> Result<BrokenLink> {
    let key = match bad {
        Bad::Inserted(label) => {
            return Ok(BrokenLink {
                seq: None,
                reason: format!(
                    "table `{}`: row {label} was never recorded by any event (inserted outside herald)",
                    table.name()
                ),
            });
        }
        Bad::Differs(key) => key,
    };
    let is_sends = table == RawTable::Sends;
    let keep = |img: &SendImage| {
        if is_sends {
            seeds.send_key(&img.campaign, &img.row_key) == key
        } else {
            seeds.recipient_key(img.recipient.as_str()) == key
        }
    };
    let mut state = TableState::default();
    let mut found: Option<(String, String)> = None;
    each_event(db, &mut |seq, at, event| {
        let Some(event) = only_rows(event, &keep) else {
            return;
        };
        if found.is_none()
            && let Some(img) = images(&event).and_then(|(rows, _, _)| rows.first())
        {
            found = Some(if is_sends {
                (img.campaign.clone(), img.row_key.clone())
            } else {
                (img.recipient.as_str().to_owned(), String::new())
            });
        }
        if is_sends {
            replay_sends(&mut state, seq, at, &event);
        } else {
            replay_conversations(&mut state, seq, at, &event);
        }
    })?;
    let stored = match &found {
        Some((a, b)) => {
            let cols = table.select_list();
            if is_sends {
                let sql = format!("SELECT {cols} FROM sends WHERE campaign = ?1 AND row_key = ?2");
                db.row(&sql, p![a.as_str(), b.as_str()], |r| raw_values(table, r))?
            } else {
                let sql = format!("SELECT {cols} FROM conversations WHERE recipient = id_pack(?1)");
                db.row(&sql, p![a.as_str()], |r| raw_values(table, r))?
            }
        }
        None => None,
    };
    let mut cmp = crate::audit::Compare::new(table, state);
    if let Some(values) = stored {
        cmp.row(&values);
    }
    Ok(cmp.finish().unwrap_or_else(|| BrokenLink {
        seq: None,
        reason: format!(
            "table `{}`: verify's digest of a row did not match although the row replays exactly \
             (a collision of its random 64-bit keys): run verify again",
            table.name()
        ),
    }))
}
