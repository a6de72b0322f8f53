//! Phase 7 of a run, push: Inbox first, whole prospects (contacts) only while the request
//! budget allows, each dispatched once (`push_one`) to the API in use (`v1`: a context PATCH,
//! thread PATCHes, a read-back; `v2`: the contact, its tags, its threads); then the CRM
//! (`crm_write`), skipped when the Inbox push failed or was stopped.
//!
//! Every write leaves its receipt in the change log before it is sent and is settled when it
//! is answered ([`Receipts`]), so a run that is stopped or killed mid-push still shows, in `runs`, the
//! report and `undo`, exactly what it wrote. Every field is reported as confirmed or not; the
//! caller moves the base only for confirmed values. A 4xx refusal becomes a `rejected-by-api` conflict and the run goes on; an error that
//! retries could not cure (401, network, exhausted 429/5xx) stops the push.

mod v1;
mod v2;

use std::collections::{HashMap, HashSet};

use crate::crm::{CrmAdapter, WriteStatus};
use crate::inbox::{self, Inbox};
use crate::reconcile::{
    ConflictKind, ContactId, Field, LinkKey, LinkPlan, Plan, RecordId, ThreadState, Value,
};
use crate::store::{ConflictRecord, MirrorProspect};

use super::Context;
use super::budget::{RequestBudget, link_cost, link_cost_v2};
use super::inputs::{Names, inbox_side};
use super::receipts::Receipts;

/// What the push phase did, for the record phase.
pub(super) struct Pushed {
    /// The fields each prospect's Inbox writes confirmed.
    pub inbox_confirmed: HashMap<ContactId, HashSet<Field>>,
    /// Prospects left for the next run (budget, or a stop request): nothing of theirs was
    /// written on either side.
    pub unpushed: HashSet<ContactId>,
    /// The error that stopped the Inbox push, if one did (the CRM was then not written).
    pub error: Option<PushError>,
    /// What became of each CRM write, by record id.
    pub crm_status: HashMap<RecordId, WriteStatus>,
    /// Values handed over in an import file this run.
    pub new_pending: Vec<(RecordId, Value)>,
    /// Conflicts found while pushing (refusals, threads that did not take a value, pending
    /// imports).
    pub conflicts: Vec<ConflictRecord>,
}

/// Pushes the plan: Inbox, then the CRM. Every write leaves its receipt first.
#[allow(clippy::too_many_arguments)] // the phase's inputs, each used once
pub(super) async fn push<A: CrmAdapter>(
    ctx: &Context,
    crm: &mut A,
    names: &mut Names,
    planned: &super::plan::Planned,
    reviewed: &super::plan::Reviewed,
    linked: &super::link::Linked,
    receipts: &mut Receipts<'_>,
    budget: &mut RequestBudget,
    report: &mut super::SyncReport,
) -> anyhow::Result<Pushed> {
    let plan = &planned.plan;
    let inbox = push_plan(ctx, names, plan, &linked.loaded, budget, receipts).await;
    report.writes.inbox += inbox.writes;
    report.incomplete = inbox.incomplete;
    report.interrupted = inbox.interrupted;
    report.warnings.extend(inbox.warnings);
    let mut conflicts = inbox.conflicts;
    crate::failpoint::hit("between-inbox-and-crm");
    let crm_outcome = if inbox.error.is_none() && report.interrupted.is_none() {
        super::crm_write::write_crm(
            crm,
            plan,
            &reviewed.creates,
            &inbox.unpushed,
            &linked.pending,
            receipts,
        )
        .await?
    } else {
        Default::default()
    };
    report.writes.crm += crm_outcome.writes;
    report.writes.crm_pending += crm_outcome.pending_rewrites;
    conflicts.extend(crm_outcome.conflicts);
    let identity_of = |prospect_id: &ContactId| -> (String, String) {
        linked
            .loaded
            .get(prospect_id)
            .map(|m| (m.prospect.username.clone(), m.prospect.platform_id.clone()))
            .unwrap_or_default()
    };
    conflicts.extend(super::crm_write::pending_import_conflicts(
        &crm_outcome.new_pending,
        &linked.matching.links,
        &identity_of,
    ));
    // In import-file mode, where the records went: nothing reached the CRM yet.
    report.writes.to_import = crm_outcome.handed_over;
    if crm_outcome.handed_over > 0 {
        report.import_file = ctx
            .config
            .csv()
            .and_then(|c| c.import_path.as_ref())
            .map(|p| p.display().to_string());
    }
    crate::failpoint::hit("before-record");
    Ok(Pushed {
        inbox_confirmed: inbox.confirmed,
        unpushed: inbox.unpushed.iter().map(|&id| id.clone()).collect(),
        error: inbox.error,
        crm_status: crm_outcome.status,
        new_pending: crm_outcome.new_pending,
        conflicts,
    })
}

