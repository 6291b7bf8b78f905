//! What a person debugging sees: a span per analysis and per execution carrying
//! `session_id`, `state` and `decision.action`, and refusals traced with their rule.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use autonomic_adapter::SessionAdapter;
use autonomic_core::{CaseId, GlobalKnowledge, KnowledgeBase, SessionHandle, TenantId};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// A span or event: its name (span) or message (event), and its fields, printed.
#[derive(Debug, Clone, Default)]
struct Entry {
    name: String,
    fields: Vec<(String, String)>,
}

impl Entry {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

impl Visit for Entry {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.fields.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.push((field.name().to_owned(), value.to_owned()));
    }
}

/// Records every span (with fields recorded later) and every event.
#[derive(Default, Clone)]
struct Recorder(Arc<Recorded>);

#[derive(Default)]
struct Recorded {
    spans: Mutex<Vec<Entry>>,
    events: Mutex<Vec<Entry>>,
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut entry = Entry { name: attrs.metadata().name().to_owned(), ..Entry::default() };
        attrs.record(&mut entry);
        let mut spans = self.0.spans.lock().unwrap();
        spans.push(entry);
        Id::from_u64(spans.len() as u64)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut spans = self.0.spans.lock().unwrap();
        values.record(&mut spans[span.into_u64() as usize - 1]);
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut entry = Entry::default();
        event.record(&mut entry);
        entry.name = entry.field("message").unwrap_or_default().to_owned();
        self.0.events.lock().unwrap().push(entry);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn spans_carry_session_state_and_action_and_refusals_their_rule() {
    let recorder = Recorder::default();
    let kb = Arc::new(KnowledgeBase::new());
    let adapter = SessionAdapter::new(kb.clone());
    let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
    (0..4).for_each(|_| handle.record_retry());

    tracing::subscriber::with_default(recorder.clone(), || {
        let decision = adapter.evaluate(&handle).unwrap().into_decision().unwrap();
        adapter.execute(&decision, &handle).unwrap();
        kb.publish(GlobalKnowledge { slo_compliance: 0.5, ..Default::default() });
        assert!(adapter.evaluate(&handle).unwrap().refusal().is_some());
    });

    let spans = recorder.0.spans.lock().unwrap().clone();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["analyze_session", "execute_decision", "analyze_session"]);
    let id = handle.id().to_string();
    for span in &spans {
        assert_eq!(span.field("session_id"), Some(id.as_str()), "{span:?}");
        assert!(span.field("state").is_some(), "{span:?}");
        let action = span.field("decision.action").unwrap_or_default();
        assert!(action.starts_with("retry task current after"), "{span:?}");
    }
    assert_eq!(spans[0].field("state"), Some("active"));
    assert_eq!(spans[2].field("state"), Some("adapted"));

    let events = recorder.0.events.lock().unwrap().clone();
    let refusal =
        events.iter().find(|e| e.name == "adaptation refused by global Q").expect("refusal traced");
    assert_eq!(refusal.field("rule"), Some("min_slo_compliance"));
    assert_eq!(refusal.field("observed"), Some("0.5"));
    assert_eq!(refusal.field("limit"), Some("0.95"));
}

#[test]
fn a_healthy_analysis_still_has_its_span_and_no_decision() {
    let recorder = Recorder::default();
    let adapter = SessionAdapter::new(Arc::new(KnowledgeBase::new()));
    let handle = SessionHandle::new(CaseId::new(), TenantId::default_tenant()).start().unwrap();
    tracing::subscriber::with_default(recorder.clone(), || {
        assert!(adapter.evaluate(&handle).unwrap().is_no_action());
    });
    let spans = recorder.0.spans.lock().unwrap().clone();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name, "analyze_session");
    assert_eq!(spans[0].field("decision.action"), None);
    assert!(recorder.0.events.lock().unwrap().is_empty());
}
