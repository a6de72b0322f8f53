//! Incremental change capture: replaying the Inbox event log (`GET /events?afterSeq=`) to
//! learn which threads and prospects changed after a seq and where the log now ends, then
//! re-reading exactly those into the mirror.
//!
//! Events are only used as *pointers*: they name what to re-read, never the values to store
//! (payloads may be trimmed, and a later change may already have overtaken them). This module
//! does not decide between a full walk and an incremental pull (`pull::v1` does), and its only
//! mirror writes are the re-read rows and the absence of rows Inbox answered 404 for.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use anyhow::Context as _;

use crate::inbox::{self, Event, EventMeaning};
use crate::reconcile::{ContactId, ThreadId};
use crate::store::{ProspectRow, RunId, Store, ThreadRow};

use crate::engine::Progress;
use crate::engine::pull::PullReport;

use super::rows::{prospect_row, rows};

/// Events per `GET /events` page: the API's maximum.
pub(super) const PAGE_SIZE: u16 = 1000;

/// Ids named by replayed events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Touched {
    /// Threads to re-read.
    pub threads: BTreeSet<ThreadId>,
    /// Prospects to re-read.
    pub prospects: BTreeSet<ContactId>,
    /// Prospects whose every thread must be re-read (a prospect-wide assignee change).
    pub prospect_threads: BTreeSet<ContactId>,
    /// A tag or status was deleted (Inbox strips it from every prospect).
    pub reference_deleted: bool,
}

impl Touched {
    /// Records what one event names (see [`EventMeaning`]).
    pub fn add(&mut self, event: &Event) {
        match event.meaning() {
            EventMeaning::Nothing => {}
            EventMeaning::ReferenceDeleted => self.reference_deleted = true,
            EventMeaning::Reread {
                threads,
                prospect,
                all_threads,
            } => {
                self.threads.extend(threads.into_iter().map(ThreadId::from));
                if let Some(id) = prospect.map(ContactId::from) {
                    if all_threads {
                        self.prospect_threads.insert(id.clone());
                    }
                    self.prospects.insert(id);
                }
            }
        }
    }

    /// Whether `thread` (of `prospect`) or `prospect` itself was named by an event.
    pub fn explains(&self, thread: Option<&ThreadId>, prospect: &ContactId) -> bool {
        thread.is_some_and(|t| self.threads.contains(t))
            || self.prospects.contains(prospect)
            || self.prospect_threads.contains(prospect)
    }

    /// Adds everything `other` names.
    pub fn merge(&mut self, other: Touched) {
        self.threads.extend(other.threads);
        self.prospects.extend(other.prospects);
        self.prospect_threads.extend(other.prospect_threads);
        self.reference_deleted |= other.reference_deleted;
    }
}

/// What replaying the log after a seq found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Replay {
    /// The seq it replayed from (`None`: from the start of the retained log).
    pub from: Option<u64>,
    /// Where the log ends now: the seq to replay from next time. `None` only when replaying
    /// from the start of an empty log.
    pub head: Option<u64>,
    /// Events replayed (seq after the one asked for).
    pub events: u64,
    /// `GET /events` requests made.
    pub pages: u64,
    /// The log no longer reaches back to the seq asked for: the first retained event comes
    /// later than the next seq, or the log reports an end before the seq asked for.
    pub gap: bool,
    /// What the events name.
    pub touched: Touched,
}

/// Pages `GET /events` from `after` (the start of the retained log when `None`) until
/// `hasMore` is false. A seq of 0 means "from the start" too, so no gap is reported for it.
pub(super) async fn replay(
    client: &inbox::Client,
    after: Option<u64>,
) -> Result<Replay, inbox::Error> {
    let mut out = Replay {
        from: after,
        head: after,
        ..Replay::default()
    };
    let mut cursor = after;
    loop {
        let page = client.events(cursor, PAGE_SIZE).await?;
        out.pages += 1;
        if out.pages == 1 {
            out.gap = detect_gap(after, &page);
            if out.gap && page.events.is_empty() {
                // Nothing retained, and the log ends somewhere else than the seq asked for:
                // continue from where the server says it ends.
                out.head = page.last_seq;
                return Ok(out);
            }
        }
        let floor = cursor.unwrap_or(0);
        for event in page.events.iter().filter(|e| e.seq > floor) {
            out.events += 1;
            out.touched.add(event);
        }
        let newest = page.events.iter().map(|e| e.seq).max();
        let next = [cursor, newest, page.last_seq].into_iter().flatten().max();
        out.head = next;
        // Stop on the last page, and on a page that does not move the cursor: a server that
        // says `hasMore` but sends nothing new would otherwise be asked forever.
        if !page.has_more || next <= cursor {
            return Ok(out);
        }
        cursor = next;
    }
}

/// Whether the first page shows that events after `after` were dropped (7-day retention, or
/// the log's size cap) or that `after` is not a seq of this log at all.
fn detect_gap(after: Option<u64>, page: &inbox::EventPage) -> bool {
    let Some(after) = after.filter(|&s| s > 0) else {
        return false;
    };
    match page.events.first() {
        Some(first) => first.seq > after + 1,
        None => page.last_seq.is_some_and(|last| last != after),
    }
}

