//! Times `reconcile::plan` on 100,000 realistic links (tags, multi-line notes, one or two
//! threads, changes on one or both sides) and prints the time, the plan's size and the peak
//! memory of the process.
//!
//! Run with `cargo bench --bench reconcile`. Plain `std::time::Instant`, no harness: the figure
//! of interest is one nightly run over a large team's pipeline, not nanosecond noise.

use std::collections::{BTreeMap, BTreeSet};
use std::hint::black_box;
use std::time::Instant;

use crmsync::reconcile::{
    Amount, BaseValues, CrmSide, FanoutMode, Field, Fields, InboxSide, LinkInput, LinkKey,
    LinkPlan, Policy, Rule, ThreadState, Vocabulary, plan, render_plan,
};

const LINKS: usize = 100_000;

const TAGS: [&str; 16] = [
    "warm",
    "cold",
    "founder",
    "enterprise",
    "smb",
    "partner",
    "newsletter",
    "vip",
    "churn-risk",
    "demo",
    "trial",
    "eu",
    "us",
    "apac",
    "referral",
    "event",
];
const STATUSES: [&str; 5] = ["Lead", "Interested", "Call booked", "Won", "Lost"];
const MEMBERS: [&str; 4] = ["ana@acme.io", "ben@acme.io", "cleo@acme.io", "dev@acme.io"];
const LINES: [&str; 12] = [
    "Met at SaaStr, interested in the team plan.",
    "Follow up after the holidays.",
    "Budget approved for Q3.",
    "CTO wants a security review first.",
    "Asked for a case study in fintech.",
    "Prefers DMs over e-mail.",
    "Decision maker: VP Sales.",
    "Trial started, 5 seats.",
    "Competitor: they use a spreadsheet today.",
    "Call on Tuesday 10am CET.",
    "Sent the pricing deck.",
    "Wants an annual invoice.",
];

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `percent`%.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, pool: &[&'a str]) -> &'a str {
        pool[self.below(pool.len())]
    }
}

fn vocab() -> Vocabulary {
    Vocabulary {
        status_map: vec![
            ("Interested".into(), "OPEN_DEAL".into()),
            ("Call booked".into(), "OPEN_DEAL".into()),
            ("Won".into(), "CLOSED_WON".into()),
            ("Lost".into(), "CLOSED_LOST".into()),
        ],
        inbox_statuses: STATUSES.iter().map(|s| (*s).to_owned()).collect(),
        member_emails: MEMBERS.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn policy() -> Policy {
    Policy {
        fields: Field::ALL.into_iter().collect(),
        // Valuation follows the CRM; every other field keeps its default rule.
        rules: BTreeMap::from([(Field::Valuation, Rule::CrmWins)]),
        fanout: FanoutMode::Log,
    }
}

/// Notes of 3 to 8 lines.
fn notes(rng: &mut Rng) -> String {
    let n = 3 + rng.below(6);
    (0..n).map(|_| format!("{}\n", rng.pick(&LINES))).collect()
}

/// Edits one line of a text (replace, insert or delete), at `line`.
fn edit_notes(text: &str, line: usize, rng: &mut Rng) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let at = line.min(lines.len().saturating_sub(1));
    match rng.below(3) {
        0 => lines[at] = rng.pick(&LINES),
        1 => lines.insert(at, rng.pick(&LINES)),
        _ if lines.len() > 1 => {
            lines.remove(at);
        }
        _ => lines.push("Added later."),
    }
    lines.iter().map(|l| format!("{l}\n")).collect()
}

fn crm_status(name: &str) -> String {
    match name {
        "Interested" | "Call booked" => "OPEN_DEAL".into(),
        "Won" => "CLOSED_WON".into(),
        "Lost" => "closed_lost".into(),
        other => other.into(),
    }
}

fn link(i: usize, rng: &mut Rng) -> LinkInput {
    let mut tags: BTreeSet<String> = BTreeSet::new();
    for _ in 0..2 + rng.below(4) {
        tags.insert(rng.pick(&TAGS).to_owned());
    }
    let status = rng.pick(&STATUSES).to_owned();
    let valuation = Amount::new((1000 * (1 + rng.below(50)) as i64).into());
    let notes = notes(rng);
    let assignee = rng.pick(&MEMBERS).to_owned();
    let done = rng.chance(20);

    let base_fields = Fields {
        tags: tags.clone(),
        status: Some(status.clone()),
        valuation: Some(valuation),
        notes: Some(notes.clone()),
        assignee: Some(assignee.clone()),
        done: Some(done),
    };
    let mut inbox = base_fields.clone();
    let mut crm = base_fields.clone();
    crm.status = Some(crm_status(&status));

    // Changes since the last sync: most links are untouched, some changed on one side, a few
    // on both.
    if rng.chance(10) {
        inbox.tags.insert(rng.pick(&TAGS).to_owned());
    }
    if rng.chance(8) {
        let tag = rng.pick(&TAGS).to_owned();
        if !crm.tags.remove(&tag) {
            crm.tags.insert(tag);
        }
    }
    if rng.chance(6) {
        inbox.status = Some(rng.pick(&STATUSES).to_owned());
    }
    if rng.chance(6) {
        crm.status = Some(crm_status(rng.pick(&STATUSES)));
    }
    if rng.chance(2) {
        crm.status = Some("Nurture".into());
    }
    if rng.chance(5) {
        crm.valuation = Some(Amount::new((500 * (1 + rng.below(80)) as i64).into()));
    }
    if rng.chance(8) {
        inbox.notes = Some(edit_notes(&notes, 0, rng));
    }
    if rng.chance(8) {
        crm.notes = Some(edit_notes(&notes, 8, rng));
    }
    if rng.chance(3) {
        crm.assignee = Some(rng.pick(&MEMBERS).to_owned());
    }
    if rng.chance(3) {
        crm.done = Some(!done);
    }

    let n_threads = if rng.chance(15) { 2 } else { 1 };
    let threads = (0..n_threads)
        .map(|t| ThreadState {
            thread_id: format!("th_{i}_{t}").into(),
            account_link_id: format!("al_{t}"),
            account: format!("sales_{t}"),
            platform: "twitter".to_owned(),
            // A second thread sometimes has its own owner: a fan-out conflict.
            assignee: Some(if t == 1 && rng.chance(30) {
                rng.pick(&MEMBERS).to_owned()
            } else {
                assignee.clone()
            }),
            done,
        })
        .collect();

    let first_sync = rng.chance(5);
    let mut base = BaseValues::default();
    if !first_sync {
        for field in Field::ALL {
            base.set(base_fields.get(field));
        }
    }
    LinkInput {
        key: LinkKey {
            prospect_id: format!("pr_{i:06}").into(),
            crm_id: format!("rec_{:06}", (i * 7919) % LINKS).into(),
        },
        inbox: InboxSide {
            fields: inbox,
            threads,
            updated_at: None,
            retry: Default::default(),
        },
        crm: CrmSide {
            fields: crm,
            unknown: Default::default(),
            updated_at: None,
        },
        base,
    }
}

/// A memory figure of this process from /proc/self/status (Linux only): `VmHWM` is the peak
/// resident set size, `VmRSS` the current one.
fn memory(key: &str) -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with(key))?;
            Some(line[key.len()..].trim_start_matches(':').trim().to_owned())
        })
        .unwrap_or_else(|| "n/a".to_owned())
}

