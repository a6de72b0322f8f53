//! "Trust" issue, item 1: any sequence of edits, syncs, resolutions and undos never loses the
//! last value a person wrote on either side.
//!
//! A property test through the real binary against the in-process fake Inbox and a CSV export,
//! because that is where the undo bug lived (it spanned the store, the engine and the CLI).
//! It is a `proptest`, not a hand-rolled random walk: a case is a fresh world of 1–3 linked
//! single-thread prospects and up to 12 steps plus a final sync (with 8, most resolutions and
//! undos found nothing to act on), each binary run taking 20–50 ms, so a case takes 0.2–0.5 s
//! and the 32 default cases 7 s on two idle cores (17 s beside another build). Shrinking
//! re-runs real processes, so it is bounded (`max_shrink_iters`), and worth it: the steps of a
//! failure come out short and readable. The cases come from a fixed seed, so `cargo test` is
//! deterministic; `CRMSYNC_NO_LOST_EDIT_CASES=N` and `CRMSYNC_NO_LOST_EDIT_SEED=S` explore
//! further (600 cases take two to six minutes), `CRMSYNC_NO_LOST_EDIT_VERBOSE=1` prints every
//! case's steps.
//! Nothing is persisted: a failure found is pinned by a small deterministic test below, the
//! steps written out for the same oracle.
//!
//! **The steps.** A person edits a field on the Inbox side (`edit_context`), on the CRM side
//! (the export cell), or both at once (two people, the same field: a conflict); `sync`;
//! `conflicts resolve ID --take inbox|crm|value V` on an open `both-changed` conflict; `undo
//! RUN` of an earlier sync. A case runs in `in-place` or `import-file` mode; in the latter the
//! test plays the user who imports the import file into the export right after every run.
//!
//! **The values.** The fields are the valuation and the notes. Notes are three lines, `A…`,
//! `B`, `C…`, and a person edits the first or the last line, so that a notes merge is a merge
//! per line: the oracle treats the valuation and the two edited lines as three *slots*, each
//! with the same rule. Every edit writes a fresh value (`A17`, `1017`), or, one time in three,
//! puts back a value that same side's person typed before (people change their minds; this is
//! what makes a base that lags show). Fresh values make every value's origin known.
//!
//! **The oracle.** Per prospect, slot and side, it records the last value a person wrote on
//! that side and when (a logical clock), and every value a person wrote on each side. Edits are
//! person writes. A resolution is a person write, at the time of the `resolve` command, of the
//! chosen value on each side that did not hold it yet, counted once the next sync applied it
//! (`--take inbox|crm` means the value that side holds at that sync). An undo is a person's
//! intent to restore the older values: it writes nothing of its own; where it reverted a
//! resolution's write, that resolution's write is taken back (the side's last write is the one
//! before the resolution again). An edit that puts a side back to what it held at the end of
//! the last run, or to the value both sides last held together, is no write: the person undid
//! their own change, which no sync can tell from no change (found by the property: a CRM edit
//! and back between two syncs, while Inbox changed, is copied over; that is the merge working).
//! After every run (sync or undo, and the import) it checks:
//!
//! 1. each slot on each side holds the last value a person wrote on that side, or a value a
//!    person wrote on the other side *later* than that (it was copied). A notes merge is
//!    covered by the per-line slots: a merged text holds each side's own line or the other
//!    side's later one. So no person-written value is ever overwritten by an older value.
//! 2. after a sync, a field in an open `both-changed` conflict was written on neither side by
//!    that sync (in particular after an undo that reopened a conflict).
//! 3. after a sync, a resolution it applied holds on both sides.
//!
//! Judgment calls, each the stricter choice: a resolution counts from the moment the person
//! made it, not from the sync that applies it, so an edit made between the two must survive;
//! the user imports every import file at once, so a value handed over in one counts as copied
//! as soon as it is imported; an undo may take back a person's write only by reverting the
//! resolution that made it, never anything typed.
//!
//! **Bugs it found, now fixed.** Five sequences broke the promise; each is a regression test
//! below, and the property generates their steps again: an edit of a field whose resolution
//! waits (`a_resolution_applied_later_keeps_an_edit_made_after_it`: an overtaken resolution is
//! opened again), putting a value back in `import-file` mode
//! (`an_imported_value_is_not_copied_back_over_a_later_edit`), an undo of a resolution's run
//! after a person put an older value back on one of its sides
//! (`an_undo_that_reverts_one_side_of_a_resolution_keeps_the_base`), and, outside the property's
//! steps, a saved plan (`a_resolution_applied_by_a_saved_plan_is_not_applied_again`) and a user
//! who imports late (`a_sync_that_hands_nothing_over_leaves_no_import_file_to_import`).
//! None of their steps is skipped any more.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crmsync_fake::inbox_v1::{ContextEdit, ProspectView};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, RngSeed};

