//! Incremental change capture on Inbox API v2: replaying `GET /events?afterSeq=` to learn what
//! changed after a seq and where the log now ends, then bringing exactly that into the mirror.
//!
//! Payloads are thin (docs/inbox-api-v2.md §7.1). The four scalar contact events carry the new
//! value (`contact.tagsChanged` the full set), so the mirror row takes the latest value per
//! field without a request; a contact event of a type this client does not know means
//! `GET /contacts/{id}`. Thread events (and `message.sent`/`message.received`, which move the
//! thread and can answer a request) mean `GET /threads/{id}`, which embeds the contact and its
//! profiles: a thread the mirror lacks is added, and its contact with it (`thread.created` is
//! how a new contact appears). A changed default assignee re-reads every thread of the contact
//! (the effective assignee is per thread). A re-read wins over event values: it is newer than
//! every event replayed. A 404 marks the thread or contact absent.
//!
//! **Echoes.** Events carry no actor, so after a sync the log holds the events of crmsync's own
//! writes. A thread whose every event is `thread.archived`/`unarchived` or
//! `thread.assigned`/`unassigned` with the value a receipt of the last runs wrote (to the
//! thread, or to its contact by fan-out: `store::echoes`) is not re-read: the event values go
//! onto its mirror row, the latest last. Any other event on the thread (a message, a value no
//! receipt wrote, such as a person's edit right after crmsync's, or a cleared own assignee
//! that shows the contact default) means a re-read as above. `contact.assigneeChanged` always
//! re-reads the contact's threads: which of them inherit the default the API does not say.
//! Contact value events matching a receipt are counted as echoes too; they cost nothing either
//! way.
//!
//! This module does not decide between a walk and a replay (`pull::v2` does) and writes the
//! mirror only through `store`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Context as _;

use crate::inbox::v2::{self, Change, ContactId, Event, MAX_EVENT_PAGE, ThreadId};
use crate::reconcile::{Amount, Value};
use crate::store::{ProfileRow, ProspectRow, RunId, Store, ThreadRow};

use super::walk::{contact_row, profile_rows, thread_row};
use crate::engine::Progress;
use crate::engine::inputs::Names;
use crate::engine::pull::PullReport;

/// The new values of a contact's synced fields that events carried; `None`: no event said.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Delta {
    pub tag_ids: Option<Vec<String>>,
    pub status_id: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    pub valuation: Option<Option<Amount>>,
    /// The default assignee (member id) of `contact.assigneeChanged`.
    pub default_assignee_id: Option<Option<String>>,
}

impl Delta {
    /// Applies the values onto a mirror row.
    fn apply(&self, row: &mut ProspectRow) {
        if let Some(tags) = &self.tag_ids {
            let mut tags = tags.clone();
            // Sorted: an equal set is equal text in the mirror.
            tags.sort_unstable();
            tags.dedup();
            row.tag_ids = tags;
        }
        if let Some(status) = &self.status_id {
            row.status_id.clone_from(status);
        }
        if let Some(notes) = &self.notes {
            row.notes.clone_from(notes);
        }
        if let Some(valuation) = self.valuation {
            row.valuation = valuation;
        }
        if let Some(default) = &self.default_assignee_id {
            row.default_assignee_id.clone_from(default);
        }
    }
}

/// A value an event carried, to be matched against crmsync's receipts (raw Inbox ids).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Said {
    /// `thread.archived` (`true`) or `thread.unarchived`.
    Done(bool),
    /// `thread.assigned`/`unassigned`: the thread's new effective assignee.
    Assignee(Option<String>),
    /// `contact.statusChanged`.
    Status(Option<String>),
    /// `contact.tagsChanged`: the full set.
    Tags(Vec<String>),
    /// `contact.notesChanged`.
    Notes(Option<String>),
    /// `contact.valuationChanged`.
    Valuation(Option<Amount>),
}