/// Whether an error of `GET /events` means "this log cannot serve that seq (or at all)"
/// rather than a failure to report: any 4xx other than 401 and 429. The API's answer for an
/// `afterSeq` that is too old is not documented, so any such refusal is read this way.
pub(super) fn is_refusal(err: &inbox::Error) -> bool {
    match err {
        inbox::Error::NotFound { .. } | inbox::Error::Forbidden { .. } => true,
        inbox::Error::Api { status, .. } => (400..500).contains(status) && *status != 429,
        _ => false,
    }
}

/// Whether re-reading what `touched` names (one request per thread, plus one per prospect no
/// thread covers) would cost more requests than a walk (a page per 100 threads per view, at
/// least one per view, plus the replay after it), judged by the mirror.
pub(super) fn rereads_cost_more(store: &Store, touched: &Touched) -> anyhow::Result<bool> {
    let walk: u64 = store
        .thread_view_counts()?
        .iter()
        .map(|&n| n.div_ceil(100).max(1))
        .sum::<u64>()
        + 1;
    let mut threads = touched.threads.clone();
    for prospect_id in &touched.prospect_threads {
        threads.extend(store.present_thread_ids(prospect_id)?);
    }
    let mut covered = HashSet::new();
    for thread_id in &threads {
        covered.extend(store.thread_prospect(thread_id)?);
    }
    let prospects = touched
        .prospects
        .iter()
        .chain(&touched.prospect_threads)
        .filter(|id| !covered.contains(*id))
        .collect::<BTreeSet<_>>()
        .len() as u64;
    Ok(threads.len() as u64 + prospects > walk)
}

/// Re-reads what `touched` names and stores it: threads with `GET /threads/{id}` (their
/// prospect comes embedded), the prospects no thread covered with `GET /prospects/{id}`, then
/// the threads a prospect lists that the mirror does not hold (or holds but it no longer
/// lists). A 404 marks the thread or prospect absent.
pub(super) async fn reread(
    client: &inbox::Client,
    store: &mut Store,
    run: RunId,
    touched: &Touched,
    progress: &Progress,
    report: &mut PullReport,
) -> anyhow::Result<()> {
    let mut thread_ids = touched.threads.clone();
    for prospect_id in &touched.prospect_threads {
        thread_ids.extend(store.present_thread_ids(prospect_id)?);
    }
    let mut fresh = Fresh::default();
    let bar = progress.spinner("re-reading changed threads and prospects");
    for id in &thread_ids {
        fresh.read_thread(client, id, report).await?;
        bar.tick();
    }

    let uncovered: Vec<&ContactId> = touched
        .prospects
        .iter()
        .chain(&touched.prospect_threads)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|id| !fresh.prospects.contains_key(*id))
        .collect();
    let mut more_threads = BTreeSet::new();
    for id in uncovered {
        let prospect = match client.prospect(id.as_str()).await {
            Ok(prospect) => prospect,
            Err(inbox::Error::NotFound { .. }) => {
                fresh.gone_prospects.push(id.clone());
                continue;
            }
            Err(err) => return Err(err).context(format!("re-reading prospect {id}")),
        };
        report.reread_prospects += 1;
        bar.tick();
        if let Some(listed) = &prospect.context.threads {
            let listed: BTreeSet<ThreadId> = listed.iter().map(|t| t.id.as_str().into()).collect();
            let known: BTreeSet<ThreadId> = store.present_thread_ids(id)?.into_iter().collect();
            more_threads.extend(
                listed
                    .symmetric_difference(&known)
                    .filter(|t| !thread_ids.contains(*t))
                    .cloned(),
            );
        }
        fresh
            .prospects
            .insert(id.clone(), prospect_row(id.clone(), prospect));
    }
    for id in &more_threads {
        fresh.read_thread(client, id, report).await?;
        bar.tick();
    }
    bar.finish_and_clear();

    let prospects: Vec<ProspectRow> = fresh.prospects.into_values().collect();
    let threads: Vec<ThreadRow> = fresh.threads.into_values().collect();
    store.upsert_page(run, &prospects, &threads)?;
    for (threads, prospects) in [
        store.mark_threads_absent(&fresh.gone_threads)?,
        store.mark_prospects_absent(&fresh.gone_prospects)?,
    ] {
        report.marked_absent.0 += threads;
        report.marked_absent.1 += prospects;
    }
    Ok(())
}

/// Rows re-read in one go, keyed by id (the latest read wins), and the ids Inbox answered 404.
#[derive(Default)]
struct Fresh {
    prospects: BTreeMap<ContactId, ProspectRow>,
    threads: BTreeMap<ThreadId, ThreadRow>,
    gone_threads: Vec<ThreadId>,
    gone_prospects: Vec<ContactId>,
}