use crate::support::{World, agreeing_rows, assert_exit, col, json, read_export, write_export};

/// Inbox and CRM, as indices into the oracle's pairs.
const INBOX: usize = 0;
const CRM: usize = 1;
const SIDE: [&str; 2] = ["Inbox", "CRM"];

/// The slots: the valuation, and the first and last line of the notes.
const VALUATION: usize = 0;
const SLOTS: [&str; 3] = ["valuation", "notes line 1", "notes line 3"];

/// Every prospect starts with these values on both sides, and a sync makes them the base.
const START_VALUATION: &str = "1000";
const START_NOTES: &str = "A0\nB\nC0";

// ---------------------------------------------------------------------------------------------
// The world: what each side holds, and how a person changes it.

/// One side's values of a prospect: the valuation (an integer as text, or empty) and the notes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Held {
    valuation: String,
    notes: String,
}

impl Held {
    /// The three notes lines; a text of another shape fails the test (no step makes one).
    fn lines(&self) -> Result<[String; 3], String> {
        let lines: Vec<&str> = self.notes.split('\n').collect();
        match lines.as_slice() {
            [a, "B", c] => Ok([a.to_string(), "B".into(), c.to_string()]),
            _ => Err(format!("the notes lost their shape: {:?}", self.notes)),
        }
    }

    fn slot(&self, slot: usize) -> Result<String, String> {
        Ok(match slot {
            VALUATION => self.valuation.clone(),
            1 => self.lines()?[0].clone(),
            _ => self.lines()?[2].clone(),
        })
    }

    fn field(&self, field: Field) -> &str {
        match field {
            Field::Valuation => &self.valuation,
            Field::Notes => &self.notes,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Field {
    Valuation,
    Notes,
}

impl Field {
    fn of_slot(slot: usize) -> Field {
        if slot == VALUATION {
            Field::Valuation
        } else {
            Field::Notes
        }
    }

    fn slots(self) -> &'static [usize] {
        match self {
            Field::Valuation => &[0],
            Field::Notes => &[1, 2],
        }
    }

    fn name(self) -> &'static str {
        match self {
            Field::Valuation => "valuation",
            Field::Notes => "notes",
        }
    }

    fn parse(name: &str) -> Option<Field> {
        match name {
            "valuation" => Some(Field::Valuation),
            "notes" => Some(Field::Notes),
            _ => None,
        }
    }
}

/// A valuation as the oracle writes it: an integer, whatever form a side stores it in.
fn integer(text: &str) -> String {
    if text.trim().is_empty() {
        return String::new();
    }
    let number: f64 = text
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("valuation {text:?}: {e}"));
    assert_eq!(number.fract(), 0.0, "valuation {text:?} is not an integer");
    format!("{}", number as i64)
}

/// The linked prospects under test: export row and prospect.
struct Linked {
    world: World,
    prospects: Vec<(usize, ProspectView)>,
}

impl Linked {
    /// A world of eight linked records whose first `n` single-thread prospects start at
    /// `START_*` on both sides, synced once (the base).
    async fn start(n: usize, import_file: bool) -> Linked {
        let world = World::start(10, "").await;
        let mut rows = agreeing_rows(&world, 8);
        let prospects: Vec<(usize, ProspectView)> = world
            .fake
            .prospects()
            .into_iter()
            .take(8)
            .enumerate()
            .filter(|(_, p)| p.threads.len() == 1)
            .take(n)
            .collect();
        assert_eq!(
            prospects.len(),
            n,
            "the seed has {n} single-thread prospects"
        );
        for (idx, p) in &prospects {
            world.fake.edit_context(
                &p.external_id,
                ContextEdit {
                    valuation: Some(Some(START_VALUATION.parse().unwrap())),
                    notes: Some(Some(START_NOTES.into())),
                    ..ContextEdit::default()
                },
            );
            rows[*idx][col("Deal Value")] = START_VALUATION.into();
            rows[*idx][col("Notes")] = START_NOTES.into();
        }
        write_export(&world, &rows);
        let linked = Linked { world, prospects };
        let report = linked.run(&["sync", "--json"]).await;
        assert_eq!(report["writes"]["inbox"], 0, "{report}");
        assert_eq!(report["writes"]["crm"], 0, "{report}");
        if import_file {
            let text = std::fs::read_to_string(linked.world.config())
                .unwrap()
                .replace(
                    "write_mode = \"in-place\"",
                    "write_mode = \"import-file\"\nimport_path = \"crm_import.csv\"",
                );
            std::fs::write(linked.world.config(), text).unwrap();
        }
        linked
    }

    /// Runs the binary (exit 0), then plays the user importing any import file; the JSON
    /// report.
    async fn run(&self, args: &[&str]) -> serde_json::Value {
        let out = self.world.crmsync(args).await;
        assert_exit(&out, 0);
        self.import();
        json(&out)
    }

