//! What a run reports: counts, conflicts in human form, phase timings, and the `--json` summary
//! (also stored as the run's summary in the mirror). Pure data and formatting; no I/O but
//! reading this process's peak memory.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;
use serde_json::json;

use crate::reconcile::{self, Conflict, ConflictKind, ContactId, RecordId, Value};
use crate::store::{ConflictField, ConflictRecord, RejectRow, RunId, RunMode, RunStatus};

use super::pull::PullReport;

/// Write counts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Writes {
    /// Successful Inbox write requests.
    pub inbox: u64,
    /// CRM records written (confirmed or handed over in an import file).
    pub crm: u64,
    /// Of `crm`, records still waiting in the import file from an earlier run.
    pub crm_pending: u64,
    /// Of `crm`, records written to the import file (new or again): not in the CRM until the
    /// user imports the file.
    pub to_import: u64,
}

/// Conflict counts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConflictCounts {
    /// Conflicts this run found.
    pub found: u64,
    /// Newly opened in the log.
    pub opened: u64,
    /// Closed because they went away.
    pub closed: u64,
    /// Open in the log after the run.
    pub open: u64,
}

/// Everything a run did, for humans (`cli`) and machines (`--json`).
#[derive(Clone, Debug, Serialize)]
pub struct SyncReport {
    /// Run id.
    pub run_id: RunId,
    /// Mode.
    pub mode: RunMode,
    /// The pull.
    pub pull: PullReport,
    /// Valid CRM records read.
    pub crm_records: u64,
    /// Rejected CRM rows.
    pub rejected_rows: Vec<RejectRow>,
    /// Active links.
    pub linked: u64,
    /// Prospects without a CRM record.
    pub unlinked_prospects: u64,
    /// CRM records without a prospect.
    pub unlinked_records: u64,
    /// Links whose plan writes something.
    pub changed_links: u64,
    /// Linked records left out of reconciliation: nothing changed since a sync found them
    /// clean (see `engine::clean`).
    pub unchanged_links: u64,
    /// The plan, rendered for humans.
    #[serde(skip)]
    pub plan_text: String,
    /// Planned Inbox writes (context PATCHes + thread PATCHes).
    pub planned_inbox: u64,
    /// Planned CRM record writes (updates + creates).
    pub planned_crm: u64,
    /// Of the planned CRM writes, those that only hand over again what already waits in the
    /// import file (not new writes).
    pub planned_crm_pending: u64,
    /// Writes done.
    pub writes: Writes,
    /// Conflict counts.
    pub conflicts: ConflictCounts,
    /// Conflicts found, in human form.
    pub conflict_list: Vec<ConflictRecord>,
    /// Requests made to Inbox.
    pub requests: u64,
    /// 429 answers met.
    pub rate_limited: u64,
    /// Requests made to the CRM's API (`None` for a CSV file).
    pub crm_requests: Option<u64>,
    /// 429 answers the CRM's API gave.
    pub crm_rate_limited: Option<u64>,
    /// Why the run stopped before writing, if it did.
    pub stopped: Option<String>,
    /// Why the run pushed only part of the plan (request budget), if it did; the next run
    /// continues with the rest.
    pub incomplete: Option<String>,
    /// The signal (`SIGINT`, `SIGTERM`) that stopped the push at a write boundary, if one did.
    pub interrupted: Option<&'static str>,
    /// The import file records were written to (`import-file` mode), if any were.
    pub import_file: Option<String>,
    /// CRM records that match no Inbox prospect, and why.
    pub unmatched: Vec<Unmatched>,
    /// The Inbox API the run spoke (`v1`, `v2`): on v2 a prospect is a contact.
    pub inbox_api: &'static str,
    /// Things a human should know that are not conflicts (e.g. a resolution that could not be
    /// applied).
    pub warnings: Vec<String>,
    /// Seconds.
    pub seconds: f64,
    /// Seconds per phase (pull, crm_read, match, reconcile, push_inbox, push_crm, record).
    pub phases: BTreeMap<&'static str, f64>,
    /// Peak resident memory of the process in MiB, where the OS reports it (Linux).
    pub peak_rss_mib: Option<f64>,
}

/// A CRM record that matches no Inbox prospect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unmatched {
    /// The record id.
    pub record: RecordId,
    /// The X user id, handle or LinkedIn profile it was matched by (empty when it has none).
    pub handle: String,
    /// Why it matches nothing: `unknown X user id`, `handle not found`, `LinkedIn profile not
    /// found` (on API v1, which has no LinkedIn: [`NO_LINKEDIN_ON_V1`]), `no X or LinkedIn
    /// identity`.
    pub reason: &'static str,
}

/// Why a record known only by its LinkedIn profile matches nothing on Inbox API v1.
pub const NO_LINKEDIN_ON_V1: &str =
    "Inbox API v1 has no LinkedIn profiles: set [inbox] api = \"v2\" to match it";