fn main() {
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let started = Instant::now();
    // Shuffled keys: `plan` sorts.
    let inputs: Vec<LinkInput> = (0..LINKS).rev().map(|i| link(i, &mut rng)).collect();
    let built = started.elapsed();
    let rss_inputs = memory("VmRSS");

    let (policy, vocab) = (policy(), vocab());
    // One warm-up run, then the median of five.
    black_box(plan(&inputs, &policy, &vocab));
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let started = Instant::now();
        let planned = plan(black_box(&inputs), &policy, &vocab);
        times.push(started.elapsed());
        last = Some(planned);
    }
    times.sort();
    let planned = last.expect("five runs");

    let started = Instant::now();
    let text = render_plan(&planned);
    let rendered = started.elapsed();

    let count = |f: fn(&LinkPlan) -> usize| -> usize { planned.links.iter().map(f).sum() };
    let inbox_changes = count(|l| l.inbox.as_ref().map_or(0, |p| p.changes.len()));
    let crm_changes = count(|l| l.crm.as_ref().map_or(0, |p| p.changes.len()));
    let thread_changes = count(|l| l.threads.iter().map(|p| p.changes.len()).sum());
    let conflicts = count(|l| l.conflicts.len());
    let writing = planned.links.iter().filter(|l| !l.is_noop()).count();

    println!("reconcile::plan over {LINKS} links");
    println!("  build inputs:  {built:?} (RSS with the inputs: {rss_inputs})");
    println!(
        "  plan:          median {:?} (min {:?}, max {:?}) over 5 runs, {:.0} links/s",
        times[2],
        times[0],
        times[4],
        LINKS as f64 / times[2].as_secs_f64()
    );
    println!("  render_plan:   {rendered:?} ({} bytes)", text.len());
    println!(
        "  plan: {} links, {writing} with writes; {inbox_changes} inbox, {crm_changes} crm, \
         {thread_changes} thread field changes; {conflicts} conflicts",
        planned.links.len()
    );
    println!("  peak RSS (VmHWM): {}", memory("VmHWM"));
}