impl Said {
    /// Whether a receipt's value (Inbox vocabulary: names and e-mails) is what the event says.
    pub(super) fn is(&self, value: &Value, names: &Names) -> bool {
        match (self, value) {
            (Said::Done(said), Value::Done(Some(wrote))) => said == wrote,
            // A name no id has (a member or status gone since) explains nothing.
            (Said::Assignee(said), Value::Assignee(wrote)) => match (said, wrote) {
                (None, None) => true,
                (Some(id), Some(email)) => names.member_id(email) == Some(id.as_str()),
                _ => false,
            },
            (Said::Status(said), Value::Status(wrote)) => match (said, wrote) {
                (None, None) => true,
                (Some(id), Some(name)) => names.status_id(name) == Some(id.as_str()),
                _ => false,
            },
            (Said::Tags(said), Value::Tags(wrote)) => {
                let wrote: Option<BTreeSet<&str>> = wrote.iter().map(|n| names.tag_id(n)).collect();
                wrote == Some(said.iter().map(String::as_str).collect())
            }
            (Said::Notes(said), Value::Notes(wrote)) => {
                said.as_deref().filter(|n| !n.is_empty()) == wrote.as_deref()
            }
            (Said::Valuation(said), Value::Valuation(wrote)) => said == wrote,
            _ => false,
        }
    }
}

/// What replayed events name.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Touched {
    /// Threads to re-read with `GET /threads/{id}`.
    pub threads: BTreeSet<ThreadId>,
    /// Thread events a receipt may explain, in seq order: the thread is re-read unless every
    /// one of them is an echo.
    pub said: BTreeMap<ThreadId, Vec<Said>>,
    /// Contact value events, in seq order, to count the echoes among them.
    pub contact_said: BTreeMap<ContactId, Vec<Said>>,
    /// Contacts to re-read with `GET /contacts/{id}` (an event type this client does not know).
    pub contacts: BTreeSet<ContactId>,
    /// Contacts whose default assignee changed: every thread of theirs is re-read.
    pub contact_threads: BTreeSet<ContactId>,
    /// Contact values the events carried, the latest per field.
    pub deltas: BTreeMap<ContactId, Delta>,
    /// A tag or status was deleted: Inbox strips it from contacts, maybe without an event each.
    pub reference_deleted: bool,
}

impl Touched {
    fn delta(&mut self, event: &Event) -> &mut Delta {
        self.deltas
            .entry(event.object_id.as_str().into())
            .or_default()
    }

    /// Notes what a thread event (done, assignee) or a contact value event said.
    fn said(&mut self, event: &Event, said: Said) {
        let id = event.object_id.as_str();
        match said {
            Said::Done(_) | Said::Assignee(_) => self.said.entry(id.into()).or_default().push(said),
            _ => self.contact_said.entry(id.into()).or_default().push(said),
        }
    }

    /// Records what one event names; events in `seq` order, so a later value wins.
    pub fn add(&mut self, event: &Event) {
        let id = || event.object_id.as_str();
        match &event.change {
            Change::ThreadCreated | Change::ThreadDeleted { .. } => {
                self.threads.insert(id().into());
            }
            Change::ThreadAssignee { assignee_id } => {
                self.said(event, Said::Assignee(assignee_id.clone()));
            }
            Change::ThreadArchived { archived } => self.said(event, Said::Done(*archived)),
            Change::Message {
                thread_id,
                new_message,
            } => {
                // Edits, deletions and reactions change nothing the mirror holds.
                if *new_message {
                    self.threads.insert(thread_id.clone());
                }
            }
            Change::Target { thread_id, .. } => {
                self.threads.insert(thread_id.clone());
            }
            Change::ContactStatus { status_id } => {
                self.delta(event).status_id = Some(status_id.clone());
                self.said(event, Said::Status(status_id.clone()));
            }
            Change::ContactTags { tag_ids } => {
                self.delta(event).tag_ids = Some(tag_ids.clone());
                self.said(event, Said::Tags(tag_ids.clone()));
            }
            Change::ContactNotes { notes } => {
                self.delta(event).notes = Some(notes.clone());
                self.said(event, Said::Notes(notes.clone()));
            }
            Change::ContactValuation { valuation } => {
                self.delta(event).valuation = Some(*valuation);
                self.said(event, Said::Valuation(*valuation));
            }
            Change::ContactAssignee { assignee_id } => {
                self.delta(event).default_assignee_id = Some(assignee_id.clone());
                self.contact_threads.insert(id().into());
            }
            // Reference data is fetched again by every pull.
            Change::Tag { deleted } | Change::Status { deleted } => {
                self.reference_deleted |= *deleted;
            }
            Change::ContactOther => {
                self.contacts.insert(id().into());
            }
            Change::Other => {}
        }
    }
}