impl Unmatched {
    /// The unmatched records of `records` (in their order), named by `unlinked`; `v2`: whether
    /// Inbox API v2 (which has LinkedIn) was asked.
    pub fn of(
        records: &[crate::crm::CrmRecord],
        unlinked: &[RecordId],
        v2: bool,
    ) -> Vec<Unmatched> {
        let unlinked: std::collections::HashSet<&RecordId> = unlinked.iter().collect();
        records
            .iter()
            .filter(|r| unlinked.contains(&r.id))
            .map(|r| {
                let linkedin = (r.linkedin_id.as_ref()).or(r.linkedin_username.as_ref());
                let (handle, reason) = match (&r.x_user_id, &r.username, linkedin) {
                    (Some(id), _, _) => (id.clone(), "unknown X user id"),
                    (None, Some(name), _) => (format!("@{name}"), "handle not found"),
                    (None, None, Some(profile)) if v2 => {
                        (profile.clone(), "LinkedIn profile not found")
                    }
                    (None, None, Some(profile)) => (profile.clone(), NO_LINKEDIN_ON_V1),
                    (None, None, None) => (String::new(), "no X or LinkedIn identity"),
                };
                Unmatched {
                    record: r.id.clone(),
                    handle,
                    reason,
                }
            })
            .collect()
    }
}

/// How a run ended, when it ended without an error. The CLI decides its exit code
/// (`cli::exit`); the run history stores it as a [`RunStatus`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Done (conflicts, if any, are in the log).
    Done,
    /// Stopped before writing by a safety limit or a changed field mapping.
    Stopped,
    /// Stopped by a signal at a write boundary, with what it wrote recorded.
    Interrupted,
}

impl RunOutcome {
    /// The status the run history keeps for a run that ended so.
    pub fn status(self) -> RunStatus {
        match self {
            RunOutcome::Done => RunStatus::Ok,
            RunOutcome::Stopped => RunStatus::Stopped,
            RunOutcome::Interrupted => RunStatus::Interrupted,
        }
    }
}

impl SyncReport {
    /// An empty report of run `run_id` in `mode`, after its pull.
    pub fn new(run_id: RunId, mode: RunMode, pull: PullReport) -> SyncReport {
        SyncReport {
            run_id,
            mode,
            pull,
            crm_records: 0,
            rejected_rows: Vec::new(),
            linked: 0,
            unlinked_prospects: 0,
            unlinked_records: 0,
            changed_links: 0,
            planned_crm_pending: 0,
            unchanged_links: 0,
            plan_text: String::new(),
            planned_inbox: 0,
            planned_crm: 0,
            writes: Writes::default(),
            conflicts: ConflictCounts::default(),
            conflict_list: Vec::new(),
            requests: 0,
            rate_limited: 0,
            crm_requests: None,
            crm_rate_limited: None,
            stopped: None,
            incomplete: None,
            interrupted: None,
            import_file: None,
            unmatched: Vec::new(),
            inbox_api: "v1",
            warnings: Vec::new(),
            seconds: 0.0,
            phases: BTreeMap::new(),
            peak_rss_mib: None,
        }
    }

    /// How the run ended.
    pub fn outcome(&self) -> RunOutcome {
        if self.interrupted.is_some() {
            RunOutcome::Interrupted
        } else if self.stopped.is_some() {
            RunOutcome::Stopped
        } else {
            RunOutcome::Done
        }
    }
}

/// Times consecutive phases of a run.
pub(super) struct PhaseClock {
    last: Instant,
}

impl PhaseClock {
    pub(super) fn start() -> PhaseClock {
        PhaseClock {
            last: Instant::now(),
        }
    }

    /// Adds the time since the previous lap to `phase`.
    pub(super) fn lap(&mut self, report: &mut SyncReport, phase: &'static str) {
        let now = Instant::now();
        let seconds = (now - self.last).as_secs_f64();
        *report.phases.entry(phase).or_default() += seconds;
        self.last = now;
        // The peak so far tells which phase sets the run's peak memory, and the CPU so far
        // which phase does the local work (`-vv`).
        tracing::debug!(phase, seconds, cpu_seconds = ?cpu_seconds(), peak_rss_mib = ?peak_rss_mib(), "phase done");
    }
}

/// User + system CPU seconds of this process so far, all threads (Linux only).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after it are space-separated.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of proc(5), 12 and 13 after the state field.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Peak resident set size (VmHWM) of this process, in MiB (Linux only).
pub(super) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

impl SyncReport {
    /// The `--json` summary object: [`SyncReport::summary_json`] with the conflicts found.
    pub fn to_json(&self) -> serde_json::Value {
        let mut summary = self.summary_json();
        summary["conflict_list"] = self.conflict_list.iter().map(conflict_json).collect();
        summary
    }