    /// What a user does with the import file: imports its notes and deal values into the CRM,
    /// which then exports them.
    fn import(&self) {
        let path = self.world.path().join("crm_import.csv");
        let Ok(mut import) = csv::Reader::from_path(&path) else {
            return;
        };
        let headers = import.headers().unwrap().clone();
        let at = |name: &str| headers.iter().position(|h| h == name).unwrap();
        let (id, notes, value) = (at("Record ID"), at("Notes"), at("Deal Value"));
        let mut rows = read_export(&self.world);
        for record in import.records() {
            let record = record.unwrap();
            let row = rows
                .iter_mut()
                .find(|r| r[col("Record ID")] == record[id])
                .unwrap();
            row[col("Notes")] = record[notes].to_string();
            row[col("Deal Value")] = record[value].to_string();
        }
        write_export(&self.world, &rows);
        std::fs::remove_file(path).unwrap();
    }

    /// Both sides' values of every prospect under test.
    fn held(&self) -> Vec<[Held; 2]> {
        let rows = read_export(&self.world);
        self.prospects
            .iter()
            .map(|(idx, p)| {
                let now = self.world.fake.prospect(&p.external_id).unwrap();
                [
                    Held {
                        valuation: integer(
                            &now.valuation.map(|v| v.to_string()).unwrap_or_default(),
                        ),
                        notes: now.notes.unwrap_or_default(),
                    },
                    Held {
                        valuation: integer(&rows[*idx][col("Deal Value")]),
                        notes: rows[*idx][col("Notes")].clone(),
                    },
                ]
            })
            .collect()
    }

    /// A person sets one field on one side.
    fn write(&self, prospect: usize, side: usize, field: Field, text: &str) {
        let (idx, p) = &self.prospects[prospect];
        if side == INBOX {
            let mut edit = ContextEdit::default();
            match field {
                Field::Valuation => edit.valuation = Some(Some(text.parse().unwrap())),
                Field::Notes => edit.notes = Some(Some(text.into())),
            }
            self.world.fake.edit_context(&p.external_id, edit);
        } else {
            let mut rows = read_export(&self.world);
            let column = match field {
                Field::Valuation => "Deal Value",
                Field::Notes => "Notes",
            };
            rows[*idx][col(column)] = text.into();
            write_export(&self.world, &rows);
        }
    }

    /// The open `both-changed` conflicts on the prospects under test: (prospect, field, id).
    async fn open_conflicts(&self) -> Vec<(usize, Field, i64)> {
        let out = self.world.crmsync(&["conflicts", "list", "--json"]).await;
        assert_exit(&out, 0);
        let list = json(&out);
        let mut open = Vec::new();
        for c in list.as_array().unwrap() {
            if c["resolution"] != "open" || c["kind"] != "both-changed" {
                continue;
            }
            let Some(prospect) = self
                .prospects
                .iter()
                .position(|(_, p)| c["prospect_id"] == p.external_id.as_str())
            else {
                continue;
            };
            if let Some(field) = c["field"].as_str().and_then(Field::parse) {
                open.push((prospect, field, c["id"].as_i64().unwrap()));
            }
        }
        open
    }
}

// ---------------------------------------------------------------------------------------------
// The oracle.

/// A value a person wrote, and when (the oracle's clock).
type Written = (String, u64);

/// One slot of one prospect.
#[derive(Clone, Debug)]
struct Slot {
    /// The last value a person wrote on each side.
    last: [Written; 2],
    /// Every value a person wrote on each side (edits and applied resolutions).
    writes: [Vec<Written>; 2],
    /// The values a person typed on each side (edits only): what a change of mind puts back.
    typed: [Vec<String>; 2],
    /// Whether the last write on each side put back a value typed there before.
    reverted: [bool; 2],
    /// What each side held at the end of the last run, and its last write then.
    at_run: [(String, Written); 2],
    /// The value both sides last held at the end of a run, and their last writes then.
    agreed: (String, [Written; 2]),
}

/// How a resolution takes its value.
#[derive(Clone, Debug)]
enum Take {
    Inbox,
    Crm,
    Value(String),
}

/// A resolution made and not yet applied by a sync.
#[derive(Clone, Debug)]
struct Waiting {
    prospect: usize,
    field: Field,
    take: Take,
    at: u64,
    /// The time of the sync that last logged the conflict: the values the person resolved it
    /// against (what `conflicts show` showed).
    seen: u64,
}

/// A write an applied resolution made on one side: taken back if an undo of that run reverts it.
#[derive(Clone, Debug)]
struct ResolutionWrite {
    prospect: usize,
    slot: usize,
    side: usize,
    before: Written,
    written: Written,
}