/// What replaying the log after a seq found.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Replay {
    /// Where the log ends now: the seq to replay from next time (`None`: still empty).
    pub head: Option<u64>,
    /// Events replayed.
    pub events: u64,
    /// `GET /events` requests made.
    pub pages: u64,
    /// What the events name.
    pub touched: Touched,
}

/// Pages `GET /events` from `after` (the oldest retained event when `None`) until `hasMore` is
/// false, continuing from `lastSeq` (which counts events a page leaves out). Whether the log
/// still reaches back to `after` is not judged here: that is `Client::retention`.
pub(super) async fn replay(client: &v2::Client, after: Option<u64>) -> Result<Replay, v2::Error> {
    let mut out = Replay {
        head: after,
        ..Replay::default()
    };
    let mut cursor = after;
    loop {
        let page = client.events(cursor, MAX_EVENT_PAGE).await?;
        out.pages += 1;
        let floor = cursor.unwrap_or(0);
        for event in page.events.iter().filter(|e| e.seq > floor) {
            out.events += 1;
            out.touched.add(event);
        }
        let newest = page.events.iter().map(|e| e.seq).max();
        let next = [cursor, newest, page.last_seq].into_iter().flatten().max();
        out.head = next;
        // A server that says `hasMore` but does not move the cursor would be asked forever.
        if !page.has_more || next <= cursor {
            return Ok(out);
        }
        cursor = next;
    }
}

/// Whether an error of `GET /events` means "this log cannot serve that seq" rather than a
/// failure to report: a 4xx other than 401 and 429 (the docs do not say what an `afterSeq`
/// older than retention gets).
pub(super) fn is_refusal(err: &v2::Error) -> bool {
    match err {
        v2::Error::NotFound { .. }
        | v2::Error::Forbidden { .. }
        | v2::Error::InvalidRequest { .. } => true,
        v2::Error::Api { status, .. } => (400..500).contains(status) && *status != 429,
        _ => false,
    }
}

/// What `touched` costs: the threads to re-read (those named, every present thread of a
/// contact whose default assignee changed, and those with an event no receipt explains), and
/// the echoes.
fn plan_reads(store: &Store, touched: &Touched) -> anyhow::Result<(BTreeSet<ThreadId>, Echoes)> {
    let mut threads = touched.threads.clone();
    for contact_id in &touched.contact_threads {
        threads.extend(store.present_thread_ids(contact_id)?);
    }
    let echoes = Echoes::find(store, touched, &threads)?;
    let unexplained = touched
        .said
        .keys()
        .filter(|id| !echoes.threads.contains_key(*id));
    threads.extend(unexplained.cloned());
    Ok((threads, echoes))
}

/// Events explained by crmsync's receipts (see the module docs).
#[derive(Debug, Default)]
struct Echoes {
    /// Present threads not re-read, by their contact: (thread id, what its events said).
    threads: BTreeMap<ThreadId, (ContactId, Vec<Said>)>,
    /// How many of their events.
    thread_events: u64,
    /// How many contact value events each contact's echoes are.
    contact_events: BTreeMap<ContactId, u64>,
}