impl Fresh {
    async fn read_thread(
        &mut self,
        client: &inbox::Client,
        id: &ThreadId,
        report: &mut PullReport,
    ) -> anyhow::Result<()> {
        let thread = match client.thread(id.as_str()).await {
            Ok(thread) => thread,
            Err(inbox::Error::NotFound { .. }) => {
                self.gone_threads.push(id.clone());
                return Ok(());
            }
            Err(err) => return Err(err).context(format!("re-reading thread {id}")),
        };
        report.reread_threads += 1;
        match rows(thread) {
            Some((prospect, thread)) => {
                self.prospects.insert(prospect.id.clone(), prospect);
                self.threads.insert(thread.id.clone(), thread);
            }
            None => report.skipped_without_id += 1,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: u64, kind: &str, data: serde_json::Value) -> Event {
        serde_json::from_value(json!({
            "id": format!("e{seq}"), "seq": seq, "teamId": "t", "type": kind,
            "timestamp": "2026-01-01T00:00:00.000Z", "version": "1.0", "data": data,
        }))
        .unwrap()
    }

    fn page(seqs: &[u64], last_seq: Option<u64>) -> inbox::EventPage {
        inbox::EventPage {
            events: seqs
                .iter()
                .map(|&s| event(s, "tag.created", json!({})))
                .collect(),
            has_more: false,
            last_seq,
        }
    }

    #[test]
    fn events_name_threads_and_prospects_to_re_read() {
        let mut touched = Touched::default();
        let thread = json!({"thread": {"id": "th1", "prospect": {"externalId": "p9"}}});
        touched.add(&event(1, "thread.archived", thread));
        touched.add(&event(
            2,
            "prospect.tagsChanged",
            json!({"prospect": {"externalId": "p1"}}),
        ));
        touched.add(&event(
            3,
            "message.created",
            json!({"message": {"threadId": "th2"}}),
        ));
        touched.add(&event(
            4,
            "prospect.assigneeChanged",
            json!({"prospect": {"externalId": "p2", "context": {"threads": [{"id": "th3"}]}}}),
        ));
        touched.add(&event(
            5,
            "target.replied",
            json!({"thread": {"id": "th4"}, "prospect": {"externalId": "p3"}}),
        ));
        assert_eq!(
            touched.threads,
            ["th1", "th2", "th3", "th4"].map(ThreadId::from).into()
        );
        assert_eq!(
            touched.prospects,
            ["p1", "p2", "p3"].map(ContactId::from).into()
        );
        assert_eq!(touched.prospect_threads, ["p2"].map(ContactId::from).into());
        assert!(!touched.reference_deleted);
        let (th, p) = (ThreadId::from, ContactId::from);
        assert!(touched.explains(Some(&th("th1")), &p("p9")));
        assert!(touched.explains(None, &p("p2")));
        assert!(!touched.explains(Some(&th("th9")), &p("p9")));
    }

    #[test]
    fn noise_is_ignored_and_deletions_of_reference_data_are_flagged() {
        let mut touched = Touched::default();
        for kind in ["thread.typing", "message.reactionAdded", "tag.created"] {
            touched.add(&event(1, kind, json!({"thread": {"id": "th1"}})));
        }
        touched.add(&event(2, "prospect.notesChanged", json!({"prospect": {}})));
        touched.add(&event(
            3,
            "thread.archived",
            json!({"thread": {"id": "../x"}}),
        ));
        assert_eq!(touched, Touched::default());
        touched.add(&event(4, "status.deleted", json!({"status": {"id": "s1"}})));
        assert!(touched.reference_deleted);
    }

    #[test]
    fn a_gap_is_a_first_event_past_the_next_seq_or_a_log_that_ends_elsewhere() {
        assert!(!detect_gap(Some(10), &page(&[11, 12], Some(12))));
        assert!(detect_gap(Some(10), &page(&[15], Some(15))));
        assert!(!detect_gap(Some(10), &page(&[], None)));
        assert!(!detect_gap(Some(10), &page(&[], Some(10))));
        assert!(detect_gap(Some(10), &page(&[], Some(20))));
        assert!(detect_gap(Some(10), &page(&[], Some(4))));
        // From the start (nothing stored, or an empty log stored as 0): never a gap.
        assert!(!detect_gap(None, &page(&[500], Some(500))));
        assert!(!detect_gap(Some(0), &page(&[500], Some(500))));
    }

    #[test]
    fn refusals_are_4xx_other_than_auth_and_rate_limits() {
        let api = |status| inbox::Error::Api {
            status,
            code: None,
            message: "m".into(),
        };
        assert!(is_refusal(&api(400)));
        assert!(is_refusal(&api(422)));
        assert!(is_refusal(&inbox::Error::NotFound {
            code: None,
            message: "m".into()
        }));
        assert!(!is_refusal(&inbox::Error::Unauthorized {
            token_env: "X".into()
        }));
        assert!(!is_refusal(&inbox::Error::RateLimited {
            retry_after: None
        }));
    }
}