/// What pushing a whole plan to Inbox did.
#[derive(Debug, Default)]
pub(super) struct PlanPush<'p> {
    /// Successful write requests.
    pub writes: u64,
    /// Conflicts found while pushing.
    pub conflicts: Vec<ConflictRecord>,
    /// Lines for the run's warnings (a thread that did not take a value, retried next run).
    pub warnings: Vec<String>,
    /// The fields confirmed per prospect.
    pub confirmed: HashMap<ContactId, HashSet<Field>>,
    /// Prospects left for the next run (the request budget ran out): nothing of theirs is
    /// written on either side this run.
    pub unpushed: HashSet<&'p ContactId>,
    /// Why the push stopped early, for the report.
    pub incomplete: Option<String>,
    /// The signal that stopped the push at a prospect boundary, if one did.
    pub interrupted: Option<&'static str>,
    /// The error that stopped the push (401, network, exhausted retries), if one did.
    pub error: Option<PushError>,
}

/// Why a push stopped before its end.
#[derive(Debug, thiserror::Error)]
pub(super) enum PushError {
    /// Inbox failed in a way retries could not cure.
    #[error(transparent)]
    Inbox(#[from] inbox::Error),
    /// Inbox (API v2) failed in a way retries could not cure, or an hour or day rate limit
    /// ran out.
    #[error(transparent)]
    InboxV2(#[from] inbox::v2::Error),
    /// The receipt of a write could not be recorded: nothing more is written.
    #[error("recording a write in the change log")]
    Receipt(#[from] crate::store::Error),
}

impl PushError {
    /// Whether the push ends here like at the request budget, the run going on: the team's
    /// hour or day window is spent (a `429 rateLimited` for it, or the headers said so).
    pub(super) fn ends_push(&self) -> bool {
        matches!(self, PushError::InboxV2(err) if err.quota_exhausted().is_some())
    }
}

/// Pushes every link of `plan` that writes to Inbox, whole prospects only while `budget`
/// allows. `loaded` holds the prospects of those links (their threads and names).
pub(super) async fn push_plan<'p>(
    ctx: &Context,
    names: &mut Names,
    plan: &'p Plan,
    loaded: &HashMap<ContactId, MirrorProspect>,
    budget: &mut RequestBudget,
    receipts: &mut Receipts<'_>,
) -> PlanPush<'p> {
    let settings = PushSettings {
        create_missing_tags: ctx.config.safety.create_missing_tags,
    };
    let mut out = PlanPush::default();
    let pushable: Vec<&LinkPlan> = plan
        .links
        .iter()
        .filter(|l| l.inbox.is_some() || !l.threads.is_empty())
        .collect();
    let bar = ctx.progress.bar(pushable.len() as u64, "pushing to Inbox");
    for link in pushable {
        let prospect = loaded.get(&link.key.prospect_id);
        let threads = prospect
            .map(|m| inbox_side(m, names).threads)
            .unwrap_or_default();
        // Stopped by the user: what is written stays written (and recorded); the rest waits.
        if out.interrupted.is_none()
            && let Some(signal) = ctx.interrupt.requested()
        {
            out.interrupted = Some(signal);
            out.incomplete = Some(format!("stopped by {signal}; the next run writes the rest"));
        }
        // Whole prospects only: a prospect whose requests do not fit waits for the next run.
        let cost = match ctx.inbox {
            Inbox::V2(_) => link_cost_v2(link, threads.len()),
            Inbox::V1(_) => link_cost(link, threads.len()),
        };
        if out.incomplete.is_some() || !budget.fits(ctx, cost) {
            if out.incomplete.is_none() {
                out.incomplete = Some(budget.message());
            }
            out.unpushed.insert(&link.key.prospect_id);
            continue;
        }
        let (outcome, error) =
            push_one(ctx, names, &settings, link, &threads, prospect, receipts).await;
        out.writes += outcome.writes;
        out.conflicts.extend(outcome.conflicts);
        out.warnings.extend(outcome.warnings);
        match error {
            None => {
                out.confirmed
                    .insert(link.key.prospect_id.clone(), outcome.confirmed);
            }
            // The team's hour or day window is spent: this contact (whatever of it was
            // written is in the change log, and agreed on the next run) and the rest wait.
            Some(err) if err.ends_push() => {
                out.incomplete = Some(format!(
                    "stopped pushing: {err}; the contacts not pushed are left for the next run"
                ));
                out.unpushed.insert(&link.key.prospect_id);
            }
            Some(err) => {
                out.error = Some(err);
                break;
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // A thread's miss counts twice only on consecutive pushes: those this one did not retry
    // are forgotten (a push stopped by an error may not have reached them).
    if out.error.is_none()
        && let Err(err) = receipts.forget_stale_fanout_misses(&out.unpushed)
    {
        out.error = Some(err.into());
    }
    out
}

/// Pushes one link to Inbox on the API in use: what it wrote (also when it then failed) and
/// the error that stopped it, if one did.
async fn push_one(
    ctx: &Context,
    names: &mut Names,
    settings: &PushSettings,
    link: &LinkPlan,
    threads: &[ThreadState],
    prospect: Option<&MirrorProspect>,
    receipts: &mut Receipts<'_>,
) -> (InboxOutcome, Option<PushError>) {
    let (username, platform_id) = prospect
        .map(|m| {
            (
                m.prospect.username.as_str(),
                m.prospect.platform_id.as_str(),
            )
        })
        .unwrap_or_default();
    match &ctx.inbox {
        Inbox::V2(v2) => {
            let conflict = |field: Field, kind: ConflictKind, detail: String| {
                push_conflict(&link.key, (username, platform_id), field, kind, detail)
            };
            let mut outcome = InboxOutcome::default();
            let mirrored = v2::Mirrored {
                threads,
                default_assignee_id: prospect
                    .and_then(|m| m.prospect.default_assignee_id.as_deref()),
            };
            let result = v2::push_contact(
                v2,
                names,
                settings,
                link,
                mirrored,
                &conflict,
                receipts,
                &mut outcome,
            )
            .await;
            (outcome, result.err())
        }
        Inbox::V1(client) => {
            let result = v1::push_link(
                client,
                names,
                settings,
                link,
                threads,
                (username, platform_id),
                receipts,
            )
            .await;
            match result {
                Ok(outcome) => (outcome, None),
                Err(err) => (InboxOutcome::default(), Some(err)),
            }
        }
    }
}

/// A conflict the push found on one link (`identity`: the prospect's username and X user id,
/// empty when unknown): no values, only what happened.
fn push_conflict(
    key: &LinkKey,
    (username, platform_id): (&str, &str),
    field: Field,
    kind: ConflictKind,
    detail: String,
) -> ConflictRecord {
    ConflictRecord {
        prospect_id: key.prospect_id.clone(),
        // A contact without an X profile has neither: none, as in the plan's conflicts.
        username: Some(username.to_string()).filter(|u| !u.is_empty()),
        platform_id: Some(platform_id.to_string()).filter(|p| !p.is_empty()),
        crm_id: key.crm_id.clone(),
        field: field.into(),
        kind,
        inbox: None,
        crm: None,
        base: None,
        detail,
    }
}

/// What pushing one link to Inbox did.
#[derive(Debug, Default)]
pub struct InboxOutcome {
    /// Fields whose Inbox write was confirmed.
    pub confirmed: HashSet<Field>,
    /// Successful write requests (context + thread PATCHes).
    pub writes: u64,
    /// Conflicts found while pushing (refusals, unmapped names, threads that did not take a value).
    pub conflicts: Vec<ConflictRecord>,
    /// Warnings: a thread that did not take a value the first time (retried next run).
    pub warnings: Vec<String>,
}

/// Settings for pushing.
pub(super) struct PushSettings {
    /// Create tags missing in Inbox.
    pub create_missing_tags: bool,
}

/// A v2 error that is about this request (a 4xx other than auth and rate limits): skip it, go
/// on with the next contact.
pub(super) fn is_refusal_v2(err: &inbox::v2::Error) -> bool {
    use inbox::v2::Error;
    matches!(
        err,
        Error::InvalidRequest { .. }
            | Error::NotFound { .. }
            | Error::Forbidden { .. }
            | Error::Config(_)
    ) || matches!(err, Error::Api { status, .. } if (400..500).contains(status) && *status != 429)
}