struct Oracle {
    slots: Vec<[Slot; 3]>,
    clock: u64,
    waiting: Vec<Waiting>,
    /// The sync runs that wrote something, for `undo`.
    syncs: Vec<i64>,
    /// By sync run: the writes of the resolutions it applied.
    resolved_by: BTreeMap<i64, Vec<ResolutionWrite>>,
    /// The time of the last sync.
    synced_at: u64,
    /// What happened, for the failure message.
    log: String,
}

impl Oracle {
    fn new(prospects: usize) -> Oracle {
        let start = Held {
            valuation: START_VALUATION.into(),
            notes: START_NOTES.into(),
        };
        let slot = |s: usize| {
            let v = start.slot(s).unwrap();
            Slot {
                last: [(v.clone(), 0), (v.clone(), 0)],
                writes: [vec![(v.clone(), 0)], vec![(v.clone(), 0)]],
                typed: [Vec::new(), Vec::new()],
                reverted: [false, false],
                at_run: [(v.clone(), (v.clone(), 0)), (v.clone(), (v.clone(), 0))],
                agreed: (v.clone(), [(v.clone(), 0), (v.clone(), 0)]),
            }
        };
        Oracle {
            slots: (0..prospects)
                .map(|_| [slot(0), slot(1), slot(2)])
                .collect(),
            clock: 0,
            waiting: Vec::new(),
            syncs: Vec::new(),
            resolved_by: BTreeMap::new(),
            synced_at: 0,
            log: String::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Marks a sync: later resolutions are made against what it logged.
    fn synced(&mut self) {
        self.synced_at = self.tick();
    }

    /// Check 1 for every slot on both sides, then notes what each side holds at the end of
    /// this run.
    fn check_held(&mut self, held: &[[Held; 2]]) -> Result<(), String> {
        self.check(held)?;
        for (p, sides) in held.iter().enumerate() {
            for slot in 0..SLOTS.len() {
                let model = &mut self.slots[p][slot];
                let now = [sides[INBOX].slot(slot)?, sides[CRM].slot(slot)?];
                for side in [INBOX, CRM] {
                    model.at_run[side] = (now[side].clone(), model.last[side].clone());
                }
                if now[INBOX] == now[CRM] {
                    model.agreed = (now[INBOX].clone(), model.last.clone());
                }
            }
        }
        Ok(())
    }

    fn check(&self, held: &[[Held; 2]]) -> Result<(), String> {
        for (p, sides) in held.iter().enumerate() {
            for side in [INBOX, CRM] {
                for (slot, name) in SLOTS.iter().enumerate() {
                    let now = sides[side].slot(slot)?;
                    let model = &self.slots[p][slot];
                    let (last, at) = &model.last[side];
                    let copied_later = model.writes[1 - side]
                        .iter()
                        .any(|(v, t)| *t > *at && *v == now);
                    if now != *last && !copied_later {
                        return Err(format!(
                            "prospect {p}, {}: the {} side holds {now:?}; the last value a person \
                             wrote there is {last:?} (at {at}), and no person wrote {now:?} on \
                             the {} side after that",
                            name,
                            SIDE[side],
                            SIDE[1 - side]
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The steps.

#[derive(Clone, Debug)]
enum Step {
    /// A person edits a slot on one side (0: Inbox, 1: CRM) or two people on both (2):
    /// a fresh value, or (with `revert`) one typed on that side before.
    Edit {
        prospect: usize,
        sides: u8,
        slot: usize,
        revert: Option<usize>,
    },
    Sync,
    /// `conflicts resolve` on one of the open conflicts: take inbox (0), crm (1) or a value (2).
    Resolve {
        pick: usize,
        take: u8,
    },
    /// `undo` of one of the earlier sync runs.
    Undo {
        pick: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => (any::<usize>(), 0..3u8, 0..3usize, proptest::option::weighted(0.33, any::<usize>()))
            .prop_map(|(prospect, sides, slot, revert)| Step::Edit { prospect, sides, slot, revert }),
        4 => Just(Step::Sync),
        2 => (any::<usize>(), 0..3u8).prop_map(|(pick, take)| Step::Resolve { pick, take }),
        2 => any::<usize>().prop_map(|pick| Step::Undo { pick }),
    ]
}

/// Steps in a case (and a final sync). Eight were too few for a resolution or an undo to find
/// something to act on in most cases.
const MAX_STEPS: usize = 12;

/// A case: how many prospects, the write mode, the steps.
fn case() -> impl Strategy<Value = (usize, bool, Vec<Step>)> {
    (
        1..=3usize,
        any::<bool>(),
        proptest::collection::vec(step(), 1..=MAX_STEPS),
    )
}

/// Runs a case; `Err` names the broken promise, with what happened.
async fn run_case(prospects: usize, import_file: bool, steps: &[Step]) -> Result<(), String> {
    let linked = Linked::start(prospects, import_file).await;
    let mut oracle = Oracle::new(prospects);
    let _ = writeln!(
        oracle.log,
        "{prospects} prospect(s), {}",
        if import_file {
            "import-file"
        } else {
            "in-place"
        }
    );
    let last = [Step::Sync];
    for step in steps.iter().chain(&last) {
        let result = do_step(&linked, &mut oracle, step).await;
        if let Err(why) = result {
            return Err(format!("{why}\n\nsteps:\n{}", oracle.log));
        }
    }
    if std::env::var_os("CRMSYNC_NO_LOST_EDIT_VERBOSE").is_some() {
        eprintln!("{}", oracle.log);
    }
    Ok(())
}

async fn do_step(linked: &Linked, oracle: &mut Oracle, step: &Step) -> Result<(), String> {
    match step {
        Step::Edit {
            prospect,
            sides,
            slot,
            revert,
        } => {
            let p = prospect % linked.prospects.len();
            let field = Field::of_slot(*slot);
            let held = linked.held();
            let sides: &[usize] = match sides {
                0 => &[INBOX],
                1 => &[CRM],
                _ => &[INBOX, CRM],
            };
            for &side in sides {
                let current = held[p][side].slot(*slot)?;
                let model = &oracle.slots[p][*slot];
                let earlier: Vec<String> = model.typed[side]
                    .iter()
                    .filter(|v| **v != current)
                    .cloned()
                    .collect();
                let revert = revert.filter(|_| !earlier.is_empty());
                let at = oracle.tick();
                let value = match revert {
                    Some(i) => pick(i, &earlier).clone(),
                    None => fresh(*slot, at),
                };
                let mut text = held[p][side].clone();
                match *slot {
                    VALUATION => text.valuation = value.clone(),
                    s => {
                        let mut lines = text.lines()?;
                        lines[if s == 1 { 0 } else { 2 }] = value.clone();
                        text.notes = lines.join("\n");
                    }
                }
                linked.write(p, side, field, text.field(field));
                let model = &mut oracle.slots[p][*slot];
                // Changed back to what the side held at the last run: as far as any sync can
                // tell, no change since (a snapshot cannot see it), so its last write is the
                // one of then.
                // Changed back to the value both sides last held together: the person withdraws
                // their change, and the side is as it was then.
                let (then, last_then) = &model.at_run[side];
                let back = value == *then || value == model.agreed.0;
                if value == *then {
                    model.last[side] = last_then.clone();
                } else if value == model.agreed.0 {
                    model.last[side] = model.agreed.1[side].clone();
                } else {
                    model.last[side] = (value.clone(), at);
                    model.writes[side].push((value.clone(), at));
                }
                model.typed[side].push(value.clone());
                model.reverted[side] = revert.is_some();
                let _ = writeln!(
                    oracle.log,
                    "{at}: a person writes {value:?} into prospect {p}'s {} on the {} side{}",
                    SLOTS[*slot],
                    SIDE[side],
                    match (revert.is_some(), back) {
                        (_, true) => " (back to the last run's or the agreed value: no change)",
                        (true, false) => " (a value typed there before)",
                        (false, false) => "",
                    }
                );
            }
            Ok(())
        }
        Step::Sync => sync(linked, oracle).await,
        Step::Resolve {
            pick: pick_at,
            take,
        } => {
            let open = linked.open_conflicts().await;
            if open.is_empty() {
                let _ = writeln!(oracle.log, "(resolve: no open conflict)");
                return Ok(());
            }
            let (p, field, id) = *pick(*pick_at, &open);
            let at = oracle.tick();
            let take = match take {
                0 => Take::Inbox,
                1 => Take::Crm,
                _ => Take::Value(match field {
                    Field::Valuation => fresh(VALUATION, at),
                    Field::Notes => format!("A{at}\nB\nC{at}"),
                }),
            };
            let id = id.to_string();
            let mut args = vec!["conflicts", "resolve", id.as_str(), "--take"];
            match &take {
                Take::Inbox => args.push("inbox"),
                Take::Crm => args.push("crm"),
                Take::Value(v) => args.extend(["value", v.as_str()]),
            }
            assert_exit(&linked.world.crmsync(&args).await, 0);
            let _ = writeln!(
                oracle.log,
                "{at}: a person resolves conflict {id} (prospect {p}, {}) with {take:?}",
                field.name()
            );
            oracle.waiting.push(Waiting {
                prospect: p,
                field,
                take,
                at,
                seen: oracle.synced_at,
            });
            Ok(())
        }
        Step::Undo { pick: pick_at } => {
            if oracle.syncs.is_empty() {
                let _ = writeln!(oracle.log, "(undo: no sync wrote anything yet)");
                return Ok(());
            }
            let run = *pick(*pick_at, &oracle.syncs);
            let before = linked.held();
            let out = linked
                .world
                .crmsync(&["undo", &run.to_string(), "--json"])
                .await;
            // An undo logs the conflicts it sees too: later resolutions are made against them.
            oracle.synced();
            let stderr = crate::support::stderr(&out);
            if out.status.code() == Some(1)
                && stderr.contains("applied no write that can be undone")
            {
                let _ = writeln!(oracle.log, "undo {run}: nothing to undo");
                return Ok(());
            }
            assert_exit(&out, 0);
            linked.import();
            let after = linked.held();
            let _ = writeln!(oracle.log, "undo {run}: {}", changes(&before, &after));
            // Where the undo reverted a resolution's write, the side's last write is the one
            // before it again.
            let taken_back = oracle.resolved_by.get(&run).cloned().unwrap_or_default();
            for w in taken_back {
                let was = before[w.prospect][w.side].slot(w.slot)?;
                let now = after[w.prospect][w.side].slot(w.slot)?;
                if was != now {
                    let model = &mut oracle.slots[w.prospect][w.slot];
                    model.last[w.side] = w.before.clone();
                    model.writes[w.side].retain(|x| *x != w.written);
                }
            }
            oracle.check_held(&after)
        }
    }
}

/// The `i`-th element, modulo the length (not empty).
fn pick<T>(i: usize, items: &[T]) -> &T {
    &items[i % items.len()]
}

/// A fresh value for a slot, made at clock `at`.
fn fresh(slot: usize, at: u64) -> String {
    match slot {
        VALUATION => (1000 + at).to_string(),
        1 => format!("A{at}"),
        _ => format!("C{at}"),
    }
}

/// The values a run changed, for the log.
fn changes(before: &[[Held; 2]], after: &[[Held; 2]]) -> String {
    let mut out = Vec::new();
    for (p, (b, a)) in before.iter().zip(after).enumerate() {
        for side in [INBOX, CRM] {
            if b[side].valuation != a[side].valuation {
                out.push(format!(
                    "p{p} {} valuation {:?} -> {:?}",
                    SIDE[side], b[side].valuation, a[side].valuation
                ));
            }
            if b[side].notes != a[side].notes {
                out.push(format!(
                    "p{p} {} notes {:?} -> {:?}",
                    SIDE[side], b[side].notes, a[side].notes
                ));
            }
        }
    }
    if out.is_empty() {
        "no change".into()
    } else {
        out.join("; ")
    }
}

async fn sync(linked: &Linked, oracle: &mut Oracle) -> Result<(), String> {
    let before = linked.held();
    oracle.synced();
    let report = linked.run(&["sync", "--json"]).await;
    let run = report["run_id"].as_i64().unwrap();
    let writes = |side: &str| report["writes"][side].as_u64().unwrap();
    if writes("inbox") + writes("crm") > 0 {
        oracle.syncs.push(run);
    }
    let after = linked.held();
    let open = linked.open_conflicts().await;
    let _ = writeln!(
        oracle.log,
        "sync {run}: {}; open conflicts {:?}",
        changes(&before, &after),
        open.iter()
            .map(|(p, f, _)| (p, f.name()))
            .collect::<Vec<_>>()
    );
    // The resolutions this sync applied: person writes of their value, at the time they were
    // made, on each side that did not hold it.
    for w in std::mem::take(&mut oracle.waiting) {
        // A resolution is overtaken when a side it would overwrite was edited after the values
        // the person resolved it against (the last sync before it): it is not applied, the
        // conflict is open again, and the sync wrote neither side of it.
        let overwritten: &[usize] = match w.take {
            Take::Inbox => &[CRM],
            Take::Crm => &[INBOX],
            Take::Value(_) => &[INBOX, CRM],
        };
        let overtaken = w.field.slots().iter().any(|&slot| {
            let model = &oracle.slots[w.prospect][slot];
            overwritten.iter().any(|&side| model.last[side].1 > w.seen)
        });
        if overtaken {
            for side in [INBOX, CRM] {
                if after[w.prospect][side].field(w.field) != before[w.prospect][side].field(w.field)
                {
                    return Err(format!(
                        "sync {run} wrote prospect {}'s {} on the {} side for a resolution a later edit overtook",
                        w.prospect,
                        w.field.name(),
                        SIDE[side]
                    ));
                }
            }
            if !open
                .iter()
                .any(|(p, f, _)| *p == w.prospect && *f == w.field)
            {
                return Err(format!(
                    "sync {run}: the overtaken resolution of prospect {}'s {} is not open again",
                    w.prospect,
                    w.field.name()
                ));
            }
            continue;
        }
        let chosen = match &w.take {
            Take::Inbox => before[w.prospect][INBOX].field(w.field).to_string(),
            Take::Crm => before[w.prospect][CRM].field(w.field).to_string(),
            Take::Value(v) => v.clone(),
        };
        let chosen_held = Held {
            valuation: chosen.clone(),
            notes: chosen.clone(),
        };
        for side in [INBOX, CRM] {
            // Check 3.
            if after[w.prospect][side].field(w.field) != chosen {
                return Err(format!(
                    "sync {run} applied the resolution of prospect {}'s {} ({:?}): the {} side \
                     holds {:?}, not {chosen:?}",
                    w.prospect,
                    w.field.name(),
                    w.take,
                    SIDE[side],
                    after[w.prospect][side].field(w.field)
                ));
            }
            for &slot in w.field.slots() {
                let value = chosen_held.slot(slot)?;
                if before[w.prospect][side].slot(slot)? == value {
                    continue;
                }
                let model = &mut oracle.slots[w.prospect][slot];
                let (later, at) = &model.last[side];
                if *at > w.at {
                    return Err(format!(
                        "sync {run} applied the resolution of prospect {}'s {} made at {} over \
                         {later:?}, which a person wrote on the {} side at {at}, after it",
                        w.prospect,
                        w.field.name(),
                        w.at,
                        SIDE[side]
                    ));
                }
                let written = (value, w.at);
                oracle
                    .resolved_by
                    .entry(run)
                    .or_default()
                    .push(ResolutionWrite {
                        prospect: w.prospect,
                        slot,
                        side,
                        before: model.last[side].clone(),
                        written: written.clone(),
                    });
                model.last[side] = written.clone();
                model.writes[side].push(written);
                model.reverted[side] = false;
            }
        }
    }
    // Check 2.
    for (p, field, _) in &open {
        for side in [INBOX, CRM] {
            if before[*p][side].field(*field) != after[*p][side].field(*field) {
                return Err(format!(
                    "sync {run} wrote prospect {p}'s {} on the {} side although it is in an \
                     open both-changed conflict",
                    field.name(),
                    SIDE[side]
                ));
            }
        }
    }
    oracle.check_held(&after)
}

fn config() -> ProptestConfig {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    ProptestConfig {
        cases: var("CRMSYNC_NO_LOST_EDIT_CASES").unwrap_or(32) as u32,
        rng_seed: RngSeed::Fixed(var("CRMSYNC_NO_LOST_EDIT_SEED").unwrap_or(20_261_202)),
        max_shrink_iters: 150,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// See the module's doc comment.
    #[test]
    fn no_sequence_of_edits_syncs_resolutions_and_undos_loses_a_persons_last_value(
        (prospects, import_file, steps) in case()
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let result = rt.block_on(run_case(prospects, import_file, &steps));
        if let Err(why) = result {
            return Err(TestCaseError::fail(why));
        }
    }
}

fn edit(sides: u8, slot: usize) -> Step {
    Step::Edit {
        prospect: 0,
        sides,
        slot,
        revert: None,
    }
}

fn revert(sides: u8, slot: usize) -> Step {
    Step::Edit {
        prospect: 0,
        sides,
        slot,
        revert: Some(0),
    }
}

/// Runs fixed steps (then a final sync) on one prospect, none skipped, and asserts the oracle
/// holds.
async fn holds(import_file: bool, steps: &[Step]) {
    if let Err(why) = run_case(1, import_file, steps).await {
        panic!("{why}");
    }
}

/// In `import-file` mode: a person's Inbox edit is handed over in the import file and
/// imported, then the person puts the Inbox value back to what it was. The base still holds
/// the old value (a pending write does not move it, and the export showing it later does not
/// either), so the next sync sees "Inbox unchanged, CRM changed" and copies the imported value
/// back over the person's latest edit.
#[tokio::test(flavor = "multi_thread")]
async fn an_imported_value_is_not_copied_back_over_a_later_edit() {
    holds(
        true,
        &[
            edit(0, VALUATION),
            Step::Sync,
            Step::Sync,
            edit(0, VALUATION),
            Step::Sync,
            revert(0, VALUATION),
        ],
    )
    .await;
}

/// The same steps in `in-place` mode hold: the base moved when the write was confirmed.
#[tokio::test(flavor = "multi_thread")]
async fn a_value_put_back_after_a_sync_is_copied_in_place() {
    holds(
        false,
        &[
            edit(0, VALUATION),
            Step::Sync,
            edit(0, VALUATION),
            Step::Sync,
            revert(0, VALUATION),
        ],
    )
    .await;
}

/// A both-changed conflict is resolved with a value; before the next sync a person edits the
/// field on the CRM side. The sync applies the resolution over that later edit, with no
/// conflict: the edit is gone on both sides (a saved plan, by contrast, skips a write whose
/// target changed since it was made).
#[tokio::test(flavor = "multi_thread")]
async fn a_resolution_applied_later_keeps_an_edit_made_after_it() {
    holds(
        false,
        &[
            edit(2, VALUATION),
            Step::Sync,
            Step::Resolve { pick: 0, take: 2 },
            edit(1, VALUATION),
        ],
    )
    .await;
}

/// A resolution wrote both sides; then the CRM's person puts the value back to the one both
/// sides agreed on before the conflict, and someone undoes the resolution's run. The undo
/// reverts the Inbox side only (the CRM changed since), yet puts the base back to the old
/// agreed value, which now only the CRM holds. The next sync reads "CRM unchanged, Inbox
/// changed" and copies the older Inbox value over the CRM person's latest write.
#[tokio::test(flavor = "multi_thread")]
async fn an_undo_that_reverts_one_side_of_a_resolution_keeps_the_base() {
    holds(
        false,
        &[
            edit(1, VALUATION),
            Step::Sync,
            edit(2, VALUATION),
            Step::Sync,
            Step::Resolve { pick: 0, take: 2 },
            Step::Sync,
            revert(1, VALUATION),
            Step::Undo { pick: 1 },
        ],
    )
    .await;
}

/// The same steps with a fresh CRM value instead of the old one hold: after the undo both sides
/// differ from the restored base, and the next sync sees a conflict and writes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn an_undo_after_a_new_edit_of_one_side_of_a_resolution_writes_nothing() {
    holds(
        false,
        &[
            edit(1, VALUATION),
            Step::Sync,
            edit(2, VALUATION),
            Step::Sync,
            Step::Resolve { pick: 0, take: 2 },
            Step::Sync,
            edit(1, VALUATION),
            Step::Undo { pick: 1 },
        ],
    )
    .await;
}

/// A resolution reviewed in a saved plan: `plan --out` bakes the waiting resolution into the
/// plan and `sync --plan` applies it on both sides, but does not mark it applied. It stays
/// waiting, so the next sync applies it again, over an edit a person made after it reached both
/// sides (and after the base moved to it). (A sync in between, before the edit, applies it
/// once more with no write and marks it applied: then nothing is lost.)
#[tokio::test(flavor = "multi_thread")]
async fn a_resolution_applied_by_a_saved_plan_is_not_applied_again() {
    let linked = Linked::start(1, false).await;
    linked.write(0, INBOX, Field::Valuation, "1001");
    linked.write(0, CRM, Field::Valuation, "1002");
    linked.run(&["sync", "--json"]).await;
    let open = linked.open_conflicts().await;
    let (_, _, id) = open[0];
    let out = linked
        .world
        .crmsync(&[
            "conflicts",
            "resolve",
            &id.to_string(),
            "--take",
            "value",
            "1003",
        ])
        .await;
    assert_exit(&out, 0);
    let plan = linked.world.path().join("plan.json");
    let plan = plan.to_str().unwrap();
    assert_exit(&linked.world.crmsync(&["plan", "--out", plan]).await, 0);
    linked.run(&["sync", "--plan", plan, "--json"]).await;
    let held = linked.held();
    assert_eq!(held[0][INBOX].valuation, "1003");
    assert_eq!(held[0][CRM].valuation, "1003");

    // The resolution reached both sides; now a person changes the CRM's value.
    linked.write(0, CRM, Field::Valuation, "1004");
    linked.run(&["sync", "--json"]).await;
    let held = linked.held();
    assert_eq!(
        held[0][CRM].valuation, "1004",
        "the CRM person's edit stays"
    );
    assert_eq!(held[0][INBOX].valuation, "1004", "and is copied to Inbox");
}

/// `import-file` mode, a user who imports late: a sync hands an Inbox edit over in the import
/// file; before it is imported, a person edits the same field in the CRM. The next sync sees
/// a conflict and writes nothing to the CRM, and forgets the value it had handed over (the
/// pending set is replaced by this run's, empty), but leaves the import file as it was: it
/// still offers the older Inbox value, and importing it, as the file invites, overwrites the
/// CRM person's edit with no conflict left to show it.
#[tokio::test(flavor = "multi_thread")]
async fn a_sync_that_hands_nothing_over_leaves_no_import_file_to_import() {
    let linked = Linked::start(1, true).await;
    linked.write(0, INBOX, Field::Valuation, "1001");
    let out = linked.world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    let import = linked.world.path().join("crm_import.csv");
    assert!(std::fs::read_to_string(&import).unwrap().contains("1001"));
    // Not imported yet; the CRM's person edits the deal value.
    linked.write(0, CRM, Field::Valuation, "1002");
    let out = linked.world.crmsync(&["sync", "--json"]).await;
    assert_exit(&out, 0);
    assert_eq!(
        json(&out)["writes"]["crm"],
        0,
        "a conflict: nothing for the CRM"
    );
    let offered = std::fs::read_to_string(&import).unwrap_or_default();
    assert!(
        !offered.contains("1001"),
        "the import file still offers the value this sync did not hand over:\n{offered}"
    );
}