impl Echoes {
    /// The echoes among `touched`'s events; threads in `read` are re-read anyway.
    fn find(store: &Store, touched: &Touched, read: &BTreeSet<ThreadId>) -> anyhow::Result<Echoes> {
        let mut out = Echoes::default();
        if touched.said.is_empty() && touched.contact_said.is_empty() {
            return Ok(out);
        }
        let receipts = store.echo_receipts()?;
        if receipts.is_empty() {
            return Ok(out);
        }
        let names = Names::new(&store.reference()?);
        let mut wrote: HashMap<&str, Vec<&Value>> = HashMap::new();
        for receipt in &receipts {
            (wrote.entry(receipt.target.as_str()).or_default()).push(&receipt.value);
        }
        let echoed = |targets: &[&str], said: &Said| {
            (targets.iter().filter_map(|t| wrote.get(t)))
                .any(|values| values.iter().any(|v| said.is(v, &names)))
        };
        for (thread_id, said) in touched.said.iter().filter(|(id, _)| !read.contains(*id)) {
            let Some(contact) = store.thread_prospect(thread_id)? else {
                continue;
            };
            let explained =
                (said.iter()).all(|s| echoed(&[thread_id.as_str(), contact.as_str()], s));
            if explained && store.present_thread_ids(&contact)?.contains(thread_id) {
                out.thread_events += said.len() as u64;
                (out.threads).insert(thread_id.clone(), (contact, said.clone()));
            }
        }
        for (contact_id, said) in &touched.contact_said {
            let n = said
                .iter()
                .filter(|s| echoed(&[contact_id.as_str()], s))
                .count();
            out.contact_events.insert(contact_id.clone(), n as u64);
        }
        Ok(out)
    }

    /// The mirror rows of the echoed threads, with the values their events said.
    fn thread_rows(&self, store: &Store) -> anyhow::Result<Vec<ThreadRow>> {
        let contacts: BTreeSet<&ContactId> = self.threads.values().map(|(c, _)| c).collect();
        let contacts: Vec<&ContactId> = contacts.into_iter().collect();
        let mut rows = Vec::with_capacity(self.threads.len());
        for mirrored in store.load_mirror_for(&contacts)? {
            for mut row in mirrored.threads {
                let Some((_, said)) = self.threads.get(&row.id) else {
                    continue;
                };
                for said in said {
                    match said {
                        Said::Done(done) => row.done = *done,
                        Said::Assignee(id) => row.assignee_id.clone_from(id),
                        _ => {}
                    }
                }
                rows.push(row);
            }
        }
        Ok(rows)
    }
}

/// Whether re-reading what `touched` names (one request per thread, one per contact no thread
/// covers; event values cost nothing) would cost more than a walk (a page per 100 threads,
/// plus the replay after it), judged by the mirror.
pub(super) fn rereads_cost_more(store: &Store, touched: &Touched) -> anyhow::Result<bool> {
    let walk = store.counts()?.threads.div_ceil(100).max(1) + 1;
    let (threads, _) = plan_reads(store, touched)?;
    let mut covered = BTreeSet::new();
    for thread_id in &threads {
        covered.extend(store.thread_prospect(thread_id)?);
    }
    let contacts = touched.contacts.difference(&covered).count() as u64;
    Ok(threads.len() as u64 + contacts > walk)
}

/// What a re-read brought: the contacts read (with their threads or by id) and their profiles.
#[derive(Debug, Default)]
pub(super) struct Reread {
    /// Contacts read from Inbox in this re-read: their profiles are the ones below.
    pub contacts: Vec<ContactId>,
    /// The profiles of those contacts.
    pub profiles: Vec<ProfileRow>,
}