    /// What the mirror keeps of a run (`runs`, `report`): the `--json` object without the
    /// conflict list, which the conflicts table holds (every open conflict, every night).
    pub fn summary_json(&self) -> serde_json::Value {
        json!({
            "run_id": self.run_id,
            "mode": self.mode,
            "pull": self.pull,
            "prospects": self.pull.prospects,
            "threads": self.pull.threads,
            "crm_records": self.crm_records,
            "linked": self.linked,
            "unchanged_links": self.unchanged_links,
            "unlinked": {"prospects": self.unlinked_prospects, "records": self.unlinked_records},
            "planned": {"inbox": self.planned_inbox, "crm": self.planned_crm},
            "writes": self.writes,
            "conflicts": self.conflicts,
            "rejects": self.rejected_rows.len(),
            "rejected_rows": self.rejected_rows,
            "requests": self.requests,
            "rate_limited": self.rate_limited,
            "crm_requests": self.crm_requests,
            "crm_rate_limited": self.crm_rate_limited,
            "stopped": self.stopped,
            "incomplete": self.incomplete,
            "interrupted": self.interrupted,
            "import_file": self.import_file,
            "unmatched": self.unmatched,
            "inbox_api": self.inbox_api,
            "warnings": self.warnings,
            "seconds": self.seconds,
            "phases": self.phases,
            "peak_rss_mib": self.peak_rss_mib,
        })
    }
}

fn conflict_json(c: &ConflictRecord) -> serde_json::Value {
    json!({
        "prospect_id": c.prospect_id, "username": c.username, "crm_id": c.crm_id,
        "field": c.field, "kind": c.kind, "inbox": c.inbox, "crm": c.crm, "base": c.base,
        "detail": c.detail,
    })
}

/// The planned writes, one block per link, named by `label_of` (an X handle, or the name of a
/// contact without one); conflicts are listed apart.
pub(super) fn render_writes(
    plan: &reconcile::Plan,
    label_of: &dyn Fn(&ContactId) -> String,
) -> String {
    use std::fmt::Write as _;
    fn show(value: &Value) -> String {
        match value {
            Value::Notes(Some(text)) => format!("{text:?}"),
            other => other.to_string(),
        }
    }
    let mut out = String::new();
    for link in plan.links.iter().filter(|l| !l.is_noop()) {
        // An X handle, or the name of a contact without an X profile.
        let label = label_of(&link.key.prospect_id);
        let handle = if label.is_empty() {
            label
        } else {
            format!("{label} ")
        };
        let _ = writeln!(
            out,
            "{handle}(Inbox {}) <-> CRM record {}",
            link.key.prospect_id, link.key.crm_id
        );
        let inbox = link
            .inbox
            .iter()
            .flat_map(|p| p.changes.iter().map(|c| ("inbox", c)));
        let threads = link
            .threads
            .iter()
            .flat_map(|t| t.changes.iter().map(|c| ("thread", c)));
        let crm = link
            .crm
            .iter()
            .flat_map(|p| p.changes.iter().map(|c| ("crm", c)));
        for (side, change) in inbox.chain(threads).chain(crm) {
            let _ = writeln!(
                out,
                "  {side:<6} {:<9} {} -> {}",
                change.field().as_str(),
                show(&change.old),
                show(&change.new)
            );
        }
    }
    out
}

/// The log records of the conflicts a run found: identity conflicts from matching, then the
/// core's per-link conflicts. `identity_of` gives a prospect's username and X user id.
pub(super) fn conflict_records(
    identity: &[super::matching::IdentityConflict],
    plan: &reconcile::Plan,
    identity_of: &dyn Fn(&ContactId) -> (String, String),
) -> Vec<ConflictRecord> {
    let mut out = Vec::new();
    for c in identity {
        let first = c.prospect_ids.first().map(identity_of);
        out.push(ConflictRecord {
            prospect_id: super::matching::join_ids(&c.prospect_ids).into(),
            username: first
                .as_ref()
                .map(|f| f.0.clone())
                .filter(|u| !u.is_empty()),
            platform_id: first.map(|f| f.1).filter(|p| !p.is_empty()),
            crm_id: super::matching::join_ids(&c.crm_ids).into(),
            field: ConflictField::Record,
            kind: ConflictKind::Identity,
            inbox: None,
            crm: None,
            base: None,
            detail: c.detail.clone(),
        });
    }
    for link in &plan.links {
        for c in &link.conflicts {
            let (username, platform_id) = identity_of(&link.key.prospect_id);
            out.push(conflict_record(c, username, platform_id));
        }
    }
    out
}

fn conflict_record(c: &Conflict, username: String, platform_id: String) -> ConflictRecord {
    let detail = if c.threads.is_empty() {
        c.detail.clone()
    } else {
        reconcile::disagreement(c.field, &c.threads)
    };
    ConflictRecord {
        prospect_id: c.key.prospect_id.clone(),
        username: Some(username).filter(|u| !u.is_empty()),
        platform_id: Some(platform_id).filter(|p| !p.is_empty()),
        crm_id: c.key.crm_id.clone(),
        field: c.field.into(),
        kind: c.kind,
        inbox: c.inbox.as_ref().map(Value::to_string),
        crm: c.crm.as_ref().map(Value::to_string),
        base: c.base.as_ref().map(Value::to_string),
        detail,
    }
}