/// Re-reads what `touched` names and stores it (see the module docs): threads, then contacts
/// no thread covered, then the event values onto the present contacts nothing re-read.
pub(super) async fn reread(
    client: &v2::Client,
    store: &mut Store,
    run: RunId,
    touched: &Touched,
    progress: &Progress,
    report: &mut PullReport,
) -> anyhow::Result<Reread> {
    let mut fresh = Fresh::default();
    let (threads, echoes) = plan_reads(store, touched)?;
    let bar = progress.spinner("re-reading changed threads and contacts");
    for id in &threads {
        fresh.read_thread(client, id, report).await?;
        bar.tick();
    }
    let uncovered: Vec<&ContactId> = (touched.contacts.iter())
        .filter(|id| !fresh.contacts.contains_key(*id))
        .collect();
    for id in uncovered {
        fresh.read_contact(client, id, report).await?;
        bar.tick();
    }
    bar.finish_and_clear();
    let patched: Vec<&ContactId> = (touched.deltas.keys())
        .filter(|id| !fresh.contacts.contains_key(*id) && !fresh.gone_contacts.contains(*id))
        .collect();
    let mut rows: Vec<ProspectRow> = Vec::with_capacity(fresh.contacts.len() + patched.len());
    for mirrored in store.load_mirror_for(&patched)? {
        let mut row = mirrored.prospect;
        touched.deltas[&row.id].apply(&mut row);
        report.echoes += echoes.contact_events.get(&row.id).copied().unwrap_or(0);
        rows.push(row);
    }
    let contacts: Vec<ContactId> = fresh.contacts.keys().cloned().collect();
    rows.extend(fresh.contacts.into_values());
    let mut threads: Vec<ThreadRow> = echoes.thread_rows(store)?;
    report.echoes += echoes.thread_events;
    threads.extend(fresh.threads.into_values());
    store.upsert_page(run, &rows, &threads)?;
    for (threads, contacts) in [
        store.mark_threads_absent(&fresh.gone_threads)?,
        store.mark_prospects_absent(&fresh.gone_contacts)?,
    ] {
        report.marked_absent.0 += threads;
        report.marked_absent.1 += contacts;
    }
    Ok(Reread {
        contacts,
        profiles: fresh.profiles,
    })
}

/// Rows re-read in one go, keyed by id (the latest read wins), and the ids Inbox answered 404.
#[derive(Default)]
struct Fresh {
    contacts: BTreeMap<ContactId, ProspectRow>,
    threads: BTreeMap<ThreadId, ThreadRow>,
    profiles: Vec<ProfileRow>,
    gone_threads: Vec<ThreadId>,
    gone_contacts: Vec<ContactId>,
}

impl Fresh {
    fn take_contact(&mut self, contact: &v2::Contact) {
        let id = &contact.id;
        self.profiles.retain(|p| p.contact_id != *id);
        self.profiles.extend(profile_rows(contact));
        self.contacts.insert(id.clone(), contact_row(contact));
    }

    async fn read_thread(
        &mut self,
        client: &v2::Client,
        id: &ThreadId,
        report: &mut PullReport,
    ) -> anyhow::Result<()> {
        let thread = match client.thread(id).await {
            Ok(thread) => thread,
            Err(v2::Error::NotFound { .. }) => {
                self.gone_threads.push(id.clone());
                return Ok(());
            }
            Err(err) => return Err(err).context(format!("re-reading thread {id}")),
        };
        report.reread_threads += 1;
        match &thread.contact {
            Some(contact) => self.take_contact(contact),
            None => report.skipped_without_id += 1,
        }
        if thread.contact.is_some() {
            self.threads.insert(id.clone(), thread_row(&thread));
        }
        Ok(())
    }

    async fn read_contact(
        &mut self,
        client: &v2::Client,
        id: &ContactId,
        report: &mut PullReport,
    ) -> anyhow::Result<()> {
        match client.contact(id).await {
            Ok(contact) => {
                report.reread_prospects += 1;
                self.take_contact(&contact);
                Ok(())
            }
            Err(v2::Error::NotFound { .. }) => {
                self.gone_contacts.push(id.clone());
                Ok(())
            }
            Err(err) => Err(err).context(format!("re-reading contact {id}")),
        }
    }
}
